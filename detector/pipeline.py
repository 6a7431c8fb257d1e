"""The whole data flow, written out once: ``scrape → detect → decide → notify → store``.

The scheduler only calls :meth:`Pipeline.run_cycle`. Each cycle asks the metric
source for the points since the last successful cycle (the first one pulls the
whole lookback window to warm the detectors), scores every series in one batched
kernel call, opens and closes events, sends what Alertmanager must hear, and
commits events, detector state and alert bookkeeping in one transaction.

A failed query leaves ``last_end`` where it was, so the next cycle catches up on
what was missed instead of skipping it, and nothing is scored from no data.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from detector.act.actuator import Actuator
from detector.act.base import read_all
from detector.decide.build import build_snapshot
from detector.decide.engine import decide
from detector.decide.records import DecideConfig, TrafficConfig
from detector.decide.state import DecideState
from detector.detect.bank import DetectionBank, ScoredBlock
from detector.detect.events import AnomalyEvent, EventTracker
from detector.detect.settle import GapSettler
from detector.detect.volume_gate import gate_by_volume, window_seconds
from detector.notify.alertmanager import AlertDispatcher, Notifier, NotifyError
from detector.recent import RecentWindow
from detector.scrape.cardinality import cap_series
from detector.scrape.source import MetricSource, ScrapeError
from detector.series import Scope, SeriesKey
from detector.settings import Settings
from detector.store.base import CycleRecord, Store
from detector.telemetry import Telemetry

log = logging.getLogger(__name__)

STATE_NAME = "pipeline"


@dataclass
class SourceStatus:
    """What ``/readyz`` reports about the metric source."""

    ok: bool = False
    error: str = "no cycle has run yet"
    last_cycle_at: float | None = None
    last_success_at: float | None = None
    failed_cycles: int = 0
    """Failed in a row; reset by a good cycle."""


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        *,
        source: MetricSource,
        store: Store,
        notifier: Notifier,
        bank: DetectionBank | None = None,
        tracker: EventTracker | None = None,
        dispatcher: AlertDispatcher | None = None,
        telemetry: Telemetry | None = None,
        recent: RecentWindow | None = None,
        actuator: Actuator | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.source = source
        self.store = store
        self.notifier = notifier
        self.bank = bank or DetectionBank()
        self.tracker = tracker or EventTracker()
        self.dispatcher = dispatcher or AlertDispatcher(
            resend_s=settings.alert_resend_s, dashboard_url=settings.dashboard_url
        )
        self.telemetry = telemetry or Telemetry()
        self.recent = recent or RecentWindow()
        self.actuator = actuator
        self.decide_config = DecideConfig(
            mode=settings.decide_mode,
            window_s=settings.decide_window_s,
            traffic=TrafficConfig(
                max_step=settings.decide_max_step,
                default_floor=settings.decide_floor,
                floors=settings.decide_floors,
                cooldown_s=settings.decide_cooldown_s,
                open_after=settings.decide_open_after,
                close_after=settings.decide_close_after,
            ),
        )
        self.decide_state = DecideState()
        self.clock = clock
        self.window_s = window_seconds(settings.rate_window)
        self.settler = GapSettler(self.window_s)
        self.untrusted_until = -math.inf
        """Data time up to which points are not scored: one rate window past a metrics outage."""
        self.status = SourceStatus()
        self.last_end: float | None = None
        self._dropped = 0
        """Series the cap left out last cycle."""
        # shards share one store: each keeps its own detector state row
        self.state_name = f"{STATE_NAME}/{settings.shard_id}" if settings.shard_id else STATE_NAME
        self._restore()

    # the cycle ----------------------------------------------------------------------------------
    def run_cycle(self) -> CycleRecord:
        started = self.clock()
        step = self.settings.scrape_interval_s
        end = math.floor((started - self.settings.query_lag_s) / step) * step
        start = self._next_start(end, step)
        self.status.last_cycle_at = started
        try:
            with self.telemetry.cycle_duration.labels("query").time():
                block = self.source.fetch(start, end, step) if start <= end else None
        except ScrapeError as exc:
            return self._failed(started, str(exc))
        if self.status.failed_cycles:
            # Prometheus (or the way to it) was down: it scraped nothing meanwhile, so every
            # rate() window reaching into the outage reads low, gap visible in the data or not.
            self.untrusted_until = started + self.window_s
        if block is None:
            return CycleRecord(started, self.clock() - started, True, 0)
        capped = cap_series(block, self.settings.max_series, tracked=self.bank)
        block = capped.block
        self._report_cap(capped.dropped)
        with self.telemetry.cycle_duration.labels("detect").time():
            trusted = self.settler.apply(block).masked_until(self.untrusted_until)
            scored = gate_by_volume(self.bank.score(trusted), self.window_s)
            changes = self.tracker.update(scored)
        self.recent.add(  # what was observed, even where it was not trusted enough to score
            scored.keys,
            scored.timestamps,
            values=block.values,
            expected=scored.expected,
            lower=scored.lower,
            upper=scored.upper,
            score=scored.score,
        )
        self._forget_stale(end, set(scored.keys))
        with self.telemetry.cycle_duration.labels("notify").time():
            # events that opened and closed inside the warm-up history are stored, not paged
            warm_up = self.last_end is None
            self._notify(started, [] if warm_up else [c.event for c in changes if c.kind == "closed"])
        with self.telemetry.cycle_duration.labels("decide").time():
            self._decide(end)
        self.last_end = end
        record = CycleRecord(started, self.clock() - started, True, len(scored.keys))
        self._commit(record, [c.event for c in changes])
        self._observe(scored, record)
        return record

    def _report_cap(self, dropped: int) -> None:
        """``/metrics`` every cycle; the log when capping starts and when it stops, not every cycle."""
        was, self._dropped = self._dropped, dropped
        self.telemetry.series_dropped.set(dropped)
        if dropped and not was:
            log.warning(
                "series cap: %d series over max_series=%d are not scored (pods go first, then edges"
                " and versions; services' own series last); see meshpulse_series_dropped",
                dropped,
                self.settings.max_series,
            )
        elif was and not dropped:
            log.info("series cap: every series fits under max_series=%d again", self.settings.max_series)

    def _next_start(self, end: float, step: float) -> float:
        oldest = end - self.settings.lookback_s
        if self.last_end is None:
            return math.ceil(oldest / step) * step
        return max(self.last_end + step, math.ceil(oldest / step) * step)

    def _failed(self, started: float, error: str) -> CycleRecord:
        log.warning("cycle failed: %s", error)
        self.status.ok, self.status.error = False, error
        self.status.failed_cycles += 1
        self.telemetry.query_failures.inc()
        self.telemetry.cycles.labels("failed").inc()
        record = CycleRecord(started, self.clock() - started, False, 0, error)
        self.store.record_failure(record)
        return record

    def _notify(self, now: float, closed: list[AnomalyEvent]) -> None:
        alerts = self.dispatcher.due(now, self.tracker.active(), closed)
        if not alerts:
            return
        try:
            self.notifier.send(alerts)
        except NotifyError as exc:
            log.warning("alerts kept for the next cycle: %s", exc)
            self.telemetry.alert_failures.inc()
            return
        self.dispatcher.mark_sent(alerts, now)
        for alert in alerts:
            self.telemetry.alerts_sent.labels("resolved" if alert.ends_at else "firing").inc()

    def _decide(self, now: float) -> None:
        """Recommendations from this cycle's data; only reached when the data is fresh."""
        if self.actuator is None or self.decide_config.mode == "off":
            return
        routes = sorted(
            {f"{k.namespace}/{k.service}" for k in self.recent.series() if k.scope is Scope.SERVICE}
        )
        snapshot = build_snapshot(
            self.recent,
            now,
            window_s=self.decide_config.window_s,
            weights=read_all(self.actuator.applier, routes),
            events=self.tracker.active(),
            step_s=self.settings.scrape_interval_s,
        )
        state = self.decide_state.with_writes(self.actuator.decisions.weight_writes())
        recommendations, self.decide_state = decide(snapshot, state, self.decide_config, now)
        for result in self.actuator.handle(recommendations, now):
            self.telemetry.actions.labels(result.outcome).inc()
        self.telemetry.recommendations.inc(len(recommendations))

    def _forget_stale(self, now: float, current: set[SeriesKey]) -> None:
        """Forget series silent for ``series_stale_s`` and, while more series are remembered
        than ``max_series`` (pods churning every cycle), the longest-silent ones not seen
        this cycle: the cap bounds detector state, not only one cycle's work."""
        idle = [k for k in self.recent.series() if not self.tracker.is_active(k)]
        stale = [
            k for k in idle if now - (self.recent.last_data_at(k) or -math.inf) > self.settings.series_stale_s
        ]
        over = len(self.recent.series()) - len(stale) - self.settings.max_series
        if over > 0:
            gone = set(stale) | current
            idle.sort(key=lambda k: self.recent.last_data_at(k) or -math.inf)
            stale += [k for k in idle if k not in gone][:over]
        if stale:
            self.bank.forget(stale)
            self.settler.forget(stale)
            self.recent.forget(stale)

    # persistence ------------------------------------------------------------------------------
    def _commit(self, record: CycleRecord, events: list[AnomalyEvent]) -> None:
        with self.store.transaction() as db:
            for event in events:
                self.store.put_event(
                    db, event.key, event.id, event.started_at, event.ended_at, event_record(event)
                )
            self.store.put_state(
                db,
                self.state_name,
                {
                    "last_end": self.last_end,
                    "bank": self.bank.export_state(),
                    "tracker": self.tracker.export_state(),
                    "dispatcher": self.dispatcher.export_state(),
                    "decide": self.decide_state.to_dict(),
                },
                record.started_at,
            )
            self.store.put_cycle(db, record)

    def _restore(self) -> None:
        saved = self.store.state(self.state_name)
        if not saved:
            return
        self.last_end = saved.get("last_end")
        self.bank.import_state(saved.get("bank", {}))
        self.tracker.import_state(saved.get("tracker", {}))
        self.dispatcher.import_state(saved.get("dispatcher", {}))
        if "decide" in saved:
            self.decide_state = DecideState.from_dict(saved["decide"])

    def _observe(self, scored: ScoredBlock, record: CycleRecord) -> None:
        t = self.telemetry
        self.status.ok, self.status.error, self.status.failed_cycles = True, "", 0
        self.status.last_success_at = record.started_at
        t.cycles.labels("ok").inc()
        t.series_scored.set(len(scored.keys))
        t.points_scored.inc(int(np.isfinite(scored.values).sum()))
        t.last_success.set(record.started_at)
        for i, key in enumerate(scored.keys):
            if key.scope is Scope.SERVICE:
                finite = scored.score[i][np.isfinite(scored.score[i])]
                if len(finite):
                    t.anomaly_score.labels(key.service, key.namespace, key.signal.value).set(finite[-1])
        active = self.tracker.active()
        for severity in ("warning", "critical"):
            t.active_anomalies.labels(severity).set(sum(e.severity == severity for e in active))


def event_record(event: AnomalyEvent) -> dict[str, Any]:
    """The stored and served form of an event: flat, explained, and valid JSON (no NaN)."""
    key = event.key
    body = {
        **event.to_dict(),
        "series": key.id,
        "service": key.service,
        "namespace": key.namespace,
        "signal": key.signal.value,
        "scope": key.scope.value,
        "pod": key.pod,
        "version": key.version,
        "source": key.source,
        "explanation": event.explanation,
    }
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in body.items()}
