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
