"""The ClickHouse schema as numbered migrations, and ``migrate`` that applies the missing ones.

One schema for both engines: every statement here runs on ClickHouse 18.16 (Debian's
``clickhouse-server``) and on chDB 26.x, so it uses only what 18.16 knows: ``DateTime``
(no ``DateTime64``: sub-second event time is kept in ``ts Float64`` epoch seconds),
no ``LowCardinality``/``Map``/``JSON``/``TTL``, the MergeTree family with the new-style
``ENGINE = … ORDER BY …`` clause. A test runs all of it on both engines.

Time: ``DateTime('Asia/Shanghai')`` columns store the UTC instant (epoch seconds) and
display, parse and bucket (``toStartOfHour``) in China Standard Time (UTC+8, no DST),
the time regulators read. ``ts``/``ingest_seq`` carry full precision where order matters.

Idempotency (re-delivery, retried batches) is by *query-time* de-duplication on ids, so
it holds whatever the merge state: plain MergeTree has no insert de-duplication before
ClickHouse 20.x, and ``FINAL`` is too slow for dashboards.
- ``events``: ReplacingMergeTree keyed by ``(event_id, source)`` within the
  ``occurred_at`` month (event id first: warnings' evidence is looked up by id); its version ``keep_rank`` = max − ``ingest_seq``, so background
  merges keep the *first* arrival — the same row ``load_events`` picks with
  ``LIMIT 1 BY`` — and replay in arrival order is stable before and after merges.
  Counting is ``uniqExact(event_id)`` per source.
- ``dead_letters``: keyed by ``dead_letter_id`` = hash(position, raw line), so reading the
  same bad line at the same position again is the same dead letter.
- ``alerts``: one row per warning state change, keyed by ``change_id`` = hash of the whole
  alert; a warning is counted once per ``alert_id`` at its latest level.
- Hourly aggregates: AggregatingMergeTree tables fed by materialised views, whose counts
  are ``uniqExactState(event_id)`` (or ``alert_id``) states, read with ``uniqExactMerge``:
  a duplicate row adds an id already in the set, so no count moves. Only duplicate-proof
  functions are used (distinct counts, ``max``); sums are not (a duplicate would add
  twice), so amounts and reach totals are queried from ``events`` with de-duplication.
  A re-delivered event whose ``occurred_at`` *changed* lands in another hour bucket; the
  aggregates count it in both, ``events``-based queries (``stats``) once.

To change the schema, append a ``Migration`` (never edit an applied one: its checksum is
stored and ``migrate`` refuses a mismatch).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from schemas.errors import RiskwatchError
from sinks.base import Backend

__all__ = ["MIGRATIONS", "Migration", "MigrationError", "applied_versions", "migrate"]

log = logging.getLogger(__name__)

TZ = "Asia/Shanghai"
_DT = f"DateTime('{TZ}')"


class MigrationError(RiskwatchError):
    """Migration ``version`` cannot be applied: its stored checksum differs from the code's
    (someone edited an applied migration) or a statement failed (``cause``)."""

    def __init__(self, version: int, reason: str) -> None:
        self.version, self.reason = version, reason
        super().__init__(f"migration {version:04d}: {reason}")


@dataclass(frozen=True)
class Migration:
    """One schema step: ``version`` (increasing), a short ``name`` and its statements,
    each re-runnable (``IF NOT EXISTS``) so a half-applied step can simply run again."""

    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def checksum(self) -> str:
        return hashlib.sha256("\n;\n".join(self.statements).encode()).hexdigest()[:16]


_LOCATION = "region_code String, province_code String, city_code String, county_code String"

EVENTS = f"""
CREATE TABLE IF NOT EXISTS events (
    source String,
    event_id String,
    occurred_at {_DT},
    ts Float64,
    reported_at Nullable({_DT}),
    {_LOCATION},
    category String,
    uscc String,
    brand String,
    channel String,
    issue String,
    injury String,
    amount_cny Nullable(Float64),
    complainant String,
    task_id String,
    level String,
    sample_id String,
    result String,
    failed_critical UInt16,
    failed_major UInt16,
    failed_minor UInt16,
    case_id String,
    violation String,
    status String,
    goods_value_cny Nullable(Float64),
    penalty_cny Nullable(Float64),
    platform String,
    followers UInt64,
    reposts UInt64,
    comments UInt64,
    likes UInt64,
    sentiment Nullable(Float32),
    body String,
    pos_file String,
    pos_line UInt64,
    pos_topic String,
    pos_partition Int32,
    pos_offset Int64,
    ingest_seq UInt64,
    ingested_at {_DT},
    keep_rank UInt64 MATERIALIZED 18446744073709551615 - ingest_seq
) ENGINE = ReplacingMergeTree(keep_rank)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (event_id, source)
"""

DEAD_LETTERS = f"""
CREATE TABLE IF NOT EXISTS dead_letters (
    dead_letter_id String,
    raw String,
    truncated_bytes UInt64,
    errors String,
    error_code String,
    codes Array(String),
    pos_file String,
    pos_line UInt64,
    pos_topic String,
    pos_partition Int32,
    pos_offset Int64,
    received_at {_DT},
    ingest_seq UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (error_code, dead_letter_id)
"""

ALERTS = f"""
CREATE TABLE IF NOT EXISTS alerts (
    alert_id String,
    change_id String,
    detector String,
    detector_version String,
    config_hash String,
    level String,
    level_rank UInt8,
    score Float64,
    region_code String,
    category String,
    uscc String,
    window_start {_DT},
    window_end {_DT},
    triggered_at {_DT},
    status String,
    status_rank UInt8,
    title String,
    explanation String,
    evidence_event_ids Array(String),
    body String,
    received_at {_DT},
    ingest_seq UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(triggered_at)
ORDER BY (alert_id, change_id)
"""

ALERT_ACTIONS = f"""
CREATE TABLE IF NOT EXISTS alert_actions (
    action_id String,
    alert_id String,
    action String,
    user String,
    note String,
    at {_DT}
) ENGINE = ReplacingMergeTree
ORDER BY (alert_id, at, action_id)
"""

SCHEMA_MIGRATIONS = f"""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at {_DT}
) ENGINE = ReplacingMergeTree
ORDER BY version
"""


def _hourly(name: str, time_column: str, source: str, keys: tuple[str, ...],
            measures: tuple[tuple[str, str, str], ...], where: str = "") -> tuple[str, str]:
    """An AggregatingMergeTree table ``name`` bucketed by the hour of ``time_column`` and
    grouped by the String ``keys``, and the materialised view ``{name}_mv`` that feeds it
    from ``source``. ``measures`` are ``(column, AggregateFunction type args, -State expr)``."""
    key_list = ", ".join(("hour", *keys))
    columns = ",\n    ".join([f"hour {_DT}", *(f"{k} String" for k in keys),
                              *(f"{col} AggregateFunction({args})" for col, args, _ in measures)])
    table = (f"CREATE TABLE IF NOT EXISTS {name} (\n    {columns}\n) ENGINE = AggregatingMergeTree\n"
             f"PARTITION BY toYYYYMM(hour)\nORDER BY ({key_list})")
    states = ", ".join(f"{expr} AS {col}" for col, _, expr in measures)
    view = (f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name}_mv TO {name} AS\n"
            f"SELECT toStartOfHour({time_column}) AS hour, {', '.join(keys)}, {states}\n"
            f"FROM {source}{f' WHERE {where}' if where else ''}\nGROUP BY {key_list}")
    return table, view


_PLACE = ("category", "province_code", "city_code", "county_code")
_DISTINCT_EVENTS = ("uniqExact, String", "uniqExactState(event_id)")

# The aggregate tables: their group-by keys and their measures (column, merge function).
AGGREGATES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "events_hourly": (("source", *_PLACE), (("events", "uniqExactMerge"),)),
    "sampling_hourly": ((*_PLACE, "level"), (("samples", "uniqExactMerge"), ("failed", "uniqExactIfMerge"),
                                              ("failed_critical", "uniqExactIfMerge"))),
    "injuries_hourly": ((*_PLACE, "injury"), (("complaints", "uniqExactMerge"),)),
    "opinion_negative_hourly": ((*_PLACE, "platform"), (("posts", "uniqExactMerge"), ("max_followers", "maxMerge"))),
    "alerts_hourly": (("detector", "level", "region_code", "category"), (("alerts", "uniqExactMerge"),)),
}

HOURLY_AGGREGATES = (
    # events by hour x source x category x province/city/county
    *_hourly("events_hourly", "occurred_at", "events", AGGREGATES["events_hourly"][0],
             (("events", *_DISTINCT_EVENTS),)),
    # sampling: samples, failed samples, samples with an A-class (critical) failed item
    *_hourly("sampling_hourly", "occurred_at", "events", AGGREGATES["sampling_hourly"][0],
             (("samples", *_DISTINCT_EVENTS),
              ("failed", "uniqExactIf, String, UInt8", "uniqExactIfState(event_id, result = 'fail')"),
              ("failed_critical", "uniqExactIf, String, UInt8", "uniqExactIfState(event_id, failed_critical > 0)")),
             "source = 'sampling'"),
    # product injuries (产品伤害) reported in complaints, by severity
    *_hourly("injuries_hourly", "occurred_at", "events", AGGREGATES["injuries_hourly"][0],
             (("complaints", *_DISTINCT_EVENTS),), "source = 'complaint' AND injury NOT IN ('', 'none')"),
    # negative opinion (sentiment < 0 where known) and the largest audience among those posts
    *_hourly("opinion_negative_hourly", "occurred_at", "events", AGGREGATES["opinion_negative_hourly"][0],
             (("posts", *_DISTINCT_EVENTS), ("max_followers", "max, UInt64", "maxState(followers)")),
             "source = 'opinion' AND sentiment < 0"),
    # warnings by the hour they fired: each counted once per level it reached
    *_hourly("alerts_hourly", "triggered_at", "alerts", AGGREGATES["alerts_hourly"][0],
             (("alerts", "uniqExact, String", "uniqExactState(alert_id)"),)),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "base tables", (EVENTS, DEAD_LETTERS, ALERTS, ALERT_ACTIONS)),
    Migration(2, "hourly aggregates", HOURLY_AGGREGATES),
)


def applied_versions(backend: Backend) -> dict[int, str]:
    """Applied migration versions and their stored checksums (``{}`` before the first)."""
    rows = backend.query("SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version")
    return {int(v): c for v, c in rows}


def migrate(backend: Backend, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Create the database if needed and apply every migration not yet applied, in order.

    Returns the versions applied by this call (``[]`` when the schema is current), so
    running it again is harmless. Raises ``MigrationError`` when an applied migration's
    checksum no longer matches its code, ``BackendError`` when the engine fails. Called by
    ``riskwatch db migrate``, by ``ClickHouseSink`` on start and by the runtimes.
    """
    backend.ensure_database()
    backend.execute(SCHEMA_MIGRATIONS)
    done = applied_versions(backend)
    applied: list[int] = []
    for m in sorted(migrations, key=lambda m: m.version):
        if m.version in done:
            if done[m.version] != m.checksum:
                raise MigrationError(m.version, f"applied with checksum {done[m.version]}, code has {m.checksum}")
            continue
        log.info("applying migration %04d %s on %s", m.version, m.name, backend.url)
        for sql in m.statements:
            backend.execute(sql)
        backend.insert("schema_migrations", ("version", "name", "checksum", "applied_at"),
                       [(m.version, m.name, m.checksum, int(time.time()))])
        applied.append(m.version)
    return applied
