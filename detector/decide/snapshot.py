"""What the decide stage sees of the mesh in one cycle: a frozen, pure-data snapshot.

Decisions read only this, never Prometheus or Kubernetes, so they can be replayed and
property-tested. :mod:`detector.decide.build` makes one from the pipeline's
:class:`~detector.recent.RecentWindow`; tests build them by hand.

NaN means "no data", as everywhere in MeshPulse; a decision that needs a NaN field halts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Traffic:
    """Requests to one service, subset or pod over the snapshot's window.

    ``rate`` (req/s), ``error_ratio`` (5xx share) and ``p99_ms`` are window means;
    ``requests`` is the request count in the window, the volume every significance
    test weighs. ``baseline_error_ratio`` is the detector's expected 5xx ratio (the
    healthy level, not the current one); ``busy_rate``/``busy_p99_ms`` are the highest
    rate seen and the p99 latency around it, for capacity sizing.
    """

    rate: float
    error_ratio: float
    p99_ms: float
    requests: float
    baseline_error_ratio: float = math.nan
    busy_rate: float = math.nan
    busy_p99_ms: float = math.nan

    @property
    def errors(self) -> float:
        return self.requests * self.error_ratio

    @property
    def has_data(self) -> bool:
        """Rate, errors and volume all known (latency is checked where it is used)."""
        return all(math.isfinite(v) for v in (self.rate, self.error_ratio, self.requests))

    @property
    def success_rate(self) -> float:
        return 1.0 - self.error_ratio


@dataclass(frozen=True)
class PodStats:
    pod: str
    subset: str
    traffic: Traffic


@dataclass(frozen=True)
class ServiceSnapshot:
    """One destination service: its own traffic, per-subset and per-pod breakdowns.

    ``weights`` are the live VirtualService route weights per subset as last read
    (``None``: unknown, so no traffic decision is made). ``worst_error_ratio`` is the
    5xx ratio of the worst incident seen on one pod (NaN when none), the failure the
    circuit breaker must catch quickly.
    """

    namespace: str
    service: str
    traffic: Traffic
    subsets: dict[str, Traffic] = field(default_factory=dict)
    pods: tuple[PodStats, ...] = ()
    weights: dict[str, int] | None = None
    worst_error_ratio: float = math.nan

    @property
    def route(self) -> str:
        return f"{self.namespace}/{self.service}"

    @property
    def replicas(self) -> int:
        return len(self.pods)

    @property
    def host(self) -> str:
        return f"{self.service}.{self.namespace}.svc.cluster.local"


@dataclass(frozen=True)
class MeshSnapshot:
    """Everything one decide call looks at; ``now`` is Unix seconds, ``window_s`` the span."""

    now: float
    window_s: float
    services: tuple[ServiceSnapshot, ...] = ()

    def service(self, route: str) -> ServiceSnapshot | None:
        return next((s for s in self.services if s.route == route), None)
