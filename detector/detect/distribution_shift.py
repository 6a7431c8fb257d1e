"""Latency distribution shift: the whole duration histogram against its own baseline.

Why not only a quantile: p50/p90/p99 are interpolated inside Istio's coarse buckets,
and a regression that moves the body of the distribution (a cache that stopped
hitting, a second mode from one slow dependency) can leave every watched quantile in
the same bucket. Comparing the bucket distribution itself sees it, and the request
counts say how sure the comparison is.

Input: per series and step, the *de-cumulated* request count of each bucket,
``(N series, T steps, B buckets)`` float64. Prometheus gives cumulative ``le``
buckets as rates; :func:`counts_from_rates` turns them into per-step counts
(``rate × step``: with a ``rate()`` window longer than the step, consecutive
windows overlap, and ``rate × window`` would count the same requests several
times and overstate the evidence). :func:`counts_from_scrape` does it for the
``{le: row}`` dict that :func:`detector.scrape.source.collect_buckets` gathers.

Per step, with ``n`` requests, ``q = counts / n`` and ``p`` the baseline smoothed
as ``(p + eps) / (1 + B·eps)`` (a bucket never seen before is a real change, but
not an infinite one):

* ``D = KL(q ‖ p) = Σ q·ln(q/p)``; ``G = 2·n·D`` is the G-test statistic, ≈ χ²(B−1)
  when the step is drawn from the baseline;
* the alarm level is ``thr = max(crit / (2n), spread_mult · spread, min_effect)``:
  ``crit`` is the χ²(B−1) quantile at ``threshold`` sigmas (Wilson–Hilferty), so a
  few requests never alarm on counting noise; ``spread`` is an EWMA of this series'
  own normal ``D``, so a series whose mix always wobbles must beat its own wobble;
  ``min_effect`` (nats) stops a high-volume series from alarming on trivia;
* ``score = D² / (D² + thr²)``: 0.5 exactly at the alarm level, like every detector.

Two-sided on purpose: a mix that got *faster* is news too (requests failing fast look
like that); the quantile series say which way it moved.

The baseline ``p`` is an EWMA of the normalised distribution (running mean during
``grace``), updated only by steps scoring below 0.5, so an anomaly does not teach it;
after ``relearn_after`` anomalous steps in a row the current distribution becomes
the baseline (a lasting change is reported once, not for hours). A step with a
non-finite count is no data (NaN, state untouched); fewer than ``min_requests``
requests is *inconclusive*: NaN score, state untouched, as in
:mod:`detector.detect.volume_gate`.

In the service this is the ``latency_shape`` signal: the scrape keeps each scope's
histogram on its block, and :class:`detector.detect.latency_shape.ShapeBank` holds this
detector's state per series. Offline, the entry point is :meth:`DistributionShift.score`
on the batches of :func:`batch_from_scrape` (what ``collect_buckets`` gathers).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> normal = rng.multinomial(400, [0.1, 0.5, 0.3, 0.08, 0.02], size=60)
>>> slow = rng.multinomial(400, [0.05, 0.3, 0.4, 0.2, 0.05], size=5)   # the body moved
>>> s = DistributionShift().score_series(np.vstack([normal, slow]))
>>> bool(s.score[20:60].max() < 0.5), bool(s.score[60:].min() > 0.9)
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from detector.detect.jit import kernel


@kernel
def distribution_shift_kernel(
    counts: np.ndarray,
    base: np.ndarray,
    spread: np.ndarray,
    count: np.ndarray,
    streak: np.ndarray,
    hyper: np.ndarray,
    grace: int,
    relearn_after: int,
    score: np.ndarray,
    divergence: np.ndarray,
    alarm: np.ndarray,
) -> None:
    """Score ``counts`` (N, T, B); update ``base`` (N, B), ``spread``/``count``/``streak`` (N,).

    ``hyper`` = [alpha, spread_alpha, eps, crit, spread_mult, min_effect, min_requests].
    Outputs (N, T): ``score``, ``divergence`` (D in nats) and ``alarm`` (the D at which
    the score is 0.5). Negative counts read as 0 (PromQL's monotonicity fix).
    """
    alpha, spread_alpha, eps, crit = hyper[0], hyper[1], hyper[2], hyper[3]
    spread_mult, min_effect, min_requests = hyper[4], hyper[5], hyper[6]
    n_series, n_points, n_buckets = counts.shape
    norm = 1.0 + n_buckets * eps
    for i in range(n_series):
        sp, k, run = spread[i], count[i], streak[i]
        for t in range(n_points):
            n, raw = 0.0, 0.0
            for b in range(n_buckets):
                c = counts[i, t, b]
                raw += c  # NaN or Inf anywhere makes it non-finite
                n += c if c > 0.0 else 0.0
            if not (math.isfinite(raw) and n >= min_requests):
                score[i, t] = divergence[i, t] = alarm[i, t] = np.nan
                continue
            inv = 1.0 / n
            if k == 0:
                for b in range(n_buckets):
                    base[i, b] = max(counts[i, t, b], 0.0) * inv
                sp, k = 0.0, 1
                score[i, t] = divergence[i, t] = 0.0
                alarm[i, t] = np.nan
                continue
            d = 0.0
            for b in range(n_buckets):
                q = max(counts[i, t, b], 0.0) * inv
                if q > 0.0:
                    d += q * math.log(q * norm / (base[i, b] + eps))
            thr = max(crit * 0.5 * inv, spread_mult * sp, min_effect)
            divergence[i, t] = d
            alarm[i, t] = thr
            if k < grace:
                s = 0.0
                a = max(alpha, 1.0 / (k + 1))
                sa = max(spread_alpha, 1.0 / (k + 1))
            else:
                s = d * d / (d * d + thr * thr)
                a, sa = alpha, spread_alpha
            score[i, t] = s
            if s >= 0.5:
                run += 1
                if run < relearn_after:
                    continue
                a, run = 1.0, 0  # a lasting change: the current mix is the new normal
            else:
                run = 0
                sp += sa * (d - sp)
            for b in range(n_buckets):
                base[i, b] += a * (max(counts[i, t, b], 0.0) * inv - base[i, b])
            k += 1
        spread[i], count[i], streak[i] = sp, k, run


def chi2_quantile(df: int, z: float) -> float:
    """χ²(df) quantile at ``z`` standard-normal sigmas (Wilson–Hilferty, within ~1% for df ≥ 3).

    Why not scipy: ``detect/`` is numpy + numba only, and one cube is enough here.

    >>> round(chi2_quantile(19, 3.5), 1)  # scipy.stats.chi2.isf(2.33e-4, 19) = 48.3
    48.5
    """
    c = 2.0 / (9.0 * df)
    return float(df * max(1.0 - c + z * math.sqrt(c), 0.0) ** 3)


def counts_from_rates(cumulative_rates: np.ndarray, step_s: float) -> np.ndarray:
    """Per-step bucket counts ``(T, B)`` from cumulative ``le`` bucket rates ``(B, T)`` (req/s).

    Buckets are made monotone first (running maximum, as PromQL does) and then
    differenced; NaN stays NaN (no data).

    >>> counts_from_rates(np.array([[1.0, 2.0], [3.0, 2.0], [3.0, 4.0]]), 15.0).tolist()
    [[15.0, 30.0, 0.0], [30.0, 0.0, 30.0]]
    """
    rates = np.asarray(cumulative_rates, dtype=np.float64)
    if rates.ndim != 2 or not step_s > 0:
        raise ValueError(f"need (buckets × steps) rates and step_s > 0, got {rates.shape}, {step_s!r}")
    monotone = np.fmax.accumulate(rates, axis=0)
    monotone[np.isnan(rates)] = np.nan
    per_bucket = np.diff(monotone, axis=0, prepend=0.0)
    return np.ascontiguousarray(per_bucket.T * step_s)


def counts_from_scrape(buckets: Mapping[float, np.ndarray], step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``(bounds, counts (T, B))`` from one series' ``{le: rate row}`` as the scrape collects it.

    >>> b, c = counts_from_scrape({math.inf: np.array([4.0]), 10.0: np.array([1.0])}, 60.0)
    >>> b.tolist(), c.tolist()
    ([10.0, inf], [[60.0, 180.0]])
    """
    bounds = np.array(sorted(buckets), dtype=np.float64)
    if len(bounds) < 2 or not math.isinf(bounds[-1]):
        raise ValueError("a histogram needs at least two buckets, the last one le=+Inf")
    return bounds, counts_from_rates(np.vstack([buckets[b] for b in bounds]), step_s)


K = TypeVar("K", bound=Hashable)


def batch_from_scrape(
    hist: Mapping[K, Mapping[float, np.ndarray]], step_s: float
) -> list[tuple[list[K], np.ndarray, np.ndarray]]:
    """Every series the scrape gathered (``{key: {le: rate row}}``) as ``(keys, bounds, counts)``
    batches, one per bucket layout, ``counts`` (N, T, B) ready for :meth:`DistributionShift.score`.

    Why batches: one kernel call per layout instead of one per series; Istio's defaults give
    every series the same 20 buckets, so there is usually one batch.

    >>> row = np.array([2.0, 2.0])
    >>> [(keys, c.shape) for keys, _, c in batch_from_scrape({"a": {5.0: row, math.inf: row}}, 15.0)]
    [(['a'], (1, 2, 2))]
    """
    layouts: dict[tuple[float, ...], list[K]] = {}
    for key, buckets in hist.items():
        layouts.setdefault(tuple(sorted(buckets)), []).append(key)
    out = []
    for bounds, keys in layouts.items():
        counts = np.stack([counts_from_scrape(hist[k], step_s)[1] for k in keys])
        out.append((keys, np.array(bounds), counts))
    return out


@dataclass
class HistogramState:
    """Per-series state: baseline distribution ``base`` (N, B), ``spread`` of normal D,
    ``count`` of steps learnt, ``streak`` of anomalous steps in a row. Updated in place."""

    base: np.ndarray
    spread: np.ndarray
    count: np.ndarray
    streak: np.ndarray

    @classmethod
    def new(cls, n: int, buckets: int) -> HistogramState:
        zeros = np.zeros(n, dtype=np.int64)
        return cls(np.zeros((n, buckets)), np.zeros(n), zeros, zeros.copy())

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.base, self.spread, self.count, self.streak))


@dataclass
class HistogramScores:
    """Kernel outputs: ``score``, ``divergence`` (nats) and ``alarm`` (the divergence at score 0.5)."""

    score: np.ndarray
    divergence: np.ndarray
    alarm: np.ndarray


class DistributionShift:
    """G-test / KL distance of each step's latency histogram from a learnt baseline.

    Defaults: ``threshold`` 3.5 sigmas of the χ² noise (as the other detectors);
    ``spread_mult`` 5 × the series' mean normal divergence; ``min_effect`` 0.02 nats
    (a 50/30/20 % mix becoming 42/30/28 % is 0.021);
    ``min_requests`` 50 per step; ``alpha`` 0.02 (half-life ~34 steps);
    ``relearn_after`` 240 steps (an hour at 15 s). Hyperparameters are stored as given.
    """

    def __init__(
        self,
        alpha: float = 0.02,
        spread_alpha: float = 0.01,
        threshold: float = 3.5,
        spread_mult: float = 5.0,
        min_effect: float = 0.02,
        min_requests: float = 50.0,
        grace: int = 20,
        relearn_after: int = 240,
        eps: float = 1e-3,
    ):
        for name, step in (("alpha", alpha), ("spread_alpha", spread_alpha)):
            if not 0.0 < step <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {step!r}")
        if not (threshold > 0 and spread_mult >= 0 and min_effect > 0 and min_requests > 0 and eps > 0):
            raise ValueError("need threshold, min_effect, min_requests, eps > 0 and spread_mult >= 0")
        if int(grace) != grace or grace < 0 or int(relearn_after) != relearn_after or relearn_after < 1:
            raise ValueError(
                f"grace >= 0 and relearn_after >= 1 must be integers, got {grace!r}, {relearn_after!r}"
            )
        self.alpha, self.spread_alpha, self.threshold = alpha, spread_alpha, threshold
        self.spread_mult, self.min_effect, self.min_requests = spread_mult, min_effect, min_requests
        self.grace, self.relearn_after, self.eps = grace, relearn_after, eps

    def __repr__(self) -> str:
        return f"DistributionShift({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def hyper(self, buckets: int) -> np.ndarray:
        """The kernel's ``hyper`` vector for ``buckets`` buckets."""
        crit = chi2_quantile(max(buckets - 1, 1), self.threshold)
        return np.array(
            [
                self.alpha,
                self.spread_alpha,
                self.eps,
                crit,
                self.spread_mult,
                self.min_effect,
                self.min_requests,
            ]
        )

    def new_state(self, n: int, buckets: int) -> HistogramState:
        return HistogramState.new(n, buckets)

    def score(self, state: HistogramState, counts: np.ndarray) -> HistogramScores:
        """Score per-step bucket counts ``(N, T, B)``, advancing ``state``.

        Scoring a block in one call or in consecutive chunks gives the same scores and state.
        """
        counts = np.ascontiguousarray(counts, dtype=np.float64)
        if counts.ndim != 3 or counts.shape[2] < 2:
            raise ValueError(
                f"counts must be (series × steps × buckets) with >= 2 buckets, got {counts.shape}; "
                "de-cumulate Prometheus buckets with counts_from_rates"
            )
        n, _, b = counts.shape
        _check_state(state, n, b)
        out = HistogramScores(*(np.empty(counts.shape[:2]) for _ in range(3)))
        distribution_shift_kernel(
            counts, state.base, state.spread, state.count, state.streak, self.hyper(b),
            int(self.grace), int(self.relearn_after), out.score, out.divergence, out.alarm,
        )  # fmt: skip
        return out

    def score_series(self, counts: np.ndarray) -> HistogramScores:
        """Score one series' counts ``(T, B)`` from a fresh state; outputs are 1-D."""
        c = np.asarray(counts, dtype=np.float64)
        if c.ndim != 2:
            raise ValueError(f"counts of one series must be (steps × buckets), got shape {c.shape}")
        out = self.score(self.new_state(1, c.shape[1]), c[None])
        return HistogramScores(out.score[0], out.divergence[0], out.alarm[0])


def _check_state(state: HistogramState, n: int, b: int) -> None:
    # The kernel mutates the state in place: a silently converted copy would lose the update.
    want: dict[str, tuple[type[np.generic], tuple[int, ...]]] = {
        "base": (np.float64, (n, b)),
        "spread": (np.float64, (n,)),
        "count": (np.int64, (n,)),
        "streak": (np.int64, (n,)),
    }
    for name, (dtype, shape) in want.items():
        arr = getattr(state, name)
        if not (
            isinstance(arr, np.ndarray)
            and arr.dtype == dtype
            and arr.shape == shape
            and arr.flags.c_contiguous
            and arr.flags.writeable
        ):
            raise ValueError(
                f"state.{name} must be a writeable contiguous {np.dtype(dtype).name} array of shape {shape}; "
                "create it with DistributionShift.new_state(n, buckets)"
            )
