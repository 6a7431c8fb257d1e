"""Migrations on SQLite and PostgreSQL: from empty, idempotent, concurrent, atomic, and from old files."""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest

from detector.series import SeriesKey, Signal
from detector.shard.leases import Leases
from detector.store.decisions import DecisionStore
from detector.store.migrations import MIGRATIONS, Migration, SchemaTooNew
from detector.store.postgres import PostgresStore
from detector.store.sqlite import StateStore
from detector.store.webhooks import WebhookStore

NEWEST = MIGRATIONS["sqlite"][-1].version
TABLES = {
    "events",
    "component_state",
    "cycles",
    "recommendations",
    "audit_log",
    "alertmanager_webhooks",
    "shard_leases",
    "schema_version",
}


def versions(store):
    rows = store._read("SELECT * FROM schema_version ORDER BY version")
    return [(r["version"], r["applied_at"]) for r in rows]


def columns(store) -> dict[str, set[str]]:
    if store.dialect == "sqlite":
        names = [r["name"] for r in store._read("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found = {t: {c["name"] for c in store._read(f"PRAGMA table_info({t})")} for t in names}
        found.pop("sqlite_sequence", None)  # SQLite's own AUTOINCREMENT bookkeeping
        return found
    rows = store._read(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    )
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r["table_name"], set()).add(r["column_name"])
    return out


def test_versions_run_from_1_without_gaps_and_match_across_dialects():
    for steps in MIGRATIONS.values():
        assert [m.version for m in steps] == list(range(1, len(steps) + 1))
    sqlite, postgres = ([(m.version, m.name) for m in MIGRATIONS[d]] for d in ("sqlite", "postgresql"))
    assert sqlite == postgres


def test_an_empty_store_is_migrated_to_the_newest_version(store):
    assert store.schema_version == NEWEST
    assert [v for v, _ in versions(store)] == list(range(1, NEWEST + 1))
    assert set(columns(store)) == TABLES


def test_both_dialects_end_with_the_same_tables_and_columns(tmp_path, postgres_url):
    sqlite, postgres = StateStore(tmp_path / "s.sqlite"), PostgresStore(postgres_url)
    assert columns(sqlite) == columns(postgres)
    sqlite.close(), postgres.close()


def test_opening_again_applies_nothing(store, connect):
    before = versions(store)
    assert connect().schema_version == NEWEST
    assert versions(store) == before


def test_replicas_starting_at_once_migrate_once(store_url, connect):
    """Four replicas open the same empty store at the same moment: one migrates, all start."""
    start, opened, failed = threading.Barrier(4), [], []

    def replica() -> None:
        start.wait()
        try:
            opened.append(connect())
        except Exception as exc:  # pragma: no cover - reported below
            failed.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failed == []
    assert [s.schema_version for s in opened] == [NEWEST] * 4
    assert [v for v, _ in versions(opened[0])] == list(range(1, NEWEST + 1))


def test_a_failing_migration_leaves_the_store_as_it_was(store, connect, monkeypatch):
    dialect = store.dialect
    broken = Migration(NEWEST + 1, "broken", ("CREATE TABLE half_done (x INTEGER)", "NOT SQL AT ALL"))
    monkeypatch.setitem(MIGRATIONS, dialect, (*MIGRATIONS[dialect], broken))
    with pytest.raises(Exception, match=r"(?i)syntax"):
        connect()
    monkeypatch.undo()
    assert max(v for v, _ in versions(store)) == NEWEST
    assert "half_done" not in columns(store)


def test_a_store_newer_than_the_code_is_refused(store, connect):
    with store.transaction() as db:
        db.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)", (99, "x", 1.0))
    with pytest.raises(SchemaTooNew, match="schema version 99"):
        connect()


# SQLite files written before migrations existed ----------------------------------------------
OLD_CORE = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, series TEXT NOT NULL, service TEXT NOT NULL, namespace TEXT NOT NULL,
    signal TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_service ON events (service, started_at);
CREATE INDEX IF NOT EXISTS events_active ON events (ended_at);
CREATE TABLE IF NOT EXISTS component_state (
    name TEXT PRIMARY KEY, body TEXT NOT NULL, saved_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL, duration_s REAL NOT NULL,
    ok INTEGER NOT NULL, series INTEGER NOT NULL, error TEXT
);
INSERT INTO events VALUES ('e1', 'x', 'cart', 'shop', 'error_ratio', 100.0, NULL, '{"id": "e1"}');
INSERT INTO component_state VALUES ('pipeline', '{"last_end": 42.0}', 1.0);
INSERT INTO cycles (started_at, duration_s, ok, series, error) VALUES (1.0, 0.5, 1, 10, NULL);
"""
OLD_FEATURES = """
CREATE TABLE IF NOT EXISTS recommendations (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, namespace TEXT NOT NULL, service TEXT NOT NULL,
    created_at REAL NOT NULL, status TEXT NOT NULL, updated_at REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS recommendations_service ON recommendations (service, created_at);
CREATE INDEX IF NOT EXISTS recommendations_status ON recommendations (status, created_at);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, recommendation_id TEXT, action TEXT NOT NULL,
    actor TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_rec ON audit_log (recommendation_id);
CREATE TABLE IF NOT EXISTS shard_leases (
    shard_id TEXT PRIMARY KEY, expires_at REAL NOT NULL, renewed_at REAL NOT NULL);
INSERT INTO recommendations VALUES ('r1', 'pod-outlier', 'shop', 'cart', 5.0, 'info', 5.0,
    '{"id": "r1", "kind": "pod-outlier", "namespace": "shop", "service": "cart", "created_at": 5.0}');
INSERT INTO audit_log (at, recommendation_id, action, actor, outcome, detail)
    VALUES (5.0, 'r1', 'record', 'meshpulse', 'ok', '');
INSERT INTO shard_leases VALUES ('old-shard', 2000.0, 1990.0);
"""
"""The DDL of the releases before migrations, verbatim; the Alertmanager webhook table is left
out, as on a file whose service never received a webhook."""


@pytest.mark.parametrize("old", [OLD_CORE, OLD_CORE + OLD_FEATURES], ids=["first-release", "sharded"])
def test_an_sqlite_file_from_before_migrations_upgrades_in_place(tmp_path, old):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(old)
    db.close()

    store = StateStore(path)
    assert store.schema_version == NEWEST
    assert set(columns(store)) == TABLES
    assert store.events(service="cart") == [{"id": "e1"}]
    assert store.state("pipeline") == {"last_end": 42.0}
    assert store.last_cycles()[0].series == 10
    with store.transaction() as db:  # the old rows and the new ones live side by side
        store.put_event(db, SeriesKey("web", "shop", Signal.RATE), "e2", 200.0, None, {"id": "e2"})
    assert [e["id"] for e in store.events()] == ["e2", "e1"]
    decisions, webhooks = DecisionStore(store), WebhookStore(store)
    assert webhooks.record({"receiver": "r"}, {"ok": True}, 10.0) == 1
    if old is not OLD_CORE:
        assert decisions.get("r1")["status"] == "info"
        assert [a["action"] for a in decisions.actions()] == ["record"]
        view = Leases(store, "new-shard", 10.0, clock=lambda: 1995.0).renew()
        assert view.live == ("new-shard", "old-shard")
    store.close()


OLD_POSTGRES = (
    "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, series TEXT NOT NULL, service TEXT NOT NULL,"
    " namespace TEXT NOT NULL, signal TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL,"
    " ended_at DOUBLE PRECISION, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_service ON events (service, started_at)",
    "CREATE INDEX IF NOT EXISTS events_active ON events (ended_at)",
    "CREATE TABLE IF NOT EXISTS component_state (name TEXT PRIMARY KEY, body TEXT NOT NULL,"
    " saved_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cycles (id BIGSERIAL PRIMARY KEY, started_at DOUBLE PRECISION NOT NULL,"
    " duration_s DOUBLE PRECISION NOT NULL, ok INTEGER NOT NULL, series INTEGER NOT NULL, error TEXT)",
    "CREATE TABLE IF NOT EXISTS shard_leases (shard_id TEXT PRIMARY KEY, expires_at REAL NOT NULL,"
    " renewed_at REAL NOT NULL)",
    "INSERT INTO component_state VALUES ('pipeline', '{\"last_end\": 42.0}', 1.0)",
)
"""What the PostgreSQL store and the leases of the releases before migrations created, verbatim."""


def test_a_postgres_store_from_before_migrations_is_adopted_and_its_leases_made_precise(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as db:
        for sql in OLD_POSTGRES:
            db.execute(sql)
    store = PostgresStore(postgres_url)
    assert store.schema_version == NEWEST and set(columns(store)) == TABLES
    assert store.state("pipeline") == {"last_end": 42.0}
    now = 1_800_000_000.0  # REAL (4 bytes) would round this to a multiple of 128 s
    view = Leases(store, "a", 3.0, clock=lambda: now + 1.0).renew()
    assert view.live == ("a",)
    [row] = store._read("SELECT expires_at FROM shard_leases")
    assert row["expires_at"] == now + 4.0
    store.close()
