"""Backtest of actions: replay history through detect → decide as ``auto`` mode would, on paper.

Each cycle does what :meth:`Pipeline.run_cycle` does with its data (score, gate, track
events, fill the recent window, build a snapshot, decide), except that a traffic change
is "applied" to an in-memory copy of the weights instead of a cluster. That answers the
question an operator asks before turning ``auto`` on: which changes would have fired,
when, and what would they have bought?

What they would have bought is counted as 5xx avoided: over each step, the requests our
paper weights send elsewhere times the error ratio they would have met there instead,

    avoided = Σ_t Σ_s rate_route(t) · (w_orig(s) − w_paper(s)) / 100 · ratio_s(t) · dt

which is "requests moved off the bad subset × its excess error ratio" summed over every
subset, so moving weight onto a worse subset counts as negative. The history itself was
recorded under the original weights, so the replay cannot see what a shift would have
changed downstream; in particular a subset drained to 0 still shows data here, while
live it would go silent and could never prove it recovered (keep a floor above 0).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from detector.decide.allocate import apportion
from detector.decide.build import build_snapshot
from detector.decide.engine import decide
from detector.decide.records import TRAFFIC_KINDS, DecideConfig, Recommendation
from detector.decide.state import DecideState
from detector.detect.bank import DetectionBank
from detector.detect.events import EventTracker
from detector.detect.volume_gate import gate_error_ratios
from detector.recent import RecentWindow
from detector.series import Scope, SeriesBlock, SeriesKey, Signal

Weights = dict[str, int]


@dataclass(frozen=True)
class PaperAction:
    """One traffic change ``auto`` would have applied."""

    at: float
    route: str
    kind: str
    before: Weights
    after: Weights


@dataclass
class RouteImpact:
    """What the paper weights did to one route; ``point_minutes``: Σ |w_paper − w_orig| / 2 × minutes."""

    route: str
    shifted_s: float = 0.0
    point_minutes: float = 0.0
    moved_requests: float = 0.0
    avoided_errors: float = 0.0


@dataclass
class BacktestReport:
    start: float
    end: float
    cycles: int
    original: dict[str, Weights]
    actions: list[PaperAction] = field(default_factory=list)
    impact: dict[str, RouteImpact] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)

    def table(self) -> str:
        """Plain-text tables: every paper action, then the impact per route."""
        lines = [
            f"replayed {_iso(self.start)} → {_iso(self.end)} ({(self.end - self.start) / 60:.0f} min, "
            f"{self.cycles} cycles); recommendations by kind: {dict(sorted(self.kinds.items())) or 'none'}",
            "",
            f"{'t+min':>6}  {'time (UTC)':<19}  {'route':<30}  {'kind':<16}  weights",
        ]
        for a in self.actions:
            moves = ", ".join(f"{s} {a.before[s]}→{a.after[s]}" for s in sorted(a.after))
            lines.append(
                f"{(a.at - self.start) / 60:>6.1f}  {_iso(a.at):<19}  {a.route:<30}  {a.kind:<16}  {moves}"
            )
        if not self.actions:
            lines.append("(no traffic change would have fired)")
        lines += [
            "",
            f"{'route':<30}  {'original':<16}  {'changes':>7}  {'min shifted':>11}  "
            f"{'point-min':>9}  {'req moved':>10}  {'5xx avoided':>11}",
        ]
        for route in sorted(self.original):
            r = self.impact.get(route, RouteImpact(route))
            n = sum(a.route == route for a in self.actions)
            orig = "/".join(f"{s}:{w}" for s, w in sorted(self.original[route].items()))
            lines.append(
                f"{route:<30}  {orig:<16}  {n:>7}  {r.shifted_s / 60:>11.1f}  {r.point_minutes:>9.0f}  "
                f"{r.moved_requests:>10.0f}  {r.avoided_errors:>11.0f}"
            )
        return "\n".join(lines)


class Backtest:
    """One replay; feed it cycle blocks in time order with :meth:`cycle`, then read :meth:`report`.

    ``weights``: the routes' weights while the history was recorded; routes left out
    are inferred from their subsets' request shares (to the nearest 5 points) the first
    time they are seen, which is right for a history with fixed weights.
    """

    def __init__(
        self,
        config: DecideConfig,
        *,
        rate_window_s: float,
        weights: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        self.config = config
        self.rate_window_s = rate_window_s
        self.bank = DetectionBank()
        self.tracker = EventTracker()
        self.recent = RecentWindow()
        self.state = DecideState()
        self.original: dict[str, Weights] = {k: dict(v) for k, v in (weights or {}).items()}
        self.paper: dict[str, Weights] = {k: dict(v) for k, v in self.original.items()}
        self.report_ = BacktestReport(math.nan, math.nan, 0, self.original)
        self._last_t = math.nan

    def cycle(self, block: SeriesBlock) -> list[Recommendation]:
        """Score ``block`` and decide at its last timestamp; returns that decision's recommendations."""
        if not len(block.timestamps):
            return []
        r = self.report_
        if math.isnan(r.start):
            r.start = float(block.timestamps[0])
        r.end, r.cycles = float(block.timestamps[-1]), r.cycles + 1
        self._account(block)  # the weights in force during this block were decided before it
        scored = gate_error_ratios(self.bank.score(block), self.rate_window_s)
        self.tracker.update(scored)
        self.recent.add(
            scored.keys,
            scored.timestamps,
            values=scored.values,
            expected=scored.expected,
            lower=scored.lower,
            upper=scored.upper,
            score=scored.score,
        )
        now = r.end
        snapshot = build_snapshot(
            self.recent, now, self.config.window_s, weights=self._live(now), events=self.tracker.active()
        )
        recs, self.state = decide(snapshot, self.state, self.config, now)
        for rec in recs:
            r.kinds[rec.kind] += 1
            if rec.kind in TRAFFIC_KINDS and rec.weights_after is not None:
                self._apply(rec, now)
        return recs

    def report(self) -> BacktestReport:
        return self.report_

    def _live(self, now: float) -> dict[str, Weights]:
        for route, shares in _subset_rates(self.recent, now, self.config.window_s).items():
            if route not in self.original and len(shares) >= 2 and sum(shares.values()) > 0:
                inferred = {s: 5 * n for s, n in apportion(20, shares).items()}
                self.original[route], self.paper[route] = inferred, dict(inferred)
        return {k: dict(v) for k, v in self.paper.items()}

    def _apply(self, rec: Recommendation, now: float) -> None:
        after = dict(rec.weights_after or {})
        self.report_.actions.append(PaperAction(now, rec.route, rec.kind, dict(self.paper[rec.route]), after))
        self.paper[rec.route] = after
        self.state = self.state.with_writes({rec.route: (after, now)})

    def _account(self, block: SeriesBlock) -> None:
        ts = block.timestamps
        # a cycle of one point has no spacing of its own: the step is the gap since the last cycle
        dt = float(np.median(np.diff(ts))) if len(ts) > 1 else float(ts[0]) - self._last_t
        self._last_t = float(ts[-1])
        if not dt > 0:
            return
        rows = {k: i for i, k in enumerate(block.keys)}
        for route, paper in self.paper.items():
            orig = self.original[route]
            delta = {s: (orig[s] - paper.get(s, 0)) / 100 for s in orig}
            if not any(delta.values()):
                continue
            ns, _, svc = route.partition("/")
            rate, ratio = (
                {s: _row(block, rows, SeriesKey(svc, ns, sig, Scope.VERSION, version=s)) for s in orig}
                for sig in (Signal.RATE, Signal.ERROR_RATIO)
            )
            total = np.nansum(np.vstack(list(rate.values())), axis=0)
            avoided = sum(np.nan_to_num(total * d * ratio[s]) for s, d in delta.items())
            impact = self.report_.impact.setdefault(route, RouteImpact(route))
            moved = sum(abs(d) for d in delta.values()) / 2
            impact.shifted_s += dt * len(ts)
            impact.point_minutes += 100 * moved * dt * len(ts) / 60
            impact.moved_requests += float(np.sum(total) * moved * dt)
            impact.avoided_errors += float(np.sum(avoided) * dt)


def replay(
    blocks: Iterable[SeriesBlock],
    config: DecideConfig,
    *,
    rate_window_s: float,
    weights: Mapping[str, Mapping[str, int]] | None = None,
) -> BacktestReport:
    """Run every block through one :class:`Backtest` and return its report."""
    bt = Backtest(config, rate_window_s=rate_window_s, weights=weights)
    for block in blocks:
        bt.cycle(block)
    return bt.report()


def cycle_blocks(block: SeriesBlock, warm_up_s: float, cycle_s: float) -> Iterator[SeriesBlock]:
    """Cut one long fetch into what the pipeline's cycles would have fetched.

    The first cycle takes ``warm_up_s`` (the pipeline's lookback), each later one the next
    ``cycle_s``. A range query is evaluated point by point, so one fetch cut up equals the
    many small fetches; series with no point in a cycle are left out, as a fetch would.
    """
    ts = block.timestamps
    if not len(ts):
        return
    edges = [float(ts[0]) + warm_up_s]
    while edges[-1] < ts[-1]:
        edges.append(edges[-1] + cycle_s)
    lo = 0
    for edge in edges:
        hi = int(np.searchsorted(ts, edge, side="right"))
        if hi > lo:
            values = block.values[:, lo:hi]
            keep = np.isfinite(values).any(axis=1)
            yield SeriesBlock(
                [k for k, m in zip(block.keys, keep, strict=True) if m], ts[lo:hi], values[keep]
            )
        lo = hi


def _row(block: SeriesBlock, rows: Mapping[SeriesKey, int], key: SeriesKey) -> np.ndarray:
    i = rows.get(key)
    return block.values[i] if i is not None else np.full(len(block.timestamps), np.nan)


def _subset_rates(recent: RecentWindow, now: float, window_s: float) -> dict[str, dict[str, float]]:
    """Mean request rate per subset of each route over the window, from version-scope series."""
    out: dict[str, dict[str, float]] = {}
    for key in recent.series():
        if key.scope is Scope.VERSION and key.signal is Signal.RATE and key.version not in ("", "unknown"):
            view = recent.view(key, since=now - window_s)
            finite = view.values[np.isfinite(view.values)] if view is not None else np.empty(0)
            if len(finite):
                out.setdefault(f"{key.namespace}/{key.service}", {})[key.version] = float(np.mean(finite))
    return out


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S") if math.isfinite(t) else "-"
