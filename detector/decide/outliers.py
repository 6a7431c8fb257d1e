"""Pods that are worse than their siblings, in the spirit of Envoy's success-rate ejection.

Envoy flags a host whose success rate is below ``mean − stdev_factor × stdev`` of all
hosts with enough requests. Including the host itself in the mean and stdev caps its
own z-score at ``(n−1)/√n`` (1.79 for five hosts, below the default 1.9), so a lone bad
pod among few siblings is never flagged. We compare each pod with its *other* siblings
instead, and also require its errors to be credibly above theirs (Wilson intervals on
the counts) so a quiet pod with two unlucky errors is not named.
"""

from __future__ import annotations

import math

from detector.decide import stats
from detector.decide.records import OutlierConfig, Recommendation
from detector.decide.snapshot import PodStats, ServiceSnapshot


def find(svc: ServiceSnapshot, cfg: OutlierConfig, now: float, window_s: float) -> list[Recommendation]:
    """One recommendation per outlying pod; pods without data or volume are skipped, never judged."""
    pods = [p for p in svc.pods if p.traffic.has_data and p.traffic.requests >= cfg.min_requests]
    out = []
    for pod in pods:
        others = [p for p in pods if p is not pod]
        if len(others) < cfg.min_siblings:
            continue
        rec = _success_outlier(svc, pod, others, cfg, now, window_s) or _latency_outlier(
            svc, pod, others, cfg, now, window_s
        )
        if rec is not None:
            out.append(rec)
    return out


def _success_outlier(
    svc: ServiceSnapshot,
    pod: PodStats,
    others: list[PodStats],
    cfg: OutlierConfig,
    now: float,
    window_s: float,
) -> Recommendation | None:
    mean, std = stats.mean_std([p.traffic.success_rate for p in others])
    threshold = mean - cfg.stdev_factor * std
    ref_errors = sum(p.traffic.errors for p in others)
    ref_n = sum(p.traffic.requests for p in others)
    t = pod.traffic
    gap = t.error_ratio - (1 - mean)
    if not (
        t.success_rate < threshold
        and gap >= cfg.min_error_gap
        and stats.worse_than(t.errors, t.requests, ref_errors, ref_n, cfg.z)
    ):
        return None
    lo, hi = stats.wilson(t.errors, t.requests, cfg.z)
    evidence = {
        "pod": pod.pod,
        "subset": pod.subset,
        "window_s": window_s,
        "signal": "success_rate",
        "pod_success_rate": t.success_rate,
        "pod_requests": t.requests,
        "pod_errors": t.errors,
        "pod_error_ratio_interval": [lo, hi],
        "siblings": len(others),
        "siblings_mean_success_rate": mean,
        "siblings_stdev": std,
        "threshold": threshold,
        "siblings_error_ratio_pooled": ref_errors / ref_n if ref_n else math.nan,
        "gap": gap,
    }
    rationale = (
        f"Over the last {window_s:.0f} s pod {pod.pod} answered {t.requests:.0f} requests with a "
        f"success rate of {t.success_rate:.3%}, below its {len(others)} siblings' mean {mean:.3%} minus "
        f"{cfg.stdev_factor:g} × stdev ({threshold:.3%}). Its 5xx ratio interval {lo:.3%}–{hi:.3%} "
        f"(z={cfg.z:g}) lies above the siblings' pooled ratio, so volume alone does not explain it. "
        "Envoy's outlier detection would eject it; restart or drain the pod and look at what differs "
        "(node, image, config)."
    )
    return Recommendation.make(
        "pod-outlier",
        svc.namespace,
        svc.service,
        now,
        f"Pod {pod.pod} of {svc.service} fails more than its siblings ({t.error_ratio:.2%} 5xx)",
        rationale,
        evidence,
    )


def _latency_outlier(
    svc: ServiceSnapshot,
    pod: PodStats,
    others: list[PodStats],
    cfg: OutlierConfig,
    now: float,
    window_s: float,
) -> Recommendation | None:
    lats = [p.traffic.p99_ms for p in others if math.isfinite(p.traffic.p99_ms)]
    p99 = pod.traffic.p99_ms
    if not lats or not math.isfinite(p99):
        return None
    mean, std = stats.mean_std(lats)
    median = sorted(lats)[len(lats) // 2]
    threshold = max(mean + cfg.stdev_factor * std, median * cfg.latency_ratio)
    if p99 <= threshold:
        return None
    evidence = {
        "pod": pod.pod,
        "subset": pod.subset,
        "window_s": window_s,
        "signal": "p99",
        "pod_p99_ms": p99,
        "pod_requests": pod.traffic.requests,
        "siblings": len(others),
        "siblings_mean_p99_ms": mean,
        "siblings_stdev_ms": std,
        "siblings_median_p99_ms": median,
        "threshold_ms": threshold,
    }
    rationale = (
        f"Over the last {window_s:.0f} s pod {pod.pod} had a p99 latency of {p99:.0f} ms on "
        f"{pod.traffic.requests:.0f} requests, above both its {len(others)} siblings' mean plus "
        f"{cfg.stdev_factor:g} × stdev and {cfg.latency_ratio:g} × their median ({median:.0f} ms). "
        "Slow pods are not ejected by consecutive-error detection; check its node and CPU throttling."
    )
    return Recommendation.make(
        "pod-outlier",
        svc.namespace,
        svc.service,
        now,
        f"Pod {pod.pod} of {svc.service} is slower than its siblings (p99 {p99:.0f} ms)",
        rationale,
        evidence,
    )
