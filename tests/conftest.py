"""Shared fixtures: reference data, a validator, and ``make_event(**overrides)``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.categories import Catalogue
from schemas.privacy import Privacy
from schemas.regions import RegionTable
from schemas.validator import Validator
from sinks.local_server import LocalClickHouse

SHARED = Path(__file__).resolve().parents[2] / "shared" / "contracts"
if not SHARED.is_dir():  # CI checks out main with shared/ beside it
    SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "contracts"

BASE_COMPLAINT: dict[str, Any] = orjson.loads((SHARED / "examples" / "valid.jsonl").read_bytes().splitlines()[0])


@pytest.fixture(scope="session")
def shared_contracts() -> Path:
    assert SHARED.is_dir(), f"../shared/contracts not found at {SHARED}"
    return SHARED


@pytest.fixture(scope="session")
def regions() -> RegionTable:
    return RegionTable.load()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture(scope="session")
def validator(regions: RegionTable, catalogue: Catalogue) -> Validator:
    return Validator(regions, catalogue, Privacy(b"test-salt"))


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """A valid complaint event (the contract's first example); keyword overrides replace
    top-level fields, dotted keys (``"complaint.injury"``) nested ones, ``None`` deletes."""

    def make(**overrides: Any) -> dict[str, Any]:
        event = copy.deepcopy(BASE_COMPLAINT)
        for key, value in overrides.items():
            *parents, leaf = key.replace("__", ".").split(".")
            node = event
            for p in parents:
                node = node.setdefault(p, {})
            if value is None:
                node.pop(leaf, None)
            else:
                node[leaf] = value
        return event

    return make


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClickHouse]:
    """Debian's clickhouse-server on free loopback ports, for the whole session."""
    server = LocalClickHouse(tmp_path_factory.mktemp("clickhouse"))
    server.start()  # raises ServerStartError: the suite fails loudly without a server
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chDB's data directory: one per process (chDB cannot open two), a database per test."""
    return tmp_path_factory.mktemp("chdb")
