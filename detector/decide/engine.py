"""``decide(snapshot, state, config, now)``: every decision of one cycle, as a pure function.

Circuit-breaker sizing changes slowly, so it is re-recommended per service at most every
``circuit_every_s``; pod outliers and traffic weights are judged every cycle. Mode
``off`` decides nothing; the other modes decide the same things and differ only in what
the act stage does with them.
"""

from __future__ import annotations

from detector.decide import circuit, outliers, traffic
from detector.decide.records import DecideConfig, Recommendation
from detector.decide.snapshot import MeshSnapshot
from detector.decide.state import DecideState


def decide(
    snapshot: MeshSnapshot, state: DecideState, config: DecideConfig, now: float
) -> tuple[list[Recommendation], DecideState]:
    if config.mode == "off":
        return [], state
    recs: list[Recommendation] = []
    for svc in snapshot.services:
        last = state.circuit_at.get(svc.route)
        if last is None or now - last >= config.circuit_every_s:
            rec = circuit.recommend(svc, config.circuit, now, snapshot.window_s)
            if rec is not None:
                recs.append(rec)
                state = DecideState(state.routes, {**state.circuit_at, svc.route: now})
        recs.extend(outliers.find(svc, config.outliers, now, snapshot.window_s))
        if svc.weights is not None:
            made, rs = traffic.step(svc, state.route(svc.route), config.traffic, now)
            recs.extend(made)
            state = state.with_route(svc.route, rs)
    return recs, state
