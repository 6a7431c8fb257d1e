"""Shared fixtures. Real-server fixtures live in tests/integration/conftest.py, except PostgreSQL:
the store contract tests (unit) and the end-to-end run share one server per session."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from detector.devstack.postgres import RunningPostgres, start_postgres
from detector.settings import Settings
from detector.store import Store, open_store
from detector.store.urls import sqlite_url

STORES = ("sqlite", "postgres")
_schema_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[RunningPostgres]:
    """One real PostgreSQL for the whole session; tests get their own schema in it."""
    # not under pytest's tmp_path: its parents are root-only, and the cluster runs as "postgres"
    work = Path(tempfile.mkdtemp(prefix="meshpulse-pg-"))
    try:
        with start_postgres(work) as pg:
            yield pg
    finally:
        shutil.rmtree(work, ignore_errors=True)


class PostgresSchemas:
    """New, empty schemas in the session's server, each reached by its own URL (``search_path``).

    Schemas, not databases: every new database copies template1's 7.5 MB (0.1-0.2 s, and a
    gigabyte of disk over the suite); the store's SQL is the same in either.
    """

    def __init__(self, server: RunningPostgres) -> None:
        import psycopg

        self.server = server
        self.admin = psycopg.connect(server.dsn, autocommit=True)
        self.admin.execute("SET lock_timeout = '5s'")  # a test that left a transaction open

    def create(self) -> tuple[str, str]:
        """``(schema, url)``, in a few milliseconds."""
        schema = f"test_{next(_schema_numbers)}"
        self.admin.execute(f"CREATE SCHEMA {schema}")
        return schema, f"{self.server.dsn}?options=-csearch_path%3D{schema}"

    def drop(self, schema: str) -> None:
        """Now, while its files are fresh: deleting thousands of them at the end costs seconds."""
        import psycopg

        # on a lock timeout the schema is kept; the whole cluster goes at the end of the session
        with contextlib.suppress(psycopg.errors.LockNotAvailable):
            self.admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def postgres_schemas(postgres_server: RunningPostgres) -> Iterator[PostgresSchemas]:
    schemas = PostgresSchemas(postgres_server)
    yield schemas
    schemas.admin.close()


@pytest.fixture
def postgres_url(postgres_schemas: PostgresSchemas) -> Iterator[str]:
    """A new, empty schema per test, so tests cannot see each other's rows; dropped afterwards."""
    schema, url = postgres_schemas.create()
    yield url
    postgres_schemas.drop(schema)


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a fresh, empty store: every test using it runs once per dialect."""
    if request.param == "sqlite":  # not in tmp_path, which the test may want empty
        return sqlite_url(tmp_path_factory.mktemp("store") / "state.sqlite")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def connect(store_url: str) -> Iterator[Callable[[], Store]]:
    """``connect()`` opens (and migrates) another connection to the test's store: a second
    replica, or the same one after a restart. All are closed afterwards."""
    opened: list[Store] = []

    def open_one() -> Store:
        opened.append(open_store(Settings(state_url=store_url)))
        return opened[-1]

    yield open_one
    for s in opened:
        s.close()


@pytest.fixture
def store(connect: Callable[[], Store]) -> Store:
    """A fresh store, once on SQLite and once on PostgreSQL."""
    return connect()
