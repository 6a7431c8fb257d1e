"""What every state store does, written once; a dialect only supplies connections and transactions.

The SQL here is the common subset of SQLite and PostgreSQL (``ON CONFLICT … DO UPDATE``,
``RETURNING``), written with ``?`` placeholders; the PostgreSQL connection translates them.
Components hand over JSON-able dicts; the store does not know their shape.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from detector.series import SeriesKey


class Cursor(Protocol):
    """The slice of a DB-API cursor the stores use; rows are read by column name."""

    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What ``transaction()`` yields: ``execute(sql_with_?, args)``."""

    def execute(self, sql: str, args: Sequence[Any] = ..., /) -> Cursor: ...


@dataclass(frozen=True)
class CycleRecord:
    started_at: float
    duration_s: float
    ok: bool
    series: int
    error: str | None = None


class Store(ABC):
    """Events, component state and the cycle log; one transaction per cycle.

    ``url`` is safe to show (no password); ``schema_version`` is the migration the store is at.
    """

    dialect: ClassVar[str]
    url: str
    schema_version: int

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Connection]:
        """All writes of a cycle commit together or not at all, one writer at a time."""

    @abstractmethod
    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]: ...

    @abstractmethod
    def close(self) -> None: ...

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
