"""The latency distribution-shift kernel against its twin, and what its score means."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from detector.detect.distribution_shift import (
    DistributionShift,
    HistogramState,
    batch_from_scrape,
    counts_from_rates,
    counts_from_scrape,
    distribution_shift_kernel,
)
from detector.scrape.histogram import quantiles

try:
    import naive
except ImportError:  # until pytest's `pythonpath` includes tests/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import naive

DETECTORS = [
    DistributionShift(),
    DistributionShift(
        alpha=0.3, spread_alpha=0.2, grace=2, relearn_after=3, min_requests=5.0, spread_mult=1.0
    ),
    DistributionShift(grace=0, min_effect=0.5, eps=0.1),
]
MIX = np.array([0.05, 0.3, 0.4, 0.15, 0.07, 0.03])


def _check(det: DistributionShift, counts: np.ndarray) -> None:
    n, _, b = counts.shape
    state = det.new_state(n, b)
    twin = {k: getattr(state, k).copy() for k in ("base", "spread", "count", "streak")}
    got = det.score(state, counts)
    want = naive.distribution_shift(counts, twin, list(det.hyper(b)), det.grace, det.relearn_after)
    for name, w in want.items():
        np.testing.assert_allclose(getattr(got, name), w, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)
    for name, w in twin.items():
        np.testing.assert_allclose(getattr(state, name), w, rtol=1e-9, atol=1e-12, err_msg=name)


def _traffic(seed: int, n: int = 4, t: int = 200, shift_at: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    volume = rng.integers(1, 2000, size=(n, t))
    counts = np.stack([rng.multinomial(v, MIX) for v in volume.ravel()]).reshape(n, t, -1).astype(float)
    moved = np.roll(MIX, 1)
    counts[:, shift_at:] = [[rng.multinomial(600, moved) for _ in range(t - shift_at)] for _ in range(n)]
    return counts


@pytest.mark.parametrize("det", DETECTORS, ids=repr)
def test_kernel_matches_twin(det: DistributionShift) -> None:
    fixed = np.array(
        [[[10.0, 50, 30, 10], [12, 48, 30, 10], [0, 0, 0, 0], [60, 20, 10, 10], [10, 50, 30, 10]]]
    )
    holes = _traffic(1)
    holes[0, 5, 2], holes[1, 7, 0], holes[2, :3, 1] = np.nan, np.inf, -np.inf
    holes[3, 9, 4] = -3.0  # a negative count reads as 0
    cases = [fixed, _traffic(0), holes, np.full((2, 40, 5), 30.0), np.ones((1, 1, 3)), np.empty((2, 0, 4))]
    for counts in cases:
        _check(det, np.ascontiguousarray(counts))


def test_chunks_give_the_same_scores_and_state() -> None:
    det, counts = DistributionShift(), _traffic(2)
    whole_state, parts_state = det.new_state(4, 6), det.new_state(4, 6)
    whole = det.score(whole_state, counts).score
    parts = np.hstack(
        [det.score(parts_state, counts[:, a:b]).score for a, b in ((0, 7), (7, 150), (150, 200))]
    )
    np.testing.assert_array_equal(whole, parts)
    np.testing.assert_array_equal(whole_state.base, parts_state.base)


def test_a_moved_body_alarms_and_counting_noise_does_not() -> None:
    s = DistributionShift().score_series(_traffic(3, n=1)[0]).score
    assert np.nanmax(s[20:120]) < 0.5 and np.nanmin(s[120:130]) > 0.9


def test_evidence_grows_with_volume() -> None:
    """The same small change in the mix is noise at 60 requests and a finding at 60,000."""
    rng = np.random.default_rng(4)
    tilted = MIX + np.array([-0.04, -0.06, 0.0, 0.04, 0.04, 0.02])  # KL 0.045 nats
    for volume, alarms in ((60, False), (60_000, True)):
        normal = rng.multinomial(volume, MIX, size=100)
        after = rng.multinomial(volume, tilted, size=10)
        s = DistributionShift().score_series(np.vstack([normal, after]).astype(float)).score
        assert bool(np.nanmin(s[100:]) > 0.5) is alarms, volume


def test_few_requests_are_inconclusive_and_lasting_change_is_relearnt() -> None:
    det = DistributionShift(relearn_after=30)
    counts = _traffic(5, n=1)[0]
    counts[50:55] = np.array([1.0, 2, 0, 0, 0, 1])  # 4 requests a step
    s = det.score_series(counts).score
    assert np.isnan(s[50:55]).all()
    assert (s[120:150] > 0.5).all() and np.nanmax(s[155:]) < 0.5  # one alarm, then the new normal


def test_matches_what_the_scrape_collects() -> None:
    """Prometheus' cumulative ``le`` rates → per-step counts whose mix gives the same median."""
    bounds = np.array([10.0, 25.0, 50.0, np.inf])
    rates = np.array([[1.0, 2.0], [3.0, 2.5], [3.5, 4.0], [4.0, 4.0]])  # (B, T), le=25 dips at t=1
    b, counts = counts_from_scrape(dict(zip(bounds, rates, strict=True)), 15.0)
    np.testing.assert_array_equal(b, bounds)
    assert (counts >= 0).all() and np.allclose(counts.sum(axis=1), rates[-1] * 15.0)
    cum = np.cumsum(counts.T, axis=0)
    np.testing.assert_allclose(quantiles(bounds, cum, (0.5,)), quantiles(bounds, rates, (0.5,)))
    hist = {"a": dict(zip(bounds, rates, strict=True)), "b": {10.0: rates[0], np.inf: rates[-1]}}
    hist["c"] = hist["a"]
    batches = {tuple(keys): (b.tolist(), c.shape) for keys, b, c in batch_from_scrape(hist, 15.0)}
    assert batches == {("a", "c"): (bounds.tolist(), (2, 2, 4)), ("b",): ([10.0, np.inf], (1, 2, 2))}
    with_gap = counts_from_rates(np.array([[1.0, np.nan], [2.0, 3.0]]), 1.0)
    assert np.isnan(with_gap[1]).any() and not np.isnan(with_gap[0]).any()


def test_refuses_what_it_cannot_score() -> None:
    det = DistributionShift()
    with pytest.raises(ValueError, match="counts_from_rates"):
        det.score(det.new_state(1, 3), np.ones((1, 5)))
    with pytest.raises(ValueError, match="new_state"):
        det.score(HistogramState.new(2, 3), np.ones((1, 5, 3)))
    with pytest.raises(ValueError, match="alpha"):
        DistributionShift(alpha=0.0)
    with pytest.raises(ValueError, match="le=\\+Inf"):
        counts_from_scrape({10.0: np.ones(2), 20.0: np.ones(2)}, 15.0)
    assert distribution_shift_kernel is not None and det.new_state(3, 20).nbytes == 3 * (20 * 8 + 24)
