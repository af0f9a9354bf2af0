"""Storage fixtures: a real ClickHouse 18.16 server for the session, chDB in a temp dir,
a fresh database per test on either engine, and factories for records and alerts.

The server fixture fails (never skips) when ``clickhouse-server`` is missing or does
not start: the storage suite is only meaningful against the real engine.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from schemas.alert import Alert, Scope
from schemas.categories import Catalogue
from schemas.event import Record
from schemas.regions import RegionTable
from sinks.base import Backend, BackendError
from sinks.bench import synthetic_records
from sinks.url import connect

_DB = itertools.count()


@pytest.fixture(params=["server", "chdb"])
def backend_url(request: pytest.FixtureRequest, chdb_dir: Path) -> str:
    """A URL naming a database of its own on the 18.16 server or in chDB."""
    name = f"t{os.getpid()}_{next(_DB)}"
    if request.param == "server":
        return request.getfixturevalue("clickhouse_server").url(name)
    return f"chdb://{chdb_dir}/{name}"


@pytest.fixture
def backend(backend_url: str) -> Iterator[Backend]:
    b = connect(backend_url)
    yield b
    try:
        b.execute(f"DROP DATABASE IF EXISTS {b.database}")
    except BackendError:
        pass
    b.close()


@pytest.fixture
def make_records(regions: RegionTable, catalogue: Catalogue) -> Callable[..., list[Record]]:
    """``make_records(n, seed=0, prefix="ev")``: masked records of all four sources."""

    def make(n: int, seed: int = 0, prefix: str = "ev", topic: str = "events") -> list[Record]:
        return synthetic_records(n, regions, catalogue, seed=seed, prefix=prefix, topic=topic)

    return make


@pytest.fixture
def make_alert() -> Callable[..., Alert]:
    """A valid warning state change; keyword overrides replace fields."""

    def make(**overrides: Any) -> Alert:
        alert = Alert(
            alert_id="complaint_surge:330106|mask|:20250305", detector="complaint_surge", detector_version="1.0.0",
            config_hash="c0ffee", level="yellow", score=72.5, scope=Scope(region_code="330106", category="mask"),
            window_start="2025-03-04T10:00:00+08:00", window_end="2025-03-05T10:00:00+08:00",
            triggered_at="2025-03-05T10:15:00+08:00", status="open",
            title="西湖区 口罩 投诉量激增 (近24小时 41 件, 基线 6.2)",
            explanation={"observed": 41, "expected": 6.2, "statistic": "poisson_upper_tail", "p": 1e-9},
            evidence_event_ids=["cmp-20250305-000001", "cmp-20250305-000002"],
        )
        return msgspec.structs.replace(alert, **overrides)

    return make
