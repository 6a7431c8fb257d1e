"""Score a series sent by a client, with the same contract as ``meshpulse score``.

Input rules (also in the README): ``null``, ``NaN`` and ``±Infinity`` values are no
data (a ``null`` score, never an anomaly); timestamps must be finite and strictly
increasing, so unsorted or duplicate ones are refused rather than silently reordered
or merged. Every refusal is a standard 422 validation error with the offending point.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError

from detector.api.schemas import ScoreRequest, ScoreResponse, nullable
from detector.detect.csv_score import InputError, score_points

router = APIRouter(prefix="/api/v1", tags=["score"])

RESPONSES: dict[int | str, dict[str, Any]] = {400: {"description": "the body is not decodable"}}


@router.post("/score", response_model=ScoreResponse, responses=RESPONSES)
def score(body: ScoreRequest) -> ScoreResponse:
    """Causal scores in [0, 1]; ``null`` values are no data and get a ``null`` score."""
    if len(body.timestamps) != len(body.values):
        invalid("values", "timestamps and values must have the same length")
    values = [math.nan if v is None else v for v in body.values]
    try:
        scores = score_points(body.timestamps, values)
    except InputError as exc:
        invalid("timestamps", str(exc))
    out = nullable(scores)
    return ScoreResponse(
        timestamps=body.timestamps,
        values=nullable(values),
        anomaly_score=out,
        is_anomaly=[s is not None and s >= 0.5 for s in out],
    )


def invalid(field: str, message: str) -> None:
    """A 422 in FastAPI's own shape (``detail`` is a list), as the OpenAPI schema promises."""
    raise RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": None}]
    )
