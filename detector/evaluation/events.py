"""Event-level metrics: what an on-call engineer sees, not what a point classifier sees.

Why events and not points: a detector that alarms once, early, for a 50-point incident
is perfect to a human and scores recall 1/50 pointwise. The rules, all in samples of
the series' own step:

* an *alarm point* scores ``≥ threshold``; NaN scores (no data) are never alarms;
* an *alarm event* is a run of alarm points, where runs separated by at most
  ``merge_gap`` quiet points are one event (an alert closes only after a few quiet
  scrapes, as MeshPulse's own events do; a detector flickering on and off is one page,
  not several, and is not rewarded for it either). An event *opens* at its first point;
* an event is judged by when it opened, as a page is: it is *true* when it opens inside
  a label window extended by ``tolerance`` samples after its end, ``[start, end + tolerance]``
  (the alarm may lag the label by a scrape or two), else it is a *false alarm*. An
  event that was already ringing when a window began was raised for something else: it
  is a false alarm, and it does not catch the window;
* a label window is *caught* when an event opens inside ``[start, end + tolerance]``.
  Windows sharing a key (one Nezha fault seen by several series) are caught once, by
  the earliest opening among them;
* precision = true events / events, recall = caught windows / windows, both *pooled*
  over all series (series differ in length and window count, and an all-normal series
  has no recall of its own, only false alarms, which pooling charges in full);
* the delay is counted in samples from the window's first point to the opening; the
  median is over caught windows;
* false alarms per series-day = false events / judged length in days, summed over series.

Points before a series' ``eval_from`` and before the probation prefix are fed to the
detector but not judged, and windows ending there are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from detector.evaluation.datasets import LabelledSeries, runs

DEFAULT_TOLERANCE = 2
DEFAULT_MERGE_GAP = 2
NAB_PROBATION_POINTS = 5000  # NAB caps its probation at probation_percent × 5000 points


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
    """First judged index: the later of ``eval_from`` and the probation prefix.

    The prefix is NAB's: ``probation`` of the series, but at most ``probation · 5000``
    points (750 at NAB's 15 %), so a long minute-step series is judged after half a day
    of warm-up, not after several days.
    """
    n = len(series.values)
    return max(series.eval_from, min(int(probation * n), int(probation * NAB_PROBATION_POINTS)))


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


def detections(
    scores: np.ndarray, threshold: float, start: int = 0, merge_gap: int = 0
) -> list[tuple[int, int]]:
    """Alarm events from ``start`` on: runs of ``score ≥ threshold`` (NaN is never an alarm),
    runs at most ``merge_gap`` points apart joined into one.

    >>> detections(np.array([0.1, 0.9, 0.8, np.nan, 0.7]), 0.5)
    [(1, 2), (4, 4)]
    >>> detections(np.array([0.1, 0.9, 0.8, np.nan, 0.7]), 0.5, merge_gap=1)
    [(1, 4)]
    """
    alarm = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf) >= threshold
    alarm[:start] = False
    merged: list[tuple[int, int]] = []
    for a, b in runs(alarm):
        if merged and a - merged[-1][1] - 1 <= merge_gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def series_outcome(
    series: LabelledSeries,
    scores: np.ndarray,
    threshold: float,
    tolerance: int = DEFAULT_TOLERANCE,
    probation: float = 0.0,
    merge_gap: int = DEFAULT_MERGE_GAP,
) -> SeriesOutcome:
    """Events, true events and caught windows of one series (rules in the module docstring)."""
    start = judged_from(series, probation)
    dets = detections(scores, threshold, start, merge_gap)
    wins = window_indices(series, start)
    n = len(series.values)
    credit = np.zeros(n, dtype=bool)  # onsets here are true: inside a window or just after
    for i, j, _ in wins:
        credit[i : min(n, j + tolerance + 1)] = True
    onsets = np.array([a for a, _ in dets], dtype=np.int64)
    n_true = int(credit[onsets].sum()) if len(onsets) else 0
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
    merge_gap: int = DEFAULT_MERGE_GAP,
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
        [
            series_outcome(s, sc, threshold, tolerance, probation, merge_gap)
            for s, sc in zip(series, scores, strict=True)
        ]
    )


def best_f1_threshold(
    series: Sequence[LabelledSeries],
    scores: Sequence[np.ndarray],
    thresholds: np.ndarray,
    tolerance: int = DEFAULT_TOLERANCE,
    probation: float = 0.0,
    merge_gap: int = DEFAULT_MERGE_GAP,
) -> tuple[float, EventMetrics]:
    """The threshold with the best event F1 (ties: the higher threshold, fewer alarms).

    This is an oracle: it looks at the labels. Used for baselines that have no
    calibrated alarm threshold of their own, it flatters them.
    """
    best: tuple[float, EventMetrics] | None = None
    for thr in sorted(thresholds, reverse=True):
        m = event_metrics(series, scores, float(thr), tolerance, probation, merge_gap)
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
