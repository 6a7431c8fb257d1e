"""Property-based fuzzing of every operation against the app's own OpenAPI schema.

Schemathesis generates valid and invalid requests from ``/openapi.json`` and checks
each answer: never a 5xx, and always what the schema promises (status, content type,
body shape). The app runs with a fake metric source that has already done a few
cycles, so reads have services and series to return; a bearer token is configured and
sent, so write routes get past auth and exercise their own validation.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fakes import Clock, FakeMesh, RecordingNotifier
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from detector.api.app import create_app
from detector.api.limits import BodySizeLimit
from detector.settings import Settings

TOKEN = "fuzz-token"
STEP = 15.0


CLOCK = Clock(1_800_000_000.0)
APP = create_app(
    Settings(
        scrape_interval_s=STEP,
        lookback_s=1800,
        state_path=Path(tempfile.mkdtemp(prefix="meshpulse-fuzz-")) / "s.sqlite",
        run_scheduler=False,
        api_tokens=[TOKEN],
    ),
    source=FakeMesh(),
    notifier=RecordingNotifier(),
    clock=CLOCK,
)
APP.add_middleware(BodySizeLimit)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def running() -> Iterator[None]:
    """Run the lifespan once and a few cycles; schemathesis then calls the app directly."""
    with TestClient(APP):
        pipeline = APP.state.runtime.pipeline
        for _ in range(3):
            CLOCK.t += STEP
            pipeline.run_cycle()
        yield


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    excluded = []
    if case.path == "/readyz":  # a documented 503 while no cycle has succeeded: that 5xx is the contract
        excluded.append(not_a_server_error)
    if case.path == "/api/v1/score":  # equal lengths, increasing times: rules JSON Schema cannot state
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=excluded)
