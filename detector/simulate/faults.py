"""Fault scenarios with ground truth.

Every fault is a labelled interval, so a detector's output can be scored against what
was really injected. The mesh asks :meth:`FaultSchedule.effects` for per-pod
multipliers at each step instead of faults mutating the mesh, which keeps faults
reversible (``DELETE /faults/{id}`` just shortens the interval).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from random import Random

import numpy as np

from detector.simulate.topology import PodTable, Topology


class FaultKind(StrEnum):
    LATENCY_SPIKE = "latency_spike"
    ERROR_BURST = "error_burst"
    SLOW_DEGRADATION = "slow_degradation"
    BAD_POD = "bad_pod"
    CANARY_REGRESSION = "canary_regression"
    TRAFFIC_DROP = "traffic_drop"


# What ``magnitude`` means per kind when not given: a latency multiplier, an error
# ratio, or a traffic multiplier.
DEFAULT_MAGNITUDE = {
    FaultKind.LATENCY_SPIKE: 6.0,
    FaultKind.ERROR_BURST: 0.3,
    FaultKind.SLOW_DEGRADATION: 8.0,
    FaultKind.BAD_POD: 5.0,
    FaultKind.CANARY_REGRESSION: 4.0,
    FaultKind.TRAFFIC_DROP: 0.2,
}
# Error ratio of the faulty pods for kinds whose magnitude is a latency multiplier.
_SIDE_ERRORS = {FaultKind.BAD_POD: 0.3, FaultKind.CANARY_REGRESSION: 0.15}


@dataclass(frozen=True)
class Fault:
    """One injected fault; ``subset``/``pod`` narrow it below the whole service."""

    id: str
    kind: FaultKind
    service: str
    subset: str | None
    pod: str | None
    start: float
    end: float
    magnitude: float

    def active(self, t: float) -> bool:
        return self.start <= t < self.end

    def label(self) -> dict[str, object]:
        """Ground truth as JSON-ready data."""
        d = asdict(self)
        d["kind"] = self.kind.value
        return d


@dataclass
class Effects:
    """Multipliers the mesh applies for one step: per pod and per service."""

    latency_mult: np.ndarray
    error_floor: np.ndarray
    rate_mult: dict[str, float]


class FaultSchedule:
    """A thread-safe list of faults (the HTTP server adds and ends them while scraping)."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._faults: list[Fault] = list(faults or [])
        self._lock = threading.Lock()
        self._next = len(self._faults)

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def add(
        self,
        topology: Topology,
        kind: str,
        service: str,
        start: float,
        duration_s: float,
        subset: str | None = None,
        pod: str | None = None,
        magnitude: float | None = None,
    ) -> Fault:
        """Validate against ``topology`` and add; raises ``ValueError`` with a reason a person can act on."""
        fault_kind = _parse_kind(kind)
        subset, pod = _validate_target(topology, fault_kind, service, subset, pod)
        if not duration_s > 0:
            raise ValueError(f"duration_s must be positive, got {duration_s!r}")
        with self._lock:
            self._next += 1
            fault = Fault(
                f"f{self._next:04d}",
                fault_kind,
                service,
                subset,
                pod,
                float(start),
                float(start) + float(duration_s),
                float(DEFAULT_MAGNITUDE[fault_kind] if magnitude is None else magnitude),
            )
            self._faults.append(fault)
        return fault

    def end(self, fault_id: str, t: float) -> Fault:
        """End a fault at ``t`` (no-op if already over). Raises ``KeyError`` for unknown ids."""
        with self._lock:
            for i, f in enumerate(self._faults):
                if f.id == fault_id:
                    self._faults[i] = replace(f, end=min(f.end, max(f.start, t)))
                    return self._faults[i]
        raise KeyError(fault_id)

    def labels(self, until: float | None = None) -> list[dict[str, object]]:
        """Ground truth for faults that have started by ``until`` (all if None)."""
        return [f.label() for f in self.faults() if until is None or f.start <= until]

    def effects(self, t: float, pods: PodTable) -> Effects:
        """Per-pod latency multipliers and error floors, per-service rate multipliers, at ``t``."""
        lat = np.ones(len(pods.name))
        err = np.zeros(len(pods.name))
        rate: dict[str, float] = {}
        for f in self.faults():
            if not f.active(t):
                continue
            if f.kind is FaultKind.TRAFFIC_DROP:
                rate[f.service] = rate.get(f.service, 1.0) * f.magnitude
                continue
            mask = pods.service == f.service
            if f.subset is not None:
                mask &= pods.version == f.subset
            if f.pod is not None:
                mask &= pods.name == f.pod
            if f.kind is FaultKind.ERROR_BURST:
                err[mask] = np.maximum(err[mask], f.magnitude)
                continue
            mult = f.magnitude
            if f.kind is FaultKind.SLOW_DEGRADATION:
                mult = 1.0 + (f.magnitude - 1.0) * (t - f.start) / max(f.end - f.start, 1e-9)
            lat[mask] *= mult
            err[mask] = np.maximum(err[mask], _SIDE_ERRORS.get(f.kind, 0.0))
        return Effects(lat, err, rate)

    @classmethod
    def random(
        cls, topology: Topology, start: float, end: float, seed: int = 0, every_s: float = 3600.0
    ) -> FaultSchedule:
        """One random fault per ``every_s`` window, never overlapping, for history and demos.

        Each fault sits inside its own window with quiet time around it so a detector
        gets a clean baseline before and after.
        """
        rng = Random(f"faults-{seed}")
        schedule = cls()
        t = start
        while t + every_s <= end:
            schedule.add_random(topology, t, every_s, rng)
            t += every_s
        return schedule

    def add_random(self, topology: Topology, window_start: float, every_s: float, rng: Random) -> Fault:
        """Add one random fault lasting 20–40 % of the window, with quiet time before and after."""
        canaries = [w.service for w in topology.workloads if "v2" in w.versions]
        kind = rng.choice([k for k in FaultKind if k is not FaultKind.CANARY_REGRESSION or canaries])
        service = rng.choice(canaries if kind is FaultKind.CANARY_REGRESSION else topology.services())
        w = topology.workload(service)
        pods = [p for v in w.versions for p in w.pods[v]]
        pod = rng.choice(pods) if kind is FaultKind.BAD_POD else None
        duration = rng.uniform(0.2, 0.4) * every_s
        offset = rng.uniform(0.3, 0.9 - duration / every_s) * every_s
        return self.add(topology, kind.value, service, window_start + offset, duration, pod=pod)


def _parse_kind(kind: str) -> FaultKind:
    try:
        return FaultKind(kind)
    except ValueError:
        known = [k.value for k in FaultKind]
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {known}") from None


def _validate_target(
    topology: Topology, kind: FaultKind, service: str, subset: str | None, pod: str | None
) -> tuple[str | None, str | None]:
    """Check service/subset/pod exist; fill in the implied subset for canaries."""
    if service not in topology.services():
        raise ValueError(f"unknown service {service!r}; expected one of {topology.services()}")
    w = topology.workload(service)
    if kind is FaultKind.CANARY_REGRESSION:
        subset = subset or "v2"
    if subset is not None and subset not in w.versions:
        raise ValueError(f"service {service!r} has no subset {subset!r}; it has {list(w.versions)}")
    all_pods = [p for v in w.versions for p in w.pods[v] if subset is None or v == subset]
    if kind is FaultKind.BAD_POD and pod is None:
        raise ValueError("bad_pod needs a pod")
    if pod is not None and pod not in all_pods:
        raise ValueError(f"service {service!r} has no pod {pod!r}; it has {all_pods}")
    return subset, pod
