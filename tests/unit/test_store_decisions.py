"""The decision, audit and Alertmanager-webhook tables, on SQLite and on PostgreSQL."""

from __future__ import annotations

from detector.store import webhooks as webhooks_module
from detector.store.decisions import DecisionStore
from detector.store.webhooks import WebhookStore


def rec(rec_id: str, kind: str = "traffic-shift", service: str = "reviews", at: float = 1.0, **body):
    return {"id": rec_id, "kind": kind, "namespace": "default", "service": service, "created_at": at, **body}


def test_a_recommendation_is_stored_once_and_read_back_with_its_status(store):
    decisions = DecisionStore(store)
    assert decisions.put(rec("r1", weights_after={"v1": 70}), "pending", 2.0) is True
    assert decisions.put(rec("r1", weights_after={"v1": 0}), "pending", 3.0) is False  # a retried cycle
    stored = {**rec("r1", weights_after={"v1": 70}), "status": "pending", "updated_at": 2.0}
    assert decisions.get("r1") == stored
    decisions.set_status("r1", "approved", 4.0)
    assert (decisions.get("r1")["status"], decisions.get("r1")["updated_at"]) == ("approved", 4.0)
    assert decisions.get("missing") is None


def test_list_filters_newest_first(store):
    decisions = DecisionStore(store)
    decisions.put(rec("a", at=1.0), "dry-run", 1.0)
    decisions.put(rec("b", kind="pod-outlier", service="cart", at=2.0), "info", 2.0)
    decisions.put(rec("c", at=3.0), "pending", 3.0)
    assert [r["id"] for r in decisions.list()] == ["c", "b", "a"]
    assert [r["id"] for r in decisions.list(service="reviews")] == ["c", "a"]
    assert [r["id"] for r in decisions.list(kind="pod-outlier")] == ["b"]
    assert [r["id"] for r in decisions.list(status="pending")] == ["c"]
    assert [r["id"] for r in decisions.list(since=2.0, limit=1)] == ["c"]


def test_supersede_marks_only_open_recommendations_of_those_kinds(store):
    decisions = DecisionStore(store)
    decisions.put(rec("old"), "pending", 1.0)
    decisions.put(rec("approved"), "approved", 1.0)
    decisions.put(rec("done"), "applied", 1.0)
    decisions.put(rec("other", kind="pod-outlier"), "pending", 1.0)
    assert sorted(decisions.supersede("default", "reviews", ("traffic-shift",), 5.0)) == ["approved", "old"]
    assert {r["id"]: r["status"] for r in decisions.list()} == {
        "old": "superseded",
        "approved": "superseded",
        "done": "applied",
        "other": "pending",
    }


def test_audit_actions_weight_writes_and_counts(store):
    decisions = DecisionStore(store)
    decisions.put(rec("r1", at=1.0, weights_after={"v1": 70, "v2": 30}), "applied", 5.0)
    decisions.put(rec("r2", at=2.0, weights_after={"v1": 50, "v2": 50}), "applied", 9.0)
    decisions.put(rec("r3", kind="pod-outlier"), "info", 1.0)
    decisions.audit(5.0, "r1", "apply", "alice", "ok", "vs/reviews")
    decisions.audit(9.0, "r2", "apply", "meshpulse", "ok")
    decisions.audit(9.5, None, "reject", "bob", "refused", "no token")
    assert [a["action"] for a in decisions.actions()] == ["reject", "apply", "apply"]
    [only] = decisions.actions("r1")
    assert {k: only[k] for k in ("at", "recommendation_id", "actor", "outcome", "detail")} == {
        "at": 5.0,
        "recommendation_id": "r1",
        "actor": "alice",
        "outcome": "ok",
        "detail": "vs/reviews",
    }
    assert decisions.weight_writes() == {"default/reviews": ({"v1": 50, "v2": 50}, 9.0)}
    assert decisions.counts() == {
        "recommendations": {"traffic-shift/applied": 2, "pod-outlier/info": 1},
        "actions": {"apply/ok": 2, "reject/refused": 1},
    }


def test_webhooks_are_recorded_listed_newest_first_and_trimmed(store, monkeypatch):
    monkeypatch.setattr(webhooks_module, "KEEP", 2)
    hooks = WebhookStore(store)
    payloads = [
        {"receiver": "pager", "status": "firing", "groupKey": f"g{i}", "alerts": [i]} for i in range(4)
    ]
    ids = [hooks.record(p, {"n": i}, i) for i, p in enumerate(payloads)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    listed = hooks.list()
    assert [h["id"] for h in listed] == ids[:1:-1]  # the newest two kept
    assert listed[0] == {
        "id": ids[3],
        "received_at": 3.0,
        "receiver": "pager",
        "status": "firing",
        "group_key": "g3",
        "payload": {"receiver": "pager", "status": "firing", "groupKey": "g3", "alerts": [3]},
        "result": {"n": 3},
    }
    assert [h["id"] for h in hooks.list(limit=1)] == [ids[3]]


def test_a_webhook_without_optional_fields_is_stored(store):
    hooks = WebhookStore(store)
    hook_id = hooks.record({}, {"unknown": True}, 1.0)
    assert hooks.list() == [
        {
            "id": hook_id,
            "received_at": 1.0,
            "receiver": "",
            "status": "",
            "group_key": "",
            "payload": {},
            "result": {"unknown": True},
        }
    ]


def test_ids_keep_growing_after_trimming(store, monkeypatch):
    """Ids are never reused, even after the oldest rows were deleted (``AUTOINCREMENT``, ``BIGSERIAL``)."""
    monkeypatch.setattr(webhooks_module, "KEEP", 0)
    hooks = WebhookStore(store)
    ids = [hooks.record({}, {}, float(i)) for i in range(3)]  # each deleted right away
    assert ids == sorted(set(ids)) and hooks.list() == []
