"""The whole data flow, written out once: ``scrape → detect → decide → notify → store``.

The scheduler only calls :meth:`Pipeline.run_cycle`. Each cycle asks the metric
source for the points since the last successful cycle (the first one pulls the
whole lookback window to warm the detectors), scores every series in one batched
kernel call, opens and closes events, sends what Alertmanager must hear, and
commits events, detector state and alert bookkeeping in one transaction.

A failed query leaves ``last_end`` where it was, so the next cycle catches up on
what was missed instead of skipping it, and nothing is scored from no data.

A shard that takes over the services of a dead shard also takes over their state (detector
levels, open events, what Alertmanager was told, decide memory) from the dead shard's row,
and removes it there in the commit of the same cycle: an incident that was open goes on as
the same event, re-sent with the same ``startsAt`` and closed by its new owner, instead of
staying open forever in the store while a second event pages again.
"""

from __future__ import annotations

import json
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
from detector.detect.bank import DetectionBank, ScoredBlock, observed_values
from detector.detect.events import AnomalyEvent, EventTracker
from detector.detect.settle import GapSettler
from detector.detect.volume_gate import gate_by_volume, window_seconds
from detector.notify.alertmanager import AlertDispatcher, Notifier, NotifyError
from detector.recent import RecentWindow
from detector.scrape.cardinality import cap_series
from detector.scrape.source import MetricSource, ScrapeError
from detector.series import Scope, SeriesKey
from detector.settings import Settings
from detector.shard.filter import OwnedSource
from detector.shard.ownership import identity
from detector.store.base import Connection, CycleRecord, Store
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
        # "is None", not "or": a fresh bank is empty, and an empty bank is falsy (it has a length)
        self.bank = bank if bank is not None else DetectionBank()
        self.tracker = tracker if tracker is not None else EventTracker()
        self.dispatcher = (
            dispatcher
            if dispatcher is not None
            else AlertDispatcher(resend_s=settings.alert_resend_s, dashboard_url=settings.dashboard_url)
        )
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        self.recent = recent if recent is not None else RecentWindow()
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
        self.state_name = state_name(settings.shard_id)
        self._owned: frozenset[str] = frozenset()
        """``namespace/service`` this shard owned last cycle (sharded only)."""
        self._adopted: dict[str, set[str]] = {}
        """Dead shard → services whose state was taken from its row, to remove there at commit."""
        self._handed_over: list[AnomalyEvent] = []
        """Open events of services let go to a joining shard, stored as ended at commit."""
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
        self._take_over()
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
            values=observed_values(block, scored),
            expected=scored.expected,
            lower=scored.lower,
            upper=scored.upper,
            score=scored.score,
        )
        self._forget_stale(end, set(scored.keys))
        # events that opened and closed inside the warm-up history are stored, not paged
        warm_up, self.last_end = self.last_end is None, end
        # Stored before anyone hears of them: a shard killed right after paging must leave
        # its heir (or its own restart) the event it paged, or the heir pages a second one.
        self._commit([c.event for c in changes])
        with self.telemetry.cycle_duration.labels("notify").time():
            said = self._notify(started, [] if warm_up else [c.event for c in changes if c.kind == "closed"])
        with self.telemetry.cycle_duration.labels("decide").time():
            did = self._decide(end)
        record = CycleRecord(started, self.clock() - started, True, len(scored.keys))
        self._record(record, resave=said or did)
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

    def _notify(self, now: float, closed: list[AnomalyEvent]) -> bool:
        """Page what is due; whether any alert went out (the dispatcher's state changed)."""
        alerts = self.dispatcher.due(now, self.tracker.active(), closed)
        if not alerts:
            return False
        try:
            self.notifier.send(alerts)
        except NotifyError as exc:
            log.warning("alerts kept for the next cycle: %s", exc)
            self.telemetry.alert_failures.inc()
            return False
        self.dispatcher.mark_sent(alerts, now)
        for alert in alerts:
            self.telemetry.alerts_sent.labels("resolved" if alert.ends_at else "firing").inc()
        return True

    def _decide(self, now: float) -> bool:
        """Recommendations from this cycle's data (only reached when the data is fresh); any?"""
        if self.actuator is None or self.decide_config.mode == "off":
            return False
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
        return bool(recommendations)

    def _take_over(self) -> None:
        """Adopt the state of services that came to this shard because their owner died; let go of
        those that went to a shard that joined."""
        if not isinstance(self.source, OwnedSource):
            return
        ownership = self.source.ownership
        owned = frozenset(ownership.owned)
        membership = ownership.membership
        if membership is not None:  # by the ownership rule: a service missing from one listing stays
            self._let_go(frozenset(s for s in self._owned if not membership.owns(s)))
        gained, self._owned = owned - self._owned, owned
        # the warm-up cycle rebuilds every detector from history; adopted state would see it twice
        if not gained or membership is None or not membership.dead or self.last_end is None:
            return
        for dead in membership.dead:
            saved = self.store.state(state_name(dead))
            found = self._adopt(saved, gained) if saved else 0
            if found:
                self._adopted.setdefault(dead, set()).update(gained)
                log.info("took over %d state entries of dead shard %s", found, dead)

    def _let_go(self, services: frozenset[str]) -> None:
        """Forget ``services``, now another live shard's: only their owner may page or act on them.

        Their open events end here without a resolution: the new owner watches the incident on
        and pages it under the same labels (Alertmanager keeps it one alert), while an event left
        open would stay open in the store for ever, and re-sent from here, a second source.
        """
        if not services:
            return
        mine = [e for e in self.tracker.active() if service_of(e.key.id) in services]
        tracked = map(SeriesKey.from_id, self.tracker.export_state())
        keys = [k for k in {*self.bank.keys, *self.recent.series(), *tracked} if service_of(k.id) in services]
        for forget in (self.bank.forget, self.settler.forget, self.recent.forget, self.tracker.forget):
            forget(keys)
        rest = split_state(
            {"dispatcher": self.dispatcher.export_state(), "decide": self.decide_state.to_dict()},
            services,
            keep=False,
        )
        self.dispatcher.import_state({k: rest[k] for k in ("sent", "resolving")})
        decide = self.decide_state.to_dict()
        self.decide_state = DecideState.from_dict(
            {**decide, **{k: rest[k] for k in ("routes", "circuit_at")}}
        )
        for event in mine:
            event.ended_at = event.last_seen
        self._handed_over.extend(mine)
        log.info(
            "let go of %d services (a shard joined), %d open events handed over", len(services), len(mine)
        )

    def _adopt(self, saved: dict[str, Any], services: frozenset[str]) -> int:
        """Merge the parts of a dead shard's ``saved`` state that belong to ``services``; how many."""
        part = split_state(saved, services)
        self.bank.import_state(part["bank"])
        self.settler.resume(map(SeriesKey.from_id, part["bank"]))
        self.tracker.import_state({**self.tracker.export_state(), **part["tracker"]})
        mine = self.dispatcher.export_state()
        self.dispatcher.import_state({k: mine[k] | part[k] for k in ("sent", "resolving")})
        decide = self.decide_state.to_dict()
        self.decide_state = DecideState.from_dict({k: decide[k] | part[k] for k in ("routes", "circuit_at")})
        return sum(map(len, part.values()))

    def _hand_over(self, db: Connection, dead: str, services: set[str]) -> None:
        """Remove adopted services from a dead shard's row, so that a restart cannot revive them."""
        name = state_name(dead)
        row = db.execute("SELECT body FROM component_state WHERE name = ?", (name,)).fetchone()
        if row is None:
            return
        saved = json.loads(row["body"])
        rest = split_state(saved, frozenset(services), keep=False)
        trimmed = {
            **saved,
            "bank": rest["bank"],
            "tracker": rest["tracker"],
            "dispatcher": {k: rest[k] for k in ("sent", "resolving")},
            "decide": {k: rest[k] for k in ("routes", "circuit_at")},
        }
        self.store.put_state(db, name, trimmed, self.clock())

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
    def _commit(self, events: list[AnomalyEvent]) -> None:
        """The cycle's events and all state, in one transaction, before anything is paged or done."""
        with self.store.transaction() as db:
            for dead, services in self._adopted.items():
                self._hand_over(db, dead, services)
            for event in [*self._handed_over, *events]:
                self.store.put_event(
                    db, event.key, event.id, event.started_at, event.ended_at, event_record(event)
                )
            self._put_state(db)
        self._adopted, self._handed_over = {}, []

    def _record(self, record: CycleRecord, *, resave: bool) -> None:
        """The cycle's record and, if alerts went out or something was recommended, the state again:
        a restart must not page twice what was paged, nor forget a cooldown just started."""
        with self.store.transaction() as db:
            if resave:
                self._put_state(db)
            self.store.put_cycle(db, record)

    def _put_state(self, db: Connection) -> None:
        body = {
            "last_end": self.last_end,
            "bank": self.bank.export_state(),
            "tracker": self.tracker.export_state(),
            "dispatcher": self.dispatcher.export_state(),
            "decide": self.decide_state.to_dict(),
        }
        self.store.put_state(db, self.state_name, body, self.clock())

    def _restore(self) -> None:
        saved = self.store.state(self.state_name)
        if not saved:
            return
        self.last_end = saved.get("last_end")
        self.bank.import_state(saved.get("bank", {}))
        self.settler.resume(map(SeriesKey.from_id, saved.get("bank", {})))
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


def state_name(shard_id: str) -> str:
    """The state row of a shard (shards share one store, each keeps its own row).

    >>> state_name(""), state_name("meshpulse-1")
    ('pipeline', 'pipeline/meshpulse-1')
    """
    return f"{STATE_NAME}/{shard_id}" if shard_id else STATE_NAME


def service_of(key_id: str) -> str:
    """``namespace/service`` of a series id, the unit shards own."""
    key = SeriesKey.from_id(key_id)
    return identity(key.namespace, key.service)


def event_key(event_id: str) -> str:
    """The series id of an event id (``{key.id}@{started_at}``)."""
    return event_id.rsplit("@", 1)[0]


def split_state(saved: dict[str, Any], services: frozenset[str], *, keep: bool = True) -> dict[str, Any]:
    """Of a saved pipeline state, the entries of ``services`` (or, ``keep=False``, all others).

    Flat: ``bank`` and ``tracker`` by series id, ``sent`` and ``resolving`` (the dispatcher's) by
    event id, ``routes`` and ``circuit_at`` (decide's) by ``namespace/service``.

    >>> from detector.series import Signal
    >>> cart, ads = (SeriesKey(s, "shop", Signal.RATE).id for s in ("cart", "ads"))
    >>> saved = {"tracker": {cart: {}, ads: {}}, "dispatcher": {"sent": {f"{ads}@60": {}}}}
    >>> mine = split_state(saved, frozenset({"shop/cart"}))
    >>> list(mine["tracker"]), mine["sent"]
    (['shop/cart/rate'], {})
    >>> list(split_state(saved, frozenset({"shop/cart"}), keep=False)["sent"])
    ['shop/ads/rate@60']
    """
    dispatcher, decide = saved.get("dispatcher") or {}, saved.get("decide") or {}
    by_series = {"bank": saved.get("bank"), "tracker": saved.get("tracker")}
    by_event = {k: dispatcher.get(k) for k in ("sent", "resolving")}
    by_route = {k: decide.get(k) for k in ("routes", "circuit_at")}
    owners = {
        **{name: service_of for name in by_series},
        **{name: lambda e: service_of(event_key(e)) for name in by_event},
        **{name: lambda r: r for name in by_route},
    }
    return {
        name: {k: v for k, v in (entries or {}).items() if (owners[name](k) in services) == keep}
        for name, entries in {**by_series, **by_event, **by_route}.items()
    }


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
