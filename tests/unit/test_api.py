"""The REST API over a pipeline fed by a deterministic fake mesh (no scheduler)."""

import json

import pytest
from fakes import Clock, FakeMesh, RecordingNotifier
from fastapi.testclient import TestClient

from detector.api.app import create_app
from detector.series import Signal
from detector.settings import Settings

STEP = 15.0
T0 = 1_800_000_000.0


@pytest.fixture
def env(tmp_path):
    mesh, clock = FakeMesh(), Clock(T0)
    settings = Settings(
        scrape_interval_s=STEP, lookback_s=1800, state_path=tmp_path / "s.sqlite", run_scheduler=False
    )
    app = create_app(settings, source=mesh, notifier=RecordingNotifier(), clock=clock)
    with TestClient(app) as client:
        pipeline = app.state.runtime.pipeline

        def cycles(n: int) -> None:
            for _ in range(n):
                clock.t += STEP
                pipeline.run_cycle()

        yield client, mesh, cycles


def test_healthz_is_up_before_any_cycle_and_readyz_says_why_not(env):
    client, _, _ = env
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["metrics_source"]["error"] == "no cycle has run yet"


def test_services_health_and_unknown_service(env):
    client, mesh, cycles = env
    cycles(2)
    services = client.get("/api/v1/services").json()
    assert {s["service"] for s in services} == {"cart", "web", "pay"}
    assert {s["health"] for s in services} == {"healthy"}
    r = client.get("/api/v1/services/nope")
    assert r.status_code == 404 and "unknown service 'nope'" in r.json()["detail"]
    mesh.faults["cart"] = (T0, T0 + 10_000, Signal.P99, 5000.0)
    cycles(2)
    assert client.get("/api/v1/services/cart").json()["health"] == "failing"
    mesh.down = True
    cycles(1)
    assert {s["health"] for s in client.get("/api/v1/services").json()} == {"no_data"}
    assert client.get("/readyz").status_code == 503


def test_anomalies_filters(env):
    client, mesh, cycles = env
    cycles(2)
    mesh.faults["web"] = (T0, T0 + 10_000, Signal.ERROR_RATIO, 0.4)
    cycles(2)
    active = client.get("/api/v1/anomalies", params={"active": True}).json()
    assert [(a["service"], a["signal"]) for a in active] == [("web", "error_ratio")]
    assert "expected" in active[0]["explanation"] and active[0]["observed"] == pytest.approx(0.4)
    assert client.get("/api/v1/anomalies", params={"service": "cart"}).json() == []
    assert client.get("/api/v1/anomalies", params={"signal": "bogus"}).status_code == 422


def test_series_has_band_and_scores(env):
    client, _, cycles = env
    cycles(1)
    body = client.get("/api/v1/services/pay/series", params={"signal": "p50"}).json()
    n = len(body["timestamps"])
    assert n > 50 and all(len(body[f]) == n for f in ("observed", "expected", "lower", "upper", "score"))
    i = n - 1
    assert body["lower"][i] < body["expected"][i] < body["upper"][i]
    r = client.get("/api/v1/services/pay/series", params={"signal": "p50", "scope": "pod", "pod": "x"})
    assert r.status_code == 404


def test_score_endpoint_contract(env):
    client, _, _ = env
    values = [10.0] * 60 + [500.0] + [None]
    r = client.post("/api/v1/score", json={"timestamps": list(range(62)), "values": values})
    body = r.json()
    assert r.status_code == 200
    assert body["is_anomaly"][60] and not any(body["is_anomaly"][:60])
    assert body["anomaly_score"][61] is None and all(0 <= s <= 1 for s in body["anomaly_score"][:61])
    assert client.post("/api/v1/score", json={"timestamps": [1, 2], "values": [1.0]}).status_code == 422
    assert client.post("/api/v1/score", json={"timestamps": [2, 1], "values": [1, 2]}).status_code == 422
    assert client.post("/api/v1/score", json={"timestamps": [], "values": []}).status_code == 422
    assert (
        client.post(
            "/api/v1/score", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_metrics_exposes_scores_and_cycles(env):
    client, _, cycles = env
    cycles(2)
    text = client.get("/metrics").text
    assert 'meshpulse_anomaly_score{namespace="default",service="cart",signal="rate"}' in text
    assert 'meshpulse_cycles_total{outcome="ok"} 2.0' in text
    assert "meshpulse_series_scored 15.0" in text


def test_openapi_lists_the_routes(env):
    client, _, _ = env
    paths = json.loads(client.get("/openapi.json").text)["paths"]
    for path in (
        "/api/v1/services",
        "/api/v1/anomalies",
        "/api/v1/services/{name}/series",
        "/api/v1/score",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths
