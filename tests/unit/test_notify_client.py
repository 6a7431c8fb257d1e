"""AlertmanagerNotifier against real local HTTP servers (port 0), not patched calls."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from detector.devstack import free_port
from detector.notify import Alert, AlertmanagerNotifier, NotifyError, NullNotifier

ALERT = Alert({"alertname": "MeshAnomaly", "service": "cart"}, {"summary": "s"}, 1_700_000_000.0)


class Recorder:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body
        self.requests: list[tuple[str, Any]] = []


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Recorder]]:
    status, body = getattr(request, "param", (200, b""))
    recorder = Recorder(status, body)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            recorder.requests.append((self.path, json.loads(raw)))
            self.send_response(recorder.status)
            self.send_header("Content-Length", str(len(recorder.body)))
            self.end_headers()
            self.wfile.write(recorder.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_posts_a_json_list_to_the_v2_endpoint(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    with AlertmanagerNotifier(url + "/") as notifier:
        notifier.send([ALERT, Alert({"alertname": "X"}, {}, 1.0, 2.0)])
    [(path, body)] = recorder.requests
    assert path == "/api/v2/alerts"
    assert body[0] == {
        "labels": ALERT.labels,
        "annotations": {"summary": "s"},
        "startsAt": "2023-11-14T22:13:20.000Z",
    }
    assert body[1]["endsAt"] == "1970-01-01T00:00:02.000Z"


def test_nothing_to_send_makes_no_request(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    with AlertmanagerNotifier(url) as notifier:
        notifier.send([])
    assert recorder.requests == []


@pytest.mark.parametrize("server", [(500, b"boom: storage unavailable")], indirect=True)
def test_server_error_raises_with_status_and_body(server: tuple[str, Recorder]) -> None:
    url, _ = server
    with AlertmanagerNotifier(url) as notifier, pytest.raises(NotifyError, match=r"HTTP 500.*boom"):
        notifier.send([ALERT])


@pytest.mark.parametrize("server", [(400, b'{"code":601,"message":"bad alert"}')], indirect=True)
def test_rejected_alert_raises(server: tuple[str, Recorder]) -> None:
    url, _ = server
    with AlertmanagerNotifier(url) as notifier, pytest.raises(NotifyError, match=r"HTTP 400.*bad alert"):
        notifier.send([ALERT])


def test_closed_port_raises_notify_error() -> None:
    with (
        AlertmanagerNotifier(f"http://127.0.0.1:{free_port()}", timeout_s=2.0) as notifier,
        pytest.raises(NotifyError, match="ConnectError"),
    ):
        notifier.send([ALERT])


def test_null_notifier_accepts_anything() -> None:
    NullNotifier().send([ALERT])
