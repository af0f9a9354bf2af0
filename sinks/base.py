"""What every ClickHouse engine the sinks talk to offers, and the error it raises.

Two engines implement ``Backend``: the ClickHouse server over the native protocol
(``sinks.native.ServerBackend``, clickhouse-driver) and embedded chDB
(``sinks.embedded.ChdbBackend``). ``sinks.url.connect`` picks one from a URL. Everything
above this layer (migrations, the writer, the queries) is written once against the
Protocol, in SQL that both ClickHouse 18.16 and chDB 26.x accept.

Values crossing the Protocol are plain Python: ``str``, ``int``, ``float``, ``None``,
``list`` (for ``Array``) and, in query results, ``datetime`` for ``DateTime`` columns
(tz-aware when the column type names a zone). ``DateTime`` columns are *written* as epoch
seconds (``int``), which both engines take without any time-zone conversion. A ``bytes``
value written to a ``String`` column must be the UTF-8 text of one JSON object (the
events' ``body``); it is stored verbatim, sparing the hot path a decode and re-encode.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from schemas.errors import RiskwatchError

__all__ = ["RETRYABLE_CODES", "Backend", "BackendError"]

# ClickHouse error codes that say "try again later", not "this statement is wrong":
# TIMEOUT_EXCEEDED, SOCKET_TIMEOUT, NETWORK_ERROR, TOO_MANY_SIMULTANEOUS_QUERIES,
# MEMORY_LIMIT_EXCEEDED, TABLE_IS_READ_ONLY, TOO_MANY_PARTS, ALL_CONNECTION_TRIES_FAILED,
# KEEPER_EXCEPTION, ABORTED, QUERY_WAS_CANCELLED.
RETRYABLE_CODES = frozenset({159, 209, 210, 202, 241, 242, 252, 279, 999, 236, 394})


class BackendError(RiskwatchError):
    """A statement failed on ``url`` (password redacted). ``retryable`` is true when the
    engine could not be reached or was temporarily overloaded (the same statement may
    succeed later), false when the statement itself is wrong; ``cause`` is the engine's
    exception and ``statement`` the first line of the SQL."""

    def __init__(self, url: str, statement: str, cause: BaseException, *, retryable: bool) -> None:
        self.url, self.cause, self.retryable = url, cause, retryable
        self.statement = statement.strip().split("\n", 1)[0][:120]
        kind = "unavailable" if retryable else "failed"
        super().__init__(f"{url}: {kind}: {self.statement!r}: {type(cause).__name__}: {cause}")


@runtime_checkable
class Backend(Protocol):
    """One ClickHouse database reached through one engine.

    ``url`` is the connection URL with any password replaced by ``***`` (safe to log).
    ``database`` is the database every unqualified table name refers to. Every method
    raises ``BackendError``; none retries (the writer owns retry policy).
    """

    url: str
    database: str

    def execute(self, sql: str) -> None:
        """Run one statement (DDL, ``INSERT … SELECT``, ``OPTIMIZE``), discarding output."""

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one ``SELECT`` and return its rows."""

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one ``SELECT`` and return its column names and rows."""

    def stream(self, sql: str) -> Iterator[str]:
        """Run a ``SELECT`` of one ``String`` column and yield the values as they come,
        without holding the whole result (replay reads millions of event bodies)."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order) into ``table`` as one block."""

    def ensure_database(self) -> None:
        """Create ``database`` if it does not exist (called by ``migrate``)."""

    def ping(self) -> bool:
        """True when the engine answers ``SELECT 1`` now; never raises."""

    def close(self) -> None:
        """Release connections; the backend may not be used afterwards."""
