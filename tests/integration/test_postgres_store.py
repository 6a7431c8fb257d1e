"""PostgresStore against a real PostgreSQL: the SQLite store's contract, leases, and a pipeline run.

Every check runs on both stores, so "same interface" means same answers, not just same names.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import Clock, FakeMesh, RecordingNotifier

from detector.devstack.postgres import RunningPostgres, start_postgres
from detector.pipeline import Pipeline
from detector.series import SeriesKey, Signal
from detector.settings import Settings
from detector.shard.leases import Leases
from detector.store.sqlite import CycleRecord, StateStore

psycopg = pytest.importorskip("psycopg")
from detector.store.postgres import PostgresStore  # noqa: E402

pytestmark = pytest.mark.integration
STEP = 15.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[RunningPostgres]:
    # not under pytest's tmp_path: its parents are root-only, and the cluster runs as "postgres"
    work = Path(tempfile.mkdtemp(prefix="meshpulse-pg-"))
    try:
        with start_postgres(work) as pg:
            yield pg
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def fresh_dsn(postgres: RunningPostgres, request: pytest.FixtureRequest) -> str:
    """A new database per test, so tests cannot see each other's rows."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name).lower()[:50]
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres.dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        s: Any = StateStore(tmp_path / "s.sqlite")
    else:
        s = PostgresStore(request.getfixturevalue("fresh_dsn"))
    yield s
    s.close()


def key(service: str, signal: Signal = Signal.ERROR_RATIO) -> SeriesKey:
    return SeriesKey(service, "shop", signal)


def test_events_state_and_cycles_round_trip(store: Any) -> None:
    with store.transaction() as db:
        store.put_event(db, key("cart"), "e1", 100.0, None, {"id": "e1", "n": 1})
        store.put_event(db, key("pay", Signal.P99), "e2", 200.0, 250.0, {"id": "e2"})
        store.put_state(db, "pipeline", {"last_end": 300.0, "bank": {"a": [1, 2]}}, 300.0)
        store.put_cycle(db, CycleRecord(300.0, 0.5, True, 12))
    with store.transaction() as db:  # an update, not a second row
        store.put_event(db, key("cart"), "e1", 100.0, 400.0, {"id": "e1", "n": 2})
    store.record_failure(CycleRecord(310.0, 0.1, False, 0, "down"))
    assert [e["id"] for e in store.events()] == ["e2", "e1"]
    assert store.events(service="cart") == [{"id": "e1", "n": 2}]
    assert store.events(active=True) == []
    assert [e["id"] for e in store.events(signal="p99", since=240.0)] == ["e2"]
    assert store.events(limit=1) == [{"id": "e2"}]
    assert store.state("pipeline") == {"last_end": 300.0, "bank": {"a": [1, 2]}}
    assert store.state("missing") is None
    assert [(c.ok, c.error) for c in store.last_cycles()] == [(False, "down"), (True, None)]


def test_a_failed_transaction_leaves_nothing(store: Any) -> None:
    with pytest.raises(RuntimeError), store.transaction() as db:
        store.put_state(db, "x", {"v": 1}, 1.0)
        raise RuntimeError("crash mid-cycle")
    assert store.state("x") is None


def test_leases_take_over_on_postgres(fresh_dsn: str) -> None:
    clock = Clock(1_000.0)
    stores = [PostgresStore(fresh_dsn) for _ in range(2)]  # two "processes", two connections
    a, b = (Leases(s, name, 10.0, clock=clock) for s, name in zip(stores, "ab", strict=True))
    a.renew(), b.renew()
    assert a.renew().live == ("a", "b")
    clock.t += 31.0  # b silent: expired 21 s ago, more than two periods
    view = a.renew()
    assert view.live == ("a",) and view.dead == ("b",)
    assert all(view.owns(f"shop/svc-{i}") for i in range(50))
    for s in stores:
        s.close()


def test_pipeline_runs_and_resumes_on_postgres(fresh_dsn: str) -> None:
    settings = Settings(scrape_interval_s=STEP, lookback_s=3600)
    mesh, clock = FakeMesh(), Clock(1_800_000_000.0)

    def make() -> Pipeline:
        store: Any = PostgresStore(fresh_dsn)
        return Pipeline(settings, source=mesh, store=store, notifier=RecordingNotifier(), clock=clock)

    p = make()
    for _ in range(2):
        clock.t += STEP
        p.run_cycle()
    mesh.faults["cart"] = (clock.t, clock.t + 10 * STEP, Signal.ERROR_RATIO, 0.3)
    for _ in range(3):
        clock.t += STEP
        p.run_cycle()
    assert p.store.events(active=True)[0]["service"] == "cart"
    last_end = p.last_end
    p.store.close()
    resumed = make()  # a restart reads detector state back instead of re-warming
    assert resumed.last_end == last_end
    assert resumed.tracker.is_active(SeriesKey("cart", "default", Signal.ERROR_RATIO))
    resumed.store.close()
