"""The one schema runs on ClickHouse 18.16 and chDB 26.x; migrating is idempotent."""

from __future__ import annotations

import pytest

from sinks.base import Backend, BackendError
from sinks.migrations import AGGREGATES, MIGRATIONS, Migration, MigrationError, applied_versions, migrate
from sinks.url import connect

TABLES = {"schema_migrations", "events", "dead_letters", "alerts", "alert_actions", *AGGREGATES}


def _tables(backend: Backend) -> dict[str, str]:
    return dict(backend.query("SELECT name, engine FROM system.tables WHERE database = currentDatabase()"))


def test_migrate_creates_every_table_then_does_nothing(backend: Backend) -> None:
    assert migrate(backend) == [m.version for m in MIGRATIONS]
    tables = _tables(backend)
    assert TABLES <= set(tables)
    assert {tables[f"{a}_mv"] for a in AGGREGATES} == {"MaterializedView"}
    assert migrate(backend) == []
    assert migrate(backend) == []
    assert sorted(applied_versions(backend)) == [m.version for m in MIGRATIONS]
    assert backend.query("SELECT count() FROM schema_migrations") == [(len(MIGRATIONS),)]


def test_aggregate_metadata_matches_the_tables(backend: Backend) -> None:
    """``hourly()`` trusts ``AGGREGATES`` for the columns it may name: it must match the DDL."""
    migrate(backend)
    for table, (keys, measures) in AGGREGATES.items():
        cols = dict(backend.query(f"SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                                  f"AND table = '{table}'"))
        assert list(cols) == ["hour", *keys, *(m for m, _ in measures)]
        for m, merge in measures:
            assert cols[m].startswith(f"AggregateFunction({merge.removesuffix('Merge')},"), (table, m, cols[m])


def test_a_new_migration_is_applied_alone(backend: Backend) -> None:
    migrate(backend)
    extra = Migration(99, "scratch table", ("CREATE TABLE IF NOT EXISTS scratch (x UInt8) ENGINE = MergeTree ORDER BY x",))
    assert migrate(backend, (*MIGRATIONS, extra)) == [99]
    assert "scratch" in _tables(backend)
    assert migrate(backend, (*MIGRATIONS, extra)) == []


def test_an_edited_applied_migration_is_refused(backend: Backend) -> None:
    migrate(backend)
    first = MIGRATIONS[0]
    edited = Migration(first.version, first.name, (*first.statements, "SELECT 1"))
    with pytest.raises(MigrationError, match=r"migration 0001: applied with checksum [0-9a-f]+, code has"):
        migrate(backend, (edited, *MIGRATIONS[1:]))


def test_a_failing_statement_is_a_backend_error_and_a_rerun_completes(backend: Backend) -> None:
    migrate(backend)
    broken = Migration(50, "broken", ("CREATE TABLE IF NOT EXISTS half (x UInt8) ENGINE = MergeTree ORDER BY x",
                                      "CREATE TABLE nonsense ("))
    with pytest.raises(BackendError, match="failed"):
        migrate(backend, (*MIGRATIONS, broken))
    assert 50 not in applied_versions(backend)
    fixed = Migration(50, "fixed", ("CREATE TABLE IF NOT EXISTS half (x UInt8) ENGINE = MergeTree ORDER BY x",))
    assert migrate(backend, (*MIGRATIONS, fixed)) == [50]


def test_server_is_really_18_16(clickhouse_server) -> None:  # type: ignore[no-untyped-def]
    """Guards the compatibility claim: the session server is Debian's old release."""
    b = connect(clickhouse_server.url("default"))
    try:
        assert b.query("SELECT version()")[0][0].startswith("18.16")
    finally:
        b.close()
