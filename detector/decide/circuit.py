"""Circuit-breaker sizing: a DestinationRule ``trafficPolicy`` per destination service.

``outlierDetection``: Envoy ejects a host after ``k`` consecutive errors. With a healthy
pod failing independently at its baseline ratio ``p`` and serving ``r`` req/s, the
expected number of ``k``-runs in a day is ``r·86400·(1−p)·p^k``; we take the smallest
``k`` that keeps the chance of even one false ejection per pod-day under the target,
then report how fast a pod failing like the worst incident (ratio ``q``) would be
ejected: ``(1 − q^k) / ((1 − q) q^k)`` requests, divided by its rate.

``connectionPool``: by Little's law the requests in flight are rate × latency; limits
are the busy-hour rate × busy-hour p99 times a headroom, so they bite on a pile-up,
not on a normal peak. Limits apply per client proxy; sizing from the whole service's
rate is the safe assumption when one caller may send all of it.
"""

from __future__ import annotations

import math
from typing import Any

from detector.decide import stats
from detector.decide.manifests import destination_rule
from detector.decide.records import CircuitConfig, Recommendation
from detector.decide.snapshot import ServiceSnapshot


def choose_consecutive(rate: float, p: float, cfg: CircuitConfig) -> int:
    """Smallest ``k`` in the configured range whose false-ejection chance per day is under target.

    >>> choose_consecutive(100.0, 0.001, CircuitConfig())
    4
    """
    p = max(p, cfg.floor_error_ratio)
    for k in range(cfg.min_consecutive, cfg.max_consecutive + 1):
        if stats.false_ejection_probability(rate, p, k) <= cfg.max_false_ejections_per_day:
            return k
    return cfg.max_consecutive


def ejection_limits(replicas: int, cfg: CircuitConfig) -> tuple[int, int, int]:
    """``(max ejectable hosts, maxEjectionPercent, minHealthPercent)`` for ``replicas`` hosts.

    Envoy ejects at least one host whatever the percent says, so the budget is at least
    one; the percent is rounded up so that exactly the budget fits (Envoy compares
    ``100·ejected/total ≤ max``), and ``minHealthPercent`` sits at the healthy share
    left at full budget, so outlier detection switches off rather than eject more.

    >>> ejection_limits(3, CircuitConfig())
    (1, 34, 66)
    >>> ejection_limits(10, CircuitConfig())
    (3, 30, 70)
    """
    budget = max(1, math.floor(replicas * cfg.max_eject_fraction))
    budget = min(budget, max(replicas - 1, 1))
    return budget, math.ceil(100 * budget / replicas), math.floor(100 * (replicas - budget) / replicas)


def connection_pool(rate: float, p99_ms: float, error_ratio: float, cfg: CircuitConfig) -> dict[str, Any]:
    """Pool limits from in-flight requests ``L = rate × p99`` times ``headroom``.

    >>> connection_pool(400.0, 250.0, 0.01, CircuitConfig())["http"]["http2MaxRequests"]
    200
    """
    in_flight = stats.littles_law(rate, p99_ms / 1000.0)
    limit = max(cfg.min_pool, math.ceil(in_flight * cfg.headroom))
    retries = max(cfg.min_retries, math.ceil(in_flight * max(error_ratio, 0.0) * cfg.headroom))
    return {
        "tcp": {"maxConnections": limit},
        "http": {
            "http2MaxRequests": limit,
            "http1MaxPendingRequests": max(cfg.min_pool, math.ceil(limit / 2)),
            "maxRetries": retries,
        },
    }


def recommend(svc: ServiceSnapshot, cfg: CircuitConfig, now: float, window_s: float) -> Recommendation | None:
    """A DestinationRule recommendation, or ``None`` when the data to size it is missing."""
    pods = [p for p in svc.pods if p.traffic.has_data and p.traffic.rate > 0]
    t = svc.traffic
    busy_rate = t.busy_rate if math.isfinite(t.busy_rate) else t.rate
    busy_p99 = t.busy_p99_ms if math.isfinite(t.busy_p99_ms) else t.p99_ms
    if not pods or not t.has_data or not (math.isfinite(busy_rate) and math.isfinite(busy_p99)):
        return None
    max_rate = max(p.traffic.rate for p in pods)
    min_rate = min(p.traffic.rate for p in pods)
    baselines = [_baseline(p.traffic) for p in pods]
    p = max(max(baselines), cfg.floor_error_ratio)
    k = choose_consecutive(max_rate, p, cfg)
    q, q_source = _incident_ratio(svc, cfg)
    false_day = stats.false_ejection_probability(max_rate, p, k)
    tte = stats.time_to_eject(min_rate, q, k)
    budget, max_pct, min_health = ejection_limits(len(pods), cfg)
    pool = connection_pool(busy_rate, busy_p99, t.error_ratio, cfg)
    in_flight = stats.littles_law(busy_rate, busy_p99 / 1000.0)
    policy: dict[str, Any] = {"connectionPool": pool}
    if len(pods) >= 2:
        key = "consecutive5xxErrors" if cfg.error_kind == "5xx" else "consecutiveGatewayErrors"
        policy["outlierDetection"] = {
            key: k,
            "interval": f"{cfg.interval_s}s",
            "baseEjectionTime": f"{cfg.base_ejection_s}s",
            "maxEjectionPercent": max_pct,
            "minHealthPercent": min_health,
        }
    evidence = {
        "window_s": window_s,
        "replicas": len(pods),
        "pod_rate_max": max_rate,
        "pod_rate_min": min_rate,
        "baseline_error_ratio": p,
        "consecutive_errors": k,
        "false_ejection_probability_per_pod_day": false_day,
        "expected_false_ejections_per_pod_day": stats.expected_runs(max_rate * stats.DAY_S, p, k),
        "incident_error_ratio": q,
        "incident_source": q_source,
        "time_to_eject_s": tte,
        "max_ejectable_hosts": budget,
        "busy_rate": busy_rate,
        "busy_p99_ms": busy_p99,
        "in_flight": in_flight,
        "headroom": cfg.headroom,
    }
    return Recommendation.make(
        "destination-rule",
        svc.namespace,
        svc.service,
        now,
        f"Circuit breaker for {svc.service}: eject after {k} consecutive errors, "
        f"pool {pool['tcp']['maxConnections']}",
        _rationale(svc, evidence, cfg),
        evidence,
        manifest=destination_rule(svc.service, svc.namespace, svc.host, policy, sorted(svc.subsets)),
    )


def _baseline(t: Any) -> float:
    b = t.baseline_error_ratio
    return float(b) if math.isfinite(b) else float(t.error_ratio)


def _incident_ratio(svc: ServiceSnapshot, cfg: CircuitConfig) -> tuple[float, str]:
    if math.isfinite(svc.worst_error_ratio) and svc.worst_error_ratio > cfg.floor_error_ratio * 10:
        return svc.worst_error_ratio, "worst incident observed on one pod"
    return cfg.assumed_incident_error_ratio, "assumed (no incident observed)"


def _rationale(svc: ServiceSnapshot, e: dict[str, Any], cfg: CircuitConfig) -> str:
    tte = e["time_to_eject_s"]
    slow = (
        f" That is slower than the {cfg.target_time_to_eject_s:g} s target: at this baseline a smaller k "
        "would eject healthy pods, so consider fixing the baseline errors first."
        if tte > cfg.target_time_to_eject_s
        else ""
    )
    od = (
        f"Over the last {e['window_s']:.0f} s each of {e['replicas']} pods of {svc.service} served up to "
        f"{e['pod_rate_max']:.1f} req/s with a baseline 5xx ratio of {e['baseline_error_ratio']:.4%}. "
        f"Ejecting after k={e['consecutive_errors']} consecutive errors gives a healthy pod a "
        f"{e['false_ejection_probability_per_pod_day']:.2e} chance of a false ejection per day "
        f"(target {cfg.max_false_ejections_per_day:g}), while a pod failing at "
        f"{e['incident_error_ratio']:.0%} "
        f"({e['incident_source']}) is ejected in about {tte:.2g} s.{slow} At most "
        f"{e['max_ejectable_hosts']} host(s) may be ejected at once (Envoy always allows one). "
        if e["replicas"] >= 2
        else f"{svc.service} has one pod, so outlier ejection is left off: ejecting the only host "
        "helps no one. "
    )
    return od + (
        f"The connection pool allows {e['in_flight']:.1f} requests in flight at the busy-hour rate "
        f"({e['busy_rate']:.1f} req/s × p99 {e['busy_p99_ms']:.0f} ms, Little's law) times "
        f"{e['headroom']:g} headroom, with a floor of {cfg.min_pool}."
    )
