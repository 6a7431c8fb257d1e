"""``open_store(settings)``: which store a URL opens, and that its password is shown nowhere."""

from __future__ import annotations

import logging
import traceback

import pytest
from fastapi.testclient import TestClient

from detector.api.app import create_app
from detector.settings import Settings
from detector.store import open_store
from detector.store.factory import store_url
from detector.store.postgres import PostgresStore, StoreConnectError
from detector.store.sqlite import StateStore
from detector.store.urls import redact

PASSWORD = "s3cret-Pa55"


def with_password(url: str) -> str:
    """The test server trusts loopback, so a password in the URL is accepted and ignored."""
    return url.replace("meshpulse@", f"meshpulse:{PASSWORD}@", 1)


def test_state_path_alone_still_picks_the_sqlite_file(tmp_path):
    settings = Settings(state_path=tmp_path / "var" / "m.sqlite")
    assert store_url(settings) == f"sqlite:///{tmp_path}/var/m.sqlite"
    store = open_store(settings)
    assert isinstance(store, StateStore) and store.path == tmp_path / "var" / "m.sqlite"
    store.close()


def test_a_sqlite_url_wins_over_state_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MESHPULSE_STATE_URL", f"sqlite:///{tmp_path}/from-env.sqlite")
    store = open_store(Settings(state_path=tmp_path / "ignored.sqlite"))
    assert store.path == tmp_path / "from-env.sqlite" and store.schema_version >= 1
    assert not (tmp_path / "ignored.sqlite").exists()
    store.close()


def test_a_postgres_url_opens_postgres_and_never_shows_the_password(postgres_url, caplog):
    caplog.set_level(logging.DEBUG)
    settings = Settings(state_url=with_password(postgres_url))
    store = open_store(settings)
    assert isinstance(store, PostgresStore)
    assert store.url == redact(with_password(postgres_url)) and ":***@" in store.url
    assert "state store postgresql://meshpulse:***@" in caplog.text
    for shown in (caplog.text, store.url, repr(settings), str(settings), settings.model_dump_json()):
        assert PASSWORD not in shown
    store.close()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://meshpulse:{PASSWORD}@127.0.0.1:1/db",  # nothing listens on port 1
        f"postgresql://meshpulse:%zz{PASSWORD}@127.0.0.1:1/db",  # the driver echoes a bad escape
        f"postgresql://meshpulse:pass@{PASSWORD}@127.0.0.1:1/db",  # an unescaped "@"
        f"postgresql://meshpulse@127.0.0.1:1/db?password={PASSWORD}&nonsense=1",
    ],
)
def test_connection_errors_do_not_carry_the_password(url):
    with pytest.raises(StoreConnectError) as caught:
        open_store(Settings(state_url=url))
    shown = "".join(traceback.format_exception(caught.value))
    assert "cannot connect to the state store postgresql://meshpulse" in shown
    assert PASSWORD not in shown


@pytest.mark.parametrize("url", [f"mysql://u:{PASSWORD}@h/db", "sqlite://relative.sqlite", "sqlite:///"])
def test_unknown_or_malformed_urls_are_refused_without_echoing_them(url):
    with pytest.raises(ValueError, match="state_url") as caught:
        open_store(Settings(state_url=url))
    assert PASSWORD not in str(caught.value)


def test_the_service_on_postgres_shows_the_password_nowhere(postgres_url, caplog):
    caplog.set_level(logging.DEBUG)
    settings = Settings(state_url=with_password(postgres_url), run_scheduler=False, shard_id="s-0")
    with TestClient(create_app(settings)) as api:
        assert isinstance(api.app.state.runtime.store, PostgresStore)
        bodies = [
            api.get(path).text
            for path in (
                "/readyz",
                "/healthz",
                "/openapi.json",
                "/api/v1/services",
                "/api/v1/anomalies",
                "/api/v1/recommendations",
                "/api/v1/actions",
                "/api/v1/shard",
                "/api/v1/alertmanager/webhooks",
                "/metrics",
            )
        ]
    assert all(PASSWORD not in body for body in bodies)
    assert PASSWORD not in caplog.text
