"""The pipeline on both stores (a run, a restart that resumes), and PostgreSQL's lost connections.

The store's own contract (events, state, decisions, webhooks, leases, migrations) runs on both
dialects in the unit tests (the ``store`` fixture); this is the pipeline on top of it.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from fakes import Clock, FakeMesh, RecordingNotifier

from detector.pipeline import Pipeline
from detector.series import SeriesKey, Signal
from detector.settings import Settings
from detector.store import Store
from detector.store.postgres import PostgresStore

pytestmark = pytest.mark.integration
STEP = 15.0


def test_pipeline_runs_and_resumes(connect: Callable[[], Store]) -> None:
    settings = Settings(scrape_interval_s=STEP, lookback_s=3600)
    mesh, clock = FakeMesh(), Clock(1_800_000_000.0)

    def make() -> Pipeline:
        return Pipeline(settings, source=mesh, store=connect(), notifier=RecordingNotifier(), clock=clock)

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


def test_a_lost_connection_fails_one_call_then_reconnects(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    pid = store._read("SELECT pg_backend_pid() AS pid")[0]["pid"]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError):
        store.state("pipeline")
    with store.transaction() as db:  # the next call opens a new connection
        store.put_state(db, "pipeline", {"ok": True}, 1.0)
    assert store.state("pipeline") == {"ok": True}
    store.close()


def test_a_closed_store_stays_closed(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    store.close()
    with pytest.raises(psycopg.OperationalError, match="closed"):
        store.state("pipeline")
