"""A throw-away ``clickhouse-server`` on loopback ports, for tests, CI and local trials.

It writes its own minimal config (``config.xml``/``users.xml``) into a directory, keeps
data and logs there, listens on 127.0.0.1 only, on free ports picked at construction
(TCP, HTTP, interserver), and can be stopped (SIGTERM), killed (SIGKILL) and started
again on the same data and ports — which is how the outage tests take it away from a
running writer. Works with Debian's 18.16 package (``/usr/sbin/clickhouse-server``) and
with the single ``clickhouse`` binary of later releases (``clickhouse server``).

``poll_interval`` is 1 s (default 10) so that a SIGTERM with idle client connections
open finishes in about a second instead of ten.

Called by ``tests/sinks/conftest.py`` (session fixture) and by ``.ci/clickhouse.sh``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from schemas.errors import RiskwatchError

__all__ = ["LocalClickHouse", "ServerStartError", "find_server_binary", "main"]

_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/error.log</errorlog>
    <size>10M</size><count>1</count><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <interserver_http_port>{inter}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/data/tmp/</tmp_path>
  <user_files_path>{d}/data/user_files/</user_files_path>
  <format_schema_path>{d}/data/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
"""
_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage>
    <poll_interval>1</poll_interval></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"""


class ServerStartError(RiskwatchError):
    """The server binary is missing or did not answer in time; ``reason`` says which and
    carries the tail of its error log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"clickhouse-server: {reason}")


def find_server_binary() -> list[str] | None:
    """The command that runs a server here: ``clickhouse-server`` (Debian) or
    ``clickhouse server``; ``None`` when neither is installed."""
    for name, extra in (("clickhouse-server", []), ("clickhouse", ["server"])):
        path = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None)
        if path:
            return [path, *extra]
    return None


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class LocalClickHouse:
    """A server whose config, data and logs live in ``directory``. Raises
    ``ServerStartError`` from ``start`` when the binary is missing or never answers."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).resolve()
        self.tcp_port, self.http_port, self.interserver_port = _free_ports(3)
        self._proc: subprocess.Popen[bytes] | None = None
        (self.directory / "log").mkdir(parents=True, exist_ok=True)
        (self.directory / "config.xml").write_text(_CONFIG.format(
            d=self.directory, tcp=self.tcp_port, http=self.http_port, inter=self.interserver_port))
        (self.directory / "users.xml").write_text(_USERS)

    def url(self, database: str) -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/{database}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until it answers ``SELECT 1`` on the TCP port."""
        cmd = find_server_binary()
        if cmd is None:
            raise ServerStartError("no clickhouse-server binary (apt-get install -y clickhouse-server)")
        if self.running:
            return
        out = open(self.directory / "log" / "stdout.log", "ab")  # noqa: SIM115 — owned by the child
        self._proc = subprocess.Popen([*cmd, f"--config-file={self.directory / 'config.xml'}"],
                                      cwd=self.directory, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerStartError(f"exited with {self._proc.returncode}: {self._log_tail()}")
            if self._answers():
                return
            time.sleep(0.1)
        self.kill()
        raise ServerStartError(f"did not answer on 127.0.0.1:{self.tcp_port} within {timeout:.0f}s: {self._log_tail()}")

    def _answers(self) -> bool:
        try:  # a bare connect first: the driver logs a traceback for every refused connection
            socket.create_connection(("127.0.0.1", self.tcp_port), timeout=1).close()
        except OSError:
            return False
        client = Client(host="127.0.0.1", port=self.tcp_port, connect_timeout=1, send_receive_timeout=5)
        try:
            return client.execute("SELECT 1") == [(1,)]
        except (ch_errors.Error, OSError, EOFError):
            return False
        finally:
            client.disconnect()

    def _log_tail(self) -> str:
        texts = []
        for name in ("error.log", "stdout.log"):
            p = self.directory / "log" / name
            if p.exists():
                texts.append(p.read_text(errors="replace")[-1500:])
        return " | ".join(t.strip() for t in texts if t.strip()) or "(no log output)"

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait; SIGKILL if it has not exited after ``timeout``."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> LocalClickHouse:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m sinks.local_server DIR``: run a server in DIR until Ctrl-C, printing its URL."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sinks.local_server", description=main.__doc__)
    parser.add_argument("directory", help="where config, data and logs go (kept afterwards)")
    parser.add_argument("--database", default="riskwatch")
    args = parser.parse_args(argv)
    server = LocalClickHouse(args.directory)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())  # a SIGTERM to us alone must not orphan it
    server.start()
    print(server.url(args.database), flush=True)
    try:
        while server.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
