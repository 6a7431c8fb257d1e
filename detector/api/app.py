"""``create_app(settings)``: nothing is built at import time; the lifespan owns the moving parts."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI

from detector.act.actuator import Actuator
from detector.act.base import make_applier
from detector.api.app_state import Runtime
from detector.api.auth import Reader
from detector.api.limits import BodySizeLimit
from detector.api.routes import (
    alertmanager_webhook,
    anomalies,
    dashboard,
    graph,
    health,
    recommendations,
    score,
    services,
    shard,
)
from detector.detect.model_file import load_model
from detector.notify.alertmanager import AlertmanagerNotifier, Notifier, NullNotifier
from detector.pipeline import Pipeline
from detector.scrape.source import MetricSource, PrometheusSource
from detector.settings import Settings
from detector.shard.filter import OwnedSource
from detector.shard.leases import Leases
from detector.store import Store, open_store
from detector.store.decisions import DecisionStore

log = logging.getLogger(__name__)


def build_pipeline(
    settings: Settings,
    *,
    source: MetricSource | None = None,
    notifier: Notifier | None = None,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
) -> Pipeline:
    """The production wiring; tests pass their own collaborators."""
    store = store or open_store(settings)
    source = source or PrometheusSource(
        settings.prometheus_url,
        window=settings.rate_window,
        namespaces=settings.namespaces,
        services=settings.services,
        timeout_s=settings.query_timeout_s,
        recorded=settings.recorded_histograms,
    )
    if notifier is None:
        notifier = (
            AlertmanagerNotifier(settings.alertmanager_url) if settings.alertmanager_url else NullNotifier()
        )
    if settings.shard_id:
        source = OwnedSource(source, Leases(store, settings.shard_id, settings.lease_s, clock=clock))
    actuator = Actuator(
        DecisionStore(store),
        make_applier(settings.applier, **applier_options(settings)),
        settings.decide_mode,
        clock=clock,
    )
    bank, tracker = load_model(settings.detector_model) if settings.detector_model else (None, None)
    return Pipeline(
        settings,
        source=source,
        store=store,
        notifier=notifier,
        actuator=actuator,
        clock=clock,
        bank=bank,
        tracker=tracker,
    )


def applier_options(settings: Settings) -> dict[str, Any]:
    """Constructor options of the configured applier, from settings (secrets from files)."""
    if settings.applier == "http":
        if not settings.hook_url or settings.hook_secret_file is None:
            raise ValueError("applier 'http' needs hook_url and hook_secret_file")
        return {"url": settings.hook_url, "secret": settings.hook_secret_file.read_text().strip()}
    if settings.applier == "gitops":
        return {"directory": settings.gitops_dir}
    return {}


def _safe_cycle(pipeline: Pipeline) -> None:
    """A cycle that raises must not kill the scheduler; it is logged and the next one runs."""
    try:
        pipeline.run_cycle()
    except Exception:
        log.exception("cycle crashed")
        pipeline.status.ok, pipeline.status.error = False, "the last cycle crashed; see the logs"


def create_app(
    settings: Settings | None = None,
    *,
    source: MetricSource | None = None,
    notifier: Notifier | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pipeline = build_pipeline(settings, source=source, notifier=notifier, clock=clock)
        app.state.runtime = Runtime(settings, pipeline, pipeline.store, clock, pipeline.actuator)
        scheduler = BackgroundScheduler(timezone="UTC")
        if settings.run_scheduler:
            scheduler.add_job(
                _safe_cycle,
                "interval",
                args=[pipeline],
                seconds=settings.scrape_interval_s,
                next_run_time=datetime.now(UTC),
                max_instances=1,
                coalesce=True,
                id="cycle",
            )
            scheduler.start()
        try:
            yield
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=True)
            if isinstance(pipeline.source, OwnedSource):
                pipeline.source.leases.release()  # the others take over now, not after the grace
            pipeline.store.close()

    app = FastAPI(
        title="MeshPulse",
        version="0.1.0",
        lifespan=lifespan,
        description="Anomaly detection and safe feedback for Istio service meshes.",
    )
    app.add_middleware(BodySizeLimit, max_json_bytes=settings.max_body_bytes)
    for module in (health, dashboard):
        app.include_router(module.router)
    for module in (services, anomalies, score, recommendations, graph, shard, alertmanager_webhook):
        app.include_router(module.router, dependencies=[Reader])
    return app
