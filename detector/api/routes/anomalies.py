"""Anomaly events, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from detector.api.deps import RuntimeDep
from detector.api.schemas import Anomaly
from detector.series import Signal

router = APIRouter(prefix="/api/v1", tags=["anomalies"])


@router.get("/anomalies", response_model=list[Anomaly])
def list_anomalies(
    rt: RuntimeDep,
    service: str | None = None,
    signal: Signal | None = None,
    active: bool | None = None,
    since: Annotated[
        float | None, Query(description="Unix seconds; events still open or ended after it")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, object]]:
    return rt.store.events(
        service=service, signal=signal.value if signal else None, active=active, since=since, limit=limit
    )
