"""The embedded state store: SQLite in WAL mode, one transaction per cycle.

What must survive a restart lives here: anomaly events, detector and tracker
state (so detection resumes where it stopped instead of re-warming), the alert
dispatcher's bookkeeping, and a log of cycles. Components hand over JSON-able
dicts; the store does not know their shape.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.series import SeriesKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    series TEXT NOT NULL,
    service TEXT NOT NULL,
    namespace TEXT NOT NULL,
    signal TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_service ON events (service, started_at);
CREATE INDEX IF NOT EXISTS events_active ON events (ended_at);
CREATE TABLE IF NOT EXISTS component_state (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    saved_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    duration_s REAL NOT NULL,
    ok INTEGER NOT NULL,
    series INTEGER NOT NULL,
    error TEXT
);
"""


@dataclass(frozen=True)
class CycleRecord:
    started_at: float
    duration_s: float
    ok: bool
    series: int
    error: str | None = None


class StateStore:
    """Thread-safe SQLite store; the API reads while the scheduler writes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes of a cycle commit together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # writes, inside a transaction -------------------------------------------------------------
    @staticmethod
    def put_event(
        db: sqlite3.Connection,
        key: SeriesKey,
        event_id: str,
        started_at: float,
        ended_at: float | None,
        body: dict[str, Any],
    ) -> None:
        """Insert or update one event; ``body`` is the event's full JSON form, returned as is by reads."""
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
    def put_state(db: sqlite3.Connection, name: str, body: Any, now: float) -> None:
        db.execute(
            "INSERT INTO component_state (name, body, saved_at) VALUES (?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET body=excluded.body, saved_at=excluded.saved_at",
            (name, json.dumps(body), now),
        )

    @staticmethod
    def put_cycle(db: sqlite3.Connection, cycle: CycleRecord) -> None:
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
        """Events newest first, filtered as the API asks."""
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
