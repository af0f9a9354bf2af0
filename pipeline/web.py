"""The process's HTTP face: ``/metrics`` (Prometheus) and ``/`` (a JSON status line).

A small threaded server from the standard library; the analysts' dashboard will mount
here when it lands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["StatusServer"]


class StatusServer:
    """Serves ``registry`` on ``/metrics`` and ``status()`` on ``/`` at ``host:port`` in a daemon thread."""

    def __init__(self, registry: CollectorRegistry, status: Callable[[], dict[str, Any]], port: int,
                 host: str = "127.0.0.1") -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 — the stdlib's name
                if self.path.split("?")[0] == "/metrics":
                    body, kind = generate_latest(outer.registry), CONTENT_TYPE_LATEST
                elif self.path.split("?")[0] == "/":
                    body, kind = orjson.dumps(outer.status(), option=orjson.OPT_INDENT_2), "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # quiet: the console shows the progress line
                return

        self.registry, self.status = registry, status
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="status-http", daemon=True)

    def start(self) -> StatusServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
