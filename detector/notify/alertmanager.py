"""Alerts out: MeshPulse anomaly events → Alertmanager v2 API (``POST /api/v2/alerts``).

Firing alerts are sent without ``endsAt``, so Alertmanager resolves them on its own
after ``resolve_timeout`` if MeshPulse dies; a live MeshPulse re-sends them well
inside that window (:class:`AlertDispatcher`) and sends an explicit ``endsAt`` when
the event closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from detector.series import SeriesKey

ALERTNAME = "MeshAnomaly"
RUNBOOK_URL = "docs/runbooks/mesh-anomaly.md"
"""The runbook, as a path in this repository; deployments prefix their docs site (``runbook_url``)."""


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
    runbook_url: str = RUNBOOK_URL,
    resolved_at: float | None = None,
) -> Alert:
    """The alert for ``event``: firing while open, resolved (``endsAt``) once it has ended.

    Labels identify the series only (plus severity for routing), so Alertmanager
    keeps one alert per series even as the numbers in the annotations move.
    ``detector`` names the MeshPulse instance, so two deployments feeding one
    Alertmanager never overwrite each other's alerts. Conventions: ``runbook_url``
    points at the signal's section of the runbook; ``dashboard_url`` (and
    ``generatorURL``) deep-link to the service's dashboard page.
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
        "runbook_url": f"{runbook_url}#{key.signal.value.replace('_', '-')}",
    }
    link = f"{dashboard_url.rstrip('/')}/ui/services/{quote(key.service)}" if dashboard_url else ""
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


# the dispatcher lives in its own module; re-exported because callers import it from here
from detector.notify.dispatcher import AlertDispatcher  # noqa: E402

__all__ = ["ALERTNAME", "RUNBOOK_URL", "Alert", "AlertDispatcher", "AlertmanagerNotifier", "alert_for_event"]
