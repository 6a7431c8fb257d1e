"""Which faults visibly change a series: the rule, on hand-built series."""

from __future__ import annotations

import numpy as np

from detector.evaluation.datasets import LabelledSeries
from detector.evaluation.report import visible_recall
from detector.evaluation.visibility import visible_keys


def _series(
    x: np.ndarray, windows: list[tuple[int, int]], keys: list[str], name: str = "s"
) -> LabelledSeries:
    ts = np.arange(len(x), dtype=np.float64) * 60.0
    meta = {"window_keys": keys}
    return LabelledSeries(
        name, "t", ts, x, np.zeros(len(x), bool), [(ts[a], ts[b]) for a, b in windows], 60.0, meta
    )


def test_new_extreme_is_visible_and_within_range_is_not() -> None:
    x = np.tile([1.0, 3.0], 50)
    x[60:63] = 9.0  # above an hour's maximum
    x[80:83] = 2.0  # inside the range: invisible
    x[95:98] = 0.5  # below the minimum
    s = _series(x, [(60, 62), (80, 82), (95, 97)], ["up", "flat", "down"])
    assert visible_keys([s]) == {"up", "down"}


def test_too_little_history_is_not_judged_and_any_series_of_a_key_counts() -> None:
    x = np.r_[np.ones(5), 50.0, np.ones(94)]
    early = _series(x, [(5, 5)], ["f1"], "a")
    assert visible_keys([early]) == set()
    quiet = _series(np.ones(100), [(50, 52)], ["f2"], "b")
    loud = _series(np.r_[np.ones(50), [7.0] * 3, np.ones(47)], [(50, 52)], ["f2"], "c")
    assert visible_keys([quiet, loud]) == {"f2"}


def test_visible_recall_counts_only_visible_keys() -> None:
    x = np.tile([1.0, 3.0], 50)
    x[60:63] = 9.0
    s = _series(x, [(60, 62), (80, 82)], ["seen", "unseen"])
    alarms = np.zeros(100)
    alarms[61] = 1.0
    recall, delay, n = visible_recall([s], [alarms], 0.5, 0.0)
    assert (recall, delay, n) == (1.0, 1.0, 1)
