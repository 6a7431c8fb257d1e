"""Payload schemas of the REST API (what clients and client generators see)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from detector.health import Health
from detector.series import Scope, Signal


class ServiceHealth(BaseModel):
    service: str
    namespace: str
    health: Health
    active_anomalies: int
    last_data_at: float | None = Field(None, description="Unix seconds of the newest traffic point")
    scores: dict[str, float | None] = Field(description="Latest service-level anomaly score per signal")


class Anomaly(BaseModel):
    """An anomaly event as stored: open while ``ended_at`` is null."""

    model_config = ConfigDict(extra="allow")
    id: str
    series: str
    service: str
    namespace: str
    signal: Signal
    scope: Scope
    pod: str = ""
    version: str = ""
    source: str = ""
    severity: str
    started_at: float
    ended_at: float | None
    observed: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    peak_score: float
    explanation: str


class SeriesPoints(BaseModel):
    """One series over a window: what was seen, what was expected, how anomalous."""

    series: str
    service: str
    signal: Signal
    scope: Scope
    timestamps: list[float]
    observed: list[float | None]
    expected: list[float | None]
    lower: list[float | None]
    upper: list[float | None]
    score: list[float | None]


Number = Annotated[float, Strict()]
"""A JSON number: ``true`` or ``"1.5"`` is refused, not coerced, so the request matches the schema."""


class ScoreRequest(BaseModel):
    """Points of one series, oldest first; scoring is causal."""

    model_config = ConfigDict(extra="forbid")
    timestamps: list[Number] = Field(min_length=1, max_length=1_000_000)
    values: list[Number | None] = Field(min_length=1, max_length=1_000_000)

    @field_validator("timestamps")
    @classmethod
    def _finite_times(cls, v: list[float]) -> list[float]:
        if any(not math.isfinite(t) for t in v):
            raise ValueError("timestamps must be finite numbers (Unix seconds)")
        return v


class ScoreResponse(BaseModel):
    timestamps: list[float]
    values: list[float | None]
    anomaly_score: list[float | None]
    is_anomaly: list[bool]


class Readiness(BaseModel):
    ready: bool
    metrics_source: dict[str, Any]
    alertmanager: dict[str, Any]


def nullable(values: Any) -> list[float | None]:
    """JSON has no NaN: no data is ``null``."""
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]
