"""ClickHouse goes away in the middle of a run and comes back: nothing lost, nothing doubled.

Each test owns a server (the session one is never killed), writes in a loop, takes the
server away (SIGKILL, as a crash; SIGTERM, as an operator) while the writer keeps
adding, brings it back on the same data directory and ports, and checks the stored
distinct counts against what was sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schemas.errors import SinkError
from schemas.event import Record
from schemas.regions import RegionTable
from sinks.base import Backend
from sinks.clickhouse import ClickHouseSink, SinkConfig
from sinks.local_server import LocalClickHouse
from sinks.queries import stats
from sinks.url import connect

N, CHUNK = 6000, 100


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalClickHouse]:
    s = LocalClickHouse(tmp_path / "server")
    s.start()
    yield s
    s.stop()


@pytest.fixture
def backend(server: LocalClickHouse) -> Iterator[Backend]:
    b = connect(server.url("outage") + "?connect_timeout=0.5&send_receive_timeout=10")
    yield b
    b.close()


def _distinct(backend: Backend) -> tuple[int, int]:
    return backend.query("SELECT uniqExact(event_id), count() FROM events")[0]


def _check_complete(backend: Backend, records: list[Record]) -> None:
    distinct, rows = _distinct(backend)
    assert distinct == len(records) and rows >= len(records)  # retries may store twice; counts never double
    got = stats(backend)["events"]
    assert got["total"] == len(records)
    assert sum(got["by_source"].values()) == len(records)


def test_spool_survives_a_killed_server(server: LocalClickHouse, backend: Backend, regions: RegionTable,
                                        make_records: Callable, tmp_path: Path) -> None:
    records = make_records(N, seed=10)
    config = SinkConfig(batch_rows=500, max_age_s=0.05, retry_initial_s=0.05, retry_max_s=0.3,
                        flush_timeout_s=30.0, spool_dir=str(tmp_path / "spool"))
    sink = ClickHouseSink(backend, regions, config)
    for i in range(0, N, CHUNK):
        if i == 2000:
            server.kill()
        if i == 4000:
            assert sink.spooled_files() > 0  # the outage really happened to the writer
            server.start()
        sink.add_events(records[i:i + CHUNK])
        if i % 1000 == 0:
            sink.flush()  # what a Kafka consumer does before committing offsets
    sink.close()
    assert sink.counters["rows_spooled"] > 0 and sink.counters["failed_attempts"] > 0
    assert sink.spooled_files() == 0
    _check_complete(backend, records)


@pytest.mark.parametrize("spool", [True, False], ids=["spool", "back-pressure"])
def test_kill_at_any_moment_of_a_continuous_run(server: LocalClickHouse, backend: Backend, regions: RegionTable,
                                                make_records: Callable, tmp_path: Path, spool: bool) -> None:
    """The kill comes from another thread, so it may land in the middle of an insert."""
    records = make_records(N, seed=14)
    config = SinkConfig(batch_rows=1000, max_age_s=0.1, max_buffer_rows=2000, retry_initial_s=0.02,
                        retry_max_s=0.2, flush_timeout_s=30.0, spool_dir=str(tmp_path / "spool") if spool else None)
    sink = ClickHouseSink(backend, regions, config)
    outage = threading.Thread(target=lambda: (time.sleep(0.4), server.kill(), time.sleep(0.6), server.start()))
    outage.start()
    for i in range(0, len(records), CHUNK):
        sink.add_events(records[i:i + CHUNK])
        time.sleep(0.01)
    outage.join()
    sink.close()
    assert sink.counters["failed_attempts"] > 0
    _check_complete(backend, records)


def test_back_pressure_blocks_until_the_server_returns(server: LocalClickHouse, backend: Backend,
                                                       regions: RegionTable, make_records: Callable) -> None:
    records = make_records(N, seed=11)
    config = SinkConfig(batch_rows=500, max_age_s=0.05, max_buffer_rows=1500, retry_initial_s=0.05,
                        retry_max_s=0.3, flush_timeout_s=30.0)
    sink = ClickHouseSink(backend, regions, config)
    restarter = threading.Timer(1.5, server.start)
    longest = 0.0
    for i in range(0, N, CHUNK):
        if i == 2000:
            server.stop()  # SIGTERM: a clean shutdown between two batches
            restarter.start()
        t0 = time.monotonic()
        sink.add_events(records[i:i + CHUNK])
        longest = max(longest, time.monotonic() - t0)
        assert sink.buffered <= config.max_buffer_rows + CHUNK
    restarter.join()
    sink.close()
    assert longest > 0.5  # some add_events waited for the server
    assert sink.counters["failed_attempts"] > 0 and sink.counters["rows_spooled"] == 0
    _check_complete(backend, records)


def test_spool_left_at_close_is_drained_by_the_next_writer(server: LocalClickHouse, backend: Backend,
                                                           regions: RegionTable, make_records: Callable,
                                                           tmp_path: Path) -> None:
    records = make_records(1200, seed=12)
    spool = str(tmp_path / "spool")
    config = SinkConfig(batch_rows=200, max_age_s=0.05, retry_initial_s=0.05, retry_max_s=0.1,
                        flush_timeout_s=0.5, spool_dir=spool)
    first = ClickHouseSink(backend, regions, config)
    first.add_events(records[:600])
    first.flush()
    server.kill()
    first.add_events(records[600:])
    first.close()  # gives up after flush_timeout_s: the rows stay on disk, not in memory
    assert first.buffered == 0 and first.spooled_files() > 0
    server.start()
    second = ClickHouseSink(backend, regions, config)
    second.flush()
    second.close()
    assert second.spooled_files() == 0
    _check_complete(backend, records)


def test_back_pressure_close_raises_then_succeeds(server: LocalClickHouse, backend: Backend,
                                                  regions: RegionTable, make_records: Callable) -> None:
    records = make_records(300, seed=13)
    config = SinkConfig(batch_rows=1000, max_age_s=10.0, retry_initial_s=0.05, retry_max_s=0.1, flush_timeout_s=0.5)
    sink = ClickHouseSink(backend, regions, config)
    sink.add_events(records)
    server.kill()
    with pytest.raises(SinkError, match="storing 300 rows failed"):
        sink.close()
    assert sink.buffered == 300  # kept, not dropped
    server.start()
    sink.close()
    _check_complete(backend, records)


def test_a_second_writer_cannot_share_a_spool(backend: Backend, regions: RegionTable, tmp_path: Path) -> None:
    config = SinkConfig(spool_dir=str(tmp_path / "spool"))
    first = ClickHouseSink(backend, regions, config)
    with pytest.raises(Exception, match="in use by another sink"):
        ClickHouseSink(backend, regions, config)
    first.close()
    ClickHouseSink(backend, regions, config).close()


def test_an_unreadable_spool_file_is_set_aside(backend: Backend, regions: RegionTable, make_records: Callable,
                                               tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "00000000000000000001-00000001-events.json").write_bytes(b'{"table": "events", "rows": [trunc')
    sink = ClickHouseSink(backend, regions, SinkConfig(spool_dir=str(spool)))
    sink.add_events(make_records(10))
    sink.close()
    assert [p.name for p in spool.glob("*.bad")] == ["00000000000000000001-00000001-events.json.bad"]
    assert _distinct(backend)[0] == 10
