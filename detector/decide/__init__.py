"""Decide: pure functions from a mesh snapshot to recommendations, the clock passed in.

What the pipeline calls each cycle (after detection, before the commit)::

    snapshot = build_snapshot(recent, now, window_s, weights=reader.read_all(routes), events=tracker.active())
    state = state.with_writes(decisions.weight_writes())
    recs, state = decide(snapshot, state, config, now)
    actuator.handle(recs, now)                      # detector.act: store, dry-run log, approval or apply
    store.put_state(db, "decide", state.to_dict())  # with the rest of the cycle's state
"""

from detector.decide.build import build_snapshot
from detector.decide.engine import decide
from detector.decide.records import DecideConfig, Recommendation
from detector.decide.snapshot import MeshSnapshot, PodStats, ServiceSnapshot, Traffic
from detector.decide.state import DecideState, RouteState

__all__ = [
    "DecideConfig",
    "DecideState",
    "MeshSnapshot",
    "PodStats",
    "Recommendation",
    "RouteState",
    "ServiceSnapshot",
    "Traffic",
    "build_snapshot",
    "decide",
]
