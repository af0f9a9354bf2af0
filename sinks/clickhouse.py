"""The ClickHouse writer: batched, retried, idempotent writes that survive outages.

``ClickHouseSink`` buffers events, dead letters and warnings, and writes each table's
buffer as one block when ``batch_rows`` rows are waiting or the oldest is ``max_age_s``
old (checked whenever ``add_*`` or ``flush`` is called: there is no background thread).

Idempotent: a batch retried after an error that hid a success, or an event delivered
twice, becomes duplicate rows with the same ids, and every count the project reads
(``sinks.queries.stats``, the hourly aggregates, ``load_events``) de-duplicates on those
ids — see ``sinks.migrations``. So retrying is always safe, and the writer never needs
to know whether a failed insert was half done.

When ClickHouse cannot be reached, two policies (``SinkConfig.spool_dir``):

- **spool** (``spool_dir`` set; what the runtimes use): a write that fails for lack of
  a server puts the batch in the spool directory (fsynced) and returns; later attempts,
  spaced by exponential backoff, first drain the spool oldest first, then write new
  rows. ``flush()`` returning means every row added is in ClickHouse *or* on local disk,
  so Kafka offsets may be committed. A process that stops with a non-empty spool drains
  it when a sink starts again on the same directory.
- **back-pressure** (``spool_dir`` unset): rows stay in memory while attempts fail, up
  to ``max_buffer_rows``; then ``add_*`` blocks, retrying with backoff, and raises
  ``SinkError`` after ``flush_timeout_s``. ``flush()`` and ``close()`` retry the same way
  and raise ``SinkError`` when the deadline passes, with the rows still buffered (nothing
  is dropped silently: the caller does not commit and will see the rows again).

A statement the server rejects as wrong (not as unavailable) raises ``SinkError`` at once;
in spool mode the batch is first written to the spool and set aside as ``*.bad``, so the
stream can go on and a human can look at it.
The writer is not thread-safe: one per producing thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.alert import Alert
from schemas.dead_letter import DeadLetter
from schemas.errors import ConfigError, SinkError
from schemas.event import Record
from schemas.regions import RegionTable
from sinks.base import Backend, BackendError
from sinks.migrations import migrate
from sinks.rows import ALERT_COLUMNS, DEAD_LETTER_COLUMNS, EVENT_COLUMNS, RowBuilder, alert_row, dead_letter_row
from sinks.spool import Spool

__all__ = ["ClickHouseSink", "SinkConfig"]

log = logging.getLogger(__name__)

_TABLES = (("events", EVENT_COLUMNS), ("dead_letters", DEAD_LETTER_COLUMNS), ("alerts", ALERT_COLUMNS))


@dataclass(frozen=True)
class SinkConfig:
    """How the writer batches and retries.

    ``batch_rows``: rows buffered (all tables) that trigger a write (≥ 1).
    ``max_age_s``: age of the oldest buffered row that triggers a write (> 0, seconds).
    ``max_buffer_rows``: back-pressure mode only — rows held in memory before ``add_*``
    blocks (≥ ``batch_rows``).
    ``retry_initial_s`` / ``retry_max_s``: first and longest pause between attempts while
    ClickHouse is unavailable (doubling in between).
    ``flush_timeout_s``: how long a blocking ``flush``/``close`` keeps retrying.
    ``spool_dir``: directory for batches that cannot be written now (``None``: block).
    ``migrate``: apply missing migrations before the first write.
    """

    batch_rows: int = 10_000
    max_age_s: float = 1.0
    max_buffer_rows: int = 100_000
    retry_initial_s: float = 0.05
    retry_max_s: float = 2.0
    flush_timeout_s: float = 30.0
    spool_dir: str | None = None
    migrate: bool = True

    def __post_init__(self) -> None:
        if self.batch_rows < 1:
            raise ConfigError("sink.batch_rows", f"must be >= 1, got {self.batch_rows}")
        if not self.max_age_s > 0:
            raise ConfigError("sink.max_age_s", f"must be > 0, got {self.max_age_s}")
        if self.max_buffer_rows < self.batch_rows:
            raise ConfigError("sink.max_buffer_rows", f"must be >= batch_rows ({self.batch_rows}), got {self.max_buffer_rows}")
        if not 0 < self.retry_initial_s <= self.retry_max_s:
            raise ConfigError("sink.retry_initial_s", f"must be > 0 and <= retry_max_s, got {self.retry_initial_s}")
        if self.flush_timeout_s < 0:
            raise ConfigError("sink.flush_timeout_s", f"must be >= 0, got {self.flush_timeout_s}")


class _Unavailable(Exception):
    """ClickHouse did not take a batch for a reason that may pass; carries the BackendError."""


class ClickHouseSink:
    """Writes records, dead letters and warnings to the database behind ``backend``.

    Parameters: the ``Backend`` (from ``sinks.url.connect``), the ``RegionTable`` (for the
    province/city/county columns) and a ``SinkConfig``. Constructing it never contacts the
    server; schema migration happens before the first write. Raises ``ConfigError`` when
    the spool directory is unusable or held by another sink. Called by every runtime's
    storage stage (``add_*`` per batch, ``flush`` before committing offsets, ``close`` at
    shutdown).

    ``counters`` holds plain counts for metrics: rows and batches written, rows spooled,
    failed attempts.
    """

    def __init__(self, backend: Backend, regions: RegionTable, config: SinkConfig | None = None) -> None:
        self.backend = backend
        self.config = config or SinkConfig()
        self._rows = RowBuilder(regions)
        self._spool = Spool(self.config.spool_dir) if self.config.spool_dir else None
        self._buffers: dict[str, list[tuple[Any, ...]]] = {t: [] for t, _ in _TABLES}
        self._buffered = 0
        self._oldest = 0.0  # monotonic time of the oldest buffered row
        self._seq = 0
        self._schema_ready = not self.config.migrate
        self._next_try = 0.0  # monotonic: no attempt before this while unavailable
        self._last_error: BackendError | None = None
        self._backoff = self.config.retry_initial_s
        self._closed = False
        self.counters = {"rows_written": 0, "batches_written": 0, "rows_spooled": 0, "failed_attempts": 0}

    def __repr__(self) -> str:
        return f"ClickHouseSink({self.backend.url!r}, buffered={self._buffered})"

    @property
    def buffered(self) -> int:
        """Rows held in memory now."""
        return self._buffered

    def spooled_files(self) -> int:
        """Batches waiting in the spool directory (0 in back-pressure mode)."""
        return len(self._spool.pending()) if self._spool else 0

    # -- adding ----------------------------------------------------------------------------
    def _reserve(self, n: int) -> tuple[int, int]:
        """``n`` fresh arrival sequence numbers (µs-based, strictly increasing) and now."""
        now = time.time()
        start = max(self._seq + 1, int(now * 1_000_000))
        self._seq = start + n - 1
        return start, int(now)

    def _append(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if self._closed:
            raise SinkError(self.backend.url, len(rows), RuntimeError("sink is closed"))
        if not rows:
            return
        if not self._buffered:
            self._oldest = time.monotonic()
        self._buffers[table].extend(rows)
        self._buffered += len(rows)
        self._maybe_flush()

    def add_events(self, records: Iterable[Record]) -> None:
        """Buffer validated records (may write, spool or block: see the module doc)."""
        records = records if isinstance(records, Sequence) else list(records)
        seq, now = self._reserve(len(records))
        row = self._rows.event_row
        self._append("events", [row(r, seq + i, now) for i, r in enumerate(records)])

    def add_dead_letters(self, dead_letters: Iterable[DeadLetter]) -> None:
        """Buffer rejected inputs."""
        dls = dead_letters if isinstance(dead_letters, Sequence) else list(dead_letters)
        seq, now = self._reserve(len(dls))
        self._append("dead_letters", [dead_letter_row(d, seq + i, now) for i, d in enumerate(dls)])

    def add_alerts(self, alerts: Iterable[Alert]) -> None:
        """Buffer warning state changes."""
        items = alerts if isinstance(alerts, Sequence) else list(alerts)
        seq, now = self._reserve(len(items))
        self._append("alerts", [alert_row(a, seq + i, now) for i, a in enumerate(items)])

    # -- writing ---------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        cfg = self.config
        if self._buffered >= cfg.batch_rows or time.monotonic() - self._oldest >= cfg.max_age_s:
            if self._spool is None and self._buffered >= cfg.max_buffer_rows:
                self._flush_blocking()  # back-pressure: the caller waits here
            else:
                self._attempt()

    def flush(self) -> None:
        """Write everything buffered. Spool mode: returns once every row is in ClickHouse
        or in the spool (an attempt is made unless backing off). Back-pressure mode:
        retries until ``flush_timeout_s``, then raises ``SinkError`` (rows stay buffered)."""
        if self._spool is not None:
            self._attempt()
        else:
            self._flush_blocking()

    def _flush_blocking(self) -> None:
        """Attempt until the buffers and the spool are stored or ``flush_timeout_s`` passes."""
        deadline = time.monotonic() + self.config.flush_timeout_s
        while True:
            error = self._attempt()
            if error is None:
                return
            now = time.monotonic()
            if now >= deadline:
                raise SinkError(self.backend.url, self._buffered, error)
            time.sleep(max(0.001, min(self._next_try - now, deadline - now)))

    def _attempt(self) -> BackendError | None:
        """One try at storing the spool and the buffers, unless backing off; returns the
        error that stopped it (``None`` on success). In spool mode a failure (or a backoff)
        moves the buffers to disk."""
        if time.monotonic() < self._next_try and self._last_error is not None:
            if self._spool is not None:
                self._spool_buffers(self._spool)
            return self._last_error
        try:
            self._ensure_schema()
            self._drain_spool()
            for table, columns in _TABLES:
                rows = self._buffers[table]
                if rows:
                    try:
                        self._write(table, columns, rows)
                    except SinkError:
                        if self._spool is not None:  # rejected as wrong: kept on disk for a human
                            self._spool.set_aside(self._spool.put(table, columns, rows))
                            self._take(table)
                        raise
                    self._take(table)
        except _Unavailable as unavailable:
            error: BackendError = unavailable.args[0]
            self._last_error = error
            self.counters["failed_attempts"] += 1
            self._next_try = time.monotonic() + self._backoff
            log.warning("ClickHouse %s unavailable (%s); next try in %.2fs", self.backend.url, error.cause, self._backoff)
            self._backoff = min(self._backoff * 2, self.config.retry_max_s)
            if self._spool is not None:
                self._spool_buffers(self._spool)
            return error
        self._backoff = self.config.retry_initial_s
        self._next_try, self._last_error = 0.0, None
        self._oldest = time.monotonic()
        return None

    def _take(self, table: str) -> None:
        """Forget ``table``'s buffer: it is stored (or set aside)."""
        self._buffered -= len(self._buffers[table])
        self._buffers[table] = []

    def _ensure_schema(self) -> None:
        if not self._schema_ready:
            try:
                migrate(self.backend)
            except BackendError as exc:
                if exc.retryable:
                    raise _Unavailable(exc) from None
                raise SinkError(self.backend.url, self._buffered, exc) from None
            self._schema_ready = True

    def _write(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        try:
            self.backend.insert(table, columns, rows)
        except BackendError as exc:
            if exc.retryable:
                raise _Unavailable(exc) from None
            raise SinkError(self.backend.url, len(rows), exc) from None
        self.counters["rows_written"] += len(rows)
        self.counters["batches_written"] += 1

    def _drain_spool(self) -> None:
        if self._spool is None:
            return
        for path in self._spool.pending():
            batch = self._spool.read(path)
            if batch is not None:
                try:
                    self._write(batch.table, batch.columns, batch.rows)
                except SinkError:
                    self._spool.set_aside(path)  # rejected as wrong: keep it for a human, go on next time
                    raise
                log.info("drained %d %s rows from spool %s", len(batch.rows), batch.table, path.name)
            self._spool.remove(path)

    def _spool_buffers(self, spool: Spool) -> None:
        for table, columns in _TABLES:
            rows = self._buffers[table]
            if rows:
                try:
                    spool.put(table, columns, rows)
                except OSError as exc:  # disk full: keep the rows in memory, tell the caller
                    raise SinkError(f"spool {spool.directory}", len(rows), exc) from None
                self.counters["rows_spooled"] += len(rows)
                self._take(table)

    def close(self) -> None:
        """Flush and release the spool. Spool mode: waits up to ``flush_timeout_s`` for
        ClickHouse to take the spool, then leaves what remains on disk for the next start
        (logged). Back-pressure mode: raises ``SinkError`` if rows could not be written.
        Idempotent."""
        if self._closed:
            return
        try:
            if self._spool is None:
                self._flush_blocking()
            else:
                try:
                    self._flush_blocking()
                except SinkError as exc:
                    if self._buffered or not getattr(exc.cause, "retryable", True):
                        raise  # not an outage: a rejected batch, or rows that could not be spooled
                    log.warning("closing with %d spooled batches in %s: %s",
                                len(self._spool.pending()), self._spool.directory, exc.cause)
        finally:
            if not self._buffered:
                self._closed = True
                if self._spool is not None:
                    self._spool.close()

    def __enter__(self) -> ClickHouseSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
