"""The HTTP hook against a real local receiver (port 0) that checks signatures and rejects replays."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from detector.act.http_hook import IDEMPOTENCY, SIGNATURE, TIMESTAMP, HttpHook, sign, verify
from detector.decide.manifests import virtual_service
from detector.decide.records import Recommendation

SECRET = b"s3cret"


class Receiver:
    """Accepts signed, fresh, never-seen requests; ``fail_next`` answers 503 that many times."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.seen_signatures: set[str] = set()
        self.done_keys: set[str] = set()
        self.codes: list[int] = []
        self.fail_next = 0

    def handle(self, headers: Any, body: bytes) -> int:
        ts, sig, key = headers.get(TIMESTAMP, ""), headers.get(SIGNATURE, ""), headers.get(IDEMPOTENCY, "")
        if not verify(SECRET, ts, body, sig, time.time(), tolerance_s=60):
            return 401
        if sig in self.seen_signatures:
            return 409  # a replay of a request we already saw
        self.seen_signatures.add(sig)
        if self.fail_next:
            self.fail_next -= 1
            return 503
        if key not in self.done_keys:
            self.done_keys.add(key)
            self.accepted.append(json.loads(body))
        return 200


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rx = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code = rx.handle(self.headers, body)
            rx.codes.append(code)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield rx, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _rec() -> Recommendation:
    after = {"v1": 70, "v2": 30}
    return Recommendation.make(
        "traffic-shift",
        "default",
        "reviews",
        1.0,
        "shift",
        "why",
        {"n": 1},
        manifest=virtual_service("reviews", "default", "reviews", after),
        weights_before={"v1": 50, "v2": 50},
        weights_after=after,
    )


def _hook(url: str, **kw: Any) -> HttpHook:
    return HttpHook(url, SECRET, timeout_s=2, backoff_s=0.01, **kw)


def test_signed_delivery(receiver):
    rx, url = receiver
    result = _hook(url).apply(_rec())
    assert result.outcome == "applied" and rx.codes == [200]
    [got] = rx.accepted
    assert got["recommendation"]["weights_after"] == {"v1": 70, "v2": 30}
    assert "weight: 30" in got["manifest_yaml"]


def test_retries_with_backoff_then_succeeds_once(receiver):
    rx, url = receiver
    rx.fail_next = 2
    sleeps: list[float] = []
    result = _hook(url, max_attempts=4, sleep=sleeps.append).apply(_rec())
    assert result.outcome == "applied" and rx.codes == [503, 503, 200]
    assert sleeps == [0.01, 0.02] and len(rx.accepted) == 1


def test_gives_up_after_bounded_attempts(receiver):
    rx, url = receiver
    rx.fail_next = 10
    result = _hook(url, max_attempts=3, sleep=lambda s: None).apply(_rec())
    assert result.outcome == "failed" and rx.codes == [503, 503, 503]


def test_receiver_rejects_replay_stale_and_forged(receiver):
    _, url = receiver
    body = json.dumps({"x": 1}).encode()
    ts = str(int(time.time()))
    headers = {TIMESTAMP: ts, SIGNATURE: sign(SECRET, ts, body), IDEMPOTENCY: "k1"}
    with httpx.Client(timeout=2) as c:
        assert c.post(url, content=body, headers=headers).status_code == 200
        assert c.post(url, content=body, headers=headers).status_code == 409  # replay
        old = str(int(time.time()) - 3600)
        stale = {TIMESTAMP: old, SIGNATURE: sign(SECRET, old, body), IDEMPOTENCY: "k2"}
        assert c.post(url, content=body, headers=stale).status_code == 401
        forged = {TIMESTAMP: ts, SIGNATURE: sign(b"wrong", ts, body), IDEMPOTENCY: "k3"}
        assert c.post(url, content=body, headers=forged).status_code == 401


def test_same_recommendation_twice_is_one_action(receiver):
    rx, url = receiver
    hook = _hook(url)
    assert hook.apply(_rec()).outcome == "applied"
    assert hook.apply(_rec()).outcome == "applied"  # a redelivery: new signature, same idempotency key
    assert len(rx.accepted) == 1 and rx.codes == [200, 200]


def test_stale_clock_is_refused_without_retry(receiver):
    rx, url = receiver
    hook = _hook(url, clock=lambda: time.time() - 3600)
    assert hook.apply(_rec()).outcome == "failed" and rx.codes == [401]


def test_unreachable_receiver_fails_after_retries():
    hook = HttpHook("http://127.0.0.1:9/none", SECRET, timeout_s=0.5, max_attempts=2, sleep=lambda s: None)
    result = hook.apply(_rec())
    assert result.outcome == "failed" and "attempt 2" in result.detail


def test_empty_secret_is_refused():
    with pytest.raises(ValueError):
        HttpHook("http://127.0.0.1:1/", "")
