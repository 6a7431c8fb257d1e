"""A metrics backend that misbehaves must fail the cycle with a clear error, never crash it.

The backend here is a local HTTP server on port 0 answering Prometheus's
``/api/v1/query_range`` with canned (recorded-shape) bodies.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from detector.scrape.source import MAX_POINTS, PrometheusSource, ScrapeError


class Backend:
    def __init__(self) -> None:
        self.status, self.body = 200, b""
        self.requests: list[dict[str, list[str]]] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                backend.requests.append(parse_qs(urlparse(self.path).query))
                self.send_response(backend.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(backend.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def matrix(self, values: list[list[object]]) -> None:
        labels = {"destination_service_name": "cart", "destination_service_namespace": "default"}
        self.body = json.dumps(
            {
                "status": "success",
                "data": {"resultType": "matrix", "result": [{"metric": labels, "values": values}]},
            }
        ).encode()


@pytest.fixture
def backend() -> Iterator[Backend]:
    b = Backend()
    yield b
    b.server.shutdown()


def source(url: str) -> PrometheusSource:
    return PrometheusSource(url, timeout_s=2)


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (200, b"<html>proxy error</html>", "unreachable or broken"),
        (500, b"oops", "rejected|unreachable"),
        (200, b'{"status": "success", "data": {"result": "not-a-list"}}', "unexpected payload"),
    ],
)
def test_garbage_is_a_scrape_error(backend: Backend, status: int, body: bytes, match: str) -> None:
    backend.status, backend.body = status, body
    with pytest.raises(ScrapeError, match=match):
        source(backend.url).fetch(0, 60, 15)


def test_non_numeric_sample_is_a_scrape_error(backend: Backend) -> None:
    backend.matrix([[15, "1.0"], [30, "banana"]])
    with pytest.raises(ScrapeError, match="non-numeric"):
        source(backend.url).fetch(0, 60, 15)


def test_long_ranges_are_split_under_prometheus_point_limit(backend: Backend) -> None:
    backend.matrix([[0, "1"]])
    src = source(backend.url)
    block = src.fetch(0, (MAX_POINTS + 10) * 15, 15)
    assert block.values.shape == (len(block.keys), MAX_POINTS + 11)
    per_query = len(backend.requests) // len(src.queries)
    assert per_query == 2
    for q in backend.requests:
        points = (float(q["end"][0]) - float(q["start"][0])) / 15 + 1
        assert points <= MAX_POINTS
