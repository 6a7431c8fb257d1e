"""Alertmanager's webhook receiver: ``url: .../api/v1/alertmanager/webhook`` with bearer credentials.

In ``alertmanager.yml``::

    receivers:
      - name: meshpulse
        webhook_configs:
          - url: https://meshpulse.example/api/v1/alertmanager/webhook
            send_resolved: true
            http_config:
              authorization: {type: Bearer, credentials_file: /etc/alertmanager/meshpulse-token}

A malformed payload is answered 422 with the reason and nothing is recorded.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from detector.api.alert_intake import AlertIntake
from detector.api.alertmanager_schemas import AlertmanagerWebhook
from detector.api.auth import Writer
from detector.api.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/alertmanager", tags=["alertmanager"])
_BUILD = threading.Lock()


def get_intake(request: Request, rt: RuntimeDep) -> AlertIntake:
    """One intake per app (its lock must be shared), built on first use from the lifespan's runtime."""
    with _BUILD:
        intake: AlertIntake | None = getattr(request.app.state, "alert_intake", None)
        if intake is None or intake.rt is not rt:
            intake = request.app.state.alert_intake = AlertIntake(rt)
        return intake


IntakeDep = Annotated[AlertIntake, Depends(get_intake)]


@router.post(
    "/webhook",
    dependencies=[Writer],
    responses={
        400: {"description": "the body is not JSON"},
        401: {"description": "missing or wrong bearer token"},
        403: {"description": "no token configured"},
        413: {"description": "body too large"},
    },
)
def receive(intake: IntakeDep, hook: AlertmanagerWebhook) -> dict[str, Any]:
    """Correlate the alerts with MeshPulse's anomalies and recommendations; recorded, then returned."""
    return intake.handle(hook)


@router.get("/webhooks")
def recorded(intake: IntakeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    """Webhooks received, newest first, each with the correlation MeshPulse answered."""
    return intake.webhooks.list(limit)
