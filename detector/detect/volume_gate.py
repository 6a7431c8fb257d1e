"""Volume awareness: one stray error in 30 requests, or 5 requests instead of 3, is not an incident.

A ratio's noise depends on how many requests it rests on, which the ratio itself
does not show. Each 5xx-ratio point is therefore checked against its own traffic
(the matching rate series × the ``rate()`` window): the point may only be
anomalous when the Wilson lower bound of the observed ratio, at the detector's own
confidence, is still above the upper edge of the expected band; with fewer than
``min_requests`` requests the point is *inconclusive* (NaN score: neither an alarm
nor a sign of health).

Request rates get the same treatment from the other side: a rate is a count over
the window, so its counting noise alone has a standard deviation of
``sqrt(rate / window)``; a change smaller than ``rate_z`` of those is not news,
whatever the detector's learned scale says (it can be learned too tight on a quiet
series).

Latency quantiles too: a p99 over 40 requests is the largest one or two of them, so one
slow request moves it by the whole tail. A quantile ``q`` point may only alarm when about
``min_tail`` requests or more of its window lie above it (``n·(1 - q) ≥ min_tail``: p99
needs 300 requests in the window, p90 30, p50 6); below that a change is not news, and
the lower quantiles (which any real slowdown moves as well) carry the alarm.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from detector.detect.bank import ScoredBlock
from detector.series import Signal

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def window_seconds(window: str) -> float:
    """Seconds in a PromQL duration.

    >>> window_seconds("1m30s"), window_seconds("10s")
    (90.0, 10.0)
    """
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", window)
    if not parts or "".join(n + u for n, u in parts) != window:
        raise ValueError(f"not a PromQL duration: {window!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def wilson_lower(errors: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    """Lower bound of the Wilson score interval for a binomial proportion.

    >>> round(float(wilson_lower(np.array([1.0]), np.array([29.0]), 3.5)[0]), 4)  # 1 error in 29: ≥ 0.24 %
    0.0024
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        p = errors / n
        denom = 1 + z * z / n
        centre = p + z * z / (2 * n)
        margin = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return np.maximum((centre - margin) / denom, 0.0)


def gate_error_ratios(
    scored: ScoredBlock, window_s: float, *, z: float = 3.5, min_requests: float = 20.0, alarm: float = 0.5
) -> ScoredBlock:
    """Cap scores of 5xx-ratio points that their traffic cannot support; see the module doc."""
    rows = {key: i for i, key in enumerate(scored.keys)}
    score = scored.score.copy()
    for i, key in enumerate(scored.keys):
        if key.signal is not Signal.ERROR_RATIO:
            continue
        j = rows.get(dataclasses.replace(key, signal=Signal.RATE))
        if j is None:
            score[i] = np.nan  # no traffic figure: cannot tell
            continue
        n = scored.values[j] * window_s
        lower = wilson_lower(scored.values[i] * n, n, z)
        weak = ~(lower > scored.upper[i])
        score[i] = np.where(weak, np.minimum(score[i], alarm * 0.98), score[i])
        score[i] = np.where(n < min_requests, np.nan, score[i])
    return dataclasses.replace(scored, score=score)


def gate_rates(
    scored: ScoredBlock, window_s: float, *, rate_z: float = 4.5, alarm: float = 0.5
) -> ScoredBlock:
    """Cap scores of request-rate points whose change counting noise alone explains."""
    rows = np.array([k.signal is Signal.RATE for k in scored.keys], dtype=bool)
    if not rows.any():
        return scored
    with np.errstate(invalid="ignore"):
        noise = np.sqrt(np.maximum(scored.expected[rows], 0.0) / window_s)
        weak = np.abs(scored.values[rows] - scored.expected[rows]) < rate_z * noise
    score = scored.score.copy()
    score[rows] = np.where(weak, np.minimum(score[rows], alarm * 0.98), score[rows])
    return dataclasses.replace(scored, score=score)


QUANTILE = {Signal.P50: 0.5, Signal.P90: 0.9, Signal.P99: 0.99}
"""The latency signals' quantiles."""


def gate_latency(
    scored: ScoredBlock, window_s: float, *, min_tail: float = 3.0, alarm: float = 0.5
) -> ScoredBlock:
    """Cap scores of latency quantiles resting on fewer than ``min_tail`` requests above them."""
    rows = {key: i for i, key in enumerate(scored.keys)}
    score = scored.score
    for i, key in enumerate(scored.keys):
        q = QUANTILE.get(key.signal)
        j = rows.get(dataclasses.replace(key, signal=Signal.RATE)) if q is not None else None
        if q is None or j is None:  # without a traffic figure the quantile is taken as it is
            continue
        with np.errstate(invalid="ignore"):
            thin = scored.values[j] * window_s * (1.0 - q) < min_tail
        if thin.any():
            score = score.copy() if score is scored.score else score
            score[i] = np.where(thin, np.minimum(score[i], alarm * 0.98), score[i])
    return scored if score is scored.score else dataclasses.replace(scored, score=score)


def gate_by_volume(scored: ScoredBlock, window_s: float) -> ScoredBlock:
    """All gates: 5xx ratios by their request counts, rates by their counting noise, latency
    quantiles by the requests above them."""
    return gate_latency(gate_rates(gate_error_ratios(scored, window_s), window_s), window_s)
