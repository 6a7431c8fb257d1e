import pytest

from detector.series import Scope, SeriesKey, Signal
from detector.store.sqlite import CycleRecord, StateStore

KEY = SeriesKey("cart", "default", Signal.P99, Scope.POD, pod="cart-1")


def test_events_round_trip_and_filter(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    with store.transaction() as db:
        store.put_event(db, KEY, "e1", 100.0, None, {"id": "e1", "x": 1})
        store.put_event(db, SeriesKey("web", "default", Signal.RATE), "e2", 50.0, 80.0, {"id": "e2"})
    assert [e["id"] for e in store.events()] == ["e1", "e2"]
    assert [e["id"] for e in store.events(active=True)] == ["e1"]
    assert [e["id"] for e in store.events(service="web")] == ["e2"]
    assert [e["id"] for e in store.events(signal="p99")] == ["e1"]
    assert [e["id"] for e in store.events(since=90)] == ["e1"]
    with store.transaction() as db:
        store.put_event(db, KEY, "e1", 100.0, 130.0, {"id": "e1", "x": 2})
    assert store.events(active=True) == []
    assert store.events(service="cart")[0]["x"] == 2


def test_a_failed_transaction_writes_nothing(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    with pytest.raises(RuntimeError), store.transaction() as db:
        store.put_state(db, "pipeline", {"a": 1}, 1.0)
        raise RuntimeError("crash mid-cycle")
    assert store.state("pipeline") is None


def test_state_survives_reopen_and_uses_wal(tmp_path):
    path = tmp_path / "s.sqlite"
    store = StateStore(path)
    with store.transaction() as db:
        store.put_state(db, "pipeline", {"last_end": 42.0}, 1.0)
        store.put_cycle(db, CycleRecord(1.0, 0.5, True, 10))
    store.close()
    again = StateStore(path)
    assert again.state("pipeline") == {"last_end": 42.0}
    assert again.last_cycles()[0].series == 10
    assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
