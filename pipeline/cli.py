"""The ``riskwatch`` command: the one entry point, and the only place that reads the environment."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

__all__ = ["main"]


def _settings(args: argparse.Namespace):
    from pipeline.settings import Settings

    return Settings.load(getattr(args, "config", None))


def _validator(args: argparse.Namespace):
    from schemas.validator import Validator
    from schemas.categories import Catalogue
    from schemas.privacy import Privacy
    from schemas.regions import RegionTable

    settings = _settings(args)
    return Validator(RegionTable.load(), Catalogue.load(), Privacy(settings.privacy.salt.encode()))


def cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.files import validate_file
    from schemas.dead_letter import DeadLetter

    validator = _validator(args)
    valid, seen, duplicates = 0, set(), 0
    rejected: Counter[str] = Counter()
    out = args.deadletter.open("wb") if args.deadletter else None
    try:
        for result in validate_file(args.file, validator):
            if isinstance(result, DeadLetter):
                for code in dict.fromkeys(result.codes):
                    rejected[code] += 1
                rejected["_lines"] += 1
                if out is not None:
                    out.write(orjson.dumps(_dead_letter_json(result)) + b"\n")
            else:
                key = (result.event.source, result.event.event_id)
                if key in seen:
                    duplicates += 1
                seen.add(key)
                valid += 1
    finally:
        if out is not None:
            out.close()
    lines = rejected.pop("_lines", 0)
    print(f"valid\t{valid}")
    print(f"duplicates\t{duplicates}")
    print(f"rejected\t{lines}")
    for code, n in sorted(rejected.items()):
        print(f"rejected.{code}\t{n}")
    return 0


def _dead_letter_json(dl) -> dict:
    pos = {k: v for k, v in (("file", dl.position.file), ("line", dl.position.line), ("topic", dl.position.topic),
                             ("partition", dl.position.partition), ("offset", dl.position.offset)) if v is not None}
    out = {"position": pos, "raw": dl.raw, "errors": [{"path": e.path, "code": e.code, "message": e.message}
                                                       for e in dl.errors]}
    if dl.truncated_bytes:
        out["truncated_bytes"] = dl.truncated_bytes
    return out


def cmd_schema(args: argparse.Namespace) -> int:
    from schemas.categories import Catalogue
    from schemas.json_schema import alert_schema, event_schema
    from schemas.regions import RegionTable

    doc = event_schema(RegionTable.load(), Catalogue.load()) if args.kind == "event" else alert_schema()
    sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from datetime import datetime

    from pipeline.simulator import SimulationConfig, stream_simulation, write_simulation

    kwargs = {"days": args.days, "seed": args.seed, "scale": args.scale}
    if args.start:
        kwargs["start"] = datetime.fromisoformat(args.start)
    config = SimulationConfig(**kwargs)
    if args.rate:
        out = sys.stdout.buffer
        n = stream_simulation(config, args.rate, lambda line: (out.write(line + b"\n"), out.flush()))
        print(f"streamed {n} events", file=sys.stderr)
        return 0
    if not args.out:
        print("riskwatch simulate: --out DIR is required unless --rate streams to stdout", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    n_events, n_labels = write_simulation(config, args.out)
    print(f"events\t{n_events}\t{args.out / 'events.jsonl'}")
    print(f"labels\t{n_labels}\t{args.out / 'labels.jsonl'}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from pipeline.components import Components
    from pipeline.replay import dead_letter_path, replay_file

    settings = _settings(args)
    components = Components.build(settings)
    engine = components.engine()
    if not args.input and not args.from_clickhouse:
        print("riskwatch replay: give --input FILE or --from-clickhouse URL", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    dl_path = dead_letter_path(args.output)
    with args.output.open("wb") as out, dl_path.open("wb") as dl:
        emit = lambda line: out.write(line + b"\n")  # noqa: E731
        dead = lambda d: dl.write(orjson.dumps(_dead_letter_json(d)) + b"\n")  # noqa: E731
        if args.input:
            stats = replay_file(args.input, engine, components.validator, emit, dead)
        else:
            from datetime import datetime

            from pipeline.replay import replay_rows
            from sinks.queries import load_event_rows
            from sinks.url import connect

            backend = connect(args.from_clickhouse)
            try:
                start = datetime.fromisoformat(args.start) if args.start else None
                end = datetime.fromisoformat(args.end) if args.end else None
                rows = load_event_rows(backend, start, end, args.order)
                stats = replay_rows(rows, engine, components.validator, emit, dead)
            finally:
                backend.close()
    print(f"lines\t{stats.lines}\nvalid\t{stats.valid}\nduplicates\t{stats.duplicates}\n"
          f"rejected\t{stats.rejected}\t{dl_path}\nalerts\t{stats.alerts}\t{args.output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import tempfile

    from pipeline.components import Components
    from pipeline.evaluation import format_report, run_evaluation

    components = Components.build(_settings(args))
    with tempfile.TemporaryDirectory(prefix="riskwatch-eval-") as tmp:
        results, labels = run_evaluation(components, args.days, args.seed, args.scale, Path(tmp))
    print(format_report(results, labels))
    return 0


def _storage_url(args: argparse.Namespace, settings) -> str:
    url = getattr(args, "clickhouse", None) or settings.storage.clickhouse_url
    if not url:
        data = Path(getattr(args, "data_dir", None) or settings.storage.data_dir).resolve()
        data.mkdir(parents=True, exist_ok=True)
        url = f"chdb://{data}/riskwatch"
    return url


def _runtime(args: argparse.Namespace):
    from prometheus_client import CollectorRegistry

    from pipeline.components import Components
    from pipeline.embedded import EmbeddedRuntime, RuntimeConfig
    from pipeline.metrics import EngineCollector, Metrics
    from sinks.clickhouse import ClickHouseSink, SinkConfig
    from sinks.url import connect

    settings = _settings(args)
    components = Components.build(settings)
    url = _storage_url(args, settings)
    data = Path(getattr(args, "data_dir", None) or settings.storage.data_dir).resolve()
    state_dir = data / "state" / _slug(url)
    sink = ClickHouseSink(connect(url), components.regions, SinkConfig(spool_dir=str(state_dir / "spool")))
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    runtime = EmbeddedRuntime(components, sink, metrics, RuntimeConfig(state_dir=state_dir))
    registry.register(EngineCollector(lambda: runtime.engine))
    return runtime, registry, url


def _slug(url: str) -> str:
    import hashlib

    from sinks.url import StorageUrl

    return hashlib.sha256(StorageUrl.parse(url).redacted.encode()).hexdigest()[:12]


def _progress_line(rt, started: float, final: bool = False) -> None:
    import time

    c = rt.counts
    rate = c["events"] / max(1e-9, time.monotonic() - started)
    levels = " ".join(f"{k}:{rt.levels.get(k, 0)}" for k in ("red", "orange", "yellow", "blue"))
    wm = rt.engine.watermark
    from detectors.base import rfc3339

    when = rfc3339(wm) if wm > 0 else "-"
    print(f"\revents {c['events']:,} ({rate:,.0f}/s)  dead letters {c['rejected']:,}  duplicates {c['duplicates']:,}  "
          f"warnings {c['alerts']:,} [{levels}]  event time {when}", end="\n" if final else "", file=sys.stderr,
          flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time

    from pipeline.embedded import file_lines, simulated_lines
    from pipeline.web import StatusServer

    runtime, registry, url = _runtime(args)
    stop = threading.Event()
    def _stop(*_: object) -> None:  # finish the batch in hand, flush, checkpoint, exit
        if not stop.is_set():
            print("\nstopping: flushing and checkpointing…", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server = None
    port = getattr(args, "port", None) or getattr(args, "metrics_port", None)
    if port is not None:
        server = StatusServer(registry, lambda: {"storage": _redact(url), **runtime.counts, "levels": runtime.levels},
                              port, getattr(args, "host", "127.0.0.1")).start()
        print(f"serving http://{getattr(args, 'host', '127.0.0.1')}:{server.port}/ and /metrics", file=sys.stderr)
    started = time.monotonic()
    tick = [0.0]

    def on_batch(rt) -> None:
        if time.monotonic() - tick[0] >= 1.0:
            tick[0] = time.monotonic()
            _progress_line(rt, started)

    try:
        if getattr(args, "simulate", False):
            from pipeline.simulator import SimulationConfig

            config = SimulationConfig(days=args.days, seed=args.seed, scale=args.scale)
            skip = runtime.progress.get("simulated", 0)
            runtime.run(simulated_lines(config, args.rate, stop, skip), stop.is_set, on_batch, "simulated")
        else:
            for path in args.input:
                key = f"file:{Path(path).resolve()}"
                runtime.run(file_lines(Path(path), runtime.progress.get(key, 0)), stop.is_set, on_batch, key)
    finally:
        runtime.close()
        _progress_line(runtime, started, final=True)
        if server is not None:
            server.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    args.simulate, args.input = True, []
    return cmd_run(args)


def _redact(url: str) -> str:
    from sinks.url import StorageUrl

    return StorageUrl.parse(url).redacted


def cmd_db(args: argparse.Namespace) -> int:
    from sinks.migrations import migrate
    from sinks.queries import query, stats
    from sinks.url import connect

    backend = connect(_storage_url(args, _settings(args)))
    try:
        if args.action == "migrate":
            applied = migrate(backend)
            print(f"applied\t{','.join(map(str, applied)) or 'none (up to date)'}")
        elif args.action == "stats":
            sys.stdout.buffer.write(orjson.dumps(stats(backend), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                                    + b"\n")
        else:
            columns, rows = query(backend, args.sql)
            print("\t".join(columns))
            for row in rows:
                print("\t".join("" if v is None else str(v) for v in row))
    finally:
        backend.close()
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import mmap

    from detectors.anomaly_model import train_from_observations
    from pipeline.components import Components
    from pipeline.replay import sorted_lines
    from schemas.event import Record

    components = Components.build(_settings(args))
    validate, observe = components.validator.validate, components.enricher.observe

    def observations():
        with args.input.open("rb") as f:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                for _, line in sorted_lines(data, str(args.input)):
                    rec = validate(line)
                    if isinstance(rec, Record):
                        yield from observe(rec)
            finally:
                data.close()

    model = train_from_observations(observations(), args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(model.to_bytes())
    print(f"model\t{args.out}\tversion {model.version}")
    print("use it with a settings file:  detectors: {cross_source: {model_file: %s}}" % args.out)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pipeline.bench import run_bench  # noqa: PLC0415

    return run_bench(args)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="settings file (default: the shipped config/riskwatch.yaml)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="riskwatch", description="Product-quality risk monitoring (质量安全风险监测).")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a JSONL file against the event contract")
    v.add_argument("file", type=Path)
    v.add_argument("--deadletter", type=Path, help="write each rejected line here (JSONL)")
    _config_arg(v)
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("schema", help="print the JSON Schema of events or warnings")
    s.add_argument("kind", choices=["event", "alert"])
    s.set_defaults(func=cmd_schema)

    sim = sub.add_parser("simulate", help="write (or stream) simulated feeds with labelled incidents")
    sim.add_argument("--days", type=int, default=60)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--scale", type=float, default=1.0, help="multiplies background volumes (1 = national)")
    sim.add_argument("--start", help="RFC 3339 start of the simulated period")
    sim.add_argument("--out", type=Path)
    sim.add_argument("--rate", type=float, help="stream to stdout at this many events per second")
    sim.set_defaults(func=cmd_simulate)

    r = sub.add_parser("replay", help="replay events through the detectors (audits, what-if)")
    r.add_argument("--input", type=Path, help="events JSONL (any order)")
    r.add_argument("--from-clickhouse", metavar="URL", help="replay events stored in ClickHouse instead")
    r.add_argument("--start", help="RFC 3339: first event time to replay (with --from-clickhouse)")
    r.add_argument("--end", help="RFC 3339: replay events before this time")
    r.add_argument("--order", choices=["event-time", "arrival"], default="event-time")
    r.add_argument("--output", type=Path, required=True, help="alerts JSONL; rejected lines go beside it")
    _config_arg(r)
    r.set_defaults(func=cmd_replay)

    e = sub.add_parser("evaluate", help="measure detection quality on simulated incidents, beside baselines")
    e.add_argument("--days", type=int, default=60)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--scale", type=float, default=1.0)
    _config_arg(e)
    e.set_defaults(func=cmd_evaluate)

    run = sub.add_parser("run", help="the embedded runtime: files or a simulated feed → detectors → ClickHouse")
    run.add_argument("--input", type=Path, nargs="*", default=[], help="event files (processed in event-time order)")
    run.add_argument("--simulate", action="store_true", help="process a live simulated feed instead")
    run.add_argument("--rate", type=float, default=2000.0, help="simulated events per second")
    run.add_argument("--days", type=int, default=120)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--scale", type=float, default=1.0)
    run.add_argument("--clickhouse", help="clickhouse://user:pass@host:port/db or chdb:///abs/path/db")
    run.add_argument("--data-dir", help="state, spool and embedded database (default: storage.data_dir)")
    run.add_argument("--metrics-port", type=int, help="serve /metrics on this port")
    _config_arg(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="the whole job in one process: simulated feeds, detectors, chDB, /metrics")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--data-dir", help="where the embedded database and state live (default ./data)")
    demo.add_argument("--rate", type=float, default=3000.0, help="simulated events per second")
    demo.add_argument("--days", type=int, default=120)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--scale", type=float, default=1.0)
    _config_arg(demo)
    demo.set_defaults(func=cmd_demo, clickhouse=None)

    db = sub.add_parser("db", help="ClickHouse: migrate, query, stats")
    db_sub = db.add_subparsers(dest="action", required=True)
    for action, text in (("migrate", "apply the schema's versioned migrations"),
                         ("stats", "print JSON counts: events by source, dead letters by code, warnings by level"),
                         ("query", "run SQL, print TSV")):
        a = db_sub.add_parser(action, help=text)
        if action == "query":
            a.add_argument("sql")
        a.add_argument("--clickhouse", help="storage URL (default: the configured one, else embedded chDB)")
        a.add_argument("--data-dir")
        _config_arg(a)
        a.set_defaults(func=cmd_db)

    t = sub.add_parser("train", help="train cross_source's IsolationForest on an events file")
    t.add_argument("--input", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True, help="model artifact (versioned by content hash)")
    t.add_argument("--seed", type=int, default=0)
    _config_arg(t)
    t.set_defaults(func=cmd_train)

    b = sub.add_parser("bench", help="print throughput figures")
    b.add_argument("what", choices=["validate", "replay", "run"])
    b.add_argument("--days", type=int, default=3)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--input", type=Path, help="an events file instead of a fresh simulation")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    from schemas.errors import RiskwatchError

    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except (OSError, RiskwatchError) as exc:
        print(f"riskwatch {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
