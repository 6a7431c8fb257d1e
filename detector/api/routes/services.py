"""Services: their health, and any of their series with its expected band."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from detector.api.app_state import Runtime
from detector.api.deps import RuntimeDep
from detector.api.schemas import SeriesPoints, ServiceHealth, nullable
from detector.health import service_health, traffic_key
from detector.series import Scope, SeriesKey, Signal

router = APIRouter(prefix="/api/v1/services", tags=["services"])


def _known(rt: Runtime) -> list[tuple[str, str]]:
    keys = rt.pipeline.recent.series() + [e.key for e in rt.pipeline.tracker.active()]
    return sorted({(k.service, k.namespace) for k in keys})


def _health(rt: Runtime, service: str, namespace: str) -> ServiceHealth:
    p = rt.pipeline
    active = [e for e in p.tracker.active() if e.key.service == service and e.key.namespace == namespace]
    last = p.recent.last_data_at(traffic_key(service, namespace))
    state = service_health(
        last_data_at=last,
        now=rt.clock(),
        source_ok=p.status.ok,
        stale_after_s=3 * rt.settings.scrape_interval_s + 60,
        active=[(e.key, e.severity) for e in active],
    )
    scores = {s.value: p.recent.latest_score(SeriesKey(service, namespace, s)) for s in Signal}
    return ServiceHealth(
        service=service,
        namespace=namespace,
        health=state,
        active_anomalies=len(active),
        last_data_at=last,
        scores={k: nullable([v])[0] for k, v in scores.items()},
    )


@router.get("", response_model=list[ServiceHealth])
def list_services(rt: RuntimeDep) -> list[ServiceHealth]:
    """Every service seen in the mesh: healthy, degraded, failing or no_data."""
    return [_health(rt, s, ns) for s, ns in _known(rt)]


AMBIGUOUS: dict[int | str, dict[str, Any]] = {
    409: {"description": "the name exists in several namespaces; pass ?namespace="}
}


@router.get(
    "/{name}", response_model=ServiceHealth, responses={404: {"description": "unknown service"}, **AMBIGUOUS}
)
def get_service(rt: RuntimeDep, name: str, namespace: str | None = None) -> ServiceHealth:
    return _health(rt, *_resolve(rt, name, namespace))


@router.get(
    "/{name}/series",
    response_model=SeriesPoints,
    responses={404: {"description": "unknown series"}, **AMBIGUOUS},
)
def get_series(
    rt: RuntimeDep,
    name: str,
    signal: Signal = Signal.RATE,
    scope: Scope = Scope.SERVICE,
    namespace: str | None = None,
    pod: str = "",
    version: str = "",
    source: str = "",
    since: Annotated[float | None, Query(description="Unix seconds; default: everything kept")] = None,
) -> SeriesPoints:
    """Observed values, the expected value and band, and the anomaly score over time."""
    service, ns = _resolve(rt, name, namespace)
    key = SeriesKey(service, ns, signal, scope, version=version, pod=pod, source=source)
    view = rt.pipeline.recent.view(key, since)
    if view is None:
        raise HTTPException(404, f"no {scope.value} series '{key.id}'; check pod/version/source")
    return SeriesPoints(
        series=key.id,
        service=service,
        signal=signal,
        scope=scope,
        timestamps=view.timestamps.tolist(),
        observed=nullable(view.values),
        expected=nullable(view.expected),
        lower=nullable(view.lower),
        upper=nullable(view.upper),
        score=nullable(view.score),
    )


def _resolve(rt: Runtime, name: str, namespace: str | None) -> tuple[str, str]:
    matches = [(s, ns) for s, ns in _known(rt) if s == name and namespace in (None, ns)]
    if not matches:
        raise HTTPException(
            404, f"unknown service '{name}'" + (f" in namespace '{namespace}'" if namespace else "")
        )
    if len(matches) > 1:
        raise HTTPException(409, f"service '{name}' exists in several namespaces; pass ?namespace=")
    return matches[0]
