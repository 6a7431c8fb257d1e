"""Alertmanager → MeshPulse: what MeshPulse makes of an outside alert, recorded and returned.

Fresh analysis, by this rule: if a cycle *started* within the last scrape interval
(the scheduler's normal rhythm, or one running right now), its state is read as is —
a new cycle could not add anything, because each cycle's query ends on a whole step
of that interval. Otherwise (the scheduler is behind, or disabled) one cycle runs
here, under :attr:`AlertIntake.lock`, so two webhooks arriving together run one
cycle, not two. A failed cycle does not fail the webhook: the answer says so and
correlates with what is stored.
"""

from __future__ import annotations

import threading
from typing import Any

from detector.api.alertmanager_schemas import AlertmanagerWebhook
from detector.api.app_state import Runtime
from detector.correlate import ServiceCorrelation, as_dict, correlate_service, services_named, window_start
from detector.store.webhooks import WebhookStore

MAX_ITEMS = 20
"""Events and recommendations returned per service: enough to decide, small enough to page."""


class AlertIntake:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.webhooks = WebhookStore(rt.store)
        self.lock = threading.Lock()

    def handle(self, hook: AlertmanagerWebhook) -> dict[str, Any]:
        analysis = self.analyse()
        now = self.rt.clock()
        since = window_start([a.starts_ts() for a in hook.alerts], now)
        names = services_named([a.labels for a in hook.alerts])
        correlations = [self._correlate(name, since) for name in names]
        result: dict[str, Any] = {
            "received_at": now,
            "receiver": hook.receiver,
            "status": hook.status,
            "alerts": len(hook.alerts),
            "unmapped_alerts": sum(1 for a in hook.alerts if not services_named([a.labels])),
            "analysis": analysis,
            "services": as_dict(correlations),
            "unknown": [c.service for c in correlations if not c.known],
        }
        result["id"] = self.webhooks.record(hook.model_dump(mode="json", by_alias=True), result, now)
        return result

    def analyse(self) -> dict[str, Any]:
        """Run a cycle unless one started within the interval (module docstring); say which."""
        p, interval = self.rt.pipeline, self.rt.settings.scrape_interval_s
        with self.lock:
            last = p.status.last_cycle_at
            if last is not None and self.rt.clock() - last < interval:
                mode = "latest"
            else:
                record = p.run_cycle()
                mode = "ran" if record.ok else "failed"
        return {
            "mode": mode,
            "last_cycle_at": p.status.last_cycle_at,
            "source_ok": p.status.ok,
            "error": p.status.error or None,
        }

    def _correlate(self, service: str, since: float) -> ServiceCorrelation:
        events = self.rt.store.events(service=service, since=since, limit=MAX_ITEMS)
        return correlate_service(
            service, known=service in self._known(), events=events, recommendations=self._recs(service, since)
        )

    def _known(self) -> set[str]:
        p = self.rt.pipeline
        return {k.service for k in p.recent.series()} | {e.key.service for e in p.tracker.active()}

    def _recs(self, service: str, since: float) -> list[dict[str, Any]]:
        decisions = getattr(self.rt.decisions, "decisions", None)
        if decisions is None:
            return []
        return list(decisions.list(service=service, since=since, limit=MAX_ITEMS))
