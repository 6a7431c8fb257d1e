"""MeshPulse's own ``/metrics``: what it scores and how healthy its cycles are.

The registry is a constructor argument so every app (and every test) gets a fresh
one instead of fighting over the process-global default.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Telemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.anomaly_score = Gauge(
            "meshpulse_anomaly_score",
            "Latest anomaly score in [0, 1] of the service-level series (0.5 = alert threshold)",
            ["service", "namespace", "signal"],
            registry=r,
        )
        self.cycle_duration = Histogram(
            "meshpulse_cycle_duration_seconds",
            "Wall time of one scrape → detect → notify cycle",
            ["stage"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.cycles = Counter("meshpulse_cycles_total", "Cycles run, by outcome", ["outcome"], registry=r)
        self.series_scored = Gauge("meshpulse_series_scored", "Series scored in the last cycle", registry=r)
        self.points_scored = Counter("meshpulse_points_scored_total", "Points scored", registry=r)
        self.query_failures = Counter(
            "meshpulse_query_failures_total", "Cycles whose metrics query failed", registry=r
        )
        self.alerts_sent = Counter(
            "meshpulse_alerts_sent_total", "Alerts accepted by Alertmanager", ["status"], registry=r
        )
        self.alert_failures = Counter(
            "meshpulse_alert_send_failures_total", "Alert batches Alertmanager did not accept", registry=r
        )
        self.active_anomalies = Gauge(
            "meshpulse_active_anomalies", "Open anomaly events", ["severity"], registry=r
        )
        self.recommendations = Counter(
            "meshpulse_recommendations_total", "Recommendations produced by the decide stage", registry=r
        )
        self.actions = Counter(
            "meshpulse_actions_total",
            "Apply attempts through a hook, by outcome (applied, dry-run, conflict, failed, …)",
            ["outcome"],
            registry=r,
        )
        self.series_dropped = Gauge(
            "meshpulse_series_dropped", "Series dropped by the max_series cap in the last cycle", registry=r
        )
        self.last_success = Gauge(
            "meshpulse_last_successful_cycle_timestamp_seconds", "When a cycle last succeeded", registry=r
        )
