"""Reading the store: counts for ``riskwatch db stats``, ad-hoc SQL for ``db query``, the
hourly aggregates for dashboards, stored events for replay, and analysts' actions.

Every count here is de-duplicated on ids (``uniqExact`` over ``event_id``,
``dead_letter_id``, ``alert_id``; ``LIMIT 1 BY`` for rows), so re-delivered events,
warnings and retried batches never change what these functions return. The SQL runs
unchanged on ClickHouse 18.16 and chDB 26.x.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from schemas.alert import LEVELS
from schemas.errors import CODES
from schemas.event import SOURCES
from sinks.base import Backend
from sinks.migrations import AGGREGATES
from sinks.rows import ALERT_ACTION_COLUMNS, action_row

__all__ = ["load_event_rows", "HOURLY", "add_alert_action", "hourly", "load_events", "query", "stats"]

HOURLY = AGGREGATES  # table → (key columns one may group by, (count column, merge function) pairs)

_LATEST_LEVEL = """
SELECT level, count() FROM (
    SELECT alert_id, argMax(level, (triggered_at, status_rank, level_rank)) AS level
    FROM alerts GROUP BY alert_id
) GROUP BY level
"""


def stats(backend: Backend) -> dict[str, Any]:
    """JSON-able counts: distinct events by source, dead letters by (first) error code,
    distinct warnings (``alert_id``) by their latest level — the level of the state change
    with the latest ``triggered_at`` (ties: later status, higher level). Every source,
    code and level is present, zero when absent. Called by ``riskwatch db stats``."""
    events = {s: 0 for s in SOURCES}
    events.update({s: int(n) for s, n in backend.query(
        "SELECT source, uniqExact(event_id) FROM events GROUP BY source")})
    dead = {c: 0 for c in CODES}
    dead.update({c: int(n) for c, n in backend.query(
        "SELECT error_code, uniqExact(dead_letter_id) FROM dead_letters GROUP BY error_code")})
    levels = {lv: 0 for lv in reversed(LEVELS)}
    levels.update({lv: int(n) for lv, n in backend.query(_LATEST_LEVEL)})
    return {
        "events": {"total": sum(events.values()), "by_source": events},
        "dead_letters": {"total": sum(dead.values()), "by_code": dead},
        "alerts": {"total": sum(levels.values()), "by_level": levels},
    }


def query(backend: Backend, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one statement as given and return ``(column names, rows)``. It is not
    sandboxed: the database user's grants decide what is allowed. Called by
    ``riskwatch db query``; raises ``BackendError``."""
    return backend.query_with_columns(sql)


def _epoch(t: datetime | float | int) -> float:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError(f"time bound {t.isoformat()} has no time zone")
        return t.timestamp()
    return float(t)


def _time_filter(start: datetime | float | None, end: datetime | float | None) -> str:
    """``ts`` bounds, plus ``occurred_at`` bounds so whole months are skipped unread."""
    conds = ["1"]
    if start is not None:
        s = _epoch(start)
        conds += [f"ts >= {s!r}", f"occurred_at >= toDateTime({max(0, math.floor(s))})"]
    if end is not None:
        e = _epoch(end)
        conds += [f"ts < {e!r}", f"occurred_at <= toDateTime({max(0, min(math.ceil(e), 2**32 - 1))})"]
    return " AND ".join(conds)


def load_events(backend: Backend, start: datetime | float | None = None, end: datetime | float | None = None,
                order: Literal["event-time", "arrival"] = "event-time") -> Iterator[bytes]:
    """Stored events with ``start <= occurred_at < end`` (aware datetimes or epoch seconds;
    ``None`` = unbounded) as contract JSON lines (the masked body, no newline), each
    ``(source, event_id)`` once — its first arrival.

    ``order="event-time"``: by ``(ts, event_id, source)``; ``order="arrival"``: in the order
    the sink received them (``ingest_seq``: for a file, line order; for Kafka, the order
    the live worker processed them), which replays a live run exactly. Streams: memory
    does not grow with the result. Raises ``ValueError`` for an unknown order or a naive
    datetime, ``BackendError``.
    """
    for body, _ in load_event_rows(backend, start, end, order):
        yield body


def load_event_rows(backend: Backend, start: datetime | float | None = None, end: datetime | float | None = None,
                    order: Literal["event-time", "arrival"] = "event-time") -> Iterator[tuple[bytes, str]]:
    """Like ``load_events``, with each event's complainant pseudonym (``""`` if none): what
    ``riskwatch replay --from-clickhouse`` needs to rebuild the records detectors saw."""
    where = _time_filter(start, end)
    first = (f"SELECT concat(complainant, '\t', body) AS line, ts, event_id, source FROM events WHERE {where} "
             f"ORDER BY ingest_seq, pos_topic, pos_partition, pos_offset, pos_file, pos_line LIMIT 1 BY source, event_id")
    if order == "arrival":
        sql = first
    elif order == "event-time":
        sql = f"SELECT line FROM ({first}) ORDER BY ts, event_id, source"
    else:
        raise ValueError(f"order must be 'event-time' or 'arrival', got {order!r}")
    for line in backend.stream(sql):
        complainant, _, body = line.partition("\t")
        yield body.encode(), complainant


def hourly(backend: Backend, table: str, start: datetime | float, end: datetime | float,
           by: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Hourly counts from an aggregate ``table`` (a key of ``HOURLY``) for hours in
    ``[start, end)``, grouped by ``hour`` and the key columns ``by``; one dict per row.
    Hours are ``DateTime('Asia/Shanghai')`` bucket starts. Raises ``ValueError`` for an
    unknown table or key column. Called by the dashboard."""
    if table not in HOURLY:
        raise ValueError(f"table must be one of {', '.join(HOURLY)}, got {table!r}")
    keys, counts = HOURLY[table]
    bad = [k for k in by if k not in keys]
    if bad:
        raise ValueError(f"{table} can be grouped by {', '.join(keys)}, not {', '.join(bad)}")
    group = ", ".join(["hour", *by])
    measures = ", ".join(f"{fn}({col}) AS {col}" for col, fn in counts)
    s, e = max(0, math.floor(_epoch(start))), max(0, math.ceil(_epoch(end)))
    columns, rows = backend.query_with_columns(
        f"SELECT {group}, {measures} FROM {table} WHERE hour >= toDateTime({s}) AND hour < toDateTime({e})"
        f" GROUP BY {group} ORDER BY {group}")
    return [dict(zip(columns, r)) for r in rows]


def add_alert_action(backend: Backend, alert_id: str, action: str, user: str, note: str, at: float) -> None:
    """Record an analyst's 研判/处置 ``action`` on a warning (``at`` in epoch seconds);
    recording the same action twice stores one. Called by the dashboard."""
    backend.insert("alert_actions", ALERT_ACTION_COLUMNS, [action_row(alert_id, action, user, note, at)])
