"""A NAB-style windowed score, written from the rules published with the Numenta Anomaly Benchmark.

Why NAB on top of event F1: it rewards *early* detection and charges every alarm
point, which is what streaming detection is for. Rules (Lavin & Ahmad 2015, NAB README):

* each label gets a window centred on it, all windows together spanning 10 % of the
  series (``0.1·n / n_windows`` points each). Our labels are runs, not points, so a
  window is centred on the run and never shorter than it; overlapping windows merge;
* every point scoring ``≥ threshold`` is a detection. Inside a window only the first
  counts, earning ``A_TP·σ(p)/σ(−1)`` where ``p = -(right - i + 1)/width`` runs from −1 at
  the window start to ~0 at its end and ``σ(p) = 2/(1 + e^{5p}) − 1`` (NAB divides by
  ``σ(−1)`` so a detection at the window start earns exactly ``A_TP``); a window without
  one costs ``A_FN``;
* a detection outside windows costs ``A_FP·σ(d)`` with ``d = (i − right_prev)/(width_prev − 1)``
  (cheap just after a window, full ``A_FP`` far from it or before the first window);
* points in the probationary prefix (NAB: 15 % of the series, at most 750 points; see
  :func:`detector.evaluation.events.judged_from`) are not scored, and windows ending
  there are dropped;
* one threshold per profile, the one maximising the total over all series, and the
  total is normalised to ``100·(S − S_null)/(S_perfect − S_null)``: the detector that
  never fires scores 0, the one firing exactly at every window start 100.

The sweep is vectorised: per series, sorted scores and prefix sums give the total at
every candidate threshold at once, so 200 thresholds cost little more than one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detector.evaluation.datasets import LabelledSeries
from detector.evaluation.events import judged_from, window_indices


@dataclass(frozen=True)
class Profile:
    name: str
    a_tp: float
    a_fp: float
    a_fn: float


PROFILES = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP", 1.0, 0.22, 1.0),
    Profile("reward_low_FN", 1.0, 0.11, 2.0),
)


@dataclass(frozen=True)
class NabResult:
    profile: str
    score: float  # normalised, 0 = null detector, 100 = perfect
    threshold: float
    raw: float


def scaled_sigmoid(p: np.ndarray | float) -> np.ndarray:
    """NAB's σ: ≈0.987 at p=−1, 0 at p=0, → −1 for large p, exactly −1 beyond p=3.

    >>> [round(float(v), 3) for v in scaled_sigmoid(np.array([-1.0, 0.0, 4.0]))]
    [0.987, 0.0, -1.0]
    """
    p = np.asarray(p, dtype=np.float64)
    return np.where(p >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(p, 3.0))) - 1.0)


MAX_TP = float(scaled_sigmoid(-1.0))  # NAB's ``maxTP``: the σ-weight of a detection at a window's start


def nab_windows(n: int, label_windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """NAB windows (inclusive indices) around label runs, merged where they overlap.

    >>> nab_windows(100, [(50, 50)])
    [(45, 55)]
    """
    if not label_windows:
        return []
    half = 0.1 * n / len(label_windows) / 2.0
    out: list[tuple[int, int]] = []
    for i, j in sorted(label_windows):
        c = (i + j) / 2.0
        h = max(half, (j - i) / 2.0)
        a, b = max(0, int(np.floor(c - h))), min(n - 1, int(np.ceil(c + h)))
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def point_weights(n: int, windows: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per point: σ-weight if it were a detection inside a window (NaN outside), and FP σ outside."""
    tp = np.full(n, np.nan)
    fp = np.full(n, -1.0)  # before the first window: a full false positive
    idx = np.arange(n, dtype=np.float64)
    for k, (a, b) in enumerate(windows):
        width = b - a + 1
        tp[a : b + 1] = scaled_sigmoid(-(b - idx[a : b + 1] + 1) / width) / MAX_TP
        fp[a : b + 1] = np.nan
        end = windows[k + 1][0] if k + 1 < len(windows) else n
        fp[b + 1 : end] = scaled_sigmoid((idx[b + 1 : end] - b) / max(width - 1, 1))
    return tp, fp


def series_curves(
    scores: np.ndarray, windows: Sequence[tuple[int, int]], start: int, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """For every threshold: FP weight sum (≤0), TP weight sum, windows missed; and the window count.

    Profile costs are linear in these, so one pass serves all three profiles.
    """
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    s[:start] = -np.inf
    tpw, fpw = point_weights(len(s), windows)
    outside = np.isfinite(fpw) & np.isfinite(s)
    fp = _sum_at_or_above(s[outside], fpw[outside], thresholds)
    tp = np.zeros(len(thresholds))
    missed = np.zeros(len(thresholds))
    for a, b in windows:
        v, w = s[a : b + 1], tpw[a : b + 1]
        order = np.argsort(-v, kind="stable")
        best = np.maximum.accumulate(w[order])  # earliest detection = largest σ
        k = len(v) - np.searchsorted(np.sort(v), thresholds, side="left")
        hit = k > 0
        tp += np.where(hit, best[np.maximum(k - 1, 0)], 0.0)
        missed += ~hit
    return fp, tp, missed, len(windows)


def _sum_at_or_above(values: np.ndarray, weights: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    order = np.argsort(values)
    v = values[order]
    suffix = np.concatenate([np.cumsum(weights[order][::-1])[::-1], [0.0]])
    return suffix[np.searchsorted(v, thresholds, side="left")]


def perfect_tp(windows: Sequence[tuple[int, int]], start: int) -> float:
    """σ-weight of detecting each window at its first judged point (1 each unless probation cut it)."""
    return float(sum(scaled_sigmoid(-(b - max(a, start) + 1) / (b - a + 1)) for a, b in windows)) / MAX_TP


def judged_nab_windows(series: LabelledSeries, probation: float) -> tuple[list[tuple[int, int]], int]:
    start = judged_from(series, probation)
    labels = [(i, j) for i, j, _ in window_indices(series, start)]
    return [w for w in nab_windows(len(series.values), labels) if w[1] >= start], start


def threshold_grid(scores: Sequence[np.ndarray], size: int = 200, top_fraction: float = 1.0) -> np.ndarray:
    """Candidate thresholds: quantiles of all finite scores, dense in the upper tail, plus +inf.

    ``top_fraction`` bounds how much of the data the lowest threshold may flag.
    """
    pooled = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in scores])
    pooled = pooled[np.isfinite(pooled)]
    if not len(pooled):
        return np.array([np.inf])
    q = 1.0 - np.geomspace(1e-5, top_fraction, size)
    return np.unique(np.concatenate([np.quantile(pooled, np.clip(q, 0, 1)), [np.inf]]))


def nab_scores(
    series: Sequence[LabelledSeries],
    scores: Sequence[np.ndarray],
    thresholds: np.ndarray | None = None,
    probation: float = 0.0,
    profiles: Sequence[Profile] = PROFILES,
) -> list[NabResult]:
    """Normalised NAB score per profile, each at its own best global threshold."""
    thr = threshold_grid(scores) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    fp = np.zeros(len(thr))
    tp = np.zeros(len(thr))
    missed = np.zeros(len(thr))
    n_windows, perfect = 0, 0.0
    for s, sc in zip(series, scores, strict=True):
        wins, start = judged_nab_windows(s, probation)
        f, t, m, n = series_curves(sc, wins, start, thr)
        fp, tp, missed, n_windows = fp + f, tp + t, missed + m, n_windows + n
        perfect += perfect_tp(wins, start)
    out = []
    for p in profiles:
        total = p.a_fp * fp + p.a_tp * tp - p.a_fn * missed
        best = int(np.argmax(total))
        null, top = -p.a_fn * n_windows, p.a_tp * perfect
        norm = 100.0 * (total[best] - null) / (top - null) if top > null else float("nan")
        out.append(NabResult(p.name, float(norm), float(thr[best]), float(total[best])))
    return out
