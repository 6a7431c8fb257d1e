"""One contract over every registered detector, per input kind (see :mod:`detector.detect.registry`).

Same input for every detector of a kind, same invariants: scores in [0, 1] with 0.5
the alarm, NaN exactly where there is no data, a grace period of 0, causal, the
obvious anomaly flagged, a flat input never flagged, too-short input handled, and
hyperparameters stored as given. Histogram and multivariate detectors take another
kind of point, so they get the same invariants on their own input.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from detector.detect.csv_score import score_points
from detector.detect.periods import DAY
from detector.detect.registry import DETECTORS, HISTOGRAM_DETECTORS, MULTIVARIATE_DETECTORS, make


def _stores_hyperparameters(det: Any) -> None:
    for name, param in inspect.signature(type(det)).parameters.items():
        assert getattr(det, name) == param.default, name
    assert repr(det).startswith(type(det).__name__ + "(")


def _in_unit_interval(s: np.ndarray) -> None:
    finite = s[~np.isnan(s)]
    assert ((finite >= 0) & (finite <= 1)).all()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_univariate_contract(name: str) -> None:
    rng = np.random.default_rng(3)
    ts = np.arange(0, 5 * DAY, 600.0)
    x = 50 + 10 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, 1, ts.size)
    x[300:303] += 60  # three points: detectors that confirm an alarm see it twice
    x[100], x[200] = np.nan, np.inf
    full = score_points(ts, x, name)
    grace = make(name).grace
    _in_unit_interval(full)
    assert np.isnan(full[[100, 200]]).all() and np.isfinite(np.delete(full, [100, 200])).all()
    assert (full[:grace] == 0).all() and full[302] >= 0.5
    for cut in (0, 1, grace - 1, 301, 500):
        np.testing.assert_array_equal(score_points(ts[:cut], x[:cut], name), full[:cut])
    flat = score_points(ts[:400], np.full(400, 7.0), name)
    assert (flat == 0).all()
    assert np.isnan(score_points(ts[:5], np.full(5, np.nan), name)).all()
    _stores_hyperparameters(make(name))


def _histograms(seed: int, t: int = 160, moved_at: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = np.array([0.05, 0.3, 0.4, 0.15, 0.07, 0.03])
    counts = rng.multinomial(500, mix, size=t).astype(float)
    counts[moved_at:] = rng.multinomial(500, np.roll(mix, 2), size=t - moved_at)
    return counts


@pytest.mark.parametrize("name", sorted(HISTOGRAM_DETECTORS))
def test_histogram_contract(name: str) -> None:
    counts = _histograms(0)
    counts[50, 3], counts[60, 0] = np.nan, np.inf
    det = HISTOGRAM_DETECTORS[name]()
    full = det.score_series(counts).score
    _in_unit_interval(full)
    assert np.isnan(full[[50, 60]]).all() and np.isfinite(np.delete(full, [50, 60])).all()
    assert (full[: det.grace] == 0).all() and (full[120:125] >= 0.5).all() and np.nanmax(full[:120]) < 0.5
    for cut in (0, 1, det.grace - 1, 121):
        np.testing.assert_array_equal(det.score_series(counts[:cut]).score, full[:cut])
    assert (det.score_series(np.full((200, 6), 40.0)).score == 0).all()
    assert np.isnan(det.score_series(np.full((5, 6), np.nan)).score).all()
    _stores_hyperparameters(det)


def _signals(seed: int, t: int = 1500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rate = 100 + rng.normal(0, 15, t)
    return np.c_[rate, rng.binomial(1000, 0.002, t) / 1000, 150 + 1.5 * (rate - 100) + rng.normal(0, 3, t)]


@pytest.mark.parametrize("name", sorted(MULTIVARIATE_DETECTORS))
def test_multivariate_contract(name: str) -> None:
    x = _signals(0)
    x[1400] = [120.0, 0.002, 140.0]  # each signal ordinary, the combination not
    x[700, 1], x[900, 2] = np.nan, np.inf
    det = MULTIVARIATE_DETECTORS[name]()
    full = det.score_stream(x, refit_every=500, window=1000)
    _in_unit_interval(full)
    assert np.isnan(full[[700, 900]]).all() and np.isfinite(np.delete(full, [700, 900])).all()
    assert (full[:500] == 0).all() and full[1400] >= 0.5
    for cut in (0, 1, 499, 1001):
        again = MULTIVARIATE_DETECTORS[name]().score_stream(x[:cut], refit_every=500, window=1000)
        np.testing.assert_array_equal(again, full[:cut])
    flat = MULTIVARIATE_DETECTORS[name]().refit(np.tile([100.0, 0.0, 150.0], (300, 1)))
    assert (flat.score(np.tile([100.0, 0.0, 150.0], (10, 1))) == 0).all()
    _stores_hyperparameters(MULTIVARIATE_DETECTORS[name]())
