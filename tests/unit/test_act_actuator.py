"""Modes, the audit log, approval flow, GitOps files and the recommendations API."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from detector.act import Actuator, NotAllowed, NullApplier, make_applier
from detector.act.gitops import GitOpsWriter
from detector.api.routes import recommendations
from detector.decide.manifests import virtual_service
from detector.decide.records import Recommendation
from detector.settings import Settings
from detector.store.decisions import DecisionStore


def _shift(now: float = 1.0, before=None, after=None) -> Recommendation:
    before, after = before or {"v1": 50, "v2": 50}, after or {"v1": 70, "v2": 30}
    return Recommendation.make(
        "traffic-shift",
        "default",
        "reviews",
        now,
        "shift",
        "why",
        {"n": 1},
        manifest=virtual_service("reviews", "default", "reviews.default.svc.cluster.local", after),
        weights_before=before,
        weights_after=after,
    )


def _info() -> Recommendation:
    return Recommendation.make("pod-outlier", "default", "reviews", 1.0, "pod", "why", {"pod": "p"})


@pytest.fixture
def decisions(store) -> DecisionStore:
    """On SQLite and on PostgreSQL (the ``store`` fixture)."""
    return DecisionStore(store)


def test_dry_run_logs_would_have_done_and_applies_nothing(decisions, tmp_path):
    act = Actuator(decisions, GitOpsWriter(tmp_path), "dry-run", clock=lambda: 5.0)
    assert act.handle([_shift(), _info()], 1.0) == []
    [info, shift] = sorted(decisions.list(), key=lambda r: r["kind"])
    assert shift["status"] == "dry-run" and info["status"] == "info"
    assert {a["action"] for a in decisions.actions()} == {"would-apply", "record"}
    assert not list(tmp_path.iterdir())
    assert act.handle([_shift()], 1.0) == [] and len(decisions.list()) == 2  # a retried cycle adds nothing


def test_approval_flow_and_audit(decisions, tmp_path):
    act = Actuator(decisions, GitOpsWriter(tmp_path), "approval", clock=lambda: 9.0)
    rec = _shift()
    act.handle([rec], 1.0)
    with pytest.raises(NotAllowed):
        act.apply(rec.id, "alice")  # not approved yet
    assert act.apply(rec.id, "alice", dry_run=True).outcome == "dry-run"
    act.approve(rec.id, "alice")
    assert act.apply(rec.id, "alice").outcome == "applied"
    assert decisions.get(rec.id)["status"] == "applied"  # type: ignore[index]
    assert decisions.weight_writes() == {"default/reviews": ({"v1": 70, "v2": 30}, 9.0)}
    path = tmp_path / "default" / "virtualservice-reviews.yaml"
    assert "weight: 30" in path.read_text()
    assert [a["action"] for a in decisions.actions(rec.id)][::-1] == [
        "propose",
        "apply-dry-run",
        "approve",
        "apply",
    ]
    with pytest.raises(NotAllowed):
        act.approve(rec.id, "bob")  # already applied


def test_new_proposal_supersedes_pending_one(decisions):
    act = Actuator(decisions, NullApplier(), "approval")
    first, second = _shift(1.0), _shift(2.0, after={"v1": 60, "v2": 40})
    act.handle([first], 1.0)
    act.handle([second], 2.0)
    assert decisions.get(first.id)["status"] == "superseded"  # type: ignore[index]
    assert decisions.get(second.id)["status"] == "pending"  # type: ignore[index]


def test_auto_applies_traffic_but_circuit_rules_wait(decisions, tmp_path):
    act = Actuator(decisions, GitOpsWriter(tmp_path), "auto")
    dr = Recommendation.make(
        "destination-rule",
        "default",
        "reviews",
        1.0,
        "dr",
        "why",
        {},
        manifest={"kind": "DestinationRule", "metadata": {"name": "reviews", "namespace": "default"}},
    )
    [result] = act.handle([_shift(), dr], 1.0)
    assert result.outcome == "applied"
    assert decisions.get(dr.id)["status"] == "pending"  # type: ignore[index]
    counts = decisions.counts()
    assert counts["recommendations"]["traffic-shift/applied"] == 1
    assert counts["actions"]["apply/applied"] == 1


def test_gitops_detects_a_person_editing_the_file(decisions, tmp_path):
    writer = GitOpsWriter(tmp_path)
    assert writer.apply(_shift()).outcome == "applied"
    assert writer.read_weights("default", "reviews") == {"v1": 70, "v2": 30}
    stale = _shift(2.0, before={"v1": 50, "v2": 50}, after={"v1": 90, "v2": 10})
    assert writer.apply(stale).outcome == "manual-edit"
    first = (tmp_path / "default" / "virtualservice-reviews.yaml").read_text()
    writer.apply(_shift(3.0, before={"v1": 70, "v2": 30}, after={"v1": 70, "v2": 30}))
    assert (tmp_path / "default" / "virtualservice-reviews.yaml").read_text() == first  # stable output


def test_factory():
    assert make_applier("none").name == "none"
    assert make_applier("gitops", directory="/tmp/x").name == "gitops"
    assert make_applier("http", url="http://127.0.0.1:1/", secret="k").name == "http"
    with pytest.raises(ValueError):
        make_applier("ftp")


def test_api_router(decisions, tmp_path):
    act = Actuator(decisions, GitOpsWriter(tmp_path), "approval")
    rec = _shift()
    act.handle([rec, _info()], 1.0)
    app = FastAPI()
    app.include_router(recommendations.router)
    app.state.runtime = SimpleNamespace(decisions=act, settings=Settings(api_tokens=["t"]))
    assert TestClient(app).post(f"/api/v1/recommendations/{rec.id}/approve").status_code == 401
    c = TestClient(app, headers={"Authorization": "Bearer t"})
    assert len(c.get("/api/v1/recommendations").json()) == 2
    assert [r["id"] for r in c.get("/api/v1/recommendations", params={"kind": "traffic-shift"}).json()] == [
        rec.id
    ]
    one = c.get(f"/api/v1/recommendations/{rec.id}").json()
    assert "kind: VirtualService" in one["yaml"] and one["status"] == "pending"
    assert c.get("/api/v1/recommendations/nope").status_code == 404
    assert c.post(f"/api/v1/recommendations/{rec.id}/apply").status_code == 409  # needs approval
    assert (
        c.post(f"/api/v1/recommendations/{rec.id}/approve", json={"actor": "alice"}).json()["status"]
        == "approved"
    )
    assert c.post(f"/api/v1/recommendations/{rec.id}/apply").json()["outcome"] == "applied"
    assert c.post(f"/api/v1/recommendations/{_info().id}/reject").status_code == 409  # informational
    actions = c.get("/api/v1/actions").json()
    assert {"propose", "approve", "apply"} <= {a["action"] for a in actions}
    assert any(a["actor"] == "alice" for a in actions)
