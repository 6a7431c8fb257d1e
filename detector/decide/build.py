"""Build a :class:`MeshSnapshot` from what the pipeline already keeps: the recent window.

Service-scope series give the service's traffic, version-scope series its subsets
(Istio subsets are named after the ``version`` label here), pod-scope series its pods.
A pod belongs to subset ``v`` when its name starts with ``{service}-{v}-`` (one
Deployment per version, as the demo mesh and most canary setups name them); pass
``pod_subset`` when yours differ.

Counts are rebuilt from rates: requests = Σ rate × step over the window, errors =
Σ rate × 5xx ratio × step, so a subset with a tenth of the traffic weighs a tenth as much.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from detector.decide.snapshot import MeshSnapshot, PodStats, ServiceSnapshot, Traffic
from detector.detect.events import AnomalyEvent
from detector.recent import RecentWindow
from detector.series import Scope, SeriesKey, Signal

Group = tuple[str, str, Scope, str]  # namespace, service, scope, version or pod


def build_snapshot(
    recent: RecentWindow,
    now: float,
    window_s: float = 300.0,
    weights: Mapping[str, Mapping[str, int]] | None = None,
    events: Iterable[AnomalyEvent] = (),
    pod_subset: Callable[[str, str, list[str]], str] | None = None,
    step_s: float | None = None,
) -> MeshSnapshot:
    """``weights``: live VirtualService weights per route ``"namespace/service"`` (from act's reader).
    ``step_s``: the points' spacing, for series that have only one point in the window yet (a pod
    that just started, the first cycle after a restart): that point stands for one step, not the
    whole window.

    >>> build_snapshot(RecentWindow(), 100.0).services
    ()
    """
    groups: dict[Group, dict[Signal, SeriesKey]] = {}
    for key in recent.series():
        if key.scope in (Scope.SERVICE, Scope.VERSION, Scope.POD):
            detail = key.version if key.scope is Scope.VERSION else key.pod
            groups.setdefault((key.namespace, key.service, key.scope, detail), {})[key.signal] = key
    worst = _worst_error_ratios(events)
    which = pod_subset or _subset_by_name
    services = []
    for (ns, svc, scope, _), signals in sorted(groups.items()):
        if scope is not Scope.SERVICE:
            continue
        subsets = {
            g[3]: _traffic(recent, sig, now, window_s, step_s)
            for g, sig in groups.items()
            if g[:3] == (ns, svc, Scope.VERSION) and g[3] not in ("", "unknown")
        }
        pods = tuple(
            PodStats(g[3], which(svc, g[3], sorted(subsets)), _traffic(recent, sig, now, window_s, step_s))
            for g, sig in sorted(groups.items())
            if g[:3] == (ns, svc, Scope.POD)
        )
        route = f"{ns}/{svc}"
        live = (weights or {}).get(route)
        services.append(
            ServiceSnapshot(
                ns,
                svc,
                _traffic(recent, signals, now, window_s, step_s),
                subsets,
                pods,
                dict(live) if live is not None else None,
                worst.get(route, math.nan),
            )
        )
    return MeshSnapshot(now, window_s, tuple(services))


def _subset_by_name(service: str, pod: str, subsets: list[str]) -> str:
    return next((v for v in subsets if pod.startswith(f"{service}-{v}-")), "")


def _worst_error_ratios(events: Iterable[AnomalyEvent]) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in events:
        if e.key.signal is Signal.ERROR_RATIO and e.key.scope in (Scope.POD, Scope.VERSION):
            route = f"{e.key.namespace}/{e.key.service}"
            out[route] = max(out.get(route, 0.0), e.observed)
    return out


def _traffic(
    recent: RecentWindow,
    signals: Mapping[Signal, SeriesKey],
    now: float,
    window_s: float,
    step_s: float | None = None,
) -> Traffic:
    rate_v = _view(recent, signals.get(Signal.RATE))
    ratio_v = _view(recent, signals.get(Signal.ERROR_RATIO))
    p99_v = _view(recent, signals.get(Signal.P99))
    if rate_v is None or ratio_v is None:
        return Traffic(math.nan, math.nan, math.nan, math.nan)
    ts, rate = rate_v
    in_window = ts >= now - window_s
    ratio = _align(ts, ratio_v)
    p99 = _align(ts, p99_v) if p99_v is not None else np.full(len(ts), np.nan)
    step = float(np.median(np.diff(ts))) if len(ts) > 1 else (step_s or window_s)
    both = in_window & np.isfinite(rate) & np.isfinite(ratio)
    if not both.any():
        return Traffic(math.nan, math.nan, math.nan, math.nan)
    requests = float(np.sum(rate[both]) * step)
    errors = float(np.sum(rate[both] * ratio[both]) * step)
    with np.errstate(invalid="ignore"):
        p99_w = p99[in_window & np.isfinite(p99)]
        expected = recent.view(signals[Signal.ERROR_RATIO])
        base = expected.expected[np.isfinite(expected.expected)] if expected is not None else np.empty(0)
    busy = int(np.nanargmax(np.where(np.isfinite(rate), rate, -np.inf)))
    near = np.abs(ts - ts[busy]) <= 2 * step
    busy_p99 = p99[near & np.isfinite(p99)]
    return Traffic(
        rate=float(np.mean(rate[both])),
        error_ratio=errors / requests if requests > 0 else 0.0,
        p99_ms=float(np.mean(p99_w)) if len(p99_w) else math.nan,
        requests=requests,
        baseline_error_ratio=float(np.median(base)) if len(base) else math.nan,
        busy_rate=float(rate[busy]),
        busy_p99_ms=float(np.max(busy_p99)) if len(busy_p99) else math.nan,
    )


def _view(recent: RecentWindow, key: SeriesKey | None) -> tuple[np.ndarray, np.ndarray] | None:
    if key is None:
        return None
    v = recent.view(key)
    return None if v is None or not len(v.timestamps) else (v.timestamps, v.values)


def _align(ts: np.ndarray, other: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``other``'s values at ``ts`` (NaN where it has no point): series share the scrape grid."""
    lookup = dict(zip(other[0].tolist(), other[1].tolist(), strict=True))
    return np.array([lookup.get(t, math.nan) for t in ts.tolist()], dtype=np.float64)
