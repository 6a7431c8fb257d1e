"""Score a series sent by a client, with the same contract as ``meshpulse score``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from detector.api.schemas import ScoreRequest, ScoreResponse, nullable
from detector.detect.csv_score import InputError, score_points

router = APIRouter(prefix="/api/v1", tags=["score"])


@router.post("/score", response_model=ScoreResponse)
def score(body: ScoreRequest) -> ScoreResponse:
    """Causal scores in [0, 1]; ``null`` values are no data and get a ``null`` score."""
    if len(body.timestamps) != len(body.values):
        raise HTTPException(422, "timestamps and values must have the same length")
    values = [float("nan") if v is None else v for v in body.values]
    try:
        scores = score_points(body.timestamps, values)
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    out = nullable(scores)
    return ScoreResponse(
        timestamps=body.timestamps,
        values=nullable(values),
        anomaly_score=out,
        is_anomaly=[s is not None and s >= 0.5 for s in out],
    )
