"""Storage URLs: which engine, where, which database — and how to print one safely.

- ``clickhouse://[user[:password]@]host[:port]/database[?option=value…]`` — a ClickHouse
  server over the native TCP protocol (clickhouse-driver), port 9000 by default;
  ``clickhouses://`` is the same over TLS (``secure=True``, port 9440 by default).
  Options passed through to the driver: ``connect_timeout``, ``send_receive_timeout``,
  ``sync_request_timeout`` (seconds), ``compression`` (``lz4``, ``zstd``…), ``verify``
  (``true``/``false``), ``ca_certs``, ``certfile``, ``keyfile``, ``server_hostname``.
- ``chdb:///absolute/path/database`` — embedded chDB keeping its files in the directory
  ``/absolute/path``, tables in ``database``. chDB holds one data directory per process.

User name and password are percent-decoded. The password never appears in ``repr``, in
``redacted`` or in any error or log line.

>>> u = StorageUrl.parse("clickhouse://rw:s%40cret@ch1.local:9000/riskwatch?connect_timeout=3")
>>> u.redacted, u.password, u.options
('clickhouse://rw:***@ch1.local:9000/riskwatch', 's@cret', {'connect_timeout': '3'})
>>> StorageUrl.parse("chdb:///var/lib/riskwatch/rw").path
'/var/lib/riskwatch'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from schemas.errors import ConfigError
from sinks.base import Backend

__all__ = ["StorageUrl", "connect"]

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_OPTIONS = frozenset({
    "connect_timeout", "send_receive_timeout", "sync_request_timeout", "compression",
    "verify", "ca_certs", "certfile", "keyfile", "server_hostname",
})


@dataclass(frozen=True)
class StorageUrl:
    """A parsed storage URL. ``scheme`` is ``clickhouse``, ``clickhouses`` or ``chdb``;
    ``path`` is chDB's data directory (empty for a server); ``options`` the driver options."""

    scheme: str
    database: str
    host: str = ""
    port: int = 0
    user: str = "default"
    password: str = field(default="", repr=False)
    path: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> StorageUrl:
        """Parse ``url``; raises ``ConfigError`` (key ``storage.url``, message redacted)
        for an unknown scheme, a relative chDB path, a bad port, database name or option."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError("storage.url", f"cannot parse {_redact_text(url)!r}: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme == "chdb":
            return cls._parse_chdb(url, parts.netloc, parts.path)
        if scheme not in ("clickhouse", "clickhouses"):
            raise ConfigError("storage.url", f"scheme of {_redact_text(url)!r} must be clickhouse, clickhouses or chdb")
        if not parts.hostname:
            raise ConfigError("storage.url", f"{_redact_text(url)!r} names no host")
        database = parts.path.strip("/") or "default"
        _check_database(database, url)
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise ConfigError("storage.url", f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_OPTIONS))}")
        return cls(
            scheme=scheme, database=database, host=parts.hostname,
            port=port or (9440 if scheme == "clickhouses" else 9000),
            user=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password) if parts.password else "",
            options=options,
        )

    @classmethod
    def _parse_chdb(cls, url: str, netloc: str, path: str) -> StorageUrl:
        if netloc or not path.startswith("/") or path.count("/") < 2:
            raise ConfigError("storage.url", f"{url!r} must be chdb:///absolute/path/database")
        directory, _, database = path.rstrip("/").rpartition("/")
        _check_database(database, url)
        return cls(scheme="chdb", database=database, path=directory or "/")

    @property
    def secure(self) -> bool:
        return self.scheme == "clickhouses"

    @property
    def redacted(self) -> str:
        """The URL with the password replaced by ``***``: the only form that is ever logged."""
        if self.scheme == "chdb":
            return f"chdb://{self.path.rstrip('/')}/{self.database}"
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":***"
        return f"{self.scheme}://{auth}@{self.host}:{self.port}/{self.database}"

    def __str__(self) -> str:
        return self.redacted


def _check_database(database: str, url: str) -> None:
    if not _DB_NAME.match(database):
        raise ConfigError("storage.url", f"database {database!r} in {_redact_text(url)!r} must match {_DB_NAME.pattern}")


def _redact_text(url: str) -> str:
    """Best effort for a URL that did not parse: hide whatever sits between ``:`` and ``@``."""
    return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url)


def connect(url: str | StorageUrl) -> Backend:
    """Open the backend a URL names (lazily: a server is contacted on first use, so this
    succeeds while the server is down). Called by the CLI (``riskwatch db …``), the
    runtimes and the tests; raises ``ConfigError`` for a bad URL."""
    u = url if isinstance(url, StorageUrl) else StorageUrl.parse(url)
    if u.scheme == "chdb":
        from sinks.embedded import ChdbBackend

        return ChdbBackend(u)
    from sinks.native import ServerBackend

    return ServerBackend(u)
