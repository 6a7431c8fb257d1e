"""MeshPulse alerts through a REAL Alertmanager to a webhook, firing then resolved."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from detector.devstack import RunningAlertmanager, WebhookSink, start_alertmanager
from detector.devstack.alertmanager import ALERTMANAGER_BINARY
from detector.notify import AlertDispatcher, AlertmanagerNotifier, NotifyError, alert_for_event
from detector.series import Scope, SeriesKey, Signal

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which(ALERTMANAGER_BINARY), reason="Alertmanager binary not installed"),
]

KEY = SeriesKey("cartservice", "shop", Signal.P99, Scope.POD, pod="cartservice-7d9f")


@dataclass(frozen=True)
class FakeEvent:
    key: SeriesKey
    started_at: float
    ended_at: float | None = None
    severity: str = "critical"
    observed: float = 850.0
    expected: float = 120.0
    lower: float = 80.0
    upper: float = 200.0
    peak_score: float = 9.5
    explanation: str = "p99 rose 7x."


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


@pytest.fixture
def alertmanager(tmp_path: Path, sink: WebhookSink) -> Iterator[RunningAlertmanager]:
    with start_alertmanager(tmp_path / "am", sink.url) as running:
        yield running


def with_status(status: str, **labels: str) -> Any:
    """Predicate: a webhook whose alerts include one in ``status`` carrying ``labels``."""

    def match(payload: dict[str, Any]) -> bool:
        return any(
            a["status"] == status and labels.items() <= a["labels"].items() for a in payload.get("alerts", [])
        )

    return match


def test_firing_then_resolved_reaches_the_webhook(
    alertmanager: RunningAlertmanager, sink: WebhookSink
) -> None:
    event = FakeEvent(KEY, started_at=time.time() - 120)
    with AlertmanagerNotifier(alertmanager.url) as notifier:
        notifier.send([alert_for_event(event, dashboard_url="http://meshpulse.test")])
        fired = sink.wait_for(with_status("firing", alertname="MeshAnomaly"), timeout=15)
        [alert] = fired["alerts"]
        assert alert["labels"] == {
            "alertname": "MeshAnomaly",
            "service": "cartservice",
            "namespace": "shop",
            "signal": "p99",
            "severity": "critical",
            "scope": "pod",
            "pod": "cartservice-7d9f",
            "meshpulse_detector": "meshpulse",
        }
        assert alert["annotations"]["summary"] == "p99 of pod cartservice-7d9f in shop is anomalous"
        assert alert["generatorURL"] == "http://meshpulse.test/ui/services/cartservice?namespace=shop"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"  # open-ended: resolve_timeout applies

        notifier.send([alert_for_event(replace(event, ended_at=time.time()))])
        resolved = sink.wait_for(with_status("resolved", pod="cartservice-7d9f"), timeout=15)
        assert resolved["status"] == "resolved"


def test_dispatcher_keeps_alerts_while_alertmanager_is_down(
    alertmanager: RunningAlertmanager, sink: WebhookSink
) -> None:
    """Alertmanager restarts mid-incident: nothing is lost, and it keeps its silences."""
    dispatcher = AlertDispatcher(resend_s=60, resolve_hold_s=0)  # this Alertmanager's group_wait is 1 s
    event = FakeEvent(KEY, started_at=time.time() - 60)
    silence = {
        "matchers": [{"name": "service", "value": "paymentservice", "isRegex": False}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2100-01-01T00:00:00Z",
        "createdBy": "test",
        "comment": "survives restart",
    }
    silence_id = httpx.post(f"{alertmanager.url}/api/v2/silences", json=silence).json()["silenceID"]
    port = alertmanager.port
    with AlertmanagerNotifier(alertmanager.url, timeout_s=2.0) as notifier:
        alertmanager.stop()
        alerts = dispatcher.due(time.time(), [event], [])
        with pytest.raises(NotifyError):
            notifier.send(alerts)
        assert dispatcher.pending_count() == 1

        alertmanager.start()
        assert alertmanager.port == port
        retry = dispatcher.due(time.time(), [event], [])
        notifier.send(retry)
        dispatcher.mark_sent(retry, time.time())
        sink.wait_for(with_status("firing", pod="cartservice-7d9f"), timeout=15)

        closed = replace(event, ended_at=time.time())
        resolve = dispatcher.due(time.time(), [], [closed])
        notifier.send(resolve)
        dispatcher.mark_sent(resolve, time.time())
        sink.wait_for(with_status("resolved", pod="cartservice-7d9f"), timeout=15)
    kept = httpx.get(f"{alertmanager.url}/api/v2/silence/{silence_id}").json()
    assert kept["comment"] == "survives restart"


def test_alertmanager_rejects_malformed_alerts_with_notify_error(alertmanager: RunningAlertmanager) -> None:
    """Alertmanager itself validates: a label name with a dash is a 400, surfaced as NotifyError."""
    event = FakeEvent(KEY, started_at=time.time())
    bad = replace(alert_for_event(event), labels={"bad-label": "x"})
    with AlertmanagerNotifier(alertmanager.url) as notifier, pytest.raises(NotifyError, match="HTTP 400"):
        notifier.send([bad])
