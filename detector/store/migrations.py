"""The schema, as ordered migrations per dialect, and the runner that applies them at start-up.

Why not Alembic: the schema is a handful of tables written with plain SQL (there is no ORM
and no SQLAlchemy to autogenerate from), and all the runner must do is the part of Alembic
this service uses: know which versions a database has (a ``schema_version`` table), apply
the missing ones in order inside one transaction, and refuse a database newer than the code.
That is about forty lines with no dependency, and it runs inside the store's own
``transaction()``, which already serialises writers across processes (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock taken before anything
else). So two replicas starting at once cannot both apply a migration: the second waits,
then sees the versions the first recorded and applies nothing. PostgreSQL and SQLite both
have transactional DDL, so a failed migration leaves the database as it was.

Rules for new migrations: append, never edit or renumber a shipped one; give both dialects
the same version numbers; keep each step additive where possible (new tables, new nullable
columns), because during a rolling update replicas on the previous version keep running
against the migrated schema. A replica refuses to start on a schema newer than it knows.

The first four SQLite steps are the DDL that earlier versions ran on every start
(``CREATE … IF NOT EXISTS``), so a state file written before migrations existed is adopted
as is: the statements are no-ops on the tables it has and create the ones it lacks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from detector.store.base import Store


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer MeshPulse; running older code on it is refused."""


SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)

SQLITE = (
    Migration(
        1,
        "events, detector state, cycle log",
        (
            "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, series TEXT NOT NULL,"
            " service TEXT NOT NULL, namespace TEXT NOT NULL, signal TEXT NOT NULL,"
            " started_at REAL NOT NULL, ended_at REAL, body TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS events_service ON events (service, started_at)",
            "CREATE INDEX IF NOT EXISTS events_active ON events (ended_at)",
            "CREATE TABLE IF NOT EXISTS component_state (name TEXT PRIMARY KEY, body TEXT NOT NULL,"
            " saved_at REAL NOT NULL)",
            "CREATE TABLE IF NOT EXISTS cycles (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " started_at REAL NOT NULL, duration_s REAL NOT NULL, ok INTEGER NOT NULL,"
            " series INTEGER NOT NULL, error TEXT)",
        ),
    ),
    Migration(
        2,
        "recommendations and the audit log",
        (
            "CREATE TABLE IF NOT EXISTS recommendations (id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
            " namespace TEXT NOT NULL, service TEXT NOT NULL, created_at REAL NOT NULL,"
            " status TEXT NOT NULL, updated_at REAL NOT NULL, body TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS recommendations_service ON recommendations (service, created_at)",
            "CREATE INDEX IF NOT EXISTS recommendations_status ON recommendations (status, created_at)",
            "CREATE TABLE IF NOT EXISTS audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,"
            " recommendation_id TEXT, action TEXT NOT NULL, actor TEXT NOT NULL, outcome TEXT NOT NULL,"
            " detail TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS audit_rec ON audit_log (recommendation_id)",
        ),
    ),
    Migration(
        3,
        "Alertmanager webhooks received",
        (
            "CREATE TABLE IF NOT EXISTS alertmanager_webhooks (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " received_at REAL NOT NULL, receiver TEXT NOT NULL, status TEXT NOT NULL,"
            " group_key TEXT NOT NULL, payload TEXT NOT NULL, result TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS alertmanager_webhooks_at ON alertmanager_webhooks (received_at)",
        ),
    ),
    Migration(
        4,
        "shard leases",
        (
            "CREATE TABLE IF NOT EXISTS shard_leases (shard_id TEXT PRIMARY KEY, expires_at REAL NOT NULL,"
            " renewed_at REAL NOT NULL)",
        ),
    ),
)

POSTGRES = (
    Migration(
        1,
        "events, detector state, cycle log",
        (
            "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, series TEXT NOT NULL,"
            " service TEXT NOT NULL, namespace TEXT NOT NULL, signal TEXT NOT NULL,"
            " started_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION, body TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS events_service ON events (service, started_at)",
            "CREATE INDEX IF NOT EXISTS events_active ON events (ended_at)",
            "CREATE TABLE IF NOT EXISTS component_state (name TEXT PRIMARY KEY, body TEXT NOT NULL,"
            " saved_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE IF NOT EXISTS cycles (id BIGSERIAL PRIMARY KEY,"
            " started_at DOUBLE PRECISION NOT NULL, duration_s DOUBLE PRECISION NOT NULL,"
            " ok INTEGER NOT NULL, series INTEGER NOT NULL, error TEXT)",
        ),
    ),
    Migration(
        2,
        "recommendations and the audit log",
        (
            "CREATE TABLE recommendations (id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
            " namespace TEXT NOT NULL, service TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,"
            " status TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL, body TEXT NOT NULL)",
            "CREATE INDEX recommendations_service ON recommendations (service, created_at)",
            "CREATE INDEX recommendations_status ON recommendations (status, created_at)",
            "CREATE TABLE audit_log (id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL,"
            " recommendation_id TEXT, action TEXT NOT NULL, actor TEXT NOT NULL, outcome TEXT NOT NULL,"
            " detail TEXT NOT NULL)",
            "CREATE INDEX audit_rec ON audit_log (recommendation_id)",
        ),
    ),
    Migration(
        3,
        "Alertmanager webhooks received",
        (
            "CREATE TABLE alertmanager_webhooks (id BIGSERIAL PRIMARY KEY,"
            " received_at DOUBLE PRECISION NOT NULL, receiver TEXT NOT NULL, status TEXT NOT NULL,"
            " group_key TEXT NOT NULL, payload TEXT NOT NULL, result TEXT NOT NULL)",
            "CREATE INDEX alertmanager_webhooks_at ON alertmanager_webhooks (received_at)",
        ),
    ),
    Migration(
        4,
        "shard leases",
        (
            "CREATE TABLE IF NOT EXISTS shard_leases (shard_id TEXT PRIMARY KEY,"
            " expires_at DOUBLE PRECISION NOT NULL, renewed_at DOUBLE PRECISION NOT NULL)",
            # the leases used to create this table themselves, with SQLite's REAL: on PostgreSQL
            # a 4-byte float, whose steps are 128 s at today's epoch seconds
            "ALTER TABLE shard_leases ALTER COLUMN expires_at TYPE DOUBLE PRECISION,"
            " ALTER COLUMN renewed_at TYPE DOUBLE PRECISION",
        ),
    ),
)
"""Steps 1 and 4 keep ``IF NOT EXISTS``: the PostgreSQL store of earlier versions created those
tables itself (and the leases created theirs), so such a database is adopted in place."""

MIGRATIONS = {"sqlite": SQLITE, "postgresql": POSTGRES}


def migrate(store: Store) -> int:
    """Apply the missing migrations of ``store.dialect`` in one transaction; the version reached."""
    steps = MIGRATIONS[store.dialect]
    newest = steps[-1].version
    with store.transaction() as db:
        db.execute(SCHEMA_VERSION_DDL)
        applied = {int(r["version"]) for r in db.execute("SELECT version FROM schema_version").fetchall()}
        if applied and max(applied) > newest:
            raise SchemaTooNew(
                f"the state store {store.url} is at schema version {max(applied)}, newer than this"
                f" MeshPulse knows ({newest}); run the newer MeshPulse or restore a matching backup"
            )
        now = time.time()
        for step in steps:
            if step.version in applied:
                continue
            for sql in step.statements:
                db.execute(sql)
            db.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (step.version, step.name, now),
            )
    return newest
