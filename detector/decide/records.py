"""What decide produces: recommendations with their evidence, and the tunables.

A recommendation is a record, not an action: the act stage stores it, shows it, and
(depending on the mode) applies it. It carries everything a person needs to judge
it — the numbers used, the window, a one-paragraph rationale and the manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal[
    "destination-rule",  # circuit breaker: outlierDetection + connectionPool
    "pod-outlier",  # one pod is worse than its siblings
    "traffic-shift",  # move weight away from an anomalous subset
    "traffic-restore",  # move weight back after recovery
    "traffic-rollback",  # undo our own shift because the receiving subset degraded
    "manual-edit",  # someone changed weights we wrote; we stand down
    "halted",  # a decision was due but data was missing
]
Mode = Literal["off", "dry-run", "approval", "auto"]
MODES: tuple[Mode, ...] = ("off", "dry-run", "approval", "auto")
TRAFFIC_KINDS = frozenset({"traffic-shift", "traffic-restore", "traffic-rollback"})


@dataclass(frozen=True)
class Recommendation:
    """One recommendation; ``manifest`` is the full Istio object to apply (or ``None``).

    For traffic kinds, ``weights_before`` are the live weights the decision was made
    from: an applier refuses to write if the live object no longer has them.

    >>> r = Recommendation.make("pod-outlier", "default", "cart", 100.0, "t", "why", {"n": 1})
    >>> Recommendation.from_dict(r.to_dict()) == r
    True
    """

    id: str
    kind: Kind
    namespace: str
    service: str
    created_at: float
    title: str
    rationale: str
    evidence: dict[str, Any]
    manifest: dict[str, Any] | None = None
    weights_before: dict[str, int] | None = None
    weights_after: dict[str, int] | None = None

    @property
    def route(self) -> str:
        return f"{self.namespace}/{self.service}"

    @property
    def actionable(self) -> bool:
        return self.manifest is not None

    @classmethod
    def make(
        cls,
        kind: Kind,
        namespace: str,
        service: str,
        now: float,
        title: str,
        rationale: str,
        evidence: dict[str, Any],
        **rest: Any,
    ) -> Recommendation:
        """Build one with a content-derived id, so a retried cycle does not duplicate it."""
        digest = hashlib.sha256(
            json.dumps([kind, namespace, service, now, title, rest], sort_keys=True, default=str).encode()
        ).hexdigest()[:12]
        return cls(
            f"{kind}-{service}-{digest}", kind, namespace, service, now, title, rationale, evidence, **rest
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recommendation:
        return cls(**data)


@dataclass(frozen=True)
class CircuitConfig:
    """Tunables for DestinationRule sizing; defaults are stated in the rationale text.

    ``max_false_ejections_per_day``: accepted probability that a healthy pod is ejected
    at least once a day. ``floor_error_ratio`` stands in for a measured baseline of 0,
    because real errors come in bursts that the independence assumption underrates.
    """

    max_false_ejections_per_day: float = 0.001
    floor_error_ratio: float = 0.001
    assumed_incident_error_ratio: float = 0.5
    target_time_to_eject_s: float = 10.0
    min_consecutive: int = 3
    max_consecutive: int = 50
    interval_s: int = 10
    base_ejection_s: int = 30
    max_eject_fraction: float = 0.34
    headroom: float = 2.0
    min_pool: int = 16
    min_retries: int = 3
    error_kind: Literal["5xx", "gateway"] = "5xx"


@dataclass(frozen=True)
class OutlierConfig:
    """Pod-outlier tunables; ``stdev_factor`` is Envoy's ``success_rate_stdev_factor`` / 1000."""

    stdev_factor: float = 1.9
    min_requests: float = 100.0
    min_siblings: int = 1
    min_error_gap: float = 0.005
    z: float = 3.0
    latency_ratio: float = 2.0


@dataclass(frozen=True)
class TrafficConfig:
    """Weight-shifting tunables. Steps and floors are in weight points (sum 100).

    ``z_open`` marks a subset bad; ``z_close`` (smaller) must stop flagging it before
    it counts as recovered — the gap is the hysteresis. ``open_after``/``close_after``:
    consecutive decisions needed, as in Flagger's failure threshold. ``manual_hold_s``:
    after a person edits weights we leave the route alone this long.
    """

    max_step: int = 20
    default_floor: int = 10
    """Never drain a subset: at 0 it has no traffic, so no data could ever show it recovered."""
    floors: dict[str, int] = field(default_factory=dict)
    cooldown_s: float = 300.0
    open_after: int = 3
    close_after: int = 5
    z_open: float = 3.0
    z_close: float = 1.0
    min_error_gap: float = 0.01
    min_requests: float = 50.0
    manual_hold_s: float = 3600.0

    def floor(self, subset: str) -> int:
        return self.floors.get(subset, self.default_floor)


@dataclass(frozen=True)
class DecideConfig:
    """``window_s``: the span each snapshot's counts cover. Longer is steadier but slower to
    see a recovery: bad minutes keep a subset "bad" until they leave the window."""

    mode: Mode = "dry-run"
    circuit: CircuitConfig = field(default_factory=CircuitConfig)
    outliers: OutlierConfig = field(default_factory=OutlierConfig)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    circuit_every_s: float = 3600.0
    window_s: float = 300.0
