"""Real Prometheus / Alertmanager fixtures. No skips: a missing binary is a failing test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from detector.devstack import (
    RunningAlertmanager,
    RunningPrometheus,
    WebhookSink,
    start_alertmanager,
    start_prometheus,
)


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    with WebhookSink() as sink:
        yield sink


@pytest.fixture
def alertmanager(tmp_path, webhook_sink) -> Iterator[RunningAlertmanager]:
    with start_alertmanager(tmp_path / "am", webhook_sink.url) as am:
        yield am


@pytest.fixture
def prometheus_factory(tmp_path) -> Iterator[Callable[..., RunningPrometheus]]:
    """``prometheus_factory(["127.0.0.1:PORT"], scrape_interval="1s")``; all stopped by PID afterwards."""
    started: list[RunningPrometheus] = []

    def start(targets: list[str], **kw: object) -> RunningPrometheus:
        started.append(start_prometheus(tmp_path / f"prom{len(started)}", targets, **kw))  # type: ignore[arg-type]
        return started[-1]

    yield start
    for p in started:
        p.stop()
