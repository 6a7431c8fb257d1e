"""Liveness, readiness and MeshPulse's own metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from detector.api.deps import RuntimeDep
from detector.api.schemas import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up. Deliberately independent of Prometheus and Alertmanager."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(rt: RuntimeDep) -> JSONResponse:
    """Ready when the last cycle could read metrics; otherwise 503 with the reason."""
    status = rt.pipeline.status
    body = Readiness(
        ready=status.ok,
        metrics_source={
            "url": rt.settings.prometheus_url,
            "ok": status.ok,
            "error": status.error or None,
            "last_cycle_at": status.last_cycle_at,
            "last_success_at": status.last_success_at,
        },
        alertmanager={
            "url": rt.settings.alertmanager_url or None,
            "pending_alerts": rt.pipeline.dispatcher.pending_count(),
        },
    )
    return JSONResponse(body.model_dump(), status_code=200 if status.ok else 503)


@router.get("/metrics", response_class=Response)
def metrics(rt: RuntimeDep) -> Response:
    return Response(generate_latest(rt.pipeline.telemetry.registry), media_type=CONTENT_TYPE_LATEST)
