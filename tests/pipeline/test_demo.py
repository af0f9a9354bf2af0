"""``riskwatch demo``: the whole job in one process serves /metrics with events within 30 s,
stops cleanly on Ctrl-C, and a restart continues from the stored state."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _events_counted(port: int) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(float(v) for v in re.findall(r'^riskwatch_pipeline_events_total\{[^}]*outcome="valid"[^}]*\} (\S+)',
                                            text, re.M))


def _demo(tmp_path: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "demo", "--port", str(port), "--data-dir",
                             str(tmp_path / "data"), "--rate", "2000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _run_until_counted(tmp_path: Path) -> float:
    port = _free_port()
    proc = _demo(tmp_path, port)
    try:
        deadline, counted = time.monotonic() + 30, 0.0
        while time.monotonic() < deadline and counted == 0:
            time.sleep(1)
            counted = _events_counted(port)
        assert counted > 0, "no events counted on /metrics within 30 s"
        time.sleep(3)
        status = orjson.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read())
        assert status["events"] > 0 and status["storage"].startswith("chdb://")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    return counted


def test_demo_serves_metrics_and_restarts_from_its_state(tmp_path):
    _run_until_counted(tmp_path)
    states = list((tmp_path / "data" / "state").glob("*/state.json"))
    assert len(states) == 1
    first = orjson.loads(states[0].read_bytes())["progress"]["simulated"]
    assert first > 0
    _run_until_counted(tmp_path)
    second = orjson.loads(states[0].read_bytes())["progress"]["simulated"]
    assert second > first  # continued from the checkpoint, not from the start
