"""The embedded backend: chDB (ClickHouse 26.x in-process), used by ``riskwatch demo``/``run``.

Inserts go as one ``JSONCompact`` payload (``orjson.dumps`` of the row tuples, one C
call, behind a cached names-and-types header) through chDB's streaming inserter, with
the events' bodies spliced in as raw JSON. Measured on the 43-column ``events`` rows
(50k rows, ~680-byte bodies, one core): payload 0.10 s + engine 0.38 s, against
``JSONCompactColumns`` (payload 0.21 s: the column transpose costs), ``Python(arrow)``
(Arrow build 0.23–0.30 s), ``JSONEachRow`` with per-row dicts (~4x slower) and
``FORMAT … <payload>`` inside the SQL text (an extra decode of the whole payload).
chDB holds the GIL while it inserts, so a writer thread would not overlap it.

chDB quirks this module lives with:
- one data directory per process: a second ``Session`` on another path fails while the
  first is open (sessions on the same path may coexist, each with its own current
  database) — ``BackendError`` says so;
- importing chdb reads ``./config.xml`` from the current directory if there is one, so a
  process must not start chDB from inside a ClickHouse server's config directory;
- while a streaming query or insert is open the session takes no other statement, so
  ``stream`` opens a session of its own.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from chdb.session import Session

from sinks.base import RETRYABLE_CODES, BackendError
from sinks.url import StorageUrl

__all__ = ["ChdbBackend"]

_DT = re.compile(r"^(?:Nullable\()?DateTime(?:\('([^']+)'\))?\)?$")
_DATE = re.compile(r"^(?:Nullable\()?Date\)?$")
_FLOAT = re.compile(r"^(?:Nullable\()?Float(32|64)\)?$")
# Session settings: 64-bit integers as JSON numbers, so results parse to ``int`` as the
# server backend returns them; JSON objects readable into String columns (the default
# since 23.x, stated so that the body splice in ``_as_fragment`` cannot silently break).
_SETTINGS = ("SET output_format_json_quote_64bit_integers = 0", "SET input_format_json_read_objects_as_strings = 1")


_CODE = re.compile(r"Code: (\d+)\.")


def _retryable(exc: BaseException) -> bool:
    """chDB raises one exception type; the ClickHouse error code in its text tells a
    passing condition (too many parts, memory) from a wrong statement."""
    if isinstance(exc, OSError):
        return True
    m = _CODE.search(str(exc))
    return m is not None and int(m.group(1)) in RETRYABLE_CODES


def _converter(ch_type: str) -> Any:
    """A function turning a JSON-decoded value of ``ch_type`` into the driver's Python type."""
    m = _DT.match(ch_type)
    if m:
        tz = ZoneInfo(m.group(1)) if m.group(1) else None
        return lambda v: None if v is None else datetime.strptime(v, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    if _DATE.match(ch_type):
        return lambda v: None if v is None else date.fromisoformat(v)
    if _FLOAT.match(ch_type):  # JSON writes 3.0 as 3; the driver returns float
        return lambda v: v if v is None or isinstance(v, float) else float(v)
    return None


def _as_fragment(value: Any) -> orjson.Fragment:
    """``bytes`` (one JSON object's text, see ``sinks.base``) go into the payload as raw
    JSON, which ClickHouse reads into the ``String`` column verbatim
    (``input_format_json_read_objects_as_strings``): no decode and re-encode of the
    largest column."""
    if isinstance(value, bytes):
        return orjson.Fragment(value)
    raise TypeError(f"cannot store {type(value).__name__}")


class ChdbBackend:
    """A database in a chDB data directory. ``url`` is a parsed ``chdb:///path/db`` URL;
    the directory and the database are created when missing. Thread-safe (one lock
    around the session). Created by ``sinks.url.connect``."""

    def __init__(self, url: StorageUrl) -> None:
        self.url = url.redacted
        self.database = url.database
        self._path = url.path
        self._lock = threading.Lock()
        self._metas: dict[tuple[str, tuple[str, ...]], bytes] = {}
        self._session = self._open()

    def __repr__(self) -> str:
        return f"ChdbBackend({self.url!r})"

    def _open(self) -> Session:
        try:
            os.makedirs(self._path, exist_ok=True)
            session = Session(self._path)
            session.query(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            session.query(f"USE {self.database}")
            for sql in _SETTINGS:
                session.query(sql)
        except (RuntimeError, OSError) as exc:
            raise BackendError(self.url, "open", exc, retryable=False) from None
        return session

    def _run(self, sql: str, fmt: str = "CSV") -> Any:
        try:
            with self._lock:
                return self._session.query(sql, fmt)
        except (RuntimeError, OSError) as exc:  # chdb's ChdbError is a RuntimeError
            raise BackendError(self.url, sql, exc, retryable=_retryable(exc)) from None

    def execute(self, sql: str) -> None:
        self._run(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.query_with_columns(sql)[1]

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        res = self._run(sql, "JSONCompact")
        raw = res.bytes()
        if not raw:
            return [], []
        doc = orjson.loads(raw)
        meta = doc["meta"]
        convs = [(i, c) for i, m in enumerate(meta) if (c := _converter(m["type"])) is not None]
        rows: list[tuple[Any, ...]] = []
        for row in doc["data"]:
            for i, conv in convs:
                row[i] = conv(row[i])
            rows.append(tuple(row))
        return [m["name"] for m in meta], rows

    def stream(self, sql: str) -> Iterator[str]:
        try:
            session = Session(self._path)
            session.query(f"USE {self.database}")
            result = session.send_query(sql, "JSONCompactEachRow")
        except (RuntimeError, OSError) as exc:
            raise BackendError(self.url, sql, exc, retryable=False) from None
        loads, tail = orjson.loads, b""
        try:
            for chunk in result:
                data = tail + chunk.bytes()
                lines = data.split(b"\n")
                tail = lines.pop()
                for line in lines:
                    if line:
                        yield loads(line)[0]
            if tail.strip():
                yield loads(tail)[0]
        except RuntimeError as exc:
            raise BackendError(self.url, sql, exc, retryable=False) from None
        finally:
            result.close()
            session.close()

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        sql = f"INSERT INTO {table} ({', '.join(columns)})"
        try:
            meta = self._meta(table, tuple(columns))
            payload = b'{"meta":' + meta + b',"data":' + orjson.dumps(rows, default=_as_fragment) + b"}"
            with self._lock:
                with self._session.send_insert(sql, "JSONCompact") as ins:
                    ins.append(payload)
                    ins.finish()
        except (RuntimeError, OSError) as exc:
            raise BackendError(self.url, sql, exc, retryable=_retryable(exc)) from None

    def _meta(self, table: str, columns: tuple[str, ...]) -> bytes:
        """The ``JSONCompact`` header (names and types) for ``columns`` of ``table``, cached."""
        key = (table, columns)
        meta = self._metas.get(key)
        if meta is None:
            with self._lock:
                types = dict(orjson.loads(self._session.query(
                    f"SELECT name, type FROM system.columns WHERE database = '{self.database}' AND table = '{table}'",
                    "JSONCompact").bytes())["data"])
            missing = [c for c in columns if c not in types]
            if missing:
                raise RuntimeError(f"table {table} has no column(s) {', '.join(missing)}")
            meta = self._metas[key] = orjson.dumps([{"name": c, "type": types[c]} for c in columns])
        return meta

    def ensure_database(self) -> None:
        self._run(f"CREATE DATABASE IF NOT EXISTS {self.database}")

    def ping(self) -> bool:
        try:
            return self._run("SELECT 1", "TSV").bytes() == b"1\n"
        except BackendError:
            return False

    def close(self) -> None:
        with self._lock:
            self._session.close()
