"""Row builders: the region split, ids that make re-delivery idempotent, total on odd input."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.alert import Alert
from schemas.dead_letter import DeadLetter
from schemas.errors import FieldError
from schemas.event import Position
from schemas.regions import RegionTable
from sinks.rows import (
    ALERT_COLUMNS, DEAD_LETTER_COLUMNS, EVENT_COLUMNS, RowBuilder, action_row, alert_row, dead_letter_row, epoch,
)


@pytest.mark.parametrize(("code", "want"), [
    ("330106", ("330000", "330100", "330106")),
    ("330100", ("330000", "330100", "")),
    ("330000", ("330000", "", "")),
    ("999999", ("", "", "")),
])
def test_place_splits_the_region_chain(regions: RegionTable, code: str, want: tuple[str, str, str]) -> None:
    assert RowBuilder(regions).place(code) == want


def test_event_row_matches_the_column_list(regions: RegionTable, make_records: Callable) -> None:
    rb = RowBuilder(regions)
    for rec in make_records(40):
        row = dict(zip(EVENT_COLUMNS, rb.event_row(rec, 7, 1_700_000_000)))
        assert len(row) == len(EVENT_COLUMNS)
        assert (row["source"], row["event_id"], row["ts"]) == (rec.event.source, rec.event.event_id, rec.ts)
        assert msgspec.json.decode(row["body"]) == msgspec.to_builtins(rec.event)
        assert (row["pos_topic"], row["pos_partition"], row["pos_offset"]) == (
            rec.position.topic, rec.position.partition, rec.position.offset)
        assert (row["pos_file"], row["pos_line"]) == ("", 0)
        assert (row["ingest_seq"], row["ingested_at"]) == (7, 1_700_000_000)
        if rec.event.source == "sampling" and rec.event.sampling.result == "fail":
            assert row["failed_critical"] == len(rec.event.sampling.failed_items)
        if rec.event.source == "opinion":
            assert row["followers"] == rec.event.opinion.reach.followers


@given(st.floats(allow_nan=False))
def test_epoch_is_always_a_datetime_value(ts: float) -> None:
    assert 0 <= epoch(min(max(ts, -1e18), 1e18)) <= 2**32 - 1


def test_dead_letter_id_is_the_line_at_its_position() -> None:
    err = [FieldError("enterprise.uscc", "checksum", "check character is 'X', expected '3'")]
    a = dead_letter_row(DeadLetter('{"x":1}', err, Position(file="f", line=3)), 1, 0)
    again = dead_letter_row(DeadLetter('{"x":1}', err, Position(file="f", line=3)), 99, 5)
    elsewhere = dead_letter_row(DeadLetter('{"x":1}', err, Position(file="f", line=4)), 1, 0)
    row = dict(zip(DEAD_LETTER_COLUMNS, a))
    assert a[0] == again[0] != elsewhere[0]
    assert (row["error_code"], row["codes"]) == ("checksum", ["checksum"])
    assert msgspec.json.decode(row["errors"]) == [{"path": "enterprise.uscc", "code": "checksum",
                                                   "message": "check character is 'X', expected '3'"}]
    assert dict(zip(DEAD_LETTER_COLUMNS, dead_letter_row(DeadLetter("", []), 1, 0)))["error_code"] == ""


def test_change_id_ignores_key_order_and_arrival(make_alert: Callable) -> None:
    a = make_alert(explanation={"observed": 41, "expected": 6.2})
    b = make_alert(explanation={"expected": 6.2, "observed": 41})
    c = make_alert(status="escalated")
    assert alert_row(a, 1, 0)[1] == alert_row(b, 2, 9)[1] != alert_row(c, 1, 0)[1]


def test_alert_row_survives_odd_values(make_alert: Callable) -> None:
    odd: Alert = make_alert(triggered_at="not a time", window_start="2025-03-05T10:00:00Z",
                            explanation={"p": np.float64(0.5), "n": np.int64(3), 1: "int key", "when": object()})
    row = dict(zip(ALERT_COLUMNS, alert_row(odd, 1, 0)))
    assert row["triggered_at"] == 0 and row["window_start"] == 1741168800
    assert msgspec.json.decode(row["explanation"])["p"] == 0.5
    assert (row["level_rank"], row["status_rank"]) == (2, 1)


def test_the_same_action_has_the_same_id() -> None:
    assert action_row("a", "confirm", "u", "n", 10.0) == action_row("a", "confirm", "u", "n", 10.4)
    assert action_row("a", "confirm", "u", "n", 10.0)[0] != action_row("a", "dismiss", "u", "n", 10.0)[0]
