"""A misbehaving network between MeshPulse and Prometheus, for the fault suite.

Real outages rarely look like "connection refused": a proxy times out, a load
balancer answers 503, a half-written body arrives, a shard is missing from a
federated answer. This proxy sits in front of a real Prometheus and turns each of
those on and off while the service under test keeps running. Standard library only,
like the rest of :mod:`detector.devstack`.

Modes: ``pass``, ``slow`` (sleep ``delay_s`` then forward), ``5xx`` (answer 503),
``garbage`` (the real answer cut in half: malformed JSON), ``drop`` (forward, but
remove every other series from a matrix result: partial data).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MODES = ("pass", "slow", "5xx", "garbage", "drop")


class ChaosProxy:
    """Listens on 127.0.0.1 (port 0) in a daemon thread and forwards to ``upstream``."""

    def __init__(self, upstream: str, *, timeout_s: float = 30.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.timeout_s = timeout_s
        self.mode, self.delay_s = "pass", 0.0
        self._lock = threading.Lock()
        self.in_flight = 0
        self.started = threading.Event()
        """Set whenever a request begins: lets a test kill something while a query is in flight."""
        self.counts: dict[str, int] = dict.fromkeys(MODES, 0)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="chaos-proxy", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def set_mode(self, mode: str, delay_s: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        with self._lock:
            self.mode, self.delay_s = mode, delay_s

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> ChaosProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # what one request gets ---------------------------------------------------------------------
    def answer(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        with self._lock:
            mode, delay = self.mode, self.delay_s
            self.counts[mode] += 1
            self.in_flight += 1
        self.started.set()
        try:
            if mode == "5xx":
                return 503, b'{"status":"error","errorType":"unavailable","error":"injected by chaos proxy"}'
            if mode == "slow":
                time.sleep(delay)
            status, data = self._forward(method, path, body, headers)
            if mode == "garbage":
                return status, data[: len(data) // 2]
            if mode == "drop" and status == 200:
                return status, drop_half(data)
            return status, data
        finally:
            with self._lock:
                self.in_flight -= 1

    def _forward(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(self.upstream + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:  # upstream down: what a real proxy says
            return 502, json.dumps({"status": "error", "error": f"upstream: {exc}"}).encode()


def drop_half(data: bytes) -> bytes:
    """Remove every other series of a matrix/vector result; anything else passes unchanged.

    >>> body = {"status": "success", "data": {"resultType": "matrix", "result": [1, 2, 3]}}
    >>> json.loads(drop_half(json.dumps(body).encode()))["data"]["result"]
    [1, 3]
    """
    try:
        payload = json.loads(data)
        payload["data"]["result"] = payload["data"]["result"][::2]
    except (ValueError, KeyError, TypeError):
        return data
    return json.dumps(payload).encode()


def _handler_for(proxy: ChaosProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._relay(None)

        def do_POST(self) -> None:
            self._relay(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _relay(self, body: bytes | None) -> None:
            wanted = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
            status, data = proxy.answer(self.command, self.path, body, wanted)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (its timeout): nothing left to tell it

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
