"""The embedded runtime against real ClickHouse (18.16 server and chDB): what it stores equals
what replay says, re-running changes no count, replay from ClickHouse equals replay from file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pipeline.simulator import SimulationConfig, write_simulation


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim-run")
    write_simulation(SimulationConfig(days=30, seed=9, scale=0.08), out)
    return out / "events.jsonl"


def _cli(*args: str, cwd: Path) -> str:
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, cwd=cwd, check=False,
                         env={**os.environ, "RISKWATCH_STORAGE_DATA_DIR": str(cwd / "data")})
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    return res.stdout.decode()


@pytest.mark.parametrize("engine", ["server", "chdb"])
def test_run_stores_exactly_what_replay_says_and_is_idempotent(engine, events, tmp_path, request):
    if engine == "server":
        url = request.getfixturevalue("clickhouse_server").url(f"run{os.getpid()}")
    else:
        url = f"chdb://{tmp_path}/chdb/riskwatch"
    _cli("db", "migrate", "--clickhouse", url, cwd=tmp_path)
    _cli("run", "--input", str(events), "--clickhouse", url, cwd=tmp_path)
    stats = orjson.loads(_cli("db", "stats", "--clickhouse", url, cwd=tmp_path))

    _cli("replay", "--input", str(events), "--output", str(tmp_path / "alerts.jsonl"), cwd=tmp_path)
    alerts = [orjson.loads(x) for x in (tmp_path / "alerts.jsonl").read_bytes().splitlines()]
    latest = {}
    for a in alerts:
        latest[a["alert_id"]] = a["level"]
    valid_out = _cli("validate", str(events), cwd=tmp_path)
    counts = dict(line.split("\t") for line in valid_out.splitlines())
    distinct = int(counts["valid"]) - int(counts["duplicates"])

    assert stats["events"]["total"] == distinct
    assert stats["alerts"]["total"] == len(latest) > 0
    levels = {}
    for level in latest.values():
        levels[level] = levels.get(level, 0) + 1
    assert {k: v for k, v in stats["alerts"]["by_level"].items() if v} == levels
    assert stats["dead_letters"]["total"] == int(counts["rejected"]) > 0

    _cli("run", "--input", str(events), "--clickhouse", url, cwd=tmp_path)  # again: nothing changes
    assert orjson.loads(_cli("db", "stats", "--clickhouse", url, cwd=tmp_path)) == stats

    for table in ("events", "alerts", "dead_letters"):
        dump = _cli("db", "query", "--clickhouse", url, f"SELECT * FROM {table}", cwd=tmp_path)
        assert "张三" not in dump
        assert not any(len(tok) == 11 and tok.isdigit() and tok.startswith("1") for tok in dump.split())

    _cli("replay", "--from-clickhouse", url, "--output", str(tmp_path / "from_ch.jsonl"), cwd=tmp_path)
    assert (tmp_path / "from_ch.jsonl").read_bytes() == (tmp_path / "alerts.jsonl").read_bytes()
