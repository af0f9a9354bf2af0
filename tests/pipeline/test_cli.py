"""The command line: ``riskwatch validate`` and ``riskwatch schema`` as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import orjson


def _riskwatch(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, cwd=cwd, check=False)


def test_validate_counts_and_dead_letters(tmp_path, shared_contracts):
    out = tmp_path / "dl.jsonl"
    res = _riskwatch("validate", str(shared_contracts / "examples" / "invalid.jsonl"), "--deadletter", str(out))
    assert res.returncode == 0, res.stderr
    counts = dict(line.split("\t") for line in res.stdout.decode().splitlines())
    assert counts["valid"] == "0" and counts["rejected"] == "12" and counts["rejected.checksum"] == "1"
    letters = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [d["position"]["line"] for d in letters] == list(range(1, 13))
    assert all(set(d) >= {"position", "raw", "errors"} for d in letters)
    text = out.read_text(encoding="utf-8")
    assert "13812345678" not in text and "张三" not in text


def test_validate_survives_hostile_bytes(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_bytes(b"\xff\xfe\x00garbage\n" + b"[" * 100000 + b"\n\n{\"a\":\n" + b"x" * (3 << 20) + b"\n")
    out = tmp_path / "dl.jsonl"
    res = _riskwatch("validate", str(f), "--deadletter", str(out))
    assert res.returncode == 0, res.stderr
    assert "rejected\t5" in res.stdout.decode()
    letters = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [d["errors"][0]["code"] for d in letters] == ["json", "json", "json", "json", "length"]


def test_schema_command_prints_json_schema():
    res = _riskwatch("schema", "event")
    assert res.returncode == 0
    doc = orjson.loads(res.stdout)
    assert doc["$schema"].endswith("2020-12/schema") and "Event" in doc["$defs"]


def test_train_writes_a_versioned_model_that_replay_can_use(tmp_path):
    from pipeline.simulator import SimulationConfig, write_simulation

    write_simulation(SimulationConfig(days=4, seed=2, scale=0.05), tmp_path)
    model = tmp_path / "model.bin"
    res = _riskwatch("train", "--input", str(tmp_path / "events.jsonl"), "--out", str(model))
    assert res.returncode == 0, res.stderr
    version = res.stdout.decode().split("version ")[1].split()[0]
    again = _riskwatch("train", "--input", str(tmp_path / "events.jsonl"), "--out", str(tmp_path / "m2.bin"))
    assert again.stdout.decode().split("version ")[1].split()[0] == version  # same data, same seed, same model
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"detectors:\n  cross_source:\n    model_file: {model}\n", encoding="utf-8")
    out = tmp_path / "alerts.jsonl"
    res = _riskwatch("replay", "--input", str(tmp_path / "events.jsonl"), "--output", str(out), "--config", str(settings))
    assert res.returncode == 0, res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"detectors:\n  cross_source:\n    model_file: {settings}\n", encoding="utf-8")
    res = _riskwatch("replay", "--input", str(tmp_path / "events.jsonl"), "--output", str(out), "--config", str(bad))
    assert res.returncode == 2 and b"model" in res.stderr
