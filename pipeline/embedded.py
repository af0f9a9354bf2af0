"""The embedded runtime: every stage in one process, behind an in-memory queue.

``riskwatch run --input FILE…`` processes files (in replay's event-time order, so it stores
exactly the warnings ``riskwatch replay`` gives for them); ``riskwatch run --simulate``
and ``riskwatch demo`` process a live simulated feed in arrival order. Each micro-batch is
validated, de-duplicated, detected and handed to the ClickHouse sink. Checkpoints (sink
flushed first, then the engine snapshot and input progress written atomically to the state
directory) let a restart continue where the last checkpoint left off; re-running a file
already processed changes nothing.
"""

from __future__ import annotations

import logging
import mmap
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pipeline.components import Components
from pipeline.metrics import Metrics
from pipeline.replay import sorted_lines
from schemas.alert import Alert
from schemas.dead_letter import DeadLetter
from schemas.event import Position, Record
from sinks.clickhouse import ClickHouseSink

__all__ = ["EmbeddedRuntime", "RuntimeConfig", "file_lines", "simulated_lines"]

log = logging.getLogger(__name__)
LAYOUT = 1


@dataclass(frozen=True)
class RuntimeConfig:
    """``batch_size``: records per micro-batch; ``checkpoint_s``: seconds between checkpoints;
    ``state_dir``: where checkpoints live (``None``: no restart state); ``dedup_days``: how
    long (event time) an event id is remembered for de-duplication."""

    batch_size: int = 2000
    checkpoint_s: float = 10.0
    state_dir: Path | None = None
    dedup_days: int = 30


class EmbeddedRuntime:
    """Validate → de-duplicate → detect → store, one micro-batch at a time.

    Parameters: the assembled ``Components``, an open ``ClickHouseSink``, the ``Metrics``
    and a ``RuntimeConfig``. ``process`` is called by the feeding loop; ``checkpoint`` after
    batches; ``close`` once at shutdown (flushes the sink, writes a final checkpoint).
    """

    def __init__(self, components: Components, sink: ClickHouseSink, metrics: Metrics, config: RuntimeConfig) -> None:
        self.components, self.sink, self.metrics, self.config = components, sink, metrics, config
        state = self._load_state()
        self.engine = components.engine(state.get("engine") if state else None)
        self.progress: dict[str, Any] = state.get("progress", {}) if state else {}
        self.seen: dict[tuple[str, str], int] = {}
        self.counts = {"events": 0, "duplicates": 0, "rejected": 0, "alerts": 0}
        self.levels: dict[str, int] = {}
        self._last_checkpoint = time.monotonic()

    # -- state -----------------------------------------------------------------------------
    def _state_file(self) -> Path | None:
        return self.config.state_dir / "state.json" if self.config.state_dir else None

    def _load_state(self) -> dict[str, Any] | None:
        path = self._state_file()
        if path is None or not path.exists():
            return None
        data = orjson.loads(path.read_bytes())
        return data if data.get("layout") == LAYOUT else None

    def checkpoint(self, force: bool = False) -> None:
        """Flush the sink, then persist engine state and input progress (atomically)."""
        if not force and time.monotonic() - self._last_checkpoint < self.config.checkpoint_s:
            return
        self.sink.flush()
        path = self._state_file()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps({"layout": LAYOUT, "engine": self.engine.snapshot(),
                                          "progress": self.progress}))
            os.replace(tmp, path)
        self._last_checkpoint = time.monotonic()

    # -- processing ------------------------------------------------------------------------
    def process(self, lines: Iterable[tuple[bytes, Position]]) -> list[Alert]:
        """One micro-batch of raw lines with their positions; returns the alerts it caused."""
        started = time.perf_counter()
        validate = self.components.validator.validate
        records: list[Record] = []
        dead: list[DeadLetter] = []
        m = self.metrics
        for raw, position in lines:
            out = validate(raw, position)
            if isinstance(out, DeadLetter):
                dead.append(out)
                m.events.labels("unknown", "rejected").inc()
                m.dead_letters.labels(out.errors[0].code if out.errors else "json").inc()
                continue
            ev = out.event
            key = (ev.source, ev.event_id)
            if key in self.seen:
                self.counts["duplicates"] += 1
                m.events.labels(ev.source, "duplicate").inc()
                continue
            self.seen[key] = int(out.ts // 86400)
            records.append(out)
            m.events.labels(ev.source, "valid").inc()
        alerts = self.engine.process(records)
        self.sink.add_events(records)
        self.sink.add_dead_letters(dead)
        self.sink.add_alerts(alerts)
        m.sink_rows.labels("events").inc(len(records))
        m.sink_rows.labels("dead_letters").inc(len(dead))
        m.sink_rows.labels("alerts").inc(len(alerts))
        for a in alerts:
            m.alerts.labels(a.detector, a.level, a.status).inc()
            self.levels[a.level] = self.levels.get(a.level, 0) + 1
        self.counts["events"] += len(records)
        self.counts["rejected"] += len(dead)
        self.counts["alerts"] += len(alerts)
        if self.engine.watermark > 0:
            m.watermark.set(self.engine.watermark)
            m.event_lag.set(time.time() - self.engine.watermark)
        m.batch_seconds.observe(time.perf_counter() - started)
        if len(self.seen) > 2_000_000:
            self._forget()
        return alerts

    def _forget(self) -> None:
        newest = max(self.seen.values(), default=0)
        self.seen = {k: d for k, d in self.seen.items() if d > newest - self.config.dedup_days}

    def run(self, feed: Iterator[tuple[bytes, Position] | None], stop: Callable[[], bool] = lambda: False,
            on_batch: Callable[[EmbeddedRuntime], None] | None = None, progress_key: str | None = None) -> None:
        """Drain ``feed`` in micro-batches until it ends or ``stop()``; counts lines under ``progress_key``.
        A ``None`` from the feed (a quiet moment) processes what has arrived so far."""
        batch: list[tuple[bytes, Position]] = []
        for item in feed:
            if item is None:
                if batch:
                    self._batch(batch, progress_key, on_batch)
                    batch = []
                if stop():
                    break
                continue
            batch.append(item)
            if len(batch) >= self.config.batch_size:
                self._batch(batch, progress_key, on_batch)
                batch = []
                if stop():
                    break
        if batch:
            self._batch(batch, progress_key, on_batch)

    def _batch(self, batch: list[tuple[bytes, Position]], progress_key: str | None,
               on_batch: Callable[[EmbeddedRuntime], None] | None) -> None:
        self.process(batch)
        if progress_key:
            self.progress[progress_key] = self.progress.get(progress_key, 0) + len(batch)
        self.checkpoint()
        if on_batch:
            on_batch(self)

    def close(self) -> None:
        """Flush everything and write the final checkpoint; then close the sink."""
        self.checkpoint(force=True)
        self.sink.close()


def file_lines(path: Path, skip: int = 0) -> Iterator[tuple[bytes, Position]]:
    """A file's lines in replay order (event time, then event id) with their file positions."""
    name = str(path)
    with path.open("rb") as f:
        if f.seek(0, 2) == 0:
            return
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            for i, (number, line) in enumerate(sorted_lines(data, name)):
                if i >= skip:
                    yield line, Position(file=name, line=number)
        finally:
            data.close()


def simulated_lines(config: Any, rate: float, stop: threading.Event, skip: int = 0,
                    maxsize: int = 20_000) -> Iterator[tuple[bytes, Position] | None]:
    """A live simulated feed (arrival order) through a bounded queue: when the consumer
    stalls (e.g. ClickHouse down and the sink blocking), the producer blocks too."""
    from pipeline.simulator import stream_simulation

    q: queue.Queue[bytes | None] = queue.Queue(maxsize=maxsize)
    counter = [0]

    def emit(line: bytes) -> None:
        counter[0] += 1
        if counter[0] > skip:
            while not stop.is_set():
                try:
                    q.put(line, timeout=0.2)
                    return
                except queue.Full:
                    continue

    def produce() -> None:
        try:
            stream_simulation(config, rate, emit, stop.is_set)
        finally:
            q.put(None)

    threading.Thread(target=produce, name="simulated-feed", daemon=True).start()
    offset = skip
    while True:
        try:
            line = q.get(timeout=0.25)
        except queue.Empty:
            if stop.is_set():
                return
            yield None
            continue
        if line is None:
            return
        yield line, Position(topic="simulated", partition=0, offset=offset)
        offset += 1


def bench_embedded(components: Components, path: Path, tmp: Path) -> list[str]:
    """``riskwatch bench run``: events/s through the embedded runtime with a fresh chDB sink,
    and rows/s of the sink alone; returns printable lines."""
    from prometheus_client import CollectorRegistry

    from sinks.bench import bench_sink
    from sinks.clickhouse import SinkConfig
    from sinks.url import connect

    url = f"chdb://{tmp}/chdb/bench"
    sink = ClickHouseSink(connect(url), components.regions, SinkConfig(spool_dir=str(tmp / "spool")))
    runtime = EmbeddedRuntime(components, sink, Metrics(CollectorRegistry()), RuntimeConfig())
    started = time.perf_counter()
    runtime.run(file_lines(path))
    runtime.close()
    elapsed = time.perf_counter() - started
    lines = [f"run (embedded, chDB sink)\t{runtime.counts['events'] / elapsed:,.0f} events/s\t"
             f"{runtime.counts['events']} events, {runtime.counts['alerts']} alerts in {elapsed:.1f} s"]
    sink_only = bench_sink(f"chdb://{tmp}/chdb/sinkonly", 100_000)
    lines.append(f"sink alone (chDB)\t{sink_only.get('rows_per_s', 0):,.0f} rows/s\t{sink_only}")
    return lines
