"""The backtest replays like the pipeline and counts what paper weights would have avoided."""

from __future__ import annotations

import numpy as np
import pytest

from detector.decide.backtest import Backtest, cycle_blocks, replay
from detector.decide.records import DecideConfig, TrafficConfig
from detector.series import Scope, SeriesBlock, SeriesKey, Signal

STEP = 10.0
RATE = 10.0  # req/s per subset
FAULT = (1200.0, 1800.0)  # v2 at 20 % 5xx
CONFIG = DecideConfig(
    mode="auto",
    window_s=60.0,
    traffic=TrafficConfig(max_step=20, floors={"v2": 30}, cooldown_s=30.0, open_after=2, close_after=3),
)


def history(minutes: float = 50, fault: tuple[float, float] | None = FAULT) -> SeriesBlock:
    """One two-subset route, noiseless: v1 and v2 at ``RATE`` req/s, 0.1 % 5xx, v2 worse in ``fault``."""
    ts = np.arange(0.0, minutes * 60, STEP)
    r2 = np.full(len(ts), 0.001)
    if fault is not None:
        r2[(ts >= fault[0]) & (ts < fault[1])] = 0.2
    r1 = np.full(len(ts), 0.001)
    rows = {
        ("", Signal.RATE): np.full(len(ts), 2 * RATE),
        ("", Signal.ERROR_RATIO): (r1 + r2) / 2,
        ("v1", Signal.RATE): np.full(len(ts), RATE),
        ("v1", Signal.ERROR_RATIO): r1,
        ("v2", Signal.RATE): np.full(len(ts), RATE),
        ("v2", Signal.ERROR_RATIO): r2,
    }
    keys = [
        SeriesKey("svc", "ns", sig, Scope.VERSION, version=v) if v else SeriesKey("svc", "ns", sig)
        for v, sig in rows
    ]
    return SeriesBlock(keys, ts, np.vstack(list(rows.values())))


def run(block: SeriesBlock, **kw: object) -> Backtest:
    bt = Backtest(CONFIG, rate_window_s=60.0, **kw)  # type: ignore[arg-type]
    for b in cycle_blocks(block, 600.0, STEP):
        bt.cycle(b)
    return bt


def test_quiet_history_changes_nothing() -> None:
    report = replay(cycle_blocks(history(fault=None), 600.0, STEP), CONFIG, rate_window_s=60.0)
    assert report.actions == []
    assert report.original == {"ns/svc": {"v1": 50, "v2": 50}}  # inferred from request shares
    assert "ns/svc" not in report.impact
    assert "no traffic change would have fired" in report.table()


def test_canary_regression_shifts_to_the_floor_and_back() -> None:
    report = run(history()).report()
    kinds = [(a.kind, a.after["v2"]) for a in report.actions]
    assert kinds == [("traffic-shift", 30), ("traffic-restore", 50)]
    shift, restore = report.actions
    assert FAULT[0] < shift.at < FAULT[0] + 120, "the shift should come within a couple of minutes"
    assert restore.at > FAULT[1], "weight returned while the canary was still failing"
    assert shift.before == {"v1": 50, "v2": 50}
    assert "traffic-shift" in report.table()


def test_avoided_errors_are_moved_requests_times_excess_ratio() -> None:
    report = run(history()).report()
    shift = report.actions[0]
    # 20 req/s, 20 points moved: 4 req/s go to v1 (0.1 % 5xx) instead of v2 (20 %) each second of
    # fault after the shift; once v2 recovers both are at 0.1 % and moving costs nothing.
    ts = np.arange(shift.at + STEP, FAULT[1], STEP)
    expected = len(ts) * STEP * 2 * RATE * 0.2 * (0.2 - 0.001)
    impact = report.impact["ns/svc"]
    assert impact.avoided_errors == pytest.approx(expected, rel=1e-9)
    restore = report.actions[1]
    assert impact.shifted_s == pytest.approx(restore.at - shift.at)
    assert impact.moved_requests == pytest.approx((restore.at - shift.at) * 2 * RATE * 0.2)


def test_given_weights_win_over_inferred_ones() -> None:
    bt = run(history(fault=None), weights={"ns/svc": {"v1": 90, "v2": 10}})
    assert bt.report().original == {"ns/svc": {"v1": 90, "v2": 10}}


def test_cycle_blocks_cover_the_history_once_and_drop_empty_series() -> None:
    block = history(minutes=5)
    block.values[0, 20:] = np.nan
    parts = list(cycle_blocks(block, 60.0, 30.0))
    assert np.array_equal(np.concatenate([p.timestamps for p in parts]), block.timestamps)
    assert parts[0].timestamps[-1] == 60.0 and all(len(p.timestamps) == 3 for p in parts[1:-1])
    assert block.keys[0] in parts[0].keys and block.keys[0] not in parts[-1].keys
