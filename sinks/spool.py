"""A local directory of batches that could not reach ClickHouse yet.

Each batch is one JSON file ``<time_ns>-<n>-<table>.json`` holding the table, its
column list and the rows; it is written to a temporary name, fsynced and renamed, so a
crash leaves either the whole batch or nothing. Names sort in write order, and the
writer drains them oldest first. A file that cannot be read back (disk damage) is
renamed ``*.bad`` and kept for a human, never deleted. One writer per directory: the
directory is locked (``flock``) while a ``Spool`` holds it.

Called by ``ClickHouseSink`` only.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from schemas.errors import ConfigError

__all__ = ["Spool", "SpooledBatch"]

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    """``bytes`` (JSON text bodies) are spooled as strings: the engines store both alike."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    raise TypeError(f"cannot spool {type(value).__name__}")


class SpooledBatch:
    """A batch read back from the spool: ``table``, ``columns``, ``rows`` (lists) and the
    ``path`` to remove once stored."""

    __slots__ = ("columns", "path", "rows", "table")

    def __init__(self, path: Path, table: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.path, self.table, self.columns, self.rows = path, table, columns, rows


class Spool:
    """The spool directory ``directory`` (created if missing). Raises ``ConfigError`` when
    another process holds it or it cannot be created."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise ConfigError("sink.spool_dir", f"cannot use {self.directory}: {exc}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise ConfigError("sink.spool_dir", f"{self.directory} is in use by another sink") from None
        self._n = 0

    def put(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
        """Write one batch durably; returns its path. Raises ``OSError`` (disk full…)."""
        self._n += 1
        name = f"{time.time_ns():020d}-{self._n:08d}-{table}.json"
        tmp = self.directory / f".{name}.tmp"
        data = orjson.dumps({"table": table, "columns": list(columns), "rows": rows}, default=_text)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        final = self.directory / name
        os.replace(tmp, final)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final

    def pending(self) -> list[Path]:
        """Spooled batch files, oldest first."""
        return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def read(self, path: Path) -> SpooledBatch | None:
        """The batch in ``path``; ``None`` (and the file set aside as ``.bad``) if unreadable."""
        try:
            doc = orjson.loads(path.read_bytes())
            return SpooledBatch(path, str(doc["table"]), list(doc["columns"]), list(doc["rows"]))
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.error("spool file %s is unreadable: %s", path, exc)
            self.set_aside(path)
            return None

    @staticmethod
    def set_aside(path: Path) -> None:
        """Rename a batch that cannot be stored to ``*.bad``: kept for a human, not retried."""
        log.error("spool file %s set aside as %s.bad", path, path.name)
        try:
            os.replace(path, path.with_name(path.name + ".bad"))
        except OSError as exc:
            log.error("cannot set %s aside: %s", path, exc)

    @staticmethod
    def remove(path: Path) -> None:
        path.unlink(missing_ok=True)

    def rows(self) -> int:
        """How many rows wait in the spool (reads every file: for reports, not hot paths)."""
        total = 0
        for p in self.pending():
            batch = self.read(p)
            total += len(batch.rows) if batch else 0
        return total

    def close(self) -> None:
        """Release the directory lock."""
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1
