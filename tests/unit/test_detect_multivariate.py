"""The multivariate per-service detector: what no single signal shows, and its calibration."""

from __future__ import annotations

import numpy as np
import pytest

from detector.detect.multivariate import MultivariateForest, service_features
from detector.detect.robust_ewma import RobustEWMA
from detector.series import Scope, SeriesBlock, SeriesKey, Signal


def _service(seed: int, t: int = 3000) -> np.ndarray:
    """[rate, 5xx ratio, p99]: load wanders widely, latency follows it closely, errors are rare."""
    rng = np.random.default_rng(seed)
    rate = 100 + rng.normal(0, 15, t)
    errors = rng.binomial(1000, 0.002, t) / 1000
    p99 = 150 + 1.5 * (rate - 100) + rng.normal(0, 3, t)
    return np.c_[rate, errors, p99]


def test_calibration_puts_the_history_alarm_quantile_at_one_half() -> None:
    history = _service(0)
    det = MultivariateForest(alarm_quantile=0.99).refit(history)
    s = det.score(history)
    assert 0.005 <= (s >= 0.5).mean() <= 0.02
    assert np.median(s) < 0.01 and s.min() >= 0.0 and s.max() <= 1.0
    fresh = det.score(_service(1))  # unseen data from the same process: a comparable rate
    assert (fresh >= 0.5).mean() < 0.03


def test_flags_a_combination_that_no_single_signal_flags() -> None:
    history = _service(2)
    live = _service(3, t=200)
    live[100:110] = [120.0, 0.002, 140.0]  # load 1.3 sigma up, p99 0.5 sigma down: off the relation
    det = MultivariateForest().refit(history)
    assert det.score(live[100:110]).min() > 0.5
    # the univariate detector on each signal alone, warmed on the same history, stays quiet
    for col in (0, 2):
        series = np.r_[history[:, col], live[:, col]]
        assert RobustEWMA().score_series(series).score[len(history) + 100 : len(history) + 110].max() < 0.5


def test_far_points_score_near_one_not_like_the_edge() -> None:
    det = MultivariateForest().refit(_service(3))
    near, far = det.score(np.array([[130.0, 0.002, 195.0], [400.0, 0.002, 600.0]]))
    assert far > 0.95 and far > near


def test_grace_no_data_and_refit_rules() -> None:
    det = MultivariateForest(min_history=100)
    assert det.score(np.array([1.0, 2.0, 3.0])).tolist() == [0.0]  # not fitted: grace
    det.refit(_service(4)[:50])  # too little history: still not fitted
    assert not det.fitted
    history = _service(4)
    history[::7, 1] = np.nan  # rows with gaps are left out of the fit, not imputed
    det.refit(history)
    assert det.fitted and np.isnan(det.score(np.array([[100.0, np.nan, 150.0]]))).all()
    with pytest.raises(ValueError, match="fitted on 3"):
        det.score(np.ones((2, 4)))
    with pytest.raises(ValueError, match="alarm_quantile"):
        MultivariateForest(alarm_quantile=1.0)


def test_refits_are_reproducible_and_flat_features_do_not_explode() -> None:
    history = _service(5)
    history[:, 1] = 0.0  # a service that never failed
    a, b = MultivariateForest(seed=7).refit(history), MultivariateForest(seed=7).refit(history)
    probe = np.array([[100.0, 0.0, 150.0], [100.0, 0.001, 150.0], [100.0, 0.5, 150.0]])
    np.testing.assert_array_equal(a.score(probe), b.score(probe))
    calm, tiny, outage = a.score(probe)
    assert calm == 0.0 and np.isfinite(tiny) and outage > 0.95


def test_features_come_from_the_scraped_block_at_service_scope() -> None:
    keys = [
        SeriesKey("cart", "shop", Signal.RATE),
        SeriesKey("cart", "shop", Signal.RATE, Scope.POD, pod="cart-1"),  # not the service's
        SeriesKey("cart", "shop", Signal.P99),
        SeriesKey("ads", "shop", Signal.P99),
    ]
    block = SeriesBlock(
        keys, np.array([0.0, 15.0]), np.array([[1.0, 2.0], [9.0, 9.0], [3.0, 4.0], [7.0, 7.0]])
    )
    x = service_features(block, "cart", "shop")  # rate, 5xx ratio, p50, p99
    np.testing.assert_array_equal(x, [[1.0, np.nan, np.nan, 3.0], [2.0, np.nan, np.nan, 4.0]])
