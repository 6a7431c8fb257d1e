"""Oversized bodies are refused with 413 before a route sees them, declared or streamed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from detector.api.limits import DEFAULT_JSON_BYTES, BodySizeLimit


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI()
    seen: list[int] = []

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"bytes": len(body)}

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(BodySizeLimit, max_json_bytes=1000, max_other_bytes=100)
    with TestClient(app) as c:
        c.seen = seen  # type: ignore[attr-defined]
        yield c


def post(client: TestClient, content: bytes | Iterator[bytes], ctype: str = "application/json") -> object:
    return client.post("/echo", content=content, headers={"content-type": ctype})


def test_small_bodies_pass_untouched(client: TestClient) -> None:
    r = post(client, b"x" * 1000)
    assert r.status_code == 200 and r.json() == {"bytes": 1000}  # type: ignore[attr-defined]
    assert client.get("/ping").status_code == 200


def test_declared_length_over_the_limit_is_413_before_reading(client: TestClient) -> None:
    r = post(client, b"x" * 1001)
    assert r.status_code == 413  # type: ignore[attr-defined]
    detail = r.json()["detail"]  # type: ignore[attr-defined]
    assert "1000-byte limit" in detail and "application/json" in detail and "split" in detail
    assert client.seen == []  # type: ignore[attr-defined]


def test_streamed_body_is_cut_off_at_the_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b"x" * 100

    r = post(client, chunks())
    assert r.status_code == 413  # type: ignore[attr-defined]
    assert client.seen == []  # type: ignore[attr-defined]


def test_streamed_body_under_the_limit_arrives_whole(client: TestClient) -> None:
    r = post(client, iter([b"a" * 300, b"b" * 300]))
    assert r.status_code == 200 and r.json() == {"bytes": 600}  # type: ignore[attr-defined]


def test_other_content_types_get_the_smaller_limit(client: TestClient) -> None:
    assert post(client, b"x" * 101, "text/plain").status_code == 413  # type: ignore[attr-defined]
    assert post(client, b"x" * 500, "application/merge-patch+json").status_code == 200  # type: ignore[attr-defined]


def test_bad_content_length_is_400(client: TestClient) -> None:
    r = client.post(
        "/echo", content=b"{}", headers={"content-length": "-1", "content-type": "application/json"}
    )
    assert r.status_code in (400, 413)


def test_defaults_and_validation() -> None:
    assert DEFAULT_JSON_BYTES == 1 << 20
    with pytest.raises(ValueError, match=">= 0"):
        BodySizeLimit(FastAPI(), max_json_bytes=-1)


def test_score_endpoint_behind_the_limit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The real app: a 2 MiB score request is refused, a normal one still scores."""
    from fakes import FakeMesh, RecordingNotifier

    from detector.api.app import create_app
    from detector.settings import Settings

    settings = Settings(state_path=tmp_path / "s.sqlite", run_scheduler=False)
    app = create_app(settings, source=FakeMesh(), notifier=RecordingNotifier())
    app.add_middleware(BodySizeLimit)
    with TestClient(app) as c:
        n = 120_000
        big = json.dumps({"timestamps": list(range(n)), "values": [1.0] * n}).encode()
        assert len(big) > DEFAULT_JSON_BYTES
        r = c.post("/api/v1/score", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
        ok = c.post("/api/v1/score", json={"timestamps": list(range(30)), "values": [1.0] * 30})
        assert ok.status_code == 200
