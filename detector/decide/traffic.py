"""Traffic-weight decisions for a VirtualService route split across ≥ 2 subsets.

One pure step per cycle, in this order, each able to end the step:

1. unknown or malformed live weights → nothing to manage;
2. live weights differ from our last write → a person changed them: report, stand down;
3. a weighted subset has no data → halt ("no data is not healthy");
4. judge each subset against its pooled siblings by error *counts* (Wilson intervals),
   with hysteresis: bad at ``z_open``, recovered only once not even ``z_close`` flags it;
5. cooldown since our last proposal → wait;
6. a subset that received our shifted weight turned bad → roll back toward the baseline;
7. a subset bad ``open_after`` decisions in a row → shift up to ``max_step`` away from it
   onto subsets judged healthy (never onto unknown ones);
8. shifted subsets recovered ``close_after`` decisions in a row → restore, one step at a time.

Every proposed weight set comes from :mod:`.allocate`, which keeps the invariants.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from detector.decide import stats
from detector.decide.allocate import shift, toward
from detector.decide.manifests import virtual_service
from detector.decide.records import Kind, Recommendation, TrafficConfig
from detector.decide.snapshot import ServiceSnapshot
from detector.decide.state import RouteState

Verdicts = dict[str, str]  # subset -> "bad" | "clear" | "unknown"


def step(
    svc: ServiceSnapshot, rs: RouteState, cfg: TrafficConfig, now: float
) -> tuple[list[Recommendation], RouteState]:
    live = svc.weights
    if live is None or len(live) < 2 or sum(live.values()) != 100 or min(live.values()) < 0:
        return [], rs
    if rs.written is not None and dict(live) != rs.written:
        return [_manual_edit(svc, rs, live, now)], RouteState(
            written_at=rs.written_at, hold_until=now + cfg.manual_hold_s
        )
    if now < rs.hold_until:
        return [], rs
    missing = [s for s, w in live.items() if w > 0 and not (s in svc.subsets and svc.subsets[s].has_data)]
    if missing:
        return _halt(svc, rs, cfg, now, missing)
    verdicts = judge(svc, cfg)
    rs = _streaks(rs, verdicts)
    if rs.baseline is not None and dict(live) == rs.baseline:
        rs = replace(rs, baseline=None, shifted_from=(), rolling_back=False)
    if rs.last_change_at is not None and now - rs.last_change_at < cfg.cooldown_s:
        return [], rs
    floors = {s: cfg.floor(s) for s in live}
    if rs.baseline is not None:
        receivers = [s for s in live if live[s] > rs.baseline.get(s, 0)]
        if rs.rolling_back or any(rs.bad.get(s, 0) >= cfg.open_after for s in receivers):
            new = toward(live, rs.baseline, cfg.max_step, floors)
            return _propose(
                "traffic-rollback", svc, replace(rs, rolling_back=True), live, new, verdicts, cfg, now
            )
    bad = [s for s in live if rs.bad.get(s, 0) >= cfg.open_after and live[s] > floors[s]]
    healthy = [s for s in live if verdicts[s] == "clear" and s not in rs.shifted_from and s not in bad]
    if bad and healthy:
        away = max(bad, key=lambda s: (svc.subsets[s].error_ratio, s))
        new = shift(live, away, healthy, cfg.max_step, floors)
        moved = replace(
            rs, baseline=rs.baseline or dict(live), shifted_from=tuple(sorted({*rs.shifted_from, away}))
        )
        return _propose("traffic-shift", svc, moved, live, new, verdicts, cfg, now)
    if rs.baseline is not None and all(rs.good.get(s, 0) >= cfg.close_after for s in rs.shifted_from):
        new = toward(live, rs.baseline, cfg.max_step, floors)
        if new == dict(live):  # the baseline is out of reach under the floors: done
            return [], replace(rs, baseline=None, shifted_from=())
        return _propose("traffic-restore", svc, rs, live, new, verdicts, cfg, now)
    return [], rs


def judge(svc: ServiceSnapshot, cfg: TrafficConfig) -> Verdicts:
    """Each subset against the pooled others: bad, clear (recovered) or unknown (too few requests)."""
    out: Verdicts = {}
    for s in svc.weights or {}:
        t = svc.subsets.get(s)
        others = [o for n, o in svc.subsets.items() if n != s and o.has_data]
        ref_e, ref_n = sum(o.errors for o in others), sum(o.requests for o in others)
        if t is None or not t.has_data or t.requests < cfg.min_requests or ref_n < cfg.min_requests:
            out[s] = "unknown"
        elif stats.worse_than(t.errors, t.requests, ref_e, ref_n, cfg.z_open) and (
            t.error_ratio - ref_e / ref_n >= cfg.min_error_gap
        ):
            out[s] = "bad"
        elif not stats.worse_than(t.errors, t.requests, ref_e, ref_n, cfg.z_close):
            out[s] = "clear"
        else:
            out[s] = "unknown"  # the hysteresis band: neither bad enough to act nor recovered
    return out


def _streaks(rs: RouteState, verdicts: Verdicts) -> RouteState:
    bad, good = dict(rs.bad), dict(rs.good)
    for s, v in verdicts.items():
        if v == "bad":
            bad[s], good[s] = bad.get(s, 0) + 1, 0
        elif v == "clear":
            bad[s], good[s] = 0, good.get(s, 0) + 1
    return replace(rs, bad=bad, good=good)


def _propose(
    kind: Kind,
    svc: ServiceSnapshot,
    rs: RouteState,
    live: dict[str, int],
    new: dict[str, int],
    verdicts: Verdicts,
    cfg: TrafficConfig,
    now: float,
) -> tuple[list[Recommendation], RouteState]:
    if new == dict(live):
        return [], rs
    evidence = _evidence(svc, rs, verdicts, cfg)
    moves = ", ".join(f"{s} {live[s]}→{new[s]}" for s in sorted(new) if new[s] != live[s])
    why = {
        "traffic-shift": "a subset's 5xx count is credibly above its siblings' for "
        f"{cfg.open_after}+ decisions in a row, so weight moves away from it onto subsets judged healthy",
        "traffic-restore": f"the shifted subset(s) {', '.join(rs.shifted_from)} have looked healthy for "
        f"{cfg.close_after}+ decisions, so weight returns toward the baseline {rs.baseline}",
        "traffic-rollback": "a subset that received weight we shifted has degraded, so our own change is "
        f"undone toward the baseline {rs.baseline}",
    }[kind]
    rationale = (
        f"Over the last window, per-subset requests and 5xx counts of {svc.service} were {_counts(svc)}; "
        f"{why}. Moves: {moves} (at most {cfg.max_step} points per decision, floors "
        f"{ {s: cfg.floor(s) for s in live} }, then a {cfg.cooldown_s:g} s cooldown). The live weights "
        f"{live} are checked again before writing; if a person changed them we stand down."
    )
    rec = Recommendation.make(
        kind,
        svc.namespace,
        svc.service,
        now,
        f"{kind.replace('-', ' ').capitalize()} for {svc.service}: {moves}",
        rationale,
        evidence,
        manifest=virtual_service(svc.service, svc.namespace, svc.host, new),
        weights_before=dict(live),
        weights_after=new,
    )
    return [rec], replace(rs, last_change_at=now)


def _halt(
    svc: ServiceSnapshot, rs: RouteState, cfg: TrafficConfig, now: float, missing: list[str]
) -> tuple[list[Recommendation], RouteState]:
    """No data pauses streaks; it is reported only when a decision was pending, once per cooldown."""
    pending = rs.baseline is not None or any(v > 0 for v in rs.bad.values())
    if not pending or (rs.last_halt_at is not None and now - rs.last_halt_at < cfg.cooldown_s):
        return [], rs
    rec = Recommendation.make(
        "halted",
        svc.namespace,
        svc.service,
        now,
        f"Traffic decision for {svc.service} halted: no data for {', '.join(sorted(missing))}",
        f"Subsets {sorted(missing)} carry weight but reported no requests, errors or rate in the window. "
        "Missing data is not evidence of health, so no weight is moved until it returns.",
        {"missing": sorted(missing), "weights": dict(svc.weights or {})},
    )
    return [rec], replace(rs, last_halt_at=now)


def _manual_edit(svc: ServiceSnapshot, rs: RouteState, live: dict[str, int], now: float) -> Recommendation:
    return Recommendation.make(
        "manual-edit",
        svc.namespace,
        svc.service,
        now,
        f"Weights of {svc.service} were changed by someone else; MeshPulse stands down",
        f"We last wrote {rs.written} but the live route now has {live}. A person's change always wins: "
        "our baseline and streaks are dropped and the route is left alone for the hold period.",
        {"written": rs.written, "written_at": rs.written_at, "live": dict(live)},
    )


def _counts(svc: ServiceSnapshot) -> str:
    return "; ".join(
        f"{s} {t.requests:.0f} req / {t.errors:.0f} 5xx" for s, t in sorted(svc.subsets.items()) if t.has_data
    )


def _evidence(svc: ServiceSnapshot, rs: RouteState, verdicts: Verdicts, cfg: TrafficConfig) -> dict[str, Any]:
    subsets = {}
    for s, t in sorted(svc.subsets.items()):
        if t.has_data:
            lo, hi = stats.wilson(t.errors, t.requests, cfg.z_open)
            subsets[s] = {
                "requests": t.requests,
                "errors": t.errors,
                "error_ratio": t.error_ratio,
                "wilson": [lo, hi],
                "verdict": verdicts.get(s, "unknown"),
                "bad_streak": rs.bad.get(s, 0),
                "good_streak": rs.good.get(s, 0),
            }
    return {"subsets": subsets, "baseline": rs.baseline, "z_open": cfg.z_open, "z_close": cfg.z_close}
