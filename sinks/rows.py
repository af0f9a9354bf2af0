"""Contract objects → table rows: the column lists and one row builder per table.

A row is a tuple in its table's column order, holding only ``str``/``int``/``float``/
``None``/``list`` (``DateTime`` as epoch seconds), so the same tuples go to either engine
and survive a JSON round trip through the spool. Every builder is total: odd input (a
timestamp that does not parse, numpy numbers in an explanation) yields a storable row,
never an exception. Called by ``ClickHouseSink.add_*``; hot path for events.

Personal data: the validator has already replaced the complainant by its pseudonym and
masked free text; ``event_row`` still drops a ``complaint.complainant`` it finds (a record
built by hand), so the stored body can never carry it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import msgspec
import orjson

from schemas.alert import LEVEL_RANK, Alert
from schemas.dead_letter import DeadLetter
from schemas.event import Position, Record
from schemas.regions import RegionTable

__all__ = [
    "ALERT_ACTION_COLUMNS", "ALERT_COLUMNS", "DEAD_LETTER_COLUMNS", "EVENT_COLUMNS", "STATUS_RANK",
    "RowBuilder", "action_row", "alert_row", "dead_letter_row", "epoch",
]

EVENT_COLUMNS = (
    "source", "event_id", "occurred_at", "ts", "reported_at",
    "region_code", "province_code", "city_code", "county_code", "category", "uscc", "brand",
    "channel", "issue", "injury", "amount_cny", "complainant",
    "task_id", "level", "sample_id", "result", "failed_critical", "failed_major", "failed_minor",
    "case_id", "violation", "status", "goods_value_cny", "penalty_cny",
    "platform", "followers", "reposts", "comments", "likes", "sentiment",
    "body", "pos_file", "pos_line", "pos_topic", "pos_partition", "pos_offset", "ingest_seq", "ingested_at",
)
DEAD_LETTER_COLUMNS = (
    "dead_letter_id", "raw", "truncated_bytes", "errors", "error_code", "codes",
    "pos_file", "pos_line", "pos_topic", "pos_partition", "pos_offset", "received_at", "ingest_seq",
)
ALERT_COLUMNS = (
    "alert_id", "change_id", "detector", "detector_version", "config_hash", "level", "level_rank", "score",
    "region_code", "category", "uscc", "window_start", "window_end", "triggered_at", "status", "status_rank",
    "title", "explanation", "evidence_event_ids", "body", "received_at", "ingest_seq",
)
ALERT_ACTION_COLUMNS = ("action_id", "alert_id", "action", "user", "note", "at")
STATUS_RANK = {"open": 1, "escalated": 2, "resolved": 3}

_DT_MAX = 2**32 - 1  # DateTime is UInt32 epoch seconds
_NO_POS = ("", 0, "", -1, -1)
_encode = msgspec.json.Encoder().encode


def epoch(value: float) -> int:
    """Epoch seconds clamped into ``DateTime``'s range (1970 … 2106)."""
    return min(max(int(value), 0), _DT_MAX)


def _iso_epoch(text: str) -> int:
    """An RFC 3339 string as epoch seconds; 0 when it does not parse."""
    try:
        return epoch(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except (ValueError, TypeError, OverflowError):
        return 0


def _position(p: Position | None) -> tuple[str, int, str, int, int]:
    if p is None:
        return _NO_POS
    return (p.file or "", p.line or 0, p.topic or "",
            -1 if p.partition is None else p.partition, -1 if p.offset is None else p.offset)


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, anything else JSON cannot hold as its text."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    return str(value)


def _json(obj: Any) -> str:
    """Any contract object as compact JSON; values JSON cannot hold become strings."""
    return orjson.dumps(msgspec.to_builtins(obj, enc_hook=_plain),
                        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str).decode()


def _digest(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


class RowBuilder:
    """Builds ``events`` rows; holds the region table's county → (province, city, county)
    split, cached per code. ``regions`` is the shared ``RegionTable``."""

    def __init__(self, regions: RegionTable) -> None:
        self._regions = regions
        self._places: dict[str, tuple[str, str, str]] = {}

    def place(self, code: str) -> tuple[str, str, str]:
        """``(province_code, city_code, county_code)`` of a region, ``''`` where none."""
        hit = self._places.get(code)
        if hit is None:
            province = city = county = ""
            for c in self._regions.chain(code):
                level = self._regions.level(c)
                if level == "province":
                    province = c
                elif level == "city":
                    city = c
                elif level == "county":
                    county = c
            hit = self._places[code] = (province, city, county)
        return hit

    def event_row(self, rec: Record, seq: int, now: int) -> tuple[Any, ...]:
        """One ``events`` row (``EVENT_COLUMNS`` order) for a validated, masked record.
        ``body`` is the event's contract JSON as UTF-8 ``bytes`` (see ``sinks.base``)."""
        ev = rec.event
        p, e = ev.product, ev.enterprise
        c, s, f, o = ev.complaint, ev.sampling, ev.enforcement, ev.opinion
        place = self._places.get(ev.region_code) or self.place(ev.region_code)
        ts = rec.ts
        occurred = int(ts) if 0 <= ts <= _DT_MAX else epoch(ts)
        reported = None if ev.reported_at is None else epoch(ev.reported_at.timestamp())
        common = (ev.source, ev.event_id, occurred, ts, reported, ev.region_code, *place,
                  "" if p is None else p.category, "" if e is None else e.uscc,
                  "" if p is None or p.brand is None else p.brand)
        if c is not None:
            if c.complainant is not None:  # never store it, however the record was made
                ev = msgspec.structs.replace(ev, complaint=msgspec.structs.replace(c, complainant=None))
            specific: tuple[Any, ...] = (c.channel, c.issue, c.injury, c.amount_cny, rec.complainant or "",
                                         *_NO_SAMPLING, *_NO_ENFORCEMENT, *_NO_OPINION)
        elif s is not None:
            crit, major, minor = s.severity_counts()
            specific = (*_NO_COMPLAINT, s.task_id, s.level, s.sample_id, s.result,
                        min(crit, 65535), min(major, 65535), min(minor, 65535), *_NO_ENFORCEMENT, *_NO_OPINION)
        elif f is not None:
            specific = (*_NO_COMPLAINT, *_NO_SAMPLING, f.case_id, f.violation, f.status, f.goods_value_cny,
                        f.penalty_cny, *_NO_OPINION)
        elif o is not None:
            r = o.reach
            reach = (0, 0, 0, 0) if r is None else (_u64(r.followers), _u64(r.reposts), _u64(r.comments), _u64(r.likes))
            specific = (*_NO_COMPLAINT, *_NO_SAMPLING, *_NO_ENFORCEMENT, o.platform, *reach, o.sentiment)
        else:
            specific = (*_NO_COMPLAINT, *_NO_SAMPLING, *_NO_ENFORCEMENT, *_NO_OPINION)
        pos = _NO_POS if rec.position is None else _position(rec.position)
        return (*common, *specific, _encode(ev), *pos, seq, now)


_NO_COMPLAINT = ("", "", "", None, "")
_NO_SAMPLING = ("", "", "", "", 0, 0, 0)
_NO_ENFORCEMENT = ("", "", "", None, None)
_NO_OPINION = ("", 0, 0, 0, 0, None)


def _u64(n: int | None) -> int:
    return 0 if n is None else min(max(n, 0), 2**64 - 1)


def dead_letter_row(dl: DeadLetter, seq: int, now: int) -> tuple[Any, ...]:
    """One ``dead_letters`` row; the id hashes position and raw line, so the same line
    read again from the same place is the same dead letter."""
    pos = _position(dl.position)
    codes = [e.code for e in dl.errors]
    return (
        _digest(*map(str, pos), dl.raw), dl.raw, max(dl.truncated_bytes, 0), _json(dl.errors),
        codes[0] if codes else "", codes, *pos, now, seq,
    )


def alert_row(alert: Alert, seq: int, now: int) -> tuple[Any, ...]:
    """One ``alerts`` row (a warning state change); ``change_id`` hashes the whole alert
    with sorted keys, so the same state change delivered twice is one change."""
    body = _json(alert)
    canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS).decode()
    scope = alert.scope
    return (
        alert.alert_id, _digest(canonical), alert.detector, alert.detector_version, alert.config_hash,
        alert.level, LEVEL_RANK.get(alert.level, 0), float(alert.score),
        scope.region_code or "", scope.category or "", scope.uscc or "",
        _iso_epoch(alert.window_start), _iso_epoch(alert.window_end), _iso_epoch(alert.triggered_at),
        alert.status, STATUS_RANK.get(alert.status, 0), alert.title, _json(alert.explanation),
        [str(x) for x in alert.evidence_event_ids], body, now, seq,
    )


def action_row(alert_id: str, action: str, user: str, note: str, at: float) -> tuple[Any, ...]:
    """One ``alert_actions`` row (an analyst's 研判/处置); identical actions are one action."""
    at_s = epoch(at)
    return (_digest(alert_id, action, user, note, str(at_s)), alert_id, action, user, note, at_s)
