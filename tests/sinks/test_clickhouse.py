"""The writer on both engines: counts, re-delivery, personal data, replay order, batching."""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import orjson
import pytest

from schemas.alert import Alert
from schemas.dead_letter import DeadLetter
from schemas.errors import ConfigError, SinkError
from schemas.event import Complainant, Position, Record
from schemas.regions import RegionTable
from schemas.validator import Validator
from sinks.base import Backend
from sinks.bench import bench_sink
from sinks.clickhouse import ClickHouseSink, SinkConfig
from sinks.migrations import migrate
from sinks.queries import HOURLY, add_alert_action, hourly, load_events, query, stats
from sinks.url import connect

FAST = SinkConfig(batch_rows=1000, max_age_s=5.0, retry_initial_s=0.01, retry_max_s=0.05, flush_timeout_s=5.0)


def _write(backend: Backend, regions: RegionTable, *, events: list[Record] = (), dls: list[DeadLetter] = (),
           alerts: list[Alert] = (), config: SinkConfig = FAST) -> ClickHouseSink:
    sink = ClickHouseSink(backend, regions, config)
    sink.add_events(events)
    sink.add_dead_letters(dls)
    sink.add_alerts(alerts)
    sink.close()
    return sink


def _all_hourly(backend: Backend) -> dict[str, list[dict]]:
    return {t: hourly(backend, t, 0, 2**32 - 1, by=keys) for t, (keys, _) in HOURLY.items()}


def _contract_lines(shared_contracts: Path, name: str) -> list[bytes]:
    return (shared_contracts / "examples" / name).read_bytes().splitlines()


def test_stats_count_what_was_written(backend: Backend, regions: RegionTable, make_records: Callable,
                                      make_alert: Callable, validator: Validator, shared_contracts: Path) -> None:
    records = make_records(400)
    bad = [validator.validate(line, Position(file="invalid.jsonl", line=i + 1))
           for i, line in enumerate(_contract_lines(shared_contracts, "invalid.jsonl"))]
    assert all(isinstance(d, DeadLetter) for d in bad)
    alerts = [make_alert(), make_alert(alert_id="other", level="red", score=97.0)]
    sink = _write(backend, regions, events=records, dls=bad, alerts=alerts)
    got = stats(backend)
    by_source = collections.Counter(r.event.source for r in records)
    assert got["events"] == {"total": 400, "by_source": {s: by_source[s] for s in got["events"]["by_source"]}}
    by_code = collections.Counter(d.errors[0].code for d in bad)
    assert got["dead_letters"]["total"] == len(bad)
    assert {c: n for c, n in got["dead_letters"]["by_code"].items() if n} == dict(by_code)
    assert got["alerts"] == {"total": 2, "by_level": {"red": 1, "orange": 0, "yellow": 1, "blue": 0}}
    assert orjson.loads(orjson.dumps(got)) == got  # JSON-able
    assert sink.counters["rows_written"] == 400 + len(bad) + 2 and sink.buffered == 0


def test_redelivery_changes_no_count(backend: Backend, regions: RegionTable, make_records: Callable,
                                     make_alert: Callable, validator: Validator, shared_contracts: Path) -> None:
    records = make_records(300, seed=1)
    bad = [validator.validate(line, Position(topic="events.complaint", partition=0, offset=i))
           for i, line in enumerate(_contract_lines(shared_contracts, "invalid.jsonl"))]
    alerts = [make_alert(), make_alert(status="escalated", level="orange", score=88.0),
              make_alert(alert_id="b", level="blue", score=55.0)]
    _write(backend, regions, events=records, dls=bad, alerts=alerts)
    before = (stats(backend), _all_hourly(backend), list(load_events(backend)), list(load_events(backend, order="arrival")))
    assert sum(len(rows) for rows in before[1].values()) > 0
    # the same data again: a second writer (a restarted worker), then part of it a third time
    _write(backend, regions, events=records, dls=bad, alerts=alerts)
    _write(backend, regions, events=records[::3], alerts=alerts[:1])
    after = (stats(backend), _all_hourly(backend), list(load_events(backend)), list(load_events(backend, order="arrival")))
    assert after == before
    assert backend.query("SELECT count() FROM events")[0][0] > 300  # the duplicates are there, and not counted


def test_aggregates_count_what_the_events_say(backend: Backend, regions: RegionTable, make_records: Callable,
                                              make_alert: Callable) -> None:
    records = make_records(500, seed=2)
    _write(backend, regions, events=records, alerts=[make_alert(), make_alert(alert_id="x", level="red")])
    ev = [r.event for r in records]
    total = sum(r["events"] for r in hourly(backend, "events_hourly", 0, 2**32 - 1))
    sampling = hourly(backend, "sampling_hourly", 0, 2**32 - 1)
    injuries = hourly(backend, "injuries_hourly", 0, 2**32 - 1, by=("injury",))
    negative = hourly(backend, "opinion_negative_hourly", 0, 2**32 - 1)
    assert total == 500
    assert sum(r["samples"] for r in sampling) == sum(e.sampling is not None for e in ev)
    assert sum(r["failed"] for r in sampling) == sum(e.sampling is not None and e.sampling.result == "fail" for e in ev)
    assert sum(r["failed_critical"] for r in sampling) == sum(r["failed"] for r in sampling)  # generator: critical only
    want_injuries = collections.Counter(e.complaint.injury for e in ev if e.complaint and e.complaint.injury != "none")
    got_injuries = collections.Counter()
    for r in injuries:
        got_injuries[r["injury"]] += r["complaints"]
    assert got_injuries == want_injuries
    assert sum(r["posts"] for r in negative) == sum(
        e.opinion is not None and (e.opinion.sentiment or 0) < 0 for e in ev)
    alerts = hourly(backend, "alerts_hourly", 0, 2**32 - 1, by=("level",))
    assert {r["level"]: r["alerts"] for r in alerts} == {"yellow": 1, "red": 1}
    hour = hourly(backend, "events_hourly", 0, 2**32 - 1)[0]["hour"]
    assert hour.utcoffset().total_seconds() == 8 * 3600 and hour.minute == 0  # China Standard Time buckets


def test_hourly_rejects_unknown_tables_and_keys(backend: Backend) -> None:
    with pytest.raises(ValueError, match="table must be one of"):
        hourly(backend, "events; DROP TABLE events", 0, 1)
    with pytest.raises(ValueError, match="can be grouped by"):
        hourly(backend, "events_hourly", 0, 1, by=("body",))


def test_latest_level_wins_whatever_the_arrival_order(backend: Backend, regions: RegionTable,
                                                      make_alert: Callable) -> None:
    a_open = make_alert(alert_id="a", level="yellow", triggered_at="2025-03-05T10:00:00+08:00")
    a_red = make_alert(alert_id="a", level="red", status="escalated", triggered_at="2025-03-05T12:00:00+08:00")
    c_open = make_alert(alert_id="c", level="orange", triggered_at="2025-03-05T09:00:00+08:00")
    c_done = make_alert(alert_id="c", level="orange", status="resolved", triggered_at="2025-03-06T09:00:00+08:00")
    _write(backend, regions, alerts=[a_red, c_done])
    _write(backend, regions, alerts=[a_open, c_open])  # older states arrive late
    assert stats(backend)["alerts"] == {"total": 2, "by_level": {"red": 1, "orange": 1, "yellow": 0, "blue": 0}}
    cols, rows = query(backend, "SELECT alert_id, level, status, evidence_event_ids, explanation FROM alerts "
                                "WHERE alert_id = 'a' ORDER BY triggered_at")
    assert cols == ["alert_id", "level", "status", "evidence_event_ids", "explanation"]
    assert [r[1:3] for r in rows] == [("yellow", "open"), ("red", "escalated")]
    assert rows[0][3] == ["cmp-20250305-000001", "cmp-20250305-000002"]
    assert orjson.loads(rows[0][4])["expected"] == 6.2


def test_personal_data_never_lands_in_any_column(backend: Backend, regions: RegionTable, validator: Validator,
                                                 shared_contracts: Path, make_alert: Callable) -> None:
    valid = _contract_lines(shared_contracts, "valid.jsonl")
    invalid = _contract_lines(shared_contracts, "invalid.jsonl")
    assert any(b"13812345678" in line and "张三".encode() in line for line in valid)  # the test can fail
    assert any(b"13812345678" in line for line in invalid)
    out = [validator.validate(line, Position(file="x.jsonl", line=i)) for i, line in enumerate(valid + invalid)]
    records = [o for o in out if isinstance(o, Record)]
    assert len(records) == len(valid)
    # a record built by hand that still carries its complainant: the writer drops it too
    raw = records[0]
    complaint = msgspec.structs.replace(raw.event.complaint, complainant=Complainant(name="张三", phone="13812345678"))
    leaky = Record(msgspec.structs.replace(raw.event, event_id="leaky", complaint=complaint), raw.ts)
    _write(backend, regions, events=[*records, leaky], dls=[o for o in out if isinstance(o, DeadLetter)],
           alerts=[make_alert()])
    columns = backend.query("SELECT table, name FROM system.columns WHERE database = currentDatabase() "
                            "AND type LIKE '%String%' AND table NOT LIKE '%hourly%'")
    assert len(columns) > 40
    for table, column in columns:
        for needle in ("13812345678", "张三"):
            hits = backend.query(f"SELECT count() FROM {table} WHERE position(toString({column}), '{needle}') > 0")
            assert hits == [(0,)], f"{needle} found in {table}.{column}"
    assert stats(backend)["events"]["total"] == len(valid) + 1


def test_load_events_in_event_time_and_arrival_order(backend: Backend, regions: RegionTable,
                                                     make_records: Callable) -> None:
    records = make_records(600, seed=3)  # event times are random; positions follow the list
    _write(backend, regions, events=records[:300], config=dataclasses.replace(FAST, batch_rows=50))
    _write(backend, regions, events=records[300:])
    _write(backend, regions, events=records[100:200])  # re-delivered later: first arrival kept
    by_time = sorted(records, key=lambda r: (r.ts, r.event.event_id, r.event.source))
    want = [msgspec.json.encode(r.event) for r in by_time]
    assert list(load_events(backend)) == want
    assert list(load_events(backend, order="arrival")) == [msgspec.json.encode(r.event) for r in records]
    lo, hi = by_time[100].ts, by_time[200].ts
    assert list(load_events(backend, lo, hi)) == want[100:200]
    from datetime import datetime, timezone

    assert list(load_events(backend, datetime.fromtimestamp(lo, timezone.utc), hi)) == want[100:200]
    with pytest.raises(ValueError, match="order must be"):
        list(load_events(backend, order="random"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no time zone"):
        list(load_events(backend, datetime(2025, 3, 1)))


def test_bodies_are_the_contract_json_and_validate_again(backend: Backend, regions: RegionTable,
                                                         validator: Validator, shared_contracts: Path) -> None:
    lines = _contract_lines(shared_contracts, "valid.jsonl")
    records = [validator.validate(line) for line in lines]
    _write(backend, regions, events=records)
    again = [validator.validate(body) for body in load_events(backend)]
    assert all(isinstance(r, Record) for r in again)
    assert sorted(r.event.event_id for r in again) == sorted(r.event.event_id for r in records)


def test_size_and_age_trigger_writes(backend: Backend, regions: RegionTable, make_records: Callable) -> None:
    migrate(backend)
    records = make_records(260, seed=4)
    sink = ClickHouseSink(backend, regions, SinkConfig(batch_rows=100, max_age_s=0.3))

    def stored() -> int:
        return backend.query("SELECT count() FROM events")[0][0]

    sink.add_events(records[:99])
    assert stored() == 0 and sink.buffered == 99
    sink.add_events(records[99:101])
    assert stored() == 101 and sink.buffered == 0
    sink.add_events(records[101:105])
    time.sleep(0.35)
    assert stored() == 101  # no background thread: age is checked on the next call
    sink.add_events(records[105:106])
    assert stored() == 106
    sink.add_events(records[106:])
    sink.flush()
    assert stored() == 260
    sink.close()
    sink.close()  # idempotent
    with pytest.raises(SinkError, match="sink is closed"):
        sink.add_events(records[:1])


def test_a_rejected_statement_fails_at_once(backend: Backend, regions: RegionTable, make_records: Callable) -> None:
    backend.ensure_database()  # no tables, and the writer told not to migrate
    sink = ClickHouseSink(backend, regions, SinkConfig(migrate=False, flush_timeout_s=30.0))
    sink.add_events(make_records(3))
    t0 = time.monotonic()
    with pytest.raises(SinkError, match="storing 3 rows failed"):
        sink.flush()
    assert time.monotonic() - t0 < 5  # not retried for flush_timeout_s
    assert sink.buffered == 3


def test_a_rejected_batch_is_set_aside_in_spool_mode(backend: Backend, regions: RegionTable,
                                                     make_records: Callable, tmp_path: Path) -> None:
    backend.ensure_database()
    sink = ClickHouseSink(backend, regions, SinkConfig(migrate=False, spool_dir=str(tmp_path)))
    sink.add_events(make_records(4))
    with pytest.raises(SinkError, match="storing 4 rows failed"):
        sink.flush()
    assert sink.buffered == 0
    bad = list(tmp_path.glob("*-events.json.bad"))
    assert len(bad) == 1 and len(orjson.loads(bad[0].read_bytes())["rows"]) == 4
    sink.close()  # nothing left to store


def test_alert_actions_are_stored_once(backend: Backend) -> None:
    migrate(backend)
    for _ in range(3):
        add_alert_action(backend, "a", "confirm", "analyst1", "已核实，转处置", 1741140900.0)
    add_alert_action(backend, "a", "dispose", "analyst1", "已下架", 1741144500.0)
    rows = backend.query("SELECT action, user, note FROM alert_actions FINAL ORDER BY at")
    assert rows == [("confirm", "analyst1", "已核实，转处置"), ("dispose", "analyst1", "已下架")]
    assert backend.query("SELECT uniqExact(action_id) FROM alert_actions") == [(2,)]


@pytest.mark.parametrize(("field", "value", "match"), [
    ("batch_rows", 0, "batch_rows"),
    ("max_age_s", 0.0, "max_age_s"),
    ("max_buffer_rows", 5, "max_buffer_rows"),
    ("retry_initial_s", 10.0, "retry_initial_s"),
    ("flush_timeout_s", -1.0, "flush_timeout_s"),
])
def test_bad_config_is_refused(field: str, value: float, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SinkConfig(**{field: value})


def test_an_abandoned_stream_leaves_the_backend_usable(backend: Backend, regions: RegionTable,
                                                       make_records: Callable) -> None:
    _write(backend, regions, events=make_records(50))
    stream = load_events(backend)
    assert next(stream).startswith(b'{"schema":"event/v1"')
    stream.close()
    assert stats(backend)["events"]["total"] == 50


def test_bench_sink_reports_what_it_stored(backend_url: str) -> None:
    result = bench_sink(backend_url, 3000)
    assert result["stored_distinct"] == result["rows"] == 3000
    assert result["rows_per_s"] > 0 and "***" not in result["url"]
    cleanup = connect(backend_url)
    cleanup.execute(f"DROP DATABASE IF EXISTS {cleanup.database}")
    cleanup.close()
