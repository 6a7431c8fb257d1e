"""The state store on PostgreSQL, for shards on different machines that must share one store.

Same interface as :class:`detector.store.sqlite.StateStore`, so the pipeline and the shard
leases run on it unchanged: ``transaction()`` yields a connection whose ``execute`` takes the
SQLite-style ``?`` placeholders the callers already write (translated to psycopg's ``%s``).
That translation is deliberately dumb: callers never put a literal ``?`` inside SQL text,
only in parameters. Callers that issue SQLite-only DDL (``AUTOINCREMENT`` in the decision and
webhook stores) are not covered yet.

``SERIALIZABLE`` is not needed: every multi-statement read-modify-write here (lease renewal)
starts with a write to its own row, and the per-transaction advisory lock below serialises
transactions the way SQLite's ``BEGIN IMMEDIATE`` does, which is what the callers assume.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from detector.series import SeriesKey
from detector.store.sqlite import CycleRecord

if TYPE_CHECKING:  # psycopg is imported on first use, so SQLite-only installs never need it
    import psycopg

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, series TEXT NOT NULL, service TEXT NOT NULL,"
    " namespace TEXT NOT NULL, signal TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL,"
    " ended_at DOUBLE PRECISION, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_service ON events (service, started_at)",
    "CREATE INDEX IF NOT EXISTS events_active ON events (ended_at)",
    "CREATE TABLE IF NOT EXISTS component_state (name TEXT PRIMARY KEY, body TEXT NOT NULL,"
    " saved_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cycles (id BIGSERIAL PRIMARY KEY, started_at DOUBLE PRECISION NOT NULL,"
    " duration_s DOUBLE PRECISION NOT NULL, ok INTEGER NOT NULL, series INTEGER NOT NULL, error TEXT)",
)
WRITE_LOCK = 0x4D455348  # "MESH": one advisory lock id, the equivalent of SQLite's single writer


class Connection:
    """The slice of ``sqlite3.Connection`` the stores use: ``execute(sql_with_?, args)``."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor[dict[str, Any]]:
        return self._conn.execute(sql.replace("?", "%s"), tuple(args))


class PostgresStore:
    """``PostgresStore("postgresql://meshpulse@db/meshpulse")``; one connection, thread-safe."""

    def __init__(self, dsn: str, *, connect_timeout_s: float = 10.0) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.dsn = dsn
        self._lock = threading.Lock()
        self._conn = psycopg.connect(dsn, row_factory=dict_row, connect_timeout=int(connect_timeout_s))
        with self.transaction() as db:
            for sql in SCHEMA:
                db.execute(sql)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """All writes of a cycle commit together or not at all, one writer at a time."""
        with self._lock, self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield Connection(self._conn)

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock, self._conn.transaction():
            return Connection(self._conn).execute(sql, args).fetchall()

    # writes, inside a transaction -------------------------------------------------------------
    @staticmethod
    def put_event(
        db: Connection,
        key: SeriesKey,
        event_id: str,
        started_at: float,
        ended_at: float | None,
        body: dict[str, Any],
    ) -> None:
        db.execute(
            "INSERT INTO events (id, series, service, namespace, signal, started_at, ended_at, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
            " ended_at=excluded.ended_at, body=excluded.body",
            (
                event_id,
                key.id,
                key.service,
                key.namespace,
                key.signal.value,
                started_at,
                ended_at,
                json.dumps(body),
            ),
        )

    @staticmethod
    def put_state(db: Connection, name: str, body: Any, now: float) -> None:
        db.execute(
            "INSERT INTO component_state (name, body, saved_at) VALUES (?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET body=excluded.body, saved_at=excluded.saved_at",
            (name, json.dumps(body), now),
        )

    @staticmethod
    def put_cycle(db: Connection, cycle: CycleRecord) -> None:
        db.execute(
            "INSERT INTO cycles (started_at, duration_s, ok, series, error) VALUES (?, ?, ?, ?, ?)",
            (cycle.started_at, cycle.duration_s, int(cycle.ok), cycle.series, cycle.error),
        )
        db.execute("DELETE FROM cycles WHERE id <= (SELECT MAX(id) - 10000 FROM cycles)")

    def record_failure(self, cycle: CycleRecord) -> None:
        with self.transaction() as db:
            self.put_cycle(db, cycle)

    # reads ----------------------------------------------------------------------------------
    def state(self, name: str) -> Any | None:
        rows = self._read("SELECT body FROM component_state WHERE name = ?", (name,))
        return json.loads(rows[0]["body"]) if rows else None

    def events(
        self,
        *,
        service: str | None = None,
        signal: str | None = None,
        active: bool | None = None,
        since: float | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Events newest first, filtered as the API asks (the same filters as the SQLite store)."""
        clauses, args = [], []  # type: list[str], list[Any]
        if service is not None:
            clauses.append("service = ?")
            args.append(service)
        if signal is not None:
            clauses.append("signal = ?")
            args.append(signal)
        if active is not None:
            clauses.append("ended_at IS NULL" if active else "ended_at IS NOT NULL")
        if since is not None:
            clauses.append("(ended_at IS NULL OR ended_at >= ?)")
            args.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(f"SELECT body FROM events {where} ORDER BY started_at DESC LIMIT ?", (*args, limit))
        return [json.loads(r["body"]) for r in rows]

    def last_cycles(self, n: int = 20) -> list[CycleRecord]:
        rows = self._read("SELECT * FROM cycles ORDER BY id DESC LIMIT ?", (n,))
        return [
            CycleRecord(r["started_at"], r["duration_s"], bool(r["ok"]), r["series"], r["error"])
            for r in rows
        ]
