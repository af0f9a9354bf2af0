"""The ClickHouse server backend: the native TCP protocol through clickhouse-driver.

Works with every server from 18.16 (Debian's package, what production runs) to current.
Inserts go column-wise (``columnar=True``), the driver's fastest path. The driver
reconnects by itself on the next call after a network error, so a server that restarts
needs nothing from the caller but a retry.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from sinks.base import RETRYABLE_CODES, BackendError
from sinks.url import StorageUrl

__all__ = ["ServerBackend"]

_NETWORK_ERRORS = (ch_errors.NetworkError, ch_errors.SocketTimeoutError, ch_errors.UnexpectedPacketFromServerError,
                   EOFError, OSError)
_INLINE_INSERT = re.compile(r"^\s*INSERT\b.*(\bVALUES\s*\(|\bFORMAT\s+\w+\s+\S)", re.IGNORECASE | re.DOTALL)
_BOOL = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


class ServerBackend:
    """A database on a ClickHouse server. ``url`` is a parsed ``clickhouse://`` or
    ``clickhouses://`` URL. Thread-safe (one lock around the connection; ``stream`` uses
    a connection of its own). Created by ``sinks.url.connect``."""

    def __init__(self, url: StorageUrl) -> None:
        self._u = url
        self.url = url.redacted
        self.database = url.database
        self._lock = threading.Lock()
        self._client = self._new_client(url.database)

    def __repr__(self) -> str:
        return f"ServerBackend({self.url!r})"

    def _new_client(self, database: str) -> Client:
        opts: dict[str, Any] = {}
        for key, value in self._u.options.items():
            if key == "verify":
                opts[key] = _BOOL.get(value.lower(), True)
            elif key.endswith("_timeout"):
                opts[key] = float(value)
            else:
                opts[key] = value
        opts.setdefault("connect_timeout", 5)
        opts.setdefault("send_receive_timeout", 60)
        return Client(host=self._u.host, port=self._u.port, database=database, user=self._u.user,
                      password=self._u.password, secure=self._u.secure, client_name="riskwatch", **opts)

    def _run(self, sql: str, client: Client | None = None, **kwargs: Any) -> Any:
        c = client or self._client
        try:
            with self._lock:
                return c.execute(sql, **kwargs)
        except ch_errors.ServerException as exc:
            raise BackendError(self.url, sql, exc, retryable=exc.code in RETRYABLE_CODES) from None
        except _NETWORK_ERRORS as exc:
            c.disconnect()
            raise BackendError(self.url, sql, exc, retryable=True) from None
        except ch_errors.Error as exc:
            c.disconnect()
            raise BackendError(self.url, sql, exc, retryable=False) from None

    def execute(self, sql: str) -> None:
        if _INLINE_INSERT.match(sql):
            # The native protocol reads rows from data blocks, never from the query text:
            # 18.16 waits for blocks that never come, and a later server ignores the values.
            raise BackendError(self.url, sql, ValueError("inline VALUES/FORMAT data is not sent over the native "
                                                         "protocol; use insert() or INSERT … SELECT"), retryable=False)
        self._run(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._run(sql)]

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        rows, types = self._run(sql, with_column_types=True)
        return [name for name, _ in types], [tuple(r) for r in rows]

    def stream(self, sql: str) -> Iterator[str]:
        client = self._new_client(self.database)
        try:
            for row in client.execute_iter(sql, settings={"max_block_size": 8192}):
                yield row[0]
        except ch_errors.ServerException as exc:
            raise BackendError(self.url, sql, exc, retryable=exc.code in RETRYABLE_CODES) from None
        except (*_NETWORK_ERRORS, ch_errors.Error) as exc:
            raise BackendError(self.url, sql, exc, retryable=isinstance(exc, _NETWORK_ERRORS)) from None
        finally:
            client.disconnect()

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
        self._run(sql, params=[list(c) for c in zip(*rows)], columnar=True)

    def ensure_database(self) -> None:
        admin = self._new_client("")  # the user's default database: ours may not exist yet
        try:
            self._run(f"CREATE DATABASE IF NOT EXISTS {self.database}", client=admin)
        finally:
            admin.disconnect()

    def ping(self) -> bool:
        try:
            return self._run("SELECT 1") == [(1,)]
        except BackendError:
            return False

    def close(self) -> None:
        with self._lock:
            self._client.disconnect()
