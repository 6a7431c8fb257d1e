"""The embedded state store: SQLite in WAL mode, one transaction per cycle.

What must survive a restart lives here: anomaly events, detector and tracker
state (so detection resumes where it stopped instead of re-warming), the alert
dispatcher's bookkeeping, and a log of cycles. The queries are in
:mod:`detector.store.base`, the tables in :mod:`detector.store.migrations`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from detector.store.base import Connection, CycleRecord, Store
from detector.store.migrations import migrate
from detector.store.urls import sqlite_url

__all__ = ["CycleRecord", "StateStore"]


class StateStore(Store):
    """Thread-safe SQLite store; the API reads while the scheduler writes.

    Several processes may share the file (shards on one machine): ``BEGIN IMMEDIATE``
    makes each transaction the only writer, and the others wait up to ``busy_timeout_s``.
    """

    dialect: ClassVar[str] = "sqlite"

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.url = sqlite_url(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self.schema_version = migrate(self)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """All writes of a cycle commit together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()
