"""Batch replay (EVENTS.md §5): events from a file in event-time order through the engine.

Order: ``occurred_at``, then ``event_id``, then ``source``, then the line's bytes — a total
order, so any permutation of the same lines gives byte-identical output. A duplicate
``(source, event_id)`` counts once (the first in that order). Two passes over a memory map:
the first reads only the sort keys, the second validates and runs the lines in order, so
memory holds keys and offsets, not events.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterable, Iterator
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
    decode = msgspec.json.Decoder(_Key).decode

    keys: list[tuple[float, str, str, bytes, int, int, int]] = []
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
            if k.occurred_at is None or k.occurred_at.tzinfo is None:
                raise ValueError("no offset")
            ts = k.occurred_at.timestamp()
            keys.append((ts, k.event_id, k.source, b"", number, start, line_end))
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError, OverflowError):
            bad.append((number, start, line_end))
        start = end + 1
    ties = {}
    keys.sort(key=lambda k: k[:3])
    for i in range(1, len(keys)):  # equal (ts, id, source): order by the bytes themselves
        if keys[i][:3] == keys[i - 1][:3]:
            ties[keys[i][:3]] = True
    if ties:
        keys.sort(key=lambda k: (k[0], k[1], k[2], bytes(data[k[5]:k[6]]) if k[:3] in ties else b""))
    for _, _, _, _, number, s, e in keys:
        yield number, bytes(data[s:e])
    for number, s, e in bad:
        yield number, bytes(data[s:e])


def _drive(items: Iterable[Record | DeadLetter], engine: Engine, emit: Callable[[bytes], None],
           dead: Callable[[DeadLetter], None]) -> ReplayStats:
    """Feed validated items to the engine in batches: dead letters out, duplicates once, alerts out."""
    stats = ReplayStats()
    encode = msgspec.json.Encoder().encode
    seen: set[tuple[str, str]] = set()
    batch: list[Record] = []

    def run() -> None:
        for alert in engine.process(batch):
            stats.alerts += 1
            emit(encode(alert))
        batch.clear()

    for out in items:
        stats.lines += 1
        if isinstance(out, DeadLetter):
            stats.rejected += 1
            dead(out)
            continue
        key = (out.event.source, out.event.event_id)
        if key in seen:
            stats.duplicates += 1
            continue
        seen.add(key)
        stats.valid += 1
        batch.append(out)
        if len(batch) >= BATCH:
            run()
    run()
    return stats


def replay_file(path: Path, engine: Engine, validator: Validator, emit: Callable[[bytes], None],
                dead: Callable[[DeadLetter], None]) -> ReplayStats:
    """Replay ``path``: ``emit`` gets each alert as a JSON line, ``dead`` each rejected line."""
    name = str(path)
    with path.open("rb") as f:
        size = f.seek(0, 2)
        data: bytes | mmap.mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            return _drive((validator.validate(line, Position(file=name, line=number))
                           for number, line in sorted_lines(data, name)), engine, emit, dead)
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

    return _drive(items(), engine, emit, dead)
