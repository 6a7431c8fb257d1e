"""An outside alert meets MeshPulse's own view: which services it names, and what MeshPulse saw there.

Pure functions over plain records, so the rule is testable without a server. The
API layer (:mod:`detector.api.alert_intake`) fetches events and recommendations and
hands them in.

Which service an alert is about: the first of :data:`SERVICE_LABELS` the alert
carries. The order runs from the most specific (an explicit ``service``, then
Istio's destination labels) to the most generic (``app``, then Prometheus's
``job``), because a rule written over Istio metrics keeps the destination labels
while ``job`` usually names the scrape job, not a service. A ``destination_service``
value is an FQDN (``cart.shop.svc.cluster.local``): its first DNS label is the
service. An alert with none of these labels names no service and is only counted.

An anomaly is *related* when it is still open, or ended no more than
:data:`RECENT_S` before the earliest alert in the payload started: the window in
which an on-call engineer would still call them the same incident.

>>> service_of({"job": "prometheus", "destination_service": "cart.shop.svc.cluster.local"})
'cart'
>>> service_of({"severity": "page"}) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SERVICE_LABELS = (
    "service",
    "destination_service_name",
    "destination_workload",
    "destination_app",
    "destination_service",
    "app",
    "app_kubernetes_io_name",
    "job",
)
RECENT_S = 1800.0
UNKNOWN = "unknown to MeshPulse"


def service_of(labels: Mapping[str, str]) -> str | None:
    """The service an alert's labels name, by the rule in the module docstring."""
    for name in SERVICE_LABELS:
        value = labels.get(name, "").strip()
        if value:
            return value.split(".", 1)[0] if name == "destination_service" else value
    return None


def services_named(alert_labels: Sequence[Mapping[str, str]]) -> list[str]:
    """Distinct services named by a payload's alerts, in first-seen order."""
    seen: dict[str, None] = {}
    for labels in alert_labels:
        name = service_of(labels)
        if name:
            seen.setdefault(name)
    return list(seen)


def window_start(alert_starts: Sequence[float], now: float, recent_s: float = RECENT_S) -> float:
    """Oldest end time an anomaly may have and still be related to these alerts."""
    return min([*alert_starts, now]) - recent_s


@dataclass(frozen=True)
class ServiceCorrelation:
    """What MeshPulse knows about one service an alert named."""

    service: str
    known: bool
    verdict: str
    summary: str
    active: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)


def correlate_service(
    service: str,
    *,
    known: bool,
    events: Sequence[Mapping[str, Any]],
    recommendations: Sequence[Mapping[str, Any]],
) -> ServiceCorrelation:
    """One service's verdict from its related events (see :func:`window_start`) and recommendations.

    >>> correlate_service("x", known=False, events=[], recommendations=[]).summary
    'unknown to MeshPulse'
    >>> correlate_service("x", known=True, events=[{"ended_at": None}], recommendations=[]).verdict
    'anomalous'
    """
    active = [dict(e) for e in events if e.get("ended_at") is None]
    recent = [dict(e) for e in events if e.get("ended_at") is not None]
    recs = [dict(r) for r in recommendations]
    if not known and not events:
        return ServiceCorrelation(service, False, "unknown", UNKNOWN)
    if active:
        verdict, summary = "anomalous", f"MeshPulse sees {len(active)} active anomal{_y(len(active))}"
    elif recent:
        verdict, summary = "recently_anomalous", f"MeshPulse saw {len(recent)} anomal{_y(len(recent))} lately"
    else:
        verdict, summary = "quiet", "MeshPulse sees nothing unusual on this service"
    return ServiceCorrelation(service, True, verdict, summary, active, recent, recs)


def _y(n: int) -> str:
    return "y" if n == 1 else "ies"


def as_dict(correlations: Sequence[ServiceCorrelation]) -> list[dict[str, Any]]:
    return [asdict(c) for c in correlations]
