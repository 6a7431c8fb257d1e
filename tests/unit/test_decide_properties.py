"""Property tests: no sequence of inputs breaks the weight invariants.

The default run is a few seconds; ``MESHPULSE_BENCH_EXAMPLES=20000`` (each example is a
sequence of ~20 decisions, so ≥ 10^5 decisions) is the long run:

    MESHPULSE_BENCH_EXAMPLES=20000 .venv/bin/python -m pytest tests/unit/test_decide_properties.py
"""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from detector.decide import DecideConfig, DecideState, MeshSnapshot, ServiceSnapshot, Traffic, decide
from detector.decide.allocate import apportion, shift, toward
from detector.decide.records import TrafficConfig

EXAMPLES = int(os.environ.get("MESHPULSE_BENCH_EXAMPLES", "300"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUTE = "ns/svc"


def weights_strategy(n: int) -> st.SearchStrategy[dict[str, int]]:
    cuts = st.lists(st.integers(0, 100), min_size=n - 1, max_size=n - 1).map(sorted)
    return cuts.map(
        lambda c: {f"v{i}": b - a for i, (a, b) in enumerate(zip([0, *c], [*c, 100], strict=True))}
    )


ratio = st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.3, 1.0, math.nan])
step_st = st.tuples(
    st.lists(ratio, min_size=4, max_size=4),
    st.sampled_from([0.0, 5.0, 500.0, 50000.0]),  # requests per subset
    st.sampled_from([1.0, 30.0, 61.0, 400.0]),  # seconds since the last decision
    st.booleans(),  # the actuator applies the proposal
    st.integers(0, 15),  # 0: a person edits the weights this step
)


@st.composite
def scenario(draw):
    n = draw(st.integers(2, 4))
    cfg = TrafficConfig(
        max_step=draw(st.integers(1, 50)),
        default_floor=draw(st.integers(0, 30)),
        floors={"v0": draw(st.integers(0, 40))},
        cooldown_s=60.0,
        open_after=draw(st.integers(1, 3)),
        close_after=draw(st.integers(1, 3)),
        min_requests=10.0,
    )
    return (
        n,
        cfg,
        draw(weights_strategy(n)),
        draw(st.lists(step_st, min_size=1, max_size=25)),
        draw(weights_strategy(n)),
    )


@FAST
@given(scenario())
def test_no_sequence_breaks_weight_invariants(sc):
    n, cfg, live, steps, human = sc
    config = DecideConfig(mode="auto", traffic=cfg, circuit_every_s=1e12)
    state, now, written, last_change = DecideState(), 0.0, None, -math.inf
    for ratios, requests, dt, applies, edit in steps:
        now += dt
        if edit == 0:
            live = dict(human)
        subsets = {f"v{i}": Traffic(requests / 300, ratios[i], 10.0, requests) for i in range(n)}
        svc = ServiceSnapshot("ns", "svc", Traffic(1, 0, 1, 1), subsets, weights=dict(live))
        manual = written is not None and live != written
        recs, state = decide(MeshSnapshot(now, 300, (svc,)), state, config, now)
        traffic = [r for r in recs if r.kind.startswith("traffic")]
        assert len(traffic) <= 1
        if manual:
            assert traffic == [] and [r.kind for r in recs] == ["manual-edit"]
            written = None
        for rec in traffic:
            event(rec.kind)
            before, after = rec.weights_before, rec.weights_after
            assert before == live and after is not None and set(after) == set(live)
            assert all(isinstance(w, int) and w >= 0 for w in after.values())
            assert sum(after.values()) == 100
            assert sum(abs(after[s] - before[s]) for s in after) <= 2 * cfg.max_step
            assert all(after[s] >= min(cfg.floor(s), before[s]) for s in after)
            assert after != before
            assert now - last_change >= cfg.cooldown_s
            assert all(subsets[s].has_data for s, w in before.items() if w > 0)
            last_change = now
            if applies:
                live, written = dict(after), dict(after)
                state = state.with_writes({ROUTE: (after, now)})


@FAST
@given(weights_strategy(3), st.integers(1, 100), st.integers(0, 40), st.sampled_from(["v0", "v1", "v2"]))
def test_shift_and_toward_keep_total_and_bounds(w, step, floor, away):
    floors = {s: floor for s in w}
    out = shift(w, away, [s for s in w if s != away], step, floors)
    assert sum(out.values()) == 100 and min(out.values()) >= 0
    assert out[away] >= min(floor, w[away]) and w[away] - out[away] <= step
    back = toward(out, w, step, floors)
    assert sum(back.values()) == 100 and sum(abs(back[s] - out[s]) for s in w) <= 2 * step


@FAST
@given(st.integers(0, 200), st.dictionaries(st.sampled_from("abcde"), st.floats(0, 10), min_size=1))
def test_apportion_sums_exactly(total, shares):
    out = apportion(total, shares)
    assert sum(out.values()) == total and min(out.values()) >= 0
