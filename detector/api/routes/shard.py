"""``GET /api/v1/shard``: which services this replica watches, and whom it believes alive.

Ownership is decided independently by every shard, so the only way to check that no service
is watched twice (or by nobody) is to ask each one; this is that question.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from detector.api.deps import RuntimeDep
from detector.shard.filter import OwnedSource

router = APIRouter(prefix="/api/v1", tags=["shard"])


class ShardStatus(BaseModel):
    shard_id: str
    live_shards: list[str] = Field(description="Shards whose lease is current or within the grace")
    dead_shards: list[str] = Field(description="Shards whose services have been taken over")
    owned_services: list[str] = Field(description="``namespace/service`` this shard scored last cycle")
    seen_services: int = Field(description="Services in the last fetch, owned or not")
    renewed_at: float | None = None
    lease_expires_at: float | None = None


@router.get("/shard", response_model=ShardStatus, responses={404: {"description": "sharding is off"}})
def shard_status(rt: RuntimeDep) -> ShardStatus:
    """404 when sharding is off (no ``shard_id``): a single replica owns everything."""
    source = rt.pipeline.source
    if not isinstance(source, OwnedSource):
        raise HTTPException(404, "sharding is off: set shard_id to run as one of several replicas")
    own = source.ownership
    m = own.membership
    return ShardStatus(
        shard_id=source.shard_id,
        live_shards=list(m.live) if m else [],
        dead_shards=list(m.dead) if m else [],
        owned_services=list(own.owned),
        seen_services=own.seen,
        renewed_at=m.renewed_at if m else None,
        lease_expires_at=m.expires_at if m else None,
    )
