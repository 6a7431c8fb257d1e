"""Mutating endpoints need a bearer token; reads are open unless protect_reads is set."""

import pytest
from fakes import Clock, FakeMesh, RecordingNotifier
from fastapi.testclient import TestClient

from detector.api.app import create_app
from detector.settings import Settings

APPROVE = "/api/v1/recommendations/nope/approve"


def client_for(tmp_path, **settings):
    s = Settings(state_path=tmp_path / "s.sqlite", run_scheduler=False, **settings)
    return TestClient(create_app(s, source=FakeMesh(), notifier=RecordingNotifier(), clock=Clock(1e9)))


def test_without_a_configured_token_writes_are_refused(tmp_path):
    with client_for(tmp_path) as c:
        r = c.post(APPROVE, headers={"Authorization": "Bearer anything"})
        assert r.status_code == 403 and "MESHPULSE_API_TOKEN_FILE" in r.json()["detail"]
        assert c.get("/api/v1/services").status_code == 200


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("Basic s3cret", 401),
        ("Bearer s3cret", 404),
        ("bearer other", 404),
    ],
)
def test_tokens_from_file_and_settings(tmp_path, header, status):
    token_file = tmp_path / "tokens"
    token_file.write_text("# operators\ns3cret\n")
    with client_for(tmp_path, api_token_file=token_file, api_tokens=["other"]) as c:
        headers = {"Authorization": header} if header else {}
        r = c.post(APPROVE, headers=headers)
        assert r.status_code == status, r.text
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer"


def test_protected_reads(tmp_path):
    with client_for(tmp_path, api_tokens=["t"], protect_reads=True) as c:
        assert c.get("/api/v1/anomalies").status_code == 401
        assert c.get("/api/v1/anomalies", headers={"Authorization": "Bearer t"}).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/metrics").status_code == 200
