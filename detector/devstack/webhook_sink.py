"""An HTTP endpoint that records the webhooks Alertmanager sends, for end-to-end tests.

It answers 200 to every POST so Alertmanager never retries; tests then assert on
exactly what a real receiver (Slack, PagerDuty, a ticket bot) would have been given.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Payload = dict[str, Any]


class WebhookSink:
    """Starts listening on 127.0.0.1 (port 0) in a daemon thread as soon as it is built."""

    def __init__(self, path: str = "/alerts") -> None:
        self._lock = threading.Lock()
        self._payloads: list[Payload] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.path = path
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="webhook-sink", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def payloads(self) -> list[Payload]:
        """A snapshot: safe to iterate while more webhooks arrive."""
        with self._lock:
            return list(self._payloads)

    def clear(self) -> None:
        with self._lock:
            self._payloads.clear()

    def wait_for(
        self, predicate: Callable[[Payload], bool], timeout: float = 10.0, interval: float = 0.05
    ) -> Payload:
        """The first recorded payload matching ``predicate``; ``TimeoutError`` lists what did arrive."""
        deadline = time.monotonic() + timeout
        while True:
            for payload in self.payloads:
                if predicate(payload):
                    return payload
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching webhook within {timeout}s; received: {self.payloads!r}")
            time.sleep(interval)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def _record(self, payload: Payload) -> None:
        with self._lock:
            self._payloads.append(payload)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    sink._record(json.loads(body))
                except ValueError:
                    sink._record({"_unparsed": body.decode(errors="replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean; payloads are the record

        return Handler

    def __enter__(self) -> WebhookSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
