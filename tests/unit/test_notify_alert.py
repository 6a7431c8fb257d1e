"""The JSON Alertmanager receives for a MeshPulse event."""

from __future__ import annotations

import math
from dataclasses import dataclass

from detector.notify import Alert, alert_for_event, event_id
from detector.series import Scope, SeriesKey, Signal

T0 = 1_700_000_000.0


@dataclass(frozen=True)
class FakeEvent:
    key: SeriesKey
    started_at: float = T0
    ended_at: float | None = None
    severity: str = "warning"
    observed: float = 850.0
    expected: float = 120.0
    lower: float = 80.0
    upper: float = 200.0
    peak_score: float = 9.5
    explanation: str = "p99 rose 7x within 2 minutes."


POD_KEY = SeriesKey("cartservice", "shop", Signal.P99, Scope.POD, pod="cartservice-7d9f")


def test_firing_alert_has_series_labels_and_no_ends_at() -> None:
    body = alert_for_event(FakeEvent(POD_KEY), detector="mp-1").to_api()
    assert body["labels"] == {
        "alertname": "MeshAnomaly",
        "service": "cartservice",
        "namespace": "shop",
        "signal": "p99",
        "severity": "warning",
        "scope": "pod",
        "pod": "cartservice-7d9f",
        "meshpulse_detector": "mp-1",
    }
    assert body["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert "endsAt" not in body
    assert "generatorURL" not in body  # Alertmanager rejects "" as a URI


def test_resolved_alert_carries_ends_at_in_rfc3339_utc() -> None:
    body = alert_for_event(FakeEvent(POD_KEY, ended_at=T0 + 90.25)).to_api()
    assert body["endsAt"] == "2023-11-14T22:14:50.250Z"


def test_resolved_at_fills_in_when_the_event_has_no_end_time() -> None:
    assert alert_for_event(FakeEvent(POD_KEY), resolved_at=T0 + 5).to_api()["endsAt"].endswith("25.000Z")


def test_optional_scope_labels_appear_only_when_set() -> None:
    service = alert_for_event(FakeEvent(SeriesKey("cart", "shop", Signal.RATE))).labels
    edge = alert_for_event(FakeEvent(SeriesKey("cart", "shop", Signal.RATE, Scope.EDGE, source="web"))).labels
    version = alert_for_event(FakeEvent(SeriesKey("cart", "shop", Signal.RATE, Scope.VERSION, version="v2")))
    assert not {"pod", "version", "source"} & service.keys()
    assert edge["source"] == "web" and edge["scope"] == "edge"
    assert version.labels["version"] == "v2"


def test_annotations_use_the_events_explanation_plus_peak_score() -> None:
    annotations = alert_for_event(FakeEvent(POD_KEY)).annotations
    assert annotations["summary"] == "p99 of pod cartservice-7d9f in shop is anomalous"
    assert annotations["description"] == "p99 rose 7x within 2 minutes.; peak score 9.50."
    assert "dashboard_url" not in annotations


def test_without_an_explanation_the_description_says_observed_versus_expected_since_when() -> None:
    event = FakeEvent(
        SeriesKey("a", "ns", Signal.ERROR_RATIO), observed=0.125, expected=math.nan, explanation=""
    )
    assert alert_for_event(event).annotations["description"] == (
        "observed 0.125, expected nan (band 80–200), since 2023-11-14T22:13:20.000Z; peak score 9.50."
    )


def test_dashboard_link_goes_to_annotations_and_generator_url() -> None:
    alert = alert_for_event(FakeEvent(POD_KEY), dashboard_url="https://meshpulse.example/")
    link = "https://meshpulse.example/ui/services/cartservice?namespace=shop"
    assert alert.annotations["dashboard_url"] == link
    assert alert.to_api()["generatorURL"] == link


def test_runbook_url_points_at_the_signals_section_of_the_runbook() -> None:
    from pathlib import Path

    url = alert_for_event(FakeEvent(POD_KEY)).annotations["runbook_url"]
    assert url == "docs/runbooks/mesh-anomaly.md#p99"
    runbook = (Path(__file__).resolve().parents[2] / url.split("#")[0]).read_text()
    for anchor in (signal.value.replace("_", "-") for signal in Signal):
        assert f'<a id="{anchor}"></a>' in runbook


def test_event_id_distinguishes_events_of_one_series_like_the_tracker_does() -> None:
    assert event_id(FakeEvent(POD_KEY)) == "shop/cartservice/p99/pod=cartservice-7d9f@1700000000"
    assert event_id(FakeEvent(POD_KEY)) != event_id(FakeEvent(POD_KEY, started_at=T0 + 60))


def test_the_real_event_class_satisfies_the_protocol() -> None:
    from detector.detect.events import AnomalyEvent

    real = AnomalyEvent(
        "x", POD_KEY, T0, T0 + 30, "critical", 9.0, 850.0, 120.0, 80.0, 200.0, ended_at=T0 + 30
    )
    alert = alert_for_event(real)
    assert alert.labels["severity"] == "critical" and alert.to_api()["endsAt"] == "2023-11-14T22:13:50.000Z"
    assert "850 ms" in alert.annotations["description"]


def test_alert_is_rebuilt_from_its_fields() -> None:
    alert = Alert({"a": "b"}, {"summary": "s"}, T0, T0 + 1, "http://x")
    assert Alert(**alert.__dict__) == alert
