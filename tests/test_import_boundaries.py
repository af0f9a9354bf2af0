"""``schemas/`` and ``detectors/`` are pure: no I/O library is imported by them, directly or not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("faust", "kafka", "clickhouse_driver", "chdb", "prometheus_client", "aiohttp", "starlette", "uvicorn",
             "aiokafka", "mode")


@pytest.mark.parametrize("package", ["schemas", "detectors"])
def test_pure_packages_import_no_io_library(package):
    modules = sorted(p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__")
    code = (f"import sys\nfor m in {modules!r}:\n    __import__('{package}.' + m)\n"
            f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\nprint(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{package} pulls in {out.stdout.strip()}"
