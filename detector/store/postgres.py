"""The state store on PostgreSQL, the shared store of several replicas (shards on different machines).

Same interface and same SQL as :class:`detector.store.sqlite.StateStore` (both are a
:class:`detector.store.base.Store`): ``transaction()`` yields a connection whose ``execute``
takes the SQLite-style ``?`` placeholders the callers write (translated to psycopg's ``%s``).
That translation is deliberately dumb: callers never put a literal ``?`` or ``%`` inside SQL
text, only in parameters.

``SERIALIZABLE`` is not needed: the per-transaction advisory lock below serialises writers
across every process sharing the database, the way SQLite's ``BEGIN IMMEDIATE`` does, which is
what the callers (lease renewal, migrations) assume. Reads take no lock.

One connection per process, re-opened on the next call after it broke (the server restarted,
a proxy dropped it), so a lost connection fails one cycle, not every cycle after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from detector.store.base import Connection, Store
from detector.store.migrations import migrate
from detector.store.urls import redact, scrub

if TYPE_CHECKING:  # psycopg is imported on first use, so SQLite-only installs never need it
    import psycopg

WRITE_LOCK = 0x4D455348  # "MESH": one advisory lock id, the equivalent of SQLite's single writer


class StoreConnectError(RuntimeError):
    """The PostgreSQL state store cannot be reached; the message never carries the password."""


class PgConnection:
    """The slice of ``sqlite3.Connection`` the stores use: ``execute(sql_with_?, args)``."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> psycopg.Cursor[dict[str, Any]]:
        return self._conn.execute(sql.replace("?", "%s"), tuple(args) or None)


class PostgresStore(Store):
    """``PostgresStore("postgresql://meshpulse@db/meshpulse")``; one connection, thread-safe."""

    dialect: ClassVar[str] = "postgresql"

    def __init__(self, dsn: str, *, connect_timeout_s: float = 10.0) -> None:
        self._dsn, self.url = dsn, redact(dsn)
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._conn = self._connect()
        try:
            self.schema_version = migrate(self)
        except BaseException:
            self.close()
            raise

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError:
            raise StoreConnectError(
                "a postgresql:// state_url needs the PostgreSQL driver: pip install 'psycopg[binary]'"
            ) from None
        try:
            return psycopg.connect(
                self._dsn,
                row_factory=dict_row,
                autocommit=True,  # transactions are explicit: transaction() and _read()
                connect_timeout=max(1, int(self.connect_timeout_s)),
                application_name="meshpulse",
            )
        except psycopg.Error as exc:
            # from None: the driver's own exception (and its traceback) is not chained in
            raise StoreConnectError(
                f"cannot connect to the state store {self.url}: {scrub(str(exc).strip(), self._dsn)}"
            ) from None

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn.broken:  # lost, not closed by close(): that one stays closed
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """All writes of a cycle commit together or not at all, one writer at a time."""
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                yield PgConnection(conn)

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                return PgConnection(conn).execute(sql, args).fetchall()
