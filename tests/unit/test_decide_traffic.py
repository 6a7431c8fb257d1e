"""Traffic-weight decisions: modes, streaks, cooldown, hysteresis, no-data halts, manual edits."""

from __future__ import annotations

import math

from test_decide_circuit import istio_validate

from detector.decide import DecideConfig, DecideState, MeshSnapshot, ServiceSnapshot, Traffic, decide
from detector.decide.records import TrafficConfig
from detector.decide.traffic import judge

CFG = TrafficConfig(max_step=20, cooldown_s=60, open_after=2, close_after=2, floors={"v2": 10})


def _t(requests: float, ratio: float) -> Traffic:
    return Traffic(requests / 300, ratio, 20.0, requests, 0.001)


def _snap(now: float, weights: dict[str, int] | None, v2_ratio: float, v1_ratio: float = 0.001, n=20000):
    svc = ServiceSnapshot(
        "default",
        "reviews",
        _t(2 * n, 0.001),
        {"v1": _t(n, v1_ratio), "v2": _t(n, v2_ratio)},
        weights=weights,
    )
    return MeshSnapshot(now, 300.0, (svc,))


def _run(cfg: TrafficConfig, mode="dry-run", **kw):
    return DecideConfig(mode=mode, traffic=cfg, circuit_every_s=1e12, **kw)


def _traffic(recs):
    return [r for r in recs if r.kind.startswith("traffic")]


def test_off_mode_decides_nothing():
    recs, state = decide(_snap(0, {"v1": 50, "v2": 50}, 0.2), DecideState(), _run(CFG, "off"), 0)
    assert recs == [] and state == DecideState()


def test_shift_after_streak_then_cooldown_then_restore():
    cfg, state, w = _run(CFG), DecideState(), {"v1": 50, "v2": 50}
    recs, state = decide(_snap(0, w, 0.2), state, cfg, 0)
    assert _traffic(recs) == []  # one bad decision is not enough
    recs, state = decide(_snap(10, w, 0.2), state, cfg, 10)
    [shift] = _traffic(recs)
    assert shift.kind == "traffic-shift" and shift.weights_after == {"v1": 70, "v2": 30}
    assert shift.weights_before == w and shift.evidence["subsets"]["v2"]["verdict"] == "bad"
    istio_validate(shift.manifest)
    w = shift.weights_after
    state = state.with_writes({"default/reviews": (w, 10.0)})
    recs, state = decide(_snap(20, w, 0.2), state, cfg, 20)
    assert _traffic(recs) == []  # cooldown
    recs, state = decide(_snap(80, w, 0.2), state, cfg, 80)
    [second] = _traffic(recs)
    assert second.weights_after == {"v1": 90, "v2": 10}
    w = second.weights_after
    state = state.with_writes({"default/reviews": (w, 80.0)})
    recs, state = decide(_snap(150, w, 0.2), state, cfg, 150)
    assert _traffic(recs) == []  # at the floor
    for t in (160, 170):  # recovery streak
        recs, state = decide(_snap(t, w, 0.001), state, cfg, t)
    [restore] = _traffic(recs)
    assert restore.kind == "traffic-restore" and restore.weights_after == {"v1": 70, "v2": 30}


def test_hysteresis_band_neither_acts_nor_recovers():
    # 0.4 % vs 0.1 % at 20k requests: above z_close, below z_open + min gap → unknown
    verdicts = judge(_snap(0, {"v1": 50, "v2": 50}, 0.004).services[0], CFG)
    assert verdicts["v2"] == "unknown"
    assert judge(_snap(0, {"v1": 50, "v2": 50}, 0.2).services[0], CFG)["v2"] == "bad"
    assert judge(_snap(0, {"v1": 50, "v2": 50}, 0.001).services[0], CFG)["v2"] == "clear"


def test_low_volume_is_not_judged():
    # 2 errors in 10 requests is a 20 % ratio but not evidence
    v = judge(_snap(0, {"v1": 50, "v2": 50}, 0.2, n=10).services[0], CFG)
    assert v["v2"] == "unknown"


def test_no_data_halts_and_reports_once_per_cooldown():
    cfg, state, w = _run(CFG), DecideState(), {"v1": 50, "v2": 50}
    _, state = decide(_snap(0, w, 0.2), state, cfg, 0)
    snap = _snap(10, w, math.nan)
    recs, state = decide(snap, state, cfg, 10)
    assert [r.kind for r in recs] == ["halted"]
    recs, state2 = decide(_snap(20, w, math.nan), state, cfg, 20)
    assert recs == []
    assert state2.route("default/reviews").bad == {"v1": 0, "v2": 1}  # paused, not reset or advanced


def test_manual_edit_is_detected_and_never_overwritten():
    cfg, w = _run(CFG), {"v1": 70, "v2": 30}
    state = DecideState().with_writes({"default/reviews": (w, 5.0)})
    recs, state = decide(_snap(100, {"v1": 40, "v2": 60}, 0.2), state, cfg, 100)
    assert [r.kind for r in recs] == ["manual-edit"]
    assert recs[0].evidence["live"] == {"v1": 40, "v2": 60}
    for t in range(110, 400, 10):  # still bad, but we hold off
        recs, state = decide(_snap(t, {"v1": 40, "v2": 60}, 0.2), state, cfg, t)
        assert _traffic(recs) == []
    state = state.with_writes({"default/reviews": (w, 5.0)})  # an old write is not adopted again
    assert state.route("default/reviews").written is None


def test_rollback_when_receiver_degrades():
    cfg, state, w = _run(CFG), DecideState(), {"v1": 50, "v2": 50}
    for t in (0, 10):
        recs, state = decide(_snap(t, w, 0.2), state, cfg, t)
    w = _traffic(recs)[0].weights_after
    state = state.with_writes({"default/reviews": (w, 10.0)})
    for t in (100, 110):  # v2 recovers but v1, which received weight, degrades
        recs, state = decide(_snap(t, w, 0.001, v1_ratio=0.2), state, cfg, t)
    [rb] = _traffic(recs)
    assert rb.kind == "traffic-rollback" and rb.weights_after == {"v1": 50, "v2": 50}
