"""Batch replay (EVENTS.md §5): events from a file in event-time order through the engine.

Order: ``occurred_at``, then ``event_id``, then ``source``, then the line's bytes — a total
order, so any permutation of the same lines gives byte-identical output. A duplicate
``(source, event_id)`` counts once (the first in that order). Two passes over a memory map:
the first reads only the sort keys, the second validates and runs the lines in order, so
memory holds keys and offsets, not events.
"""

from __future__ import annotations

import gc
import mmap
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from pipeline.engine import Engine
from schemas.dead_letter import DeadLetter
from schemas.event import Position, Record
from schemas.validator import Validator

__all__ = ["ReplayStats", "dead_letter_path", "replay_file", "replay_rows", "sorted_lines"]

BATCH = 2048
_GC_YOUNG = 20_000  # allocations between young-generation collections during a replay


class _Key(msgspec.Struct):
    """Just the fields replay sorts by (unknown fields ignored: a cheap first pass)."""

    occurred_at: datetime | None = None
    event_id: str = ""
    source: str = ""


@dataclass
class ReplayStats:
    lines: int = 0
    valid: int = 0
    duplicates: int = 0
    rejected: int = 0
    alerts: int = 0


def dead_letter_path(output: Path) -> Path:
    """``ALERTS.jsonl`` → ``ALERTS.deadletter.jsonl`` beside it."""
    return output.with_name(output.stem + ".deadletter" + (output.suffix or ".jsonl"))


def sorted_lines(data: bytes | mmap.mmap, name: str) -> Iterator[tuple[int, bytes]]:
    """``(line_number, line)`` of a JSONL buffer in replay order; unparseable lines last, in file order."""
    for number, line, _ in _ordered(data):
        yield number, line


def _ordered(data: bytes | mmap.mmap) -> Iterator[tuple[int, bytes, float | None]]:
    """``(line_number, line, occurred_at in epoch seconds)`` in replay order (see ``sorted_lines``;
    the time is ``None`` for the unparseable lines at the end). The time is exactly what the
    validator computes for a valid line, so replay hands it on instead of converting twice."""
    decode = msgspec.json.Decoder(_Key).decode

    # (ts, event_id, source, line number, start, end): sorting the tuples themselves orders
    # equal (ts, id, source) by line number, as a stable sort on those three would.
    keys: list[tuple[float, str, str, int, int, int]] = []
    bad: list[tuple[int, int, int]] = []
    start, number, size = 0, 0, len(data)
    find = data.find
    while start < size:
        end = find(b"\n", start)
        if end < 0:
            end = size
        number += 1
        line_end = end - 1 if end > start and data[end - 1] == 13 else end
        try:
            k = decode(data[start:line_end])
            at = k.occurred_at
            if at is None or at.tzinfo is None:
                raise ValueError("no offset")
            keys.append((at.timestamp(), k.event_id, k.source, number, start, line_end))
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError, OverflowError):
            bad.append((number, start, line_end))
        start = end + 1
    keys.sort()
    ties = {a[:3] for a, b in zip(keys, keys[1:]) if a[0] == b[0] and a[1] == b[1] and a[2] == b[2]}
    if ties:  # equal (ts, id, source): order by the bytes themselves
        keys.sort(key=lambda k: (k[0], k[1], k[2], bytes(data[k[4]:k[5]]) if k[:3] in ties else b""))
    for ts, _, _, number, s, e in keys:
        yield number, bytes(data[s:e]), ts
    for number, s, e in bad:
        yield number, bytes(data[s:e]), None


def _drive(items: Iterable[Record | DeadLetter], engine: Engine, emit: Callable[[bytes], None],
           dead: Callable[[DeadLetter], None], settle: Callable[[], None] | None = None) -> ReplayStats:
    """Feed validated items to the engine in batches: dead letters out, duplicates once, alerts out;
    ``settle`` (if given) is called after each batch."""
    stats = ReplayStats()
    encode = msgspec.json.Encoder().encode
    seen: dict[str, set[str]] = {}  # source → event ids (strings: nothing for the cycle collector to track)
    batch: list[Record] = []

    def run() -> None:
        for alert in engine.process(batch):
            stats.alerts += 1
            emit(encode(alert))
        batch.clear()
        if settle is not None:
            settle()

    for out in items:
        stats.lines += 1
        if isinstance(out, DeadLetter):
            stats.rejected += 1
            dead(out)
            continue
        ev = out.event
        ids = seen.get(ev.source)
        if ids is None:
            ids = seen[ev.source] = set()
        if ev.event_id in ids:
            stats.duplicates += 1
            continue
        ids.add(ev.event_id)
        stats.valid += 1
        batch.append(out)
        if len(batch) >= BATCH:
            run()
    run()
    return stats


@contextmanager
def _collecting_rarely() -> Iterator[Callable[[], None]]:
    """Run the garbage collector rarely while replaying; yields the ``settle`` hook of ``_drive``.

    Replay allocates millions of short-lived objects while the detectors hold a large,
    long-lived state; at the default thresholds (a young collection every 700 allocations)
    the collector spends a fifth of the run re-examining that state. Nothing in the pipeline
    relies on prompt collection of cycles, so collect every ``_GC_YOUNG`` allocations, with
    the objects that exist before the replay (reference data, lexicon) frozen out of the
    collector's sight — and, after each batch, what survived it: that is detector state
    (or replay's own bookkeeping), which would otherwise be traversed again by every older
    generation's collection as it grows. Freezing is a constant-time list splice; refcounting
    still frees frozen objects, only cyclic garbage waits for the end. Undone on exit.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG, *thresholds[1:])
    try:
        yield gc.freeze
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def replay_file(path: Path, engine: Engine, validator: Validator, emit: Callable[[bytes], None],
                dead: Callable[[DeadLetter], None]) -> ReplayStats:
    """Replay ``path``: ``emit`` gets each alert as a JSON line, ``dead`` each rejected line."""
    name = str(path)
    with path.open("rb") as f:
        size = f.seek(0, 2)
        data: bytes | mmap.mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            with _collecting_rarely() as settle:
                return _drive((validator.validate(line, Position(file=name, line=number), ts)
                               for number, line, ts in _ordered(data)), engine, emit, dead, settle)
        finally:
            if isinstance(data, mmap.mmap):
                data.close()


def replay_rows(rows: Iterable[tuple[bytes, str]], engine: Engine, validator: Validator,
                emit: Callable[[bytes], None], dead: Callable[[DeadLetter], None]) -> ReplayStats:
    """Replay stored events (``(body, complainant pseudonym)`` in the order given, e.g. from
    ``sinks.queries.load_event_rows``). Bodies are already masked; the pseudonym the live run
    computed is put back so detectors see exactly what they saw live."""

    def items() -> Iterator[Record | DeadLetter]:
        for i, (body, complainant) in enumerate(rows):
            out = validator.validate(body, Position(topic="clickhouse", offset=i))
            if isinstance(out, Record):
                out.complainant = complainant or None
            yield out

    with _collecting_rarely() as settle:
        return _drive(items(), engine, emit, dead, settle)
