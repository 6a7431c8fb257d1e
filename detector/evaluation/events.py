"""Event-level metrics: what an on-call engineer sees, not what a point classifier sees.

Why events and not points: a detector that alarms once, early, for a 50-point incident
is perfect to a human and scores recall 1/50 pointwise. So:

* a *detection* is a maximal run of points scoring ``≥ threshold``, opened at its first
  point; NaN scores (no data) are never alarms;
* a detection is *true* when it overlaps a label window extended by ``tolerance``
  samples after its end (the alarm may lag the label by a scrape or two);
* a label window is *caught* when a detection **opens** inside ``[start, end + tolerance]``.
  An alarm that was already ringing before the window opened is not credited: it was
  raised for something else. Windows sharing a key (one Nezha fault seen by several
  series) are caught once, by the earliest opening among them;
* the delay is counted in samples from the window's first point to the opening;
* false alarms per series-day = false detections / judged length in days, summed over series.

Points before a series' ``eval_from`` and before the probation fraction are fed to the
detector but not judged, and windows ending there are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from detector.evaluation.datasets import LabelledSeries, runs

DEFAULT_TOLERANCE = 2


@dataclass
class SeriesOutcome:
    """Counts from one series at one threshold; ``caught`` maps a window key to its delay."""

    n_detections: int
    n_true: int
    keys: list[str]
    caught: dict[str, int] = field(default_factory=dict)
    days: float = 0.0

    @property
    def n_false(self) -> int:
        return self.n_detections - self.n_true


@dataclass(frozen=True)
class EventMetrics:
    precision: float
    recall: float
    f1: float
    median_delay: float
    false_alarms_per_day: float
    n_windows: int
    n_detections: int


def judged_from(series: LabelledSeries, probation: float) -> int:
    """First judged index: the later of ``eval_from`` and the probation prefix."""
    return max(series.eval_from, int(probation * len(series.values)))


def window_indices(series: LabelledSeries, start: int) -> list[tuple[int, int, str]]:
    """Label windows as inclusive index ranges ``(first, last, key)``, judged part only.

    A window falling between two samples still gets the next sample as its first point.
    """
    ts = series.timestamps
    out = []
    for (a, b), key in zip(series.windows, series.window_keys, strict=True):
        i = int(np.searchsorted(ts, a, side="left"))
        j = max(i, int(np.searchsorted(ts, b, side="right")) - 1)
        if j >= start and i < len(ts):
            out.append((max(i, start), j, key))
    return out


def detections(scores: np.ndarray, threshold: float, start: int = 0) -> list[tuple[int, int]]:
    """Maximal runs of ``score ≥ threshold`` from ``start`` on (NaN is never an alarm).

    >>> detections(np.array([0.1, 0.9, 0.8, np.nan, 0.7]), 0.5)
    [(1, 2), (4, 4)]
    """
    alarm = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf) >= threshold
    alarm[:start] = False
    return runs(alarm)


def series_outcome(
    series: LabelledSeries,
    scores: np.ndarray,
    threshold: float,
    tolerance: int = DEFAULT_TOLERANCE,
    probation: float = 0.0,
) -> SeriesOutcome:
    start = judged_from(series, probation)
    dets = detections(scores, threshold, start)
    wins = window_indices(series, start)
    n = len(series.values)
    covered = np.zeros(n + 1, dtype=bool)
    for i, j, _ in wins:
        covered[i : min(n, j + tolerance) + 1] = True
    csum = np.concatenate([[0], np.cumsum(covered[:n])])
    n_true = sum(1 for a, b in dets if csum[b + 1] - csum[a] > 0)
    onsets = np.array([a for a, _ in dets], dtype=np.int64)
    caught: dict[str, int] = {}
    for i, j, key in wins:
        k = int(np.searchsorted(onsets, i, side="left"))
        if k < len(onsets) and onsets[k] <= j + tolerance:
            delay = int(onsets[k] - i)
            caught[key] = min(delay, caught.get(key, delay))
    days = (n - start) * series.step_s / 86400.0
    return SeriesOutcome(len(dets), n_true, [w[2] for w in wins], caught, days)


def aggregate(outcomes: Sequence[SeriesOutcome]) -> EventMetrics:
    """Pool counts over series; recall counts each window key once."""
    keys = {k for o in outcomes for k in o.keys}
    delays: dict[str, int] = {}
    for o in outcomes:
        for k, d in o.caught.items():
            delays[k] = min(d, delays.get(k, d))
    n_det = sum(o.n_detections for o in outcomes)
    n_true = sum(o.n_true for o in outcomes)
    precision = n_true / n_det if n_det else float("nan")
    recall = len(delays) / len(keys) if keys else float("nan")
    f1 = _f1(precision, recall)
    days = sum(o.days for o in outcomes)
    fa = sum(o.n_false for o in outcomes) / days if days > 0 else float("nan")
    median = float(np.median(list(delays.values()))) if delays else float("nan")
    return EventMetrics(precision, recall, f1, median, fa, len(keys), n_det)


def event_metrics(
    series: Sequence[LabelledSeries],
    scores: Sequence[np.ndarray],
    threshold: float,
    tolerance: int = DEFAULT_TOLERANCE,
    probation: float = 0.0,
) -> EventMetrics:
    """Event precision/recall/F1, median delay and false-alarm rate over many series.

    >>> from detector.evaluation.datasets import LabelledSeries
    >>> ts = np.arange(10.0)
    >>> s = LabelledSeries("a", "t", ts, ts, ts >= 5, [(5.0, 6.0)], 1.0)
    >>> m = event_metrics([s], [np.where(ts == 6, 1.0, 0.0)], 0.5)
    >>> (m.precision, m.recall, m.median_delay)
    (1.0, 1.0, 1.0)
    """
    return aggregate(
        [series_outcome(s, sc, threshold, tolerance, probation) for s, sc in zip(series, scores, strict=True)]
    )


def best_f1_threshold(
    series: Sequence[LabelledSeries],
    scores: Sequence[np.ndarray],
    thresholds: np.ndarray,
    tolerance: int = DEFAULT_TOLERANCE,
    probation: float = 0.0,
) -> tuple[float, EventMetrics]:
    """The threshold with the best event F1 (ties: the higher threshold, fewer alarms).

    This is an oracle: it looks at the labels. Used for baselines that have no
    calibrated alarm threshold of their own, it flatters them.
    """
    best: tuple[float, EventMetrics] | None = None
    for thr in sorted(thresholds, reverse=True):
        m = event_metrics(series, scores, float(thr), tolerance, probation)
        f1 = -1.0 if np.isnan(m.f1) else m.f1
        if best is None or f1 > (-1.0 if np.isnan(best[1].f1) else best[1].f1):
            best = (float(thr), m)
    if best is None:
        raise ValueError("no thresholds to try")
    return best


def _f1(p: float, r: float) -> float:
    if np.isnan(p) or np.isnan(r) or p + r == 0:
        return 0.0 if (p == 0 or r == 0) else float("nan")
    return 2 * p * r / (p + r)
