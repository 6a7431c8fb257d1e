"""Alertmanager's webhook into MeshPulse: auth, validation, the analysis rule, correlation, the record."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import Clock, FakeMesh, RecordingNotifier
from fastapi import FastAPI
from fastapi.testclient import TestClient

from detector.api.app import create_app
from detector.api.auth import Reader
from detector.api.routes import alertmanager_webhook
from detector.correlate import service_of, services_named
from detector.decide.records import Recommendation
from detector.series import Signal
from detector.settings import Settings

STEP = 15.0
T0 = 1_800_000_000.0
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def with_webhook(app: FastAPI) -> FastAPI:
    """The router, as the lead's ``create_app`` includes it (added here until it does)."""
    if not any(getattr(r, "path", "") == "/api/v1/alertmanager/webhook" for r in app.routes):
        app.include_router(alertmanager_webhook.router, dependencies=[Reader])
    return app


def payload(*labels: dict[str, str], status: str = "firing", starts: str = "2027-01-15T08:00:00Z") -> dict:
    alerts = [
        {
            "status": status,
            "labels": {"alertname": "HighErrorRate", **lab},
            "annotations": {"summary": "errors"},
            "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": f"f{i}",
        }
        for i, lab in enumerate(labels)
    ]
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "meshpulse",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


@pytest.fixture
def env(tmp_path):
    mesh, clock = FakeMesh(), Clock(T0)
    settings = Settings(
        scrape_interval_s=STEP,
        lookback_s=1800,
        state_path=tmp_path / "s.sqlite",
        run_scheduler=False,
        api_tokens=[TOKEN],
        decide_mode="approval",
    )
    app = with_webhook(create_app(settings, source=mesh, notifier=RecordingNotifier(), clock=clock))
    with TestClient(app) as client:
        rt = app.state.runtime

        def cycles(n: int) -> None:
            for _ in range(n):
                clock.t += STEP
                rt.pipeline.run_cycle()

        yield client, mesh, cycles, clock, rt


def test_service_label_rule() -> None:
    assert service_of({"service": "a", "app": "b", "job": "c"}) == "a"
    assert service_of({"destination_workload": "cart-v2", "app": "cart"}) == "cart-v2"
    assert service_of({"job": "kubernetes-pods"}) == "kubernetes-pods"
    assert services_named([{"app": "x"}, {"service": "y"}, {"app": "x"}, {}]) == ["x", "y"]


def test_needs_a_bearer_token(env) -> None:
    client, *_ = env
    assert client.post("/api/v1/alertmanager/webhook", json=payload({"service": "web"})).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    r = client.post("/api/v1/alertmanager/webhook", json=payload({"service": "web"}), headers=bad)
    assert r.status_code == 401
    assert client.get("/api/v1/alertmanager/webhooks").json() == []


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p.update(alerts=[]), "alerts"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "startsAt"),
        (lambda p: p["alerts"][0].update(status="pending"), "status"),
        (lambda p: p["alerts"][0].update(labels={"service": 3}), "labels"),
    ],
)
def test_malformed_payload_is_422_with_the_reason_and_nothing_recorded(env, mutate, reason) -> None:
    client, *_ = env
    body = payload({"service": "web"})
    mutate(body)
    r = client.post("/api/v1/alertmanager/webhook", json=body, headers=AUTH)
    assert r.status_code == 422
    assert any(reason in map(str, err["loc"]) for err in r.json()["detail"]), r.json()
    assert client.get("/api/v1/alertmanager/webhooks").json() == []


def test_correlates_active_anomaly_and_reports_unknown_services(env) -> None:
    client, mesh, cycles, clock, rt = env
    cycles(2)
    mesh.faults["web"] = (T0, T0 + 10_000, Signal.ERROR_RATIO, 0.4)
    cycles(2)
    rec = Recommendation.make("pod-outlier", "default", "web", clock.t, "eject web-1", "why", {"ratio": 0.4})
    rt.decisions.decisions.put(rec.to_dict(), "info", clock.t)
    body = payload({"service": "web"}, {"destination_service": "ghost.default.svc.cluster.local"}, {})
    r = client.post("/api/v1/alertmanager/webhook", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["analysis"]["mode"] == "latest"  # a cycle started within the interval
    by_name = {s["service"]: s for s in result["services"]}
    assert by_name["web"]["verdict"] == "anomalous"
    assert [e["signal"] for e in by_name["web"]["active"]] == ["error_ratio"]
    assert [x["id"] for x in by_name["web"]["recommendations"]] == [rec.id]
    assert by_name["ghost"] == {**by_name["ghost"], "known": False, "summary": "unknown to MeshPulse"}
    assert result["unknown"] == ["ghost"] and result["unmapped_alerts"] == 1
    recorded = client.get("/api/v1/alertmanager/webhooks").json()
    assert [w["id"] for w in recorded] == [result["id"]]
    assert recorded[0]["payload"]["alerts"][0]["labels"]["service"] == "web"
    assert recorded[0]["result"]["services"] == result["services"]


def test_runs_a_cycle_when_none_ran_within_the_interval(env) -> None:
    client, _, cycles, clock, _ = env
    cycles(1)
    clock.t += 2 * STEP
    r: Any = client.post("/api/v1/alertmanager/webhook", json=payload({"app": "cart"}), headers=AUTH).json()
    assert r["analysis"]["mode"] == "ran" and r["analysis"]["last_cycle_at"] == clock.t
    assert r["services"][0]["verdict"] == "quiet"


def test_a_failed_cycle_still_answers_from_what_is_stored(env) -> None:
    client, mesh, cycles, clock, _ = env
    cycles(1)
    mesh.down = True
    clock.t += 2 * STEP
    r = client.post("/api/v1/alertmanager/webhook", json=payload({"service": "pay"}), headers=AUTH).json()
    assert r["analysis"]["mode"] == "failed" and "unreachable" in r["analysis"]["error"]
    assert r["services"][0]["known"] is True
