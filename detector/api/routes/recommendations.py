"""Recommendations (with rendered YAML), a person's approve/reject/apply, and the audit log.

Needs ``runtime.decisions``: an object with ``decisions`` (a ``DecisionStore``) and the
``approve``/``reject``/``apply`` methods — the :class:`~detector.act.Actuator`. The lead
adds ``decisions: Actuator`` to ``Runtime``; :class:`DecisionsRuntime` states the need.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from detector.act.actuator import NotAllowed, NotFound
from detector.act.base import ApplyResult
from detector.api.auth import Writer
from detector.api.deps import RuntimeDep
from detector.decide.manifests import to_yaml
from detector.store.decisions import DecisionStore

router = APIRouter(prefix="/api/v1", tags=["recommendations"])

DISABLED: dict[int | str, dict[str, Any]] = {503: {"description": "decisions are not enabled"}}
UNKNOWN: dict[int | str, dict[str, Any]] = {**DISABLED, 404: {"description": "no such recommendation"}}
CHANGE: dict[int | str, dict[str, Any]] = {
    **UNKNOWN,
    400: {"description": "the body is not decodable"},
    401: {"description": "a bearer token is required, or it is invalid"},
    403: {"description": "no API token is configured"},
    409: {"description": "not allowed in the recommendation's state, or the apply failed"},
}
"""Documented so clients (and the schema fuzz test) know every answer a route gives."""


class DecisionsRuntime(Protocol):
    decisions: DecisionStore

    def approve(self, rec_id: str, actor: str) -> dict[str, Any]: ...
    def reject(self, rec_id: str, actor: str, reason: str = "") -> dict[str, Any]: ...
    def apply(self, rec_id: str, actor: str, *, dry_run: bool = False) -> ApplyResult: ...


class Decision(BaseModel):
    actor: str = "api"
    reason: str = ""


def _actuator(rt: Any) -> DecisionsRuntime:
    act: DecisionsRuntime | None = getattr(rt, "decisions", None)
    if act is None:
        raise HTTPException(503, "decisions are not enabled")
    return act


def _guard(call: Any) -> Any:
    try:
        return call()
    except NotFound as exc:
        raise HTTPException(404, f"no recommendation {exc}") from exc
    except NotAllowed as exc:
        raise HTTPException(409, str(exc)) from exc


@router.get("/recommendations", responses=DISABLED)
def list_recommendations(
    rt: RuntimeDep,
    service: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    since: Annotated[float | None, Query(description="Unix seconds")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[dict[str, Any]]:
    return _actuator(rt).decisions.list(service=service, kind=kind, status=status, since=since, limit=limit)


@router.get("/recommendations/{rec_id}", responses=UNKNOWN)
def get_recommendation(rt: RuntimeDep, rec_id: str) -> dict[str, Any]:
    act = _actuator(rt)
    rec = act.decisions.get(rec_id)
    if rec is None:
        raise HTTPException(404, f"no recommendation {rec_id}")
    yaml_text = to_yaml(rec["manifest"]) if rec.get("manifest") else None
    return {**rec, "yaml": yaml_text, "actions": act.decisions.actions(rec_id)}


@router.post("/recommendations/{rec_id}/approve", dependencies=[Writer], responses=CHANGE)
def approve(rt: RuntimeDep, rec_id: str, body: Decision | None = None) -> dict[str, Any]:
    actor = (body or Decision()).actor
    return dict(_guard(lambda: _actuator(rt).approve(rec_id, actor)))


@router.post("/recommendations/{rec_id}/reject", dependencies=[Writer], responses=CHANGE)
def reject(rt: RuntimeDep, rec_id: str, body: Decision | None = None) -> dict[str, Any]:
    b = body or Decision()
    return dict(_guard(lambda: _actuator(rt).reject(rec_id, b.actor, b.reason)))


@router.post("/recommendations/{rec_id}/apply", dependencies=[Writer], responses=CHANGE)
def apply(rt: RuntimeDep, rec_id: str, dry_run: bool = False, body: Decision | None = None) -> dict[str, Any]:
    actor = (body or Decision()).actor
    result: ApplyResult = _guard(lambda: _actuator(rt).apply(rec_id, actor, dry_run=dry_run))
    if not result.ok:
        raise HTTPException(409, {"outcome": result.outcome, "detail": result.detail})
    return {"outcome": result.outcome, "detail": result.detail, "ref": result.ref}


@router.get("/actions", responses=DISABLED)
def list_actions(
    rt: RuntimeDep,
    recommendation: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    return _actuator(rt).decisions.actions(recommendation, limit)
