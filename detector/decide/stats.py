"""The few statistics every decision rests on, as plain functions of numbers.

Kept apart from the decisions so each formula can be checked by hand: the tests compare
them with brute-force simulation or textbook values.
"""

from __future__ import annotations

import math

DAY_S = 86_400.0


def wilson(errors: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    Used instead of the raw ratio because 1 error in 3 requests is not "33 % errors":
    the interval is wide when the volume is small, so a quiet subset cannot look bad.

    >>> lo, hi = wilson(1, 3, 1.96)
    >>> round(lo, 3), round(hi, 3)
    (0.061, 0.792)
    >>> wilson(0, 0, 1.96)
    (0.0, 1.0)
    """
    if n <= 0:
        return 0.0, 1.0
    p = min(max(errors / n, 0.0), 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def worse_than(errors: float, n: float, ref_errors: float, ref_n: float, z: float) -> bool:
    """Whether a group's error ratio is credibly above a reference group's.

    Non-overlapping Wilson intervals at ``z``: conservative (fewer false alarms than a
    pooled z-test), which is the side to err on before moving traffic.

    >>> worse_than(30, 1000, 10, 10000, 3.0)
    True
    >>> worse_than(1, 10, 100, 10000, 3.0)
    False
    """
    return wilson(errors, n, z)[0] > wilson(ref_errors, ref_n, z)[1]


def expected_runs(n: float, p: float, k: int) -> float:
    """Expected number of runs of ``k`` consecutive errors in ``n`` independent requests.

    A run starts at a request that is an error preceded by a success (or at the
    start), followed by ``k − 1`` more errors: ``≈ n (1 − p) p^k``. This is the
    number of times Envoy's consecutive-error counter would reach ``k`` on a healthy
    host, that is the number of false ejections.

    >>> round(expected_runs(1_000_000, 0.01, 3), 3)
    0.99
    """
    if k < 1 or n <= 0 or p <= 0:
        return 0.0
    return n * (1 - p) * p**k


def false_ejection_probability(rate: float, p: float, k: int, horizon_s: float = DAY_S) -> float:
    """Probability of at least one false ejection of a healthy host over ``horizon_s``.

    Runs are rare and nearly independent, so their count is close to Poisson.

    >>> round(false_ejection_probability(100, 0.001, 3), 4)
    0.0086
    """
    return -math.expm1(-expected_runs(rate * horizon_s, p, k))


def requests_to_eject(q: float, k: int) -> float:
    """Expected number of requests until ``k`` consecutive errors at error ratio ``q``.

    The classic waiting time for a success run: ``(1 − q^k) / ((1 − q) q^k)``.

    >>> requests_to_eject(1.0, 5)
    5.0
    >>> round(requests_to_eject(0.5, 2), 1)
    6.0
    """
    if q <= 0:
        return math.inf
    if q >= 1:
        return float(k)
    return (1 - q**k) / ((1 - q) * q**k)


def time_to_eject(rate: float, q: float, k: int) -> float:
    """Seconds until a host failing at ratio ``q`` and receiving ``rate`` req/s is ejected."""
    if rate <= 0:
        return math.inf
    return requests_to_eject(q, k) / rate


def littles_law(rate: float, latency_s: float) -> float:
    """Mean number of requests in flight: ``L = λ W``.

    >>> littles_law(200.0, 0.05)
    10.0
    """
    return max(rate, 0.0) * max(latency_s, 0.0)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Population mean and standard deviation (Envoy's success-rate ejection uses these)."""
    if not values:
        return math.nan, math.nan
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / len(values))
