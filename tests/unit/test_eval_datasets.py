"""Loaders on small synthetic files in each real format, plus the real MS folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detector.evaluation.datasets import (
    DEFAULT_DATA,
    data_root,
    load_ms,
    load_ms_file,
    load_nezha,
    load_petshop,
    runs,
)


def test_runs_finds_maximal_true_runs() -> None:
    assert runs(np.array([1, 1, 0, 0, 1, 0, 1], dtype=bool)) == [(0, 1), (4, 4), (6, 6)]
    assert runs(np.zeros(3, dtype=bool)) == []


def test_data_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MESHPULSE_DATASETS", raising=False)
    assert data_root() == DEFAULT_DATA
    monkeypatch.setenv("MESHPULSE_DATASETS", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root("/x") == Path("/x")


def test_ms_file_with_quoted_rows_and_empty_value(tmp_path: Path) -> None:
    f = tmp_path / "dom" / "series-01.csv"
    f.parent.mkdir()
    f.write_text(
        '"TimeStamp","Value","Label"\n'
        '"2018-03-15T00:00:00Z",1.5,0\n'
        "2018-03-15 01:00:00,,0\n"
        '"2018-03-15T02:00:00Z",9,1\n'
        '"2018-03-15T03:00:00Z",8,1\n'
        '"2018-03-15T04:00:00Z",1,0\n'
        '"2018-03-15T05:00:00Z",7,1\n'
    )
    s = load_ms_file(f)
    t0 = 1521072000.0
    assert s.name == "dom/series-01" and s.step_s == 3600.0
    assert s.timestamps.tolist() == [t0 + 3600 * k for k in range(6)]
    assert np.isnan(s.values[1]) and s.values[0] == 1.5 and s.meta["n_missing"] == 1
    assert s.windows == [(t0 + 7200, t0 + 10800), (t0 + 18000, t0 + 18000)]
    assert s.labels.tolist() == [False, False, True, True, False, True]


def _nezha_pod(path: Path, pod: str, t0: int, n: int, stamp_offset: int = 0) -> None:
    rows = ["Time,TimeStamp,PodName,PodServerLatencyP90(s),PodWorkload(Ops),PodSuccessRate(%)"]
    for k in range(n):
        t = t0 + 60 * k
        clock = np.datetime64(t, "s").astype(str).replace("T", " ")
        rows.append(
            f"{clock}.5 +0000 UTC m=+{60 * k}.1,{t + stamp_offset},{pod},{0.01 * (k % 3 + 1)},{k % 5},0"
        )
    path.write_text("\n".join(rows) + "\n")


def test_nezha_loader_time_column_rule_callers_and_constant_columns(tmp_path: Path) -> None:
    base = tmp_path / "nezha-online-boutique"
    metric = base / "2022-08-22" / "metric"
    metric.mkdir(parents=True)
    t0, n = 1661140279, 30
    _nezha_pod(
        metric / "adservice-5f6585d649-fnmft_metric.csv", "adservice-5f6585d649-fnmft", t0, n, 200_000_000
    )
    _nezha_pod(metric / "frontend-579b9bff58-t2dbm_metric.csv", "frontend-579b9bff58-t2dbm", t0, n)
    _nezha_pod(metric / "cartservice-1-2_metric.csv", "cartservice-1-2", t0, n)
    (metric / "dependency.csv").write_text(
        "Source,Target,Weight\nfrontend,adservice,1\nadservice,33.33.33.76,1\n"
    )
    front = ["Time,TimeStamp,ServiceName,SuccessRate(%),LatencyP50(s),LatencyP90(s),LatencyP99(s)"]
    front += [
        f"2022-08-22 03:5{1 + k}:19.5 +0000 UTC,{t0 + 60 * k},Frontend,100,0.1,{0.2 + k % 2},1"
        for k in range(5)
    ]
    (metric / "front_service.csv").write_text("\n".join(front) + "\n")
    for side in ("destination_50", "source_50"):
        edge = ["time,timestamp,frontend_adservice"] + [
            f"2022-08-22 03:5{1 + k}:19.9 +0000 UTC,{t0 + 60 * k},{0.003 + k % 2}" for k in range(5)
        ]
        (metric / f"{side}.csv").write_text("\n".join(edge) + "\n")
    start = t0 + 600 - 25  # a fault on adservice, between two samples
    (base / "labels.csv").write_text(
        "system,date,service,pod,fault_type,start_utc,start_ts,end_ts,orig_inject_timestamp,ts_mismatch_s\n"
        f"online-boutique,2022-08-22,adservice,adservice-x-y,return,x,{start},{start + 180},{start},0\n"
    )
    series = {s.name: s for s in load_nezha(tmp_path)}
    ad = series["2022-08-22/adservice/PodServerLatencyP90(s)"]
    assert ad.timestamps[0] == t0  # from Time, not the corrupted TimeStamp
    assert ad.labels.sum() == 3 and len(ad.windows) == 1
    assert not any("PodSuccessRate" in k for k in series)  # constant zero: skipped
    assert "2022-08-22/front/SuccessRate(%)" not in series  # constant 100: skipped
    fe = series["2022-08-22/frontend/PodWorkload(Ops)"]
    assert fe.window_keys == ad.window_keys  # frontend calls adservice: same fault, shared key
    assert series["2022-08-22/cartservice/PodWorkload(Ops)"].windows == []  # not a caller
    assert series["2022-08-22/source_50/frontend_adservice"].meta["services"] == ("frontend", "adservice")


def _petshop_csv(path: Path, t0: int, n: int, cols: list[tuple[str, str, str]], bump: float = 0.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        ",".join(["microservice", *(c[0] for c in cols)]),
        ",".join(["metric", *(c[1] for c in cols)]),
        ",".join(["statistic", *(c[2] for c in cols)]),
        "unix_timestamp" + "," * len(cols),
    ]
    for k in range(n):
        vals = [f"{1.0 + 0.01 * (k % 4) + (bump if k >= n - 3 else 0.0)}", ""]
        lines.append(",".join([f"{t0 + 300 * k}.0", *vals[: len(cols)]]))
    path.write_text("\n".join(lines) + "\n")


def test_petshop_noissue_and_issue_with_history(tmp_path: Path) -> None:
    cols = [("PetSite", "latency", "Average"), ("Other", "latency", "p99")]
    scen = tmp_path / "petshop-rca" / "high_traffic"
    _petshop_csv(scen / "noissue" / "metrics.csv", 1693922400, 50, cols)
    _petshop_csv(scen / "test" / "issue_0" / "metrics.csv", 1681398600, 5, cols, bump=5.0)
    target = {"target": {"node": "PetSite", "metric": "latency", "agg": "Average", "timestamp": 1681399159}}
    (scen / "test" / "issue_0" / "target.json").write_text(json.dumps(target))
    lonely = tmp_path / "petshop-rca" / "temporal_traffic1" / "train" / "issue_0"
    _petshop_csv(lonely / "metrics.csv", 1681398600, 5, cols)
    (lonely / "target.json").write_text(json.dumps(target))
    series = {s.name: s for s in load_petshop(tmp_path)}
    normal = series["high_traffic/noissue/PetSite/latency/Average"]
    assert normal.windows == [] and len(normal.values) == 50 and normal.step_s == 300.0
    assert "high_traffic/noissue/Other/latency/p99" not in series  # all empty: skipped
    issue = series["high_traffic/test/issue_0/PetSite/latency/Average"]
    assert len(issue.values) == 55 and issue.eval_from == 50
    assert issue.timestamps[49] == issue.timestamps[50] - 300  # history ends one step before
    assert np.all(np.diff(issue.timestamps) > 0) and issue.labels.sum() == 3
    assert series["temporal_traffic1/train/issue_0/PetSite/latency/Average"].meta["too_short"]


def test_real_ms_folder_loads() -> None:
    series = load_ms(data_root())
    assert len(series) == 60
    assert sum(len(s.windows) for s in series) == 299
    assert sum(s.meta["n_missing"] for s in series) == 42
    assert sum(s.meta["n_dup"] for s in series) == 241  # repeated timestamps, first kept
    assert sum(1 for s in series if not s.windows) == 6
    assert all(np.all(np.diff(s.timestamps) > 0) for s in series)
