"""``riskwatch bench``: throughput figures, printed (never asserted by tests).

- ``validate``: decode + validate + mask, events/s, beside plain ``orjson.loads`` of the same lines;
- ``replay``: a whole replay (file → sorted → validated → enriched → all detectors → alerts
  written) events/s, and its ratio to merely parsing the file's JSON with orjson, same run;
- ``run``: the embedded runtime with the chDB sink, events/s, and rows/s of the sink alone.

Input is a fresh simulation (``--days``, ``--seed``) unless ``--input`` names a file.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import orjson

__all__ = ["run_bench"]


def _input(args: argparse.Namespace, tmp: Path) -> Path:
    if args.input:
        return args.input
    from pipeline.simulator import SimulationConfig, write_simulation

    t = time.perf_counter()
    n, _ = write_simulation(SimulationConfig(days=args.days, seed=args.seed), tmp)
    print(f"simulate\t{n} events\t{n / (time.perf_counter() - t):,.0f} events/s")
    return tmp / "events.jsonl"


def _parse_rate(lines: list[bytes]) -> float:
    loads = orjson.loads
    t = time.perf_counter()
    for line in lines:
        try:
            loads(line)
        except orjson.JSONDecodeError:  # the simulator's deliberately malformed lines
            pass
    return len(lines) / (time.perf_counter() - t)


def run_bench(args: argparse.Namespace) -> int:
    from pipeline.components import Components
    from pipeline.settings import Settings

    with tempfile.TemporaryDirectory(prefix="riskwatch-bench-") as tmp:
        path = _input(args, Path(tmp))
        data = path.read_bytes()
        lines = [x for x in data.split(b"\n") if x]
        settings = Settings.load(getattr(args, "config", None))
        print(f"input\t{path.name}\t{len(lines)} lines\t{len(data) / 1e6:.1f} MB\tpid {os.getpid()} (one core)")
        parse = _parse_rate(lines)
        print(f"orjson.loads\t{parse:,.0f} events/s")
        if args.what == "validate":
            from schemas.categories import Catalogue
            from schemas.privacy import Privacy
            from schemas.regions import RegionTable
            from schemas.validator import Validator

            validate = Validator(RegionTable.load(), Catalogue.load(), Privacy(settings.privacy.salt.encode())).validate
            t = time.perf_counter()
            for line in lines:
                validate(line)
            rate = len(lines) / (time.perf_counter() - t)
            print(f"validate\t{rate:,.0f} events/s\tratio to parse {rate / parse:.2f}")
        elif args.what == "replay":
            from pipeline.replay import replay_file

            components = Components.build(settings)
            out = Path(tmp) / "alerts.jsonl"
            t = time.perf_counter()
            with out.open("wb") as f:
                stats = replay_file(path, components.engine(), components.validator, lambda b: f.write(b + b"\n"),
                                    lambda _: None)
            rate = stats.lines / (time.perf_counter() - t)
            print(f"replay\t{rate:,.0f} events/s\tratio to parse {rate / parse:.2f}\t{stats.alerts} alerts")
        else:
            from pipeline.embedded import bench_embedded

            components = Components.build(settings)
            for line in bench_embedded(components, path, Path(tmp)):
                print(line)
    return 0
