"""What the dispatcher sends each cycle, with the clock passed in."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from detector.notify import Alert, AlertDispatcher
from detector.series import SeriesKey, Signal

T0 = 1_700_000_000.0
KEY = SeriesKey("cart", "shop", Signal.P99)
OTHER = SeriesKey("web", "shop", Signal.ERROR_RATIO)


@dataclass(frozen=True)
class FakeEvent:
    key: SeriesKey
    started_at: float = T0
    ended_at: float | None = None
    severity: str = "warning"
    observed: float = 2.0
    expected: float = 1.0
    lower: float = 0.5
    upper: float = 1.5
    peak_score: float = 6.0
    explanation: str = ""


def cycle(
    d: AlertDispatcher, now: float, active: list, closed: list | None = None, delivered: bool = True
) -> list[Alert]:
    """One pipeline cycle: ask, 'send', acknowledge only if delivered."""
    alerts = d.due(now, active, closed or [])
    if delivered:
        d.mark_sent(alerts, now)
    return alerts


def states(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.labels["service"], "resolved" if a.resolved else "firing") for a in alerts]


def test_new_event_fires_then_is_resent_only_after_resend_s() -> None:
    d, event = AlertDispatcher(resend_s=60), FakeEvent(KEY)
    assert states(cycle(d, T0, [event])) == [("cart", "firing")]
    assert cycle(d, T0 + 15, [event]) == []
    assert cycle(d, T0 + 59.9, [event]) == []
    resent = cycle(d, T0 + 60, [event])
    assert states(resent) == [("cart", "firing")] and resent[0].starts_at == T0
    assert cycle(d, T0 + 75, [event]) == []


def test_closed_event_is_resolved_once_with_its_end_time() -> None:
    d, event = AlertDispatcher(), FakeEvent(KEY)
    cycle(d, T0, [event])
    closed = replace(event, ended_at=T0 + 30)
    resolved = cycle(d, T0 + 45, [], [closed])
    assert states(resolved) == [("cart", "resolved")] and resolved[0].ends_at == T0 + 30
    assert cycle(d, T0 + 60, [], [closed]) == []  # passed again: already resolved
    assert d.firing_count() == 0


def test_failed_send_keeps_everything_due_next_cycle() -> None:
    d, event = AlertDispatcher(resend_s=60), FakeEvent(KEY)
    assert states(cycle(d, T0, [event], delivered=False)) == [("cart", "firing")]
    assert d.pending_count() == 1
    assert states(cycle(d, T0 + 15, [event])) == [("cart", "firing")]
    assert d.pending_count() == 0


def test_resolution_survives_failures_even_if_the_closed_event_is_passed_once() -> None:
    d, event = AlertDispatcher(), FakeEvent(KEY)
    cycle(d, T0, [event])
    closed = replace(event, ended_at=T0 + 30)
    cycle(d, T0 + 30, [], [closed], delivered=False)
    retry = cycle(d, T0 + 45, [], [])
    assert states(retry) == [("cart", "resolved")] and retry[0].ends_at == T0 + 30
    assert cycle(d, T0 + 60, [], []) == []


def test_event_that_vanishes_without_closing_is_resolved_now() -> None:
    d = AlertDispatcher(resolve_hold_s=0)
    cycle(d, T0, [FakeEvent(KEY), FakeEvent(OTHER)])
    resolved = cycle(d, T0 + 15, [FakeEvent(OTHER)])
    assert states(resolved) == [("cart", "resolved")] and resolved[0].ends_at == T0 + 15


def test_severity_change_retires_the_old_alert_and_fires_the_new_one() -> None:
    d = AlertDispatcher(resend_s=60)
    cycle(d, T0, [FakeEvent(KEY)])
    alerts = cycle(d, T0 + 15, [FakeEvent(KEY, severity="critical")])
    assert [(a.labels["severity"], a.resolved) for a in alerts] == [("warning", True), ("critical", False)]
    assert cycle(d, T0 + 30, [FakeEvent(KEY, severity="critical")]) == []


def test_close_and_reopen_in_one_cycle_sends_resolution_before_firing() -> None:
    d = AlertDispatcher()
    cycle(d, T0, [FakeEvent(KEY)])
    reopened = FakeEvent(KEY, started_at=T0 + 60)
    alerts = cycle(d, T0 + 60, [reopened], [FakeEvent(KEY, ended_at=T0 + 45)])
    assert [(a.starts_at, a.resolved) for a in alerts] == [(T0, True), (T0 + 60, False)]


def test_partial_acknowledgement_only_marks_what_was_delivered() -> None:
    d = AlertDispatcher()
    alerts = d.due(T0, [FakeEvent(KEY), FakeEvent(OTHER)], [])
    d.mark_sent(alerts[:1], T0)
    assert states(cycle(d, T0 + 15, [FakeEvent(KEY), FakeEvent(OTHER)])) == [("web", "firing")]


def test_state_survives_a_restart_through_json() -> None:
    d = AlertDispatcher(resend_s=60, resolve_hold_s=0)
    cycle(d, T0, [FakeEvent(KEY), FakeEvent(OTHER)])
    cycle(d, T0 + 10, [FakeEvent(OTHER)], [FakeEvent(KEY, ended_at=T0 + 10)], delivered=False)
    restored = AlertDispatcher(resend_s=60, resolve_hold_s=0)
    restored.import_state(json.loads(json.dumps(restored_state := d.export_state())))
    assert restored.export_state() == restored_state
    assert states(cycle(restored, T0 + 20, [FakeEvent(OTHER)])) == [("cart", "resolved")]
    assert states(cycle(restored, T0 + 60, [FakeEvent(OTHER)])) == [("web", "firing")]


def test_finished_events_are_forgotten_after_forget_after_s() -> None:
    d = AlertDispatcher(forget_after_s=3600, resolve_hold_s=0)
    cycle(d, T0, [FakeEvent(KEY)])
    cycle(d, T0 + 10, [], [FakeEvent(KEY, ended_at=T0 + 10)])
    assert d.export_state()["sent"]
    cycle(d, T0 + 4000, [], [])
    assert d.export_state() == {"sent": {}, "resolving": {}}


def test_event_that_opened_and_closed_while_undeliverable_fires_first_then_resolves_later() -> None:
    d, event = AlertDispatcher(resolve_hold_s=30), FakeEvent(KEY)
    cycle(d, T0, [event], delivered=False)
    closed = replace(event, ended_at=T0 + 20)
    cycle(d, T0 + 20, [], [closed], delivered=False)
    assert states(cycle(d, T0 + 40, [], [], delivered=False)) == [("cart", "firing")]  # still down
    first = cycle(d, T0 + 60, [], [])  # Alertmanager is back
    assert states(first) == [("cart", "firing")] and first[0].ends_at is None and first[0].starts_at == T0
    assert cycle(d, T0 + 75, [], []) == []  # held: Alertmanager's group_wait must flush the firing
    resolved = cycle(d, T0 + 90, [], [])
    assert states(resolved) == [("cart", "resolved")] and resolved[0].ends_at == T0 + 20
    assert cycle(d, T0 + 105, [], [closed]) == [] and d.firing_count() == 0


def test_short_event_holds_its_resolution_until_the_firing_is_old_enough() -> None:
    d, event = AlertDispatcher(resolve_hold_s=30), FakeEvent(KEY)
    cycle(d, T0, [event])
    assert cycle(d, T0 + 15, [], [replace(event, ended_at=T0 + 15)]) == []
    assert states(cycle(d, T0 + 30, [], [])) == [("cart", "resolved")]


def test_held_resolution_and_first_delivery_time_survive_a_restart() -> None:
    d, event = AlertDispatcher(resolve_hold_s=30), FakeEvent(KEY)
    cycle(d, T0, [event])
    cycle(d, T0 + 15, [], [replace(event, ended_at=T0 + 15)])
    restored = AlertDispatcher(resolve_hold_s=30)
    restored.import_state(json.loads(json.dumps(d.export_state())))
    assert cycle(restored, T0 + 20, [], []) == []
    assert states(cycle(restored, T0 + 30, [], [])) == [("cart", "resolved")]
