"""EventTracker hysteresis and the AnomalyEvent record."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detector.detect.bank import ScoredBlock
from detector.detect.events import AnomalyEvent, EventChange, EventTracker
from detector.series import Scope, SeriesKey, Signal

K = SeriesKey("cartservice", "default", Signal.P99)
Q = SeriesKey("cartservice", "default", Signal.RATE)
N = np.nan
T0 = 1_795_660_260.0  # 2026-11-26T02:31:00Z


def _scored(scores: list[list[float]], keys: list[SeriesKey] | None = None, t0: float = T0) -> ScoredBlock:
    s = np.array(scores, dtype=float)
    ts = t0 + 60.0 * np.arange(s.shape[1])
    values = np.where(np.isnan(s), np.nan, 40 + 400 * np.nan_to_num(s))
    ones = np.ones_like(s)
    return ScoredBlock(keys or [K][: len(s)], ts, values, s, 38 * ones, 20 * ones, 61 * ones)


def _kinds(changes: list[EventChange]) -> list[str]:
    return [c.kind for c in changes]


def test_opens_after_consecutive_high_points() -> None:
    tracker = EventTracker()
    assert tracker.update(_scored([[0.1, 0.6, 0.2, 0.7, 0.1]])) == []  # never two in a row
    changes = tracker.update(_scored([[0.85, 0.8]], t0=T0 + 600))
    assert _kinds(changes) == ["opened"]
    ev = changes[0].event
    assert ev.started_at == T0 + 600 and ev.last_seen == T0 + 660 and ev.active
    assert ev.id == f"{K.id}@{int(T0 + 600)}"
    assert tracker.active() == [ev] and tracker.is_active(K)


def test_an_extreme_point_opens_at_once() -> None:
    tracker = EventTracker(open_after=2, open_now_score=0.9)
    assert tracker.update(_scored([[0.1, 0.89]])) == []
    changes = tracker.update(_scored([[0.95]], t0=T0 + 120))
    assert _kinds(changes) == ["opened"] and changes[0].event.started_at == T0 + 60


def test_streak_spans_cycles() -> None:
    tracker = EventTracker()
    assert tracker.update(_scored([[0.1, 0.6]])) == []
    changes = tracker.update(_scored([[0.6]], t0=T0 + 120))
    assert _kinds(changes) == ["opened"] and changes[0].event.started_at == T0 + 60


def test_closes_with_hysteresis() -> None:
    tracker = EventTracker()
    tracker.update(_scored([[0.9, 0.9]]))
    # 0.4 is below open_score but not below close_score: it keeps the event open
    changes = tracker.update(_scored([[0.4, 0.1, 0.1, 0.4, 0.1, 0.1]], t0=T0 + 120))
    assert _kinds(changes) == ["updated"]
    changes = tracker.update(_scored([[0.2]], t0=T0 + 480))
    assert _kinds(changes) == ["closed"]
    ev = changes[0].event
    assert ev.ended_at == T0 + 360 and ev.last_seen == T0 + 480 and not ev.active
    assert tracker.active() == [] and not tracker.is_active(K)


def test_no_data_resets_opening_and_pauses_closing() -> None:
    tracker = EventTracker()
    assert tracker.update(_scored([[0.8, N, 0.8, N, 0.8]])) == []
    changes = tracker.update(_scored([[0.8, 0.8, 0.1, N, N, 0.1, N, 0.1]], t0=T0 + 300))
    assert _kinds(changes) == ["opened", "closed"]
    assert changes[1].event.ended_at == T0 + 420


def test_no_data_alone_is_not_an_update() -> None:
    tracker = EventTracker()
    tracker.update(_scored([[0.9, 0.9]]))
    assert tracker.update(_scored([[N, N, N]], t0=T0 + 120)) == []
    assert tracker.is_active(K)


def test_peak_severity_and_worst_point() -> None:
    tracker = EventTracker(critical_score=0.8)
    opened = tracker.update(_scored([[0.6, 0.55]]))[0].event
    assert opened.severity == "warning" and opened.peak_score == 0.6
    assert opened.observed == pytest.approx(40 + 400 * 0.6)
    updated = tracker.update(_scored([[0.95, 0.7]], t0=T0 + 120))
    assert _kinds(updated) == ["updated"] and updated[0].event is opened
    assert opened.severity == "critical" and opened.peak_score == 0.95
    assert opened.observed == pytest.approx(40 + 400 * 0.95)


def test_several_events_in_one_block_and_series() -> None:
    tracker = EventTracker(open_after=1, close_after=1)
    changes = tracker.update(_scored([[0.9, 0.1, 0.9, 0.1], [0.1, 0.1, 0.9, 0.9]], [K, Q]))
    assert [(c.kind, c.event.key) for c in changes] == [
        ("opened", K),
        ("closed", K),
        ("opened", K),
        ("closed", K),
        ("opened", Q),
        ("updated", Q),
    ]
    assert changes[0].event is not changes[2].event


def test_one_block_equals_many_cycles() -> None:
    rng = np.random.default_rng(0)
    scores = np.where(rng.random((2, 400)) < 0.05, np.nan, rng.random((2, 400)) ** 3 * 1.3).clip(0, 1)
    whole, split = EventTracker(), EventTracker()
    got_whole = whole.update(_scored(scores.tolist(), [K, Q]))
    got_split = []
    for a in range(0, 400, 7):
        got_split += split.update(_scored(scores[:, a : a + 7].tolist(), [K, Q], t0=T0 + 60 * a))

    def ends(changes: list[EventChange]) -> set[tuple[str, str, float | None]]:
        return {(c.kind, c.event.id, c.event.ended_at) for c in changes if c.kind != "updated"}

    assert ends(got_whole) == ends(got_split) and len(ends(got_whole)) > 2
    assert [e.to_dict() for e in whole.active()] == [e.to_dict() for e in split.active()]


def test_export_import_mid_streak() -> None:
    live = EventTracker()
    live.update(_scored([[0.9, 0.9, 0.1], [0.1, 0.1, 0.7]], [K, Q]))
    saved = json.loads(json.dumps(live.export_state(), allow_nan=False))
    restarted = EventTracker()
    restarted.import_state(saved)
    nxt = _scored([[0.1, 0.1], [0.8, 0.1]], [K, Q], t0=T0 + 180)
    a, b = live.update(nxt), restarted.update(nxt)
    assert [(c.kind, c.event.to_dict()) for c in a] == [(c.kind, c.event.to_dict()) for c in b]
    assert _kinds(a) == ["closed", "opened", "updated"] and b[1].event.started_at == T0 + 120


def test_forget_drops_tracking() -> None:
    tracker = EventTracker()
    tracker.update(_scored([[0.9, 0.9]]))
    tracker.forget([K])
    assert tracker.active() == [] and tracker.export_state() == {}


def test_rejects_inverted_thresholds() -> None:
    with pytest.raises(ValueError):
        EventTracker(open_score=0.3, close_score=0.5)
    with pytest.raises(ValueError):
        EventTracker(open_after=0)


def test_event_round_trip_and_explanation() -> None:
    key = SeriesKey("cart", "shop", Signal.ERROR_RATIO, Scope.EDGE, source="frontend")
    ev = AnomalyEvent(f"{key.id}@1", key, T0, T0 + 60, "critical", 0.97, 0.125, 0.004, -0.01, 0.021)
    assert AnomalyEvent.from_dict(json.loads(json.dumps(ev.to_dict()))) == ev
    assert ev.explanation == (
        "5xx ratio of frontend → cart is 12.5%, expected 0.4% (band 0–2.1%), since 2026-11-26T02:31:00Z"
    )
    ev.ended_at = T0 + 600
    assert ev.explanation.endswith("from 2026-11-26T02:31:00Z to 2026-11-26T02:41:00Z")
    rate = AnomalyEvent("x", Q, T0, T0, "warning", 0.6, 3.5, 120.0, 90.0, 150.0)
    assert rate.explanation.startswith(
        "request rate of cartservice is 3.5 req/s, expected 120 req/s (band 90–150 req/s)"
    )
