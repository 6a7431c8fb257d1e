"""Score a univariate ``timestamp,value`` CSV: the engine behind ``meshpulse score``.

The same :class:`RobustEWMA` as the mesh, with ``direction=0`` (a generic metric can
be anomalous either way) and a 1 % relative sigma floor so a flat series does not
call quantisation noise an anomaly. Scoring is causal: a row's score depends only on
that row and the rows before it, exactly as if the file had been streamed.

Input rules, each violation raising :class:`InputError` naming the line:

* a header naming ``timestamp`` and ``value`` columns (any order, case-insensitive;
  other columns are ignored);
* timestamps as ISO-8601 (``Z`` or an offset; without one, UTC is assumed) or Unix
  epoch seconds;
* rows strictly increasing in time: an unsorted or duplicate timestamp is rejected
  rather than re-sorted, because silently reordering would score a different series
  than the one the user handed us;
* values as numbers; an empty field or ``nan`` is "no data" and gets an empty score.

>>> rows = score_csv("timestamp,value\\n2026-01-01T00:00:00Z,1\\n2026-01-01T00:01:00Z,\\n")
>>> [(r.timestamp, r.anomaly_score, r.is_anomaly) for r in rows]
[('2026-01-01T00:00:00Z', 0.0, 0), ('2026-01-01T00:01:00Z', nan, 0)]
>>> import sys; write_scored(rows, sys.stdout)
timestamp,value,anomaly_score,is_anomaly
2026-01-01T00:00:00Z,1,0.000000,0
2026-01-01T00:01:00Z,,,0
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from detector.detect.baseline import BaselineDetector
from detector.detect.registry import DEFAULT, make, score_with
from detector.detect.robust_ewma import RobustEWMA, SeriesParams

CSV_PARAMS = SeriesParams(direction=0, abs_floor=0.0, rel_floor=0.01)
ANOMALY_SCORE = 0.5
_NO_DATA = {"", "nan", "null", "none", "na", "n/a"}


class InputError(ValueError):
    """The input cannot be scored; the message says why and where, for the user."""


@dataclass(frozen=True)
class ScoredRow:
    """One output row; ``timestamp``/``value`` are echoed as given."""

    timestamp: str
    value: str
    anomaly_score: float  # NaN for no data
    is_anomaly: int


def score_points(
    timestamps: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    detector: RobustEWMA | BaselineDetector | str | None = None,
) -> np.ndarray:
    """Scores in [0, 1] (NaN where a value is missing) for epoch-second ``timestamps``.

    ``detector`` is an instance or a name from :mod:`detector.detect.registry`
    (default ``robust_ewma``); an unknown name raises :class:`InputError`.

    >>> score_points([0, 60, 120], [1.0, float("nan"), 1.0]).tolist()
    [0.0, nan, 0.0]
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    vs = np.asarray(values, dtype=np.float64)
    if ts.ndim != 1 or ts.shape != vs.shape:
        raise InputError(f"timestamps and values must be 1-D and equally long, got {ts.shape} and {vs.shape}")
    if not np.isfinite(ts).all():
        raise InputError(f"timestamp #{int(np.flatnonzero(~np.isfinite(ts))[0])} is not a finite number")
    back = np.flatnonzero(np.diff(ts) <= 0)
    if len(back):
        i = int(back[0]) + 1
        raise InputError(
            f"timestamp #{i} ({ts[i]:g}) is not after the previous one ({ts[i - 1]:g}); "
            "points must be strictly increasing in time"
        )
    return score_with(_detector(detector), ts, vs, CSV_PARAMS)


def _detector(detector: RobustEWMA | BaselineDetector | str | None) -> RobustEWMA | BaselineDetector:
    if detector is None or isinstance(detector, str):
        try:
            return make(detector or DEFAULT)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    return detector


def score_csv(
    source: str | os.PathLike[str], detector: RobustEWMA | BaselineDetector | str | None = None
) -> list[ScoredRow]:
    """Score a CSV given as a path, or as the text itself.

    A :class:`~pathlib.Path` is always a file. A ``str`` is the CSV text if it has a
    newline, is blank, or has a comma and names no existing file; otherwise a path.
    """
    det = _detector(detector)  # an unknown name fails before the file is read
    table = parse_csv(_read(source))
    scores = score_points(table.epochs, table.numbers, det)
    return [
        ScoredRow(ts, raw, float(s), int(bool(s >= ANOMALY_SCORE)))
        for ts, raw, s in zip(table.timestamps, table.values, scores, strict=True)
    ]


def write_scored(rows: Sequence[ScoredRow], out: TextIO) -> None:
    """Write the CLI's output CSV; no data gives an empty ``anomaly_score`` and ``is_anomaly`` 0."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "value", "anomaly_score", "is_anomaly"])
    for r in rows:
        score = "" if math.isnan(r.anomaly_score) else f"{r.anomaly_score:.6f}"
        writer.writerow([r.timestamp, r.value, score, r.is_anomaly])


@dataclass
class Table:
    """A parsed input: the raw ``timestamps``/``values`` text and their numbers."""

    timestamps: list[str]
    values: list[str]
    epochs: np.ndarray
    numbers: np.ndarray


def parse_csv(text: str) -> Table:
    """Parse and validate; raises :class:`InputError` naming the offending line."""
    lines = text.lstrip("\ufeff").splitlines()
    if not any(line.strip() for line in lines):
        raise InputError("the input is empty; expected a header 'timestamp,value' and one row per point")
    reader = csv.reader(lines)
    header = [h.strip().lower() for h in next(reader)]
    if "timestamp" not in header or "value" not in header:
        if len(header) >= 2 and _looks_like_data(header):
            raise InputError("line 1: no header; the first line must be 'timestamp,value'")
        raise InputError(
            f"line 1: the header must name 'timestamp' and 'value' columns, got {','.join(header)!r}"
        )
    ti, vi = header.index("timestamp"), header.index("value")
    stamps: list[str] = []
    raws: list[str] = []
    epochs: list[float] = []
    numbers: list[float] = []
    for lineno, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue  # blank line
        if len(fields) < len(header):
            raise InputError(f"line {lineno}: expected {len(header)} fields, got {len(fields)}")
        epoch = _parse_time(fields[ti].strip(), lineno)
        if epochs and epoch <= epochs[-1]:
            word = "duplicates" if epoch == epochs[-1] else "is earlier than"
            raise InputError(
                f"line {lineno}: timestamp {fields[ti].strip()!r} {word} the previous row's; "
                "rows must be sorted by time with no duplicate timestamps"
            )
        stamps.append(fields[ti])
        raws.append(fields[vi])
        epochs.append(epoch)
        numbers.append(_parse_value(fields[vi].strip(), lineno))
    return Table(stamps, raws, np.array(epochs, dtype=np.float64), np.array(numbers, dtype=np.float64))


def _read(source: str | os.PathLike[str]) -> str:
    if isinstance(source, str) and (
        "\n" in source or not source.strip() or ("," in source and not os.path.exists(source))
    ):
        return source
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"input file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def _parse_time(text: str, lineno: int) -> float:
    try:
        return float(text) if _is_number(text) else _parse_iso(text)
    except ValueError:
        raise InputError(
            f"line {lineno}: bad timestamp {text!r}; use ISO-8601 "
            "(2026-01-01T00:00:00Z) or Unix epoch seconds"
        ) from None


def _parse_iso(text: str) -> float:
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _parse_value(text: str, lineno: int) -> float:
    if text.lower() in _NO_DATA:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputError(f"line {lineno}: value {text!r} is not a number") from None


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _looks_like_data(fields: list[str]) -> bool:
    try:
        _parse_time(fields[0], 1)
    except InputError:
        return False
    return True
