import numpy as np
import pytest

from detector.detect.bank import ScoredBlock
from detector.detect.volume_gate import gate_error_ratios, wilson_lower, window_seconds
from detector.series import SeriesKey, Signal

ERR = SeriesKey("pay", "default", Signal.ERROR_RATIO)
RATE = SeriesKey("pay", "default", Signal.RATE)


def block(rate: list[float], ratio: list[float], keys=(ERR, RATE)) -> ScoredBlock:
    n = len(rate)
    rows = {ERR: ratio, RATE: rate}
    values = np.array([rows[k] for k in keys], dtype=float)
    expected = np.where(np.array([[k is ERR] for k in keys]), 0.002, values)
    upper = expected + 0.02
    return ScoredBlock(
        list(keys),
        np.arange(n, dtype=float),
        values,
        np.full(values.shape, 0.95),
        expected,
        expected - 0.02,
        upper,
    )


def test_one_error_in_a_thin_window_is_not_an_alarm():
    out = gate_error_ratios(block([3.0], [1 / 30]), window_s=10)
    assert out.score[0, 0] < 0.5


def test_a_real_burst_on_real_traffic_stays_anomalous():
    out = gate_error_ratios(block([50.0], [0.3]), window_s=10)
    assert out.score[0, 0] == pytest.approx(0.95)


def test_too_little_traffic_is_inconclusive_and_rate_rows_untouched():
    out = gate_error_ratios(block([1.0], [0.5]), window_s=10)
    assert np.isnan(out.score[0, 0]) and out.score[1, 0] == pytest.approx(0.95)


def test_without_a_matching_rate_series_the_ratio_cannot_be_judged():
    out = gate_error_ratios(block([50.0], [0.3], keys=(ERR,)), window_s=10)
    assert np.isnan(out.score[0, 0])


def test_wilson_matches_the_closed_form_and_window_parsing():
    n, k, z = 200.0, 20.0, 1.96
    p = k / n
    expected = (p + z * z / (2 * n) - z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    assert wilson_lower(np.array([k]), np.array([n]), z)[0] == pytest.approx(expected)
    assert window_seconds("2m") == 120
    with pytest.raises(ValueError):
        window_seconds("two minutes")


def rate_block(observed: float, expected: float) -> ScoredBlock:
    v = np.array([[observed]])
    e = np.array([[expected]])
    return ScoredBlock([RATE], np.zeros(1), v, np.full((1, 1), 0.9), e, e * 0.5, e * 1.5)


def test_a_rate_change_within_counting_noise_is_not_an_alarm():
    from detector.detect.volume_gate import gate_rates

    assert gate_rates(rate_block(5.11, 3.08), window_s=10).score[0, 0] < 0.5  # 3.7 sd of Poisson noise
    assert gate_rates(rate_block(0.6, 3.08), window_s=60).score[0, 0] == pytest.approx(0.9)  # 11 sd
    assert gate_rates(rate_block(300.0, 100.0), window_s=10).score[0, 0] == pytest.approx(0.9)


def latency_block(rate: float, signal: Signal) -> ScoredBlock:
    key = SeriesKey("pay", "default", signal)
    values = np.array([[160.0], [rate]])
    expected = np.array([[48.0], [rate]])
    return ScoredBlock(
        [key, RATE], np.zeros(1), values, np.full((2, 1), 0.9), expected, expected * 0, expected * 2.4
    )


@pytest.mark.parametrize(
    ("signal", "thin_rate", "enough_rate"),
    [(Signal.P99, 25.0, 35.0), (Signal.P90, 2.5, 3.5), (Signal.P50, 0.5, 0.7)],
)
def test_a_latency_quantile_on_a_thin_tail_cannot_alarm(signal, thin_rate, enough_rate):
    """Over a 10 s window p99 needs 300 requests (3 above it), p90 30, p50 6."""
    from detector.detect.volume_gate import gate_latency

    thin = gate_latency(latency_block(thin_rate, signal), window_s=10)
    assert thin.score[0, 0] < 0.5 and thin.score[1, 0] == pytest.approx(0.9)
    assert gate_latency(latency_block(enough_rate, signal), window_s=10).score[0, 0] == pytest.approx(0.9)
