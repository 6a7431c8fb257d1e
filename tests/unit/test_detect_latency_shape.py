"""The latency-shape signal wired in: histograms from the scrape, masked like every series,
scored per series with state that survives a restart, and events people can read."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from fakes import Clock, RecordingNotifier

from detector.detect.bank import DetectionBank
from detector.detect.events import EventTracker
from detector.detect.latency_shape import ShapeBank, share_band, tail_boundary
from detector.detect.settle import GapSettler
from detector.pipeline import Pipeline
from detector.scrape import promql
from detector.scrape.source import ScrapeError, add_histograms, collect_buckets, grid
from detector.series import Histogram, Scope, SeriesBlock, SeriesKey, Signal
from detector.settings import Settings
from detector.store.sqlite import StateStore

STEP = 15.0
BOUNDS = np.array([5.0, 10.0, 25.0, 50.0, 100.0, np.inf])
NORMAL = np.array([0.30, 0.35, 0.20, 0.10, 0.04, 0.01])  # p90 boundary: le=50, 5 % above it
SLOW = np.array([0.05, 0.15, 0.25, 0.20, 0.25, 0.10])  # 35 % above le=50
SHAPE = SeriesKey("cart", "shop", Signal.LATENCY_SHAPE)


def rates(shares: np.ndarray, rps: float, steps: int, seed: int = 0) -> np.ndarray:
    """Cumulative bucket rates (B, T) of ``rps`` requests/s drawn from ``shares`` each step."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(int(rps * STEP), shares, size=steps).T  # (B, T)
    return np.cumsum(counts, axis=0) / STEP


def shape_block(cumulative: np.ndarray, t0: float = 0.0, key: SeriesKey = SHAPE) -> SeriesBlock:
    ts = t0 + STEP * np.arange(cumulative.shape[1])
    return SeriesBlock([key], ts, cumulative[-1:], {key: Histogram(BOUNDS, cumulative, STEP)})


def test_a_shifted_histogram_opens_a_latency_shape_event_with_a_readable_explanation() -> None:
    bank, tracker = DetectionBank(), EventTracker()
    p99 = SeriesKey("cart", "shop", Signal.P99)
    hist = np.hstack([rates(NORMAL, 20, 60), rates(SLOW, 20, 4, seed=1)])
    block = shape_block(hist)
    both = SeriesBlock(
        [p99, SHAPE], block.timestamps, np.vstack([np.full(64, 40.0), hist[-1]]), block.histograms
    )
    scored = bank.score(both)
    assert scored.keys == [p99, SHAPE]
    assert np.all(scored.score[1, 25:60] < 0.5) and np.all(scored.score[1, 60:] > 0.9)
    assert scored.values[1, -1] == pytest.approx(0.35, abs=0.08)  # the share slower than le=50
    assert scored.expected[1, -1] == pytest.approx(0.05, abs=0.02)
    assert scored.lower[1, -1] < scored.expected[1, -1] < scored.upper[1, -1] < scored.values[1, -1]
    (change,) = [c for c in tracker.update(scored) if c.event.key == SHAPE and c.kind == "opened"]
    assert change.event.severity == "critical"
    text = change.event.explanation
    assert (
        text.startswith("latency shape of cart is off: ")
        and "of requests slower than the baseline's p90" in text
    )
    assert re.search(r"expected [45](\.\d+)?% \(band ", text), text


def test_masked_points_are_no_data_and_do_not_move_the_state() -> None:
    settler = GapSettler(window_s=30.0)
    hist = rates(NORMAL, 20, 40)
    hist[:, 20] = np.nan  # a scrape gap: the settler masks around it
    trusted = settler.apply(shape_block(hist)).masked_until(STEP * 30)  # and an outage up to t=450
    bank = ShapeBank()
    out = bank.score(trusted)
    masked = np.isnan(trusted.values[0])
    assert masked[:31].all() and not masked[31:].any()
    assert np.isnan(out.score[0, masked]).all() and np.isfinite(out.score[0, ~masked]).all()
    # what was observed is still shown, except where the histogram itself had no data
    assert np.isnan(out.values[0, 20]) and np.isfinite(np.delete(out.values[0], 20)).all()
    assert bank.export_state()[SHAPE.id]["count"] == int((~masked).sum())


def test_too_little_traffic_is_inconclusive_not_an_event() -> None:
    bank, tracker = DetectionBank(), EventTracker()
    quiet = np.hstack([rates(NORMAL, 20, 40), rates(SLOW, 2, 10, seed=1)])  # 30 requests a step
    scored = bank.score(shape_block(quiet))
    assert np.isnan(scored.score[0, 40:]).all()
    assert tracker.update(scored) == []


def test_state_round_trips_through_the_store_format() -> None:
    first = np.hstack([rates(NORMAL, 20, 40), rates(SLOW, 20, 1, seed=2)])
    rest = shape_block(rates(SLOW, 20, 5, seed=3), t0=STEP * 41)
    live = DetectionBank()
    live.score(shape_block(first))
    saved = json.loads(json.dumps(live.export_state(), allow_nan=False))
    assert saved[SHAPE.id]["bounds"] == BOUNDS[:-1].tolist()
    restarted = DetectionBank()
    restarted.import_state(saved)
    a, b = live.score(rest), restarted.score(rest)
    np.testing.assert_allclose(a.score, b.score)
    np.testing.assert_allclose(a.expected, b.expected)
    assert SHAPE in restarted and len(restarted) == 1


def test_forgetting_and_a_new_layout_start_over() -> None:
    bank = ShapeBank()
    bank.score(shape_block(rates(NORMAL, 20, 5)))
    assert SHAPE in bank
    other = SeriesKey("ads", "shop", Signal.LATENCY_SHAPE, Scope.POD, pod="ads-1")
    bank.score(shape_block(rates(NORMAL, 20, 5), key=other))
    bank.forget([SHAPE])
    assert bank.keys == [other] and list(bank.export_state()) == [other.id]
    coarse = np.vstack([rates(NORMAL, 20, 3)[[2, 5]]])
    block = SeriesBlock(
        [other], STEP * np.arange(3), coarse[-1:], {other: Histogram(BOUNDS[[2, 5]], coarse, STEP)}
    )
    bank.score(block)
    assert bank.export_state()[other.id]["bounds"] == [25.0]


def test_malformed_state_is_refused() -> None:
    with pytest.raises(ValueError, match="latency-shape state"):
        ShapeBank().import_state(
            {SHAPE.id: {"bounds": [10.0], "base": [1.0], "spread": 0, "count": 1, "streak": 0}}
        )


def test_band_and_boundary_helpers() -> None:
    index, above = tail_boundary(NORMAL[None, :])
    assert BOUNDS[index[0]] == 50.0 and above[0] == pytest.approx(0.05)
    lower, upper = share_band(np.array([0.05, np.nan]), np.array([0.02, 0.02]))
    assert 0.0 <= lower[0] < 0.05 < upper[0] < 1.0 and math.isnan(lower[1]) and math.isnan(upper[1])


def test_the_scrape_keeps_the_histogram_as_a_latency_shape_series() -> None:
    ts = grid(0, 30, 15)
    query = promql.Query(None, Scope.SERVICE, "histogram")
    labels = {"destination_service_name": "cart", "destination_service_namespace": "shop"}
    result = [
        {"metric": {**labels, "le": le}, "values": [[t, str(v)] for t, v in zip(ts, values, strict=True)]}
        for le, values in (("10", [1.0, 2.0, 3.0]), ("+Inf", [4.0, 4.0, 5.0]))
    ]
    result[0]["values"].pop()  # one bucket missing at t=30: that point is no data
    hist: dict = {}
    collect_buckets(result, query, ts, hist)
    rows: dict = {}
    histograms = add_histograms(hist, rows, 15.0)
    assert list(histograms) == [SHAPE_KEY] and list(rows) == [SHAPE_KEY]
    np.testing.assert_array_equal(rows[SHAPE_KEY], [4.0, 4.0, np.nan])
    np.testing.assert_array_equal(histograms[SHAPE_KEY].bounds, [10.0, np.inf])


SHAPE_KEY = SeriesKey("cart", "shop", Signal.LATENCY_SHAPE)


class HistogramMesh:
    """One service's rate and latency histogram; ``slow_from`` switches the mix; ``down`` fails."""

    def __init__(self) -> None:
        self.slow_from = math.inf
        self.down = False
        self.pod_from = math.inf
        """From then on, a new pod's histogram is reported too."""

    def fetch(self, start: float, end: float, step: float) -> SeriesBlock:
        if self.down:
            raise ScrapeError("Prometheus at fake is unreachable")
        ts = grid(start, end, step)
        rng = np.random.default_rng(int(start))
        counts = np.stack([rng.multinomial(300, SLOW if t >= self.slow_from else NORMAL) for t in ts], axis=1)
        cumulative = np.cumsum(counts, axis=0) / step
        rate = SeriesKey("cart", "shop", Signal.RATE)
        pod = np.where(ts >= self.pod_from, 1.0, np.nan) * cumulative
        return SeriesBlock(
            [rate, SHAPE, POD],
            ts,
            np.vstack([cumulative[-1], cumulative[-1], pod[-1]]),
            {SHAPE: Histogram(BOUNDS, cumulative, step), POD: Histogram(BOUNDS, pod, step)},
        )


POD = SeriesKey("cart", "shop", Signal.LATENCY_SHAPE, Scope.POD, pod="cart-2")


def test_a_series_that_appears_later_is_scored_once_its_first_window_has_passed(tmp_path) -> None:
    settings = Settings(scrape_interval_s=STEP, lookback_s=900, state_path=tmp_path / "s.sqlite")
    mesh, clock = HistogramMesh(), Clock(1_800_000_000.0)
    p = Pipeline(
        settings,
        source=mesh,
        store=StateStore(settings.state_path),
        notifier=RecordingNotifier(),
        clock=clock,
    )
    clock.t += STEP
    p.run_cycle()
    mesh.pod_from = clock.t
    for _ in range(10):  # one point a cycle; the first rate window (4 points) is not trusted
        clock.t += STEP
        p.run_cycle()
    view = p.recent.view(POD)
    assert view is not None and np.isfinite(view.values).sum() >= 8
    assert np.isfinite(view.score).sum() >= 3 and POD in p.bank


def test_the_pipeline_scores_alerts_and_persists_the_latency_shape(tmp_path) -> None:
    settings = Settings(scrape_interval_s=STEP, lookback_s=1800, state_path=tmp_path / "s.sqlite")
    mesh, notifier, clock = HistogramMesh(), RecordingNotifier(), Clock(1_800_000_000.0)

    def make() -> Pipeline:
        store = StateStore(settings.state_path)
        return Pipeline(settings, source=mesh, store=store, notifier=notifier, clock=clock)

    def run(p: Pipeline, cycles: int) -> None:
        for _ in range(cycles):
            clock.t += STEP
            p.run_cycle()

    p = make()
    run(p, 3)
    assert p.tracker.active() == []
    assert math.isfinite(p.recent.latest_score(SHAPE))
    saved = p.store.state(p.state_name)["bank"][SHAPE.id]
    assert saved["count"] > 20
    restarted = make()
    assert restarted.bank.shapes.export_state()[SHAPE.id] == saved
    mesh.slow_from = clock.t
    run(restarted, 10)  # the query lag, then one rate window unscored after the restart
    (event,) = restarted.tracker.active()
    assert event.key == SHAPE and "of requests slower than the baseline's p90" in event.explanation
    firing = [a for a in notifier.sent if not a.resolved]
    assert firing and firing[0].labels["signal"] == "latency_shape"
    view = restarted.recent.view(SHAPE)  # the dashboard's chart: the share slower than le=50 vs ~5 %
    assert view is not None and view.values[-1] == pytest.approx(0.35, abs=0.1)
    assert view.expected[-1] == pytest.approx(0.05, abs=0.03)
