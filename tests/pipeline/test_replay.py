"""Replay (EVENTS.md §5): deterministic, order-independent, dead letters beside the output."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pipeline.simulator import SimulationConfig, write_simulation
from schemas.alert import Alert


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    write_simulation(SimulationConfig(days=35, seed=4, scale=0.15), out)
    return out


def _replay(inp: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "replay", "--input", str(inp), "--output", str(out)],
                          capture_output=True, check=False)


def test_replay_is_byte_identical_for_shuffled_input(simulated, tmp_path):
    lines = (simulated / "events.jsonl").read_bytes().splitlines()
    shuffled = list(lines)
    random.Random(1).shuffle(shuffled)
    (tmp_path / "shuffled.jsonl").write_bytes(b"\n".join(shuffled) + b"\n")
    a, b = _replay(simulated / "events.jsonl", tmp_path / "a.jsonl"), _replay(tmp_path / "shuffled.jsonl", tmp_path / "b.jsonl")
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    first = (tmp_path / "a.jsonl").read_bytes()
    assert first and first == (tmp_path / "b.jsonl").read_bytes()
    rejected = (tmp_path / "a.deadletter.jsonl").read_bytes().splitlines()
    assert rejected and all(orjson.loads(x)["errors"] for x in rejected)
    for line in first.splitlines():  # every line is a contract §4 alert
        import msgspec

        msgspec.json.decode(line, type=Alert)


def test_duplicates_count_once(simulated, tmp_path):
    lines = (simulated / "events.jsonl").read_bytes().splitlines()
    (tmp_path / "dup.jsonl").write_bytes(b"\n".join(lines + lines[:5000]) + b"\n")
    a, b = _replay(simulated / "events.jsonl", tmp_path / "a.jsonl"), _replay(tmp_path / "dup.jsonl", tmp_path / "b.jsonl")
    assert a.returncode == 0 and b.returncode == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert "duplicates\t" in b.stdout.decode() and "duplicates\t0" not in b.stdout.decode()


def test_replay_exits_non_zero_only_when_it_cannot_run(tmp_path):
    res = _replay(tmp_path / "missing.jsonl", tmp_path / "out.jsonl")
    assert res.returncode != 0
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert _replay(empty, tmp_path / "out.jsonl").returncode == 0
