"""The state store's contract, run on SQLite and on PostgreSQL (``store`` fixture): same answers."""

import pytest

from detector.series import Scope, SeriesKey, Signal
from detector.store.sqlite import CycleRecord, StateStore

KEY = SeriesKey("cart", "default", Signal.P99, Scope.POD, pod="cart-1")


def test_events_round_trip_and_filter(store):
    with store.transaction() as db:
        store.put_event(db, KEY, "e1", 100.0, None, {"id": "e1", "x": 1})
        store.put_event(db, SeriesKey("web", "default", Signal.RATE), "e2", 50.0, 80.0, {"id": "e2"})
    assert [e["id"] for e in store.events()] == ["e1", "e2"]
    assert [e["id"] for e in store.events(active=True)] == ["e1"]
    assert [e["id"] for e in store.events(service="web")] == ["e2"]
    assert [e["id"] for e in store.events(signal="p99")] == ["e1"]
    assert [e["id"] for e in store.events(since=90)] == ["e1"]
    assert [e["id"] for e in store.events(limit=1)] == ["e1"]
    with store.transaction() as db:  # an update, not a second row
        store.put_event(db, KEY, "e1", 100.0, 130.0, {"id": "e1", "x": 2})
    assert store.events(active=True) == []
    assert store.events(service="cart") == [{"id": "e1", "x": 2}]


def test_state_and_cycles_round_trip(store):
    with store.transaction() as db:
        store.put_state(db, "pipeline", {"last_end": 300.0, "bank": {"a": [1, 2]}}, 300.0)
        store.put_state(db, "pipeline", {"last_end": 315.0}, 315.0)
        store.put_cycle(db, CycleRecord(300.0, 0.5, True, 12))
    store.record_failure(CycleRecord(310.0, 0.1, False, 0, "down"))
    assert store.state("pipeline") == {"last_end": 315.0}
    assert store.state("missing") is None
    failed, good = CycleRecord(310.0, 0.1, False, 0, "down"), CycleRecord(300.0, 0.5, True, 12)
    assert store.last_cycles() == [failed, good]
    assert len(store.last_cycles(1)) == 1


def test_a_failed_transaction_writes_nothing(store):
    with pytest.raises(RuntimeError), store.transaction() as db:
        store.put_state(db, "pipeline", {"a": 1}, 1.0)
        store.put_event(db, KEY, "e1", 1.0, None, {"id": "e1"})
        raise RuntimeError("crash mid-cycle")
    assert store.state("pipeline") is None
    assert store.events() == []
    with store.transaction() as db:  # and the store is usable afterwards
        store.put_state(db, "pipeline", {"a": 2}, 2.0)
    assert store.state("pipeline") == {"a": 2}


def test_state_survives_reopen(store, connect):
    with store.transaction() as db:
        store.put_state(db, "pipeline", {"last_end": 42.0}, 1.0)
        store.put_cycle(db, CycleRecord(1.0, 0.5, True, 10))
    store.close()
    again = connect()
    assert again.state("pipeline") == {"last_end": 42.0}
    assert again.last_cycles()[0].series == 10


def test_writes_of_one_connection_are_read_by_another(store, connect):
    """Replicas sharing a store: what one commits, the next read of the other sees."""
    other = connect()
    with store.transaction() as db:
        store.put_event(db, KEY, "e1", 100.0, None, {"id": "e1"})
    assert [e["id"] for e in other.events(active=True)] == ["e1"]


def test_sqlite_uses_wal(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
