"""DetectionBank: rows per SeriesKey, one kernel call per block, persistence round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detector.detect.bank import DetectionBank, ScoredBlock, default_params
from detector.detect.robust_ewma import RobustEWMA
from detector.series import Scope, SeriesBlock, SeriesKey, Signal

A = SeriesKey("cart", "default", Signal.P99)
B = SeriesKey("cart", "default", Signal.RATE)
C = SeriesKey("cart", "default", Signal.ERROR_RATIO, Scope.POD, pod="cart-1")


def _block(keys: list[SeriesKey], t0: int, n: int, seed: int = 0) -> SeriesBlock:
    rng = np.random.default_rng(seed + t0)
    values = rng.normal(50, 2, size=(len(keys), n))
    return SeriesBlock(keys, (t0 + np.arange(n)) * 15.0, values)


def test_default_params_match_what_an_sre_cares_about() -> None:
    assert default_params(B).direction == 0  # a traffic surge and a drop both matter
    assert default_params(A).direction == 1  # faster is never an incident
    assert default_params(C).direction == 1
    assert default_params(C).abs_floor > 0  # a flat 0 % must not make one 5xx infinite


def test_grows_and_forgets() -> None:
    bank = DetectionBank()
    bank.score(_block([A], 0, 10))
    bank.score(_block([B, A], 10, 10))
    assert bank.keys == [A, B] and len(bank) == 2 and B in bank
    bank.forget([A, C])
    assert bank.keys == [B] and A not in bank
    bank.forget([])
    scored = bank.score(_block([A, B], 20, 5))
    assert scored.keys == [A, B] and scored.score.shape == (2, 5)
    assert np.isnan(scored.expected[0, 0])  # A starts over


def test_order_of_keys_in_a_block_does_not_matter() -> None:
    one, two = DetectionBank(), DetectionBank()
    for t0 in (0, 40, 80):
        block = _block([A, B, C], t0, 40)
        s1 = one.score(block)
        s2 = two.score(SeriesBlock([C, A, B], block.timestamps, block.values[[2, 0, 1]]))
        np.testing.assert_array_equal(s1.score, s2.score[[1, 2, 0]])
        np.testing.assert_array_equal(s1.upper, s2.upper[[1, 2, 0]])


def test_scored_block_carries_inputs() -> None:
    block = _block([A, B], 0, 30)
    scored = DetectionBank().score(block)
    assert isinstance(scored, ScoredBlock) and len(scored) == 2
    np.testing.assert_array_equal(scored.values, block.values)
    np.testing.assert_array_equal(scored.timestamps, block.timestamps)
    for arr in (scored.score, scored.expected, scored.lower, scored.upper):
        assert arr.shape == (2, 30) and arr.dtype == np.float64


def test_empty_block() -> None:
    bank = DetectionBank()
    assert bank.score(SeriesBlock.empty()).score.shape == (0, 0)
    assert bank.score(SeriesBlock([A], np.empty(0), np.empty((1, 0)))).score.shape == (1, 0)


def test_duplicate_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        DetectionBank().score(SeriesBlock([A, A], np.zeros(1), np.array([[1.0], [2.0]])))


def test_export_import_resumes_exactly() -> None:
    det = RobustEWMA(grace=10)
    live = DetectionBank(det)
    live.score(_block([A, B, C], 0, 100))
    saved = json.loads(json.dumps(live.export_state(), allow_nan=False))
    restarted = DetectionBank(det)
    restarted.import_state(saved)
    assert sorted(restarted.keys) == sorted(live.keys)
    nxt = _block([B, C, A], 100, 50)
    np.testing.assert_array_equal(live.score(nxt).score, restarted.score(nxt).score)
    assert live.export_state() == restarted.export_state()


def test_series_without_data_are_not_exported() -> None:
    bank = DetectionBank()
    bank.score(SeriesBlock([A, B], np.array([0.0, 15.0]), np.array([[1.0, 2.0], [np.nan, np.nan]])))
    assert list(bank.export_state()) == [A.id]


@pytest.mark.parametrize(
    "row",
    [
        {"level": 1.0},
        {"level": "x", "scale": 1, "count": 3},
        {"level": 1.0, "scale": -1.0, "count": 3},
        {"level": float("nan"), "scale": 1.0, "count": 3},
        {"level": 1.0, "scale": 1.0, "count": 0},
    ],
)
def test_import_rejects_malformed_state(row: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=A.id):
        DetectionBank().import_state({A.id: row})


def test_params_for_is_a_collaborator() -> None:
    from detector.detect.robust_ewma import SeriesParams

    bank = DetectionBank(RobustEWMA(grace=5), params_for=lambda key: SeriesParams(direction=-1))
    x = np.full((1, 30), 10.0)
    x[0, -1] = 100.0  # a rise, but this bank only cares about drops
    assert bank.score(SeriesBlock([A], np.arange(30.0), x)).score[0, -1] == 0.0


def test_a_pods_rate_only_alarms_upward() -> None:
    from detector.detect.bank import default_params
    from detector.series import Scope

    pod = SeriesKey("cart", "default", Signal.RATE, Scope.POD, pod="cart-1")
    assert default_params(pod).direction == 1
    assert default_params(SeriesKey("cart", "default", Signal.RATE)).direction == 0
