"""Alerts out: MeshPulse anomaly events → Alertmanager v2 API (``POST /api/v2/alerts``).

Firing alerts are sent without ``endsAt``, so Alertmanager resolves them on its own
after ``resolve_timeout`` if MeshPulse dies; a live MeshPulse re-sends them well
inside that window (:class:`AlertDispatcher`) and sends an explicit ``endsAt`` when
the event closes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from detector.series import SeriesKey

ALERTNAME = "MeshAnomaly"


class NotifyError(RuntimeError):
    """Alerts could not be delivered; the caller keeps them pending and retries next cycle."""


@dataclass(frozen=True)
class Alert:
    """One alert as Alertmanager sees it; times are Unix seconds, ``ends_at`` only when resolved."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None
    generator_url: str = ""

    @property
    def resolved(self) -> bool:
        return self.ends_at is not None

    def to_api(self) -> dict[str, Any]:
        """The v2 API JSON object.

        >>> Alert({"alertname": "X"}, {}, 0.0).to_api()
        {'labels': {'alertname': 'X'}, 'annotations': {}, 'startsAt': '1970-01-01T00:00:00.000Z'}
        """
        body: dict[str, Any] = {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": rfc3339(self.starts_at),
        }
        if self.ends_at is not None:
            body["endsAt"] = rfc3339(self.ends_at)
        if self.generator_url:  # the API validates it as a URI, so "" is rejected
            body["generatorURL"] = self.generator_url
        return body


def rfc3339(ts: float) -> str:
    """UTC with milliseconds and ``Z``, the form Alertmanager echoes back.

    >>> rfc3339(1700000000.5)
    '2023-11-14T22:13:20.500Z'
    """
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Notifier(Protocol):
    """Where alerts go. ``send`` raises :class:`NotifyError` when nothing was delivered."""

    def send(self, alerts: list[Alert]) -> None: ...


class NullNotifier:
    """Delivers nowhere: for ``alertmanager_url = ""`` and for tests that only inspect events."""

    def send(self, alerts: list[Alert]) -> None:
        pass


class AlertmanagerNotifier:
    """Posts to one Alertmanager. Pass ``client`` to share a pool or to test; else one is owned."""

    def __init__(self, base_url: str, timeout_s: float = 5.0, client: httpx.Client | None = None) -> None:
        self.endpoint = base_url.rstrip("/") + "/api/v2/alerts"
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout_s)
        self.timeout_s = timeout_s

    def send(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        try:
            response = self._client.post(
                self.endpoint, json=[a.to_api() for a in alerts], timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            raise NotifyError(f"POST {self.endpoint}: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise NotifyError(f"POST {self.endpoint}: HTTP {response.status_code}: {response.text[:300]!r}")

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> AlertmanagerNotifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AnomalyEvent(Protocol):
    """What :func:`alert_for_event` needs from an event; ``detect.events`` owns the real class."""

    @property
    def key(self) -> SeriesKey: ...
    @property
    def started_at(self) -> float: ...
    @property
    def ended_at(self) -> float | None: ...
    @property
    def severity(self) -> str: ...
    @property
    def observed(self) -> float: ...
    @property
    def expected(self) -> float: ...
    @property
    def lower(self) -> float: ...
    @property
    def upper(self) -> float: ...
    @property
    def peak_score(self) -> float: ...
    @property
    def explanation(self) -> str: ...


def event_id(event: AnomalyEvent) -> str:
    """Identity of one event (a series has many, never two starting together); as ``detect.events``."""
    return f"{event.key.id}@{int(event.started_at)}"


def alert_for_event(
    event: AnomalyEvent,
    *,
    detector: str = "meshpulse",
    dashboard_url: str = "",
    resolved_at: float | None = None,
) -> Alert:
    """The alert for ``event``: firing while open, resolved (``endsAt``) once it has ended.

    Labels identify the series only (plus severity for routing), so Alertmanager
    keeps one alert per series even as the numbers in the annotations move.
    ``detector`` names the MeshPulse instance, so two deployments feeding one
    Alertmanager never overwrite each other's alerts.
    """
    key = event.key
    labels = {
        "alertname": ALERTNAME,
        "service": key.service,
        "namespace": key.namespace,
        "signal": key.signal.value,
        "severity": event.severity,
        "scope": key.scope.value,
        "meshpulse_detector": detector,
    }
    optional = {"pod": key.pod, "version": key.version, "source": key.source}
    labels |= {name: value for name, value in optional.items() if value}
    annotations = {
        "summary": f"{key.signal.value} of {key.subject} in {key.namespace} is anomalous",
        "description": _description(event),
    }
    link = f"{dashboard_url.rstrip('/')}/api/v1/services/{quote(key.service)}" if dashboard_url else ""
    if link:
        link += f"?namespace={quote(key.namespace)}"
        annotations["dashboard_url"] = link
    ends_at = event.ended_at if event.ended_at is not None else resolved_at
    return Alert(labels, annotations, event.started_at, ends_at, link)


def _description(event: AnomalyEvent) -> str:
    """The event's own explanation (it knows the units) plus what the on-call cannot see in it."""
    text = event.explanation or (
        f"observed {event.observed:.4g}, expected {event.expected:.4g} "
        f"(band {event.lower:.4g}–{event.upper:.4g}), since {rfc3339(event.started_at)}"
    )
    return f"{text}; peak score {event.peak_score:.2f}."


@dataclass
class _Sent:
    """What was last delivered for one event; ``resolved_at`` set means it is finished."""

    alert: Alert
    sent_at: float
    resolved_at: float | None = None


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
    _sent: dict[str, _Sent] = field(default_factory=dict)
    _resolving: dict[str, Alert] = field(default_factory=dict)
    _issued: dict[str, str] = field(default_factory=dict, repr=False)

    def due(
        self, now: float, active_events: Sequence[AnomalyEvent], closed_events: Sequence[AnomalyEvent]
    ) -> list[Alert]:
        """Resolutions first: if a series closes and reopens in one batch, the firing one wins."""
        self._forget(now)
        for event in closed_events:
            eid, sent = event_id(event), self._sent.get(event_id(event))
            if eid not in self._resolving and not (sent and sent.resolved_at is not None):
                self._resolving[eid] = self._alert(event, resolved_at=event.ended_at or now)
        resolving = list(self._resolving.items())
        firing: list[tuple[str, Alert]] = []
        open_ids: set[str] = set()
        for event in active_events:
            eid = event_id(event)
            open_ids.add(eid)
            alert, sent = self._alert(event), self._sent.get(eid)
            if sent and sent.alert.labels != alert.labels:  # e.g. severity changed: retire the old one
                resolving.append((eid, replace(sent.alert, ends_at=now)))
            elif sent and now - sent.sent_at < self.resend_s:
                continue
            firing.append((eid, alert))
        for eid, sent in self._sent.items():
            if sent.resolved_at is None and eid not in open_ids and eid not in self._resolving:
                self._resolving[eid] = replace(sent.alert, ends_at=now)
                resolving.append((eid, self._resolving[eid]))
        self._issued = {_identity(alert): eid for eid, alert in resolving + firing}
        return [alert for _, alert in resolving + firing]

    def mark_sent(self, alerts: list[Alert], now: float) -> None:
        """Record delivery of (some of) the alerts the last :meth:`due` returned."""
        for alert in alerts:
            eid = self._issued.pop(_identity(alert), None)
            if eid is None:
                continue
            if not alert.resolved:
                self._sent[eid] = _Sent(alert, now)
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
        self._sent = {
            eid: _Sent(**{**row, "alert": Alert(**row["alert"])})
            for eid, row in state.get("sent", {}).items()
        }
        self._resolving = {eid: Alert(**a) for eid, a in state.get("resolving", {}).items()}
        self._issued = {}

    def _alert(self, event: AnomalyEvent, resolved_at: float | None = None) -> Alert:
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
