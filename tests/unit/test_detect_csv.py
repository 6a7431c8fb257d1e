"""score_csv / score_points: parsing rules, error messages, causality."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest

from detector.detect.csv_score import InputError, parse_csv, score_csv, score_points, write_scored


def _csv(values: list[float], start: int = 1_700_000_000, step: int = 60) -> str:
    rows = [f"{start + i * step},{'' if math.isnan(v) else v}" for i, v in enumerate(values)]
    return "timestamp,value\n" + "\n".join(rows) + "\n"


def _series(n: int = 400, seed: int = 0) -> list[float]:
    x = np.random.default_rng(seed).normal(20, 1, n)
    x[300] = 40.0
    x[100:103] = np.nan
    return x.tolist()


def test_spike_is_flagged_and_noise_is_not() -> None:
    rows = score_csv(_csv(_series()))
    assert rows[300].is_anomaly == 1 and rows[300].anomaly_score >= 0.5
    assert sum(r.is_anomaly for r in rows) <= 3
    assert all(0 <= r.anomaly_score <= 1 for r in rows if not math.isnan(r.anomaly_score))


def test_missing_values_are_no_data() -> None:
    rows = score_csv(_csv(_series()))
    assert [math.isnan(r.anomaly_score) for r in rows[99:104]] == [False, True, True, True, False]
    assert rows[100].value == "" and rows[100].is_anomaly == 0


def test_causal_prefix_scores_equal_prefix_of_scores() -> None:
    values = _series()
    full = [r.anomaly_score for r in score_csv(_csv(values))]
    for cut in (1, 25, 101, 301):
        prefix = [r.anomaly_score for r in score_csv(_csv(values[:cut]))]
        np.testing.assert_array_equal(prefix, full[:cut])


def test_timestamp_formats_and_echo(tmp_path: Path) -> None:
    text = (
        "Value,Timestamp,host\n"
        "1.5,2026-01-01T00:00:00Z,a\n"
        "2,2026-01-01T01:00:30+01:00,a\n"  # 00:00:30Z
        "nan,2026-01-01 00:01:00,a\n"  # no offset: UTC
        "3,1767225720,a\n"
    )  # epoch seconds, 00:02:00Z
    table = parse_csv(text)
    np.testing.assert_array_equal(np.diff(table.epochs), [30, 30, 60])
    path = tmp_path / "in.csv"
    path.write_text(text)
    rows = score_csv(path)
    assert [r.timestamp for r in rows][1] == "2026-01-01T01:00:30+01:00" and rows[0].value == "1.5"
    assert [repr(r) for r in score_csv(str(path))] == [repr(r) for r in rows]  # NaN != NaN


def test_write_scored() -> None:
    out = io.StringIO()
    write_scored(score_csv("timestamp,value\n1,5\n2,\n"), out)
    assert out.getvalue() == "timestamp,value,anomaly_score,is_anomaly\n1,5,0.000000,0\n2,,,0\n"


def test_header_only_is_empty_output() -> None:
    assert score_csv("timestamp,value\n") == []
    assert score_csv("timestamp,value") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("1700000000,1\n1700000060,2\n", "line 1: no header"),
        ("time,val\n1,2\n", "line 1: the header must name"),
        ("timestamp,value\n1,2\nyesterday,3\n", "line 3: bad timestamp 'yesterday'"),
        ("timestamp,value\n1,2\n2,lots\n", "line 3: value 'lots' is not a number"),
        ("timestamp,value\n1,2\n3,2\n2,2\n", "line 4: timestamp '2' is earlier"),
        ("timestamp,value\n1,2\n1,3\n", "line 3: timestamp '1' duplicates"),
        ("timestamp,value\n1,2\n2\n", "line 3: expected 2 fields"),
    ],
)
def test_unreadable_input(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        score_csv(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        score_csv(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="not found"):
        score_csv(str(tmp_path / "nope.csv"))


def test_score_points() -> None:
    values = _series()
    scores = score_points(np.arange(len(values)) * 60.0, values)
    np.testing.assert_array_equal(scores, [r.anomaly_score for r in score_csv(_csv(values))])
    assert score_points([], []).shape == (0,)
    with pytest.raises(InputError, match="strictly increasing"):
        score_points([0, 60, 60], [1, 2, 3])
    with pytest.raises(InputError, match="equally long"):
        score_points([0, 60], [1.0])
    with pytest.raises(InputError, match="finite"):
        score_points([0, float("nan")], [1.0, 2.0])
