"""``open_store(settings)``: the one place the service picks and opens its state store."""

from __future__ import annotations

import logging

from detector.settings import Settings
from detector.store.base import Store
from detector.store.postgres import PostgresStore
from detector.store.sqlite import StateStore
from detector.store.urls import POSTGRES_SCHEMES, scheme, sqlite_path, sqlite_url

log = logging.getLogger(__name__)


def store_url(settings: Settings) -> str:
    """``state_url`` if set, else ``sqlite:///<state_path>``. Contains the password: never show it."""
    if settings.state_url is not None and settings.state_url.get_secret_value():
        return settings.state_url.get_secret_value()
    return sqlite_url(settings.state_path)


def open_store(settings: Settings) -> Store:
    """Open (and migrate) the configured store: SQLite by default, PostgreSQL for shared replicas."""
    url = store_url(settings)
    kind = scheme(url)
    store: Store
    if kind == "sqlite":
        store = StateStore(sqlite_path(url))
    elif kind in POSTGRES_SCHEMES:
        store = PostgresStore(url)  # psycopg is imported here, on first use
    else:
        # not the URL itself: it may carry a password
        raise ValueError(f"state_url: unknown scheme {kind!r}; use sqlite:///PATH or postgresql://...")
    log.info("state store %s at schema version %d", store.url, store.schema_version)
    return store
