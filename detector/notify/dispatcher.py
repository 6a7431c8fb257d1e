"""What Alertmanager must hear each cycle: firing, re-sent, resolved — in order, none lost, none twice.

Alertmanager only notifies a resolution for an alert it has already notified as
firing (its notification log has the firing entry). So a resolution is never the
first thing Alertmanager hears of an event: an event that opened and closed while
Alertmanager was down is first delivered as *firing*, and its resolution follows in
a later batch, once the firing alert has been delivered at least ``resolve_hold_s``
ago — long enough for Alertmanager's ``group_wait`` (30 s by default) to flush the
firing notification before the resolution arrives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector.notify.alertmanager import Alert, AnomalyEvent


@dataclass
class _Sent:
    """What was last delivered for one event; ``resolved_at`` set means it is finished.

    ``first_sent_at`` is when firing was first delivered (None in state saved before
    it existed, read as "long ago").
    """

    alert: Alert
    sent_at: float
    resolved_at: float | None = None
    first_sent_at: float | None = None


@dataclass
class AlertDispatcher:
    """Decides what to send each cycle; delivery itself is the caller's (a :class:`Notifier`).

    ``due`` lists alerts, ``mark_sent`` records the ones delivered; anything not
    marked is due again next cycle, so a down Alertmanager loses nothing. A closed
    event need be passed once: its resolution stays queued here until delivered.
    ``active_events`` must be every open event, because one that vanishes without
    closing is resolved rather than left firing. Finished events are remembered for
    ``forget_after_s`` so a closed event passed again is not resolved twice.
    """

    resend_s: float = 60.0
    detector: str = "meshpulse"
    dashboard_url: str = ""
    forget_after_s: float = 86400.0
    resolve_hold_s: float = 35.0
    _sent: dict[str, _Sent] = field(default_factory=dict)
    _resolving: dict[str, Alert] = field(default_factory=dict)
    _issued: dict[str, str] = field(default_factory=dict, repr=False)

    def due(
        self, now: float, active_events: Sequence[AnomalyEvent], closed_events: Sequence[AnomalyEvent]
    ) -> list[Alert]:
        """Resolutions first: if a series closes and reopens in one batch, the firing one wins."""
        from detector.notify.alertmanager import event_id

        self._forget(now)
        for event in closed_events:
            eid, sent = event_id(event), self._sent.get(event_id(event))
            if eid not in self._resolving and not (sent and sent.resolved_at is not None):
                self._resolving[eid] = self._alert(event, resolved_at=event.ended_at or now)
        open_ids = {event_id(event) for event in active_events}
        for eid, sent in self._sent.items():
            if sent.resolved_at is None and eid not in open_ids and eid not in self._resolving:
                self._resolving[eid] = replace(sent.alert, ends_at=now)
        resolving = self._resolutions(now)
        firing: list[tuple[str, Alert]] = []
        for event in active_events:
            eid = event_id(event)
            alert, sent = self._alert(event), self._sent.get(eid)
            if sent and sent.alert.labels != alert.labels:  # e.g. severity changed: retire the old one
                resolving.append((eid, replace(sent.alert, ends_at=now)))
            elif sent and now - sent.sent_at < self.resend_s:
                continue
            firing.append((eid, alert))
        self._issued = {_identity(alert): eid for eid, alert in resolving + firing}
        return [alert for _, alert in resolving + firing]

    def _resolutions(self, now: float) -> list[tuple[str, Alert]]:
        """Queued resolutions that may go now; one never delivered as firing goes as firing first."""
        out = []
        for eid, alert in self._resolving.items():
            sent = self._sent.get(eid)
            if sent is None or sent.resolved_at is not None:
                out.append((eid, replace(alert, ends_at=None)))
            elif now - (sent.first_sent_at or -float("inf")) >= self.resolve_hold_s:
                out.append((eid, alert))
        return out

    def mark_sent(self, alerts: list[Alert], now: float) -> None:
        """Record delivery of (some of) the alerts the last :meth:`due` returned."""
        for alert in alerts:
            eid = self._issued.pop(_identity(alert), None)
            if eid is None:
                continue
            if not alert.resolved:
                prev = self._sent.get(eid)
                first = prev.first_sent_at if prev and prev.resolved_at is None else now
                self._sent[eid] = _Sent(alert, now, first_sent_at=first)
            elif self._resolving.get(eid) == alert:
                del self._resolving[eid]
                self._sent[eid] = _Sent(alert, now, resolved_at=now)

    def pending_count(self) -> int:
        """Alerts the last :meth:`due` returned that have not been marked delivered."""
        return len(self._issued)

    def firing_count(self) -> int:
        """Events Alertmanager has been told are firing and not yet told are resolved."""
        return sum(1 for eid, s in self._sent.items() if s.resolved_at is None and eid not in self._resolving)

    def export_state(self) -> dict[str, Any]:
        """JSON-safe, for the store; :meth:`import_state` restores it after a restart."""
        return {
            "sent": {eid: {**asdict(s), "alert": asdict(s.alert)} for eid, s in self._sent.items()},
            "resolving": {eid: asdict(a) for eid, a in self._resolving.items()},
        }

    def import_state(self, state: dict[str, Any]) -> None:
        from detector.notify.alertmanager import Alert

        self._sent = {
            eid: _Sent(**{**row, "alert": Alert(**row["alert"])})
            for eid, row in state.get("sent", {}).items()
        }
        self._resolving = {eid: Alert(**a) for eid, a in state.get("resolving", {}).items()}
        self._issued = {}

    def _alert(self, event: AnomalyEvent, resolved_at: float | None = None) -> Alert:
        from detector.notify.alertmanager import alert_for_event

        return alert_for_event(
            event, detector=self.detector, dashboard_url=self.dashboard_url, resolved_at=resolved_at
        )

    def _forget(self, now: float) -> None:
        """Drop finished events, and resolutions nobody could deliver, after ``forget_after_s``."""
        horizon = now - self.forget_after_s
        self._sent = {eid: s for eid, s in self._sent.items() if (s.resolved_at or now) >= horizon}
        self._resolving = {eid: a for eid, a in self._resolving.items() if (a.ends_at or now) >= horizon}


def _identity(alert: Alert) -> str:
    return json.dumps([sorted(alert.labels.items()), alert.starts_at, alert.resolved])
