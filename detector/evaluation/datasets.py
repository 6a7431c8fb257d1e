"""Loaders that turn the three labelled third-party data sets into one record type.

Why one record: every detector is scored by the same event and NAB code, so each data set's
quirks (quoted rows, empty values, a corrupted clock, constant columns; see each README under
``shared/datasets``) are settled here, once, and never leak into the metrics.

Label windows are closed intervals ``(start, end)`` in Unix seconds. A window may carry
a *key* (``meta["window_keys"]``) shared by several series: Nezha faults are evaluated
per fault, and a fault is caught when any series of the faulted service or one of its
direct callers catches it (see :func:`load_nezha`).

``meta["eval_from"]`` (a point index) marks where scoring starts: points before it are
history fed to the detector but never judged (PetShop's prepended baseline).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "datasets"
Window = tuple[float, float]


@dataclass
class LabelledSeries:
    """One univariate series with per-point labels and label windows (Unix seconds)."""

    name: str
    dataset: str
    timestamps: np.ndarray
    values: np.ndarray
    labels: np.ndarray
    windows: list[Window]
    step_s: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def window_keys(self) -> list[str]:
        """One key per window; windows sharing a key are one event to catch."""
        keys = self.meta.get("window_keys")
        return list(keys) if keys is not None else [f"{self.name}#{i}" for i in range(len(self.windows))]

    @property
    def eval_from(self) -> int:
        return int(self.meta.get("eval_from", 0))


def data_root(override: str | os.PathLike[str] | None = None) -> Path:
    """``--data`` wins, then ``MESHPULSE_DATASETS``, then ``../shared/datasets`` next to the clone."""
    if override:
        return Path(override)
    env = os.environ.get("MESHPULSE_DATASETS")
    return Path(env) if env else DEFAULT_DATA


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as inclusive ``(first, last)`` index pairs.

    >>> runs(np.array([0, 1, 1, 0, 1], dtype=bool))
    [(1, 2), (4, 4)]
    """
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]]).astype(np.int8)
    d = np.diff(m)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def median_step(ts: np.ndarray) -> float:
    return float(np.median(np.diff(ts))) if len(ts) > 1 else 0.0


def sorted_unique(ts: np.ndarray, *cols: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sort by time and keep the first row of each timestamp.

    Why: the detectors require strictly increasing time (a streamed series cannot go
    back), and a data file that repeats or reorders rows should not crash the benchmark.
    """
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    keep = np.concatenate([[True], np.diff(ts) > 0]) if len(ts) else np.zeros(0, dtype=bool)
    return (ts[keep], *(c[order][keep] for c in cols))


def load_ms_file(path: Path, dataset: str = "ms") -> LabelledSeries:
    """One ``TimeStamp,Value,Label`` CSV (quoted rows, empty values allowed); windows: runs of Label=1."""
    df = pd.read_csv(path, dtype={"TimeStamp": str, "Value": str, "Label": str}, keep_default_na=False)
    ts = pd.to_datetime(df["TimeStamp"].str.strip(), utc=True, format="ISO8601")
    epochs = (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64)
    values = pd.to_numeric(df["Value"].str.strip(), errors="coerce").to_numpy(np.float64)
    labels = pd.to_numeric(df["Label"].str.strip(), errors="coerce").fillna(0).to_numpy() > 0
    epochs, values, labels = sorted_unique(epochs, values, labels)
    windows = [(float(epochs[a]), float(epochs[b])) for a, b in runs(labels)]
    # 241 rows repeat a timestamp (crash-rate files; a DST hour in api-01): the first is kept.
    meta = {"n_missing": int(np.isnan(values).sum()), "n_dup": len(df) - len(epochs)}
    name = f"{path.parent.name}/{path.stem}"
    return LabelledSeries(name, dataset, epochs, values, labels, windows, median_step(epochs), meta)


def load_ms(root: Path, limit: int | None = None) -> list[LabelledSeries]:
    """All series under ``ms-cloud-monitoring/data``; ``limit`` keeps every k-th for quick runs."""
    files = sorted((root / "ms-cloud-monitoring" / "data").glob("*/*.csv"))
    if not files:
        raise FileNotFoundError(f"no MS CSVs under {root}; pass --data or set MESHPULSE_DATASETS")
    if limit is not None and limit < len(files):
        files = files[:: max(1, len(files) // limit)][:limit]
    return [load_ms_file(f) for f in files]


# Istio golden signals only (CPU/memory are not what the mesh detector sees). PodSuccessRate
# is constant 0 in the real data and is dropped by the constant-column rule.
NEZHA_POD_COLUMNS: tuple[str, ...] = (
    "PodServerLatencyP90(s)",
    "PodServerLatencyP99(s)",
    "PodClientLatencyP90(s)",
)
NEZHA_POD_COLUMNS += ("PodClientLatencyP99(s)", "PodWorkload(Ops)", "PodSuccessRate(%)")
NEZHA_FRONT_COLUMNS = ("SuccessRate(%)", "LatencyP50(s)", "LatencyP90(s)", "LatencyP99(s)")
CLOCK_DISAGREEMENT_S = 60.0


def nezha_times(df: pd.DataFrame) -> np.ndarray:
    """Unix seconds of each row: ``TimeStamp``, unless it disagrees with ``Time``.

    Why: ``2022-08-22`` adservice has a ``TimeStamp`` about 2e8 s off (README caveat),
    while ``Time`` (a Go time string, UTC) is right everywhere. We fall back to ``Time``
    whenever any row disagrees by more than a minute, rather than naming the one file.
    """
    tcol, scol = ("Time", "TimeStamp") if "Time" in df.columns else ("time", "timestamp")
    parsed = pd.to_datetime(df[tcol].astype(str).str.slice(0, 19), utc=True, format="%Y-%m-%d %H:%M:%S")
    from_time = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64)
    stamp = pd.to_numeric(df[scol], errors="coerce").to_numpy(np.float64)
    if np.all(np.abs(stamp - from_time) <= CLOCK_DISAGREEMENT_S):
        return stamp
    return from_time


def callers_of(dep: pd.DataFrame) -> dict[str, set[str]]:
    """Direct callers per service, from ``dependency.csv`` (IP-address targets are hosts, not services)."""
    out: dict[str, set[str]] = {}
    for src, dst in zip(dep["Source"], dep["Target"], strict=True):
        if not str(dst)[:1].isdigit():
            out.setdefault(str(dst), set()).add(str(src))
    return out


def _usable(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return len(finite) > 1 and float(np.ptp(finite)) > 0.0


def label_mask(ts: np.ndarray, windows: list[Window]) -> np.ndarray:
    labels = np.zeros(len(ts), dtype=bool)
    for a, b in windows:
        labels |= (ts >= a) & (ts <= b)
    return labels


def _nezha_columns(metric: Path) -> Iterator[tuple[str, tuple[str, ...], pd.DataFrame, str]]:
    """``(name, owning services, table, column)`` for every candidate series of one day."""
    for path in sorted(metric.glob("*_metric.csv*")):
        df = pd.read_csv(path)
        service = "-".join(str(df["PodName"].iloc[0]).split("-")[:-2])  # pod name minus 2 hash segments
        yield from ((f"{service}/{c}", (service,), df, c) for c in NEZHA_POD_COLUMNS if c in df.columns)
    front = pd.read_csv(_gz(metric / "front_service.csv"))
    yield from ((f"front/{c}", ("frontend",), front, c) for c in NEZHA_FRONT_COLUMNS if c in front.columns)
    for side in ("destination_50", "source_50"):
        edges = pd.read_csv(_gz(metric / f"{side}.csv"))
        for col in map(str, edges.columns[2:]):
            caller, _, callee = col.partition("_")
            yield f"{side}/{col}", (caller, callee), edges, col


def load_nezha(root: Path, dates: list[str] | None = None) -> list[LabelledSeries]:
    """Per-pod golden signals, frontend series and edge P50 latencies for each date.

    Constant or all-NaN columns (``PodSuccessRate``) are skipped. A series owned by some
    services carries the windows of faults on them or on their direct callees (so a
    fault is looked for on the faulted service and on its callers); an edge series
    ``a_b`` is owned by both ``a`` and ``b``. Each window's key is its fault.
    """
    base = root / "nezha-online-boutique"
    labels = pd.read_csv(base / "labels.csv")
    labels["fault_id"] = labels["date"] + "/" + labels["service"] + "/" + labels["start_ts"].astype(str)
    out: list[LabelledSeries] = []
    for date in dates or sorted(labels["date"].unique()):
        faults = labels[labels["date"] == date]
        callers = callers_of(pd.read_csv(_gz(base / date / "metric" / "dependency.csv")))
        for name, services, df, col in _nezha_columns(base / date / "metric"):
            ts, values = sorted_unique(
                nezha_times(df), pd.to_numeric(df[col], errors="coerce").to_numpy(float)
            )
            if not _usable(values):
                continue
            own = set(services)
            hit = np.array([svc in own or bool(own & callers.get(svc, set())) for svc in faults["service"]])
            rel = faults[hit] if len(faults) else faults
            windows = [(float(a), float(b)) for a, b in zip(rel["start_ts"], rel["end_ts"], strict=True)]
            meta = {"services": services, "window_keys": list(map(str, rel["fault_id"]))}
            out.append(
                LabelledSeries(
                    f"{date}/{name}",
                    "nezha",
                    ts,
                    values,
                    label_mask(ts, windows),
                    windows,
                    median_step(ts),
                    meta,
                )
            )
    return out


def _gz(path: Path) -> Path:
    """The real data is gzipped, synthetic test files need not be."""
    gz = path.with_name(path.name + ".gz")
    return gz if gz.exists() else path


def _petshop_table(path: Path) -> pd.DataFrame:
    """3 header rows (node, metric, statistic), a ``unix_timestamp`` row, then one row per time."""
    df = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    df.index = pd.to_numeric(df.index, errors="coerce")
    return df[np.isfinite(df.index.to_numpy(np.float64))].sort_index()


def _col_values(df: pd.DataFrame, col: tuple[str, str, str]) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)


def load_petshop(root: Path, max_series: int | None = None) -> list[LabelledSeries]:
    """``noissue`` columns as all-normal series, plus one series per injected issue.

    An issue file has 5 points, too few for any streaming detector to have a baseline.
    So each issue's target column (always a ``PetSite`` series) is prefixed with the
    same scenario's ``noissue`` column as history, shifted in time to end one step
    before the issue, and only the issue points are judged (``eval_from``). The README
    warns that ``noissue`` was recorded months later in a different deployment, so a
    level shift at the seam is possible: this favours nobody but can cost precision.
    Issues of scenarios without a ``noissue`` file are returned with ``too_short``.
    """
    base = root / "petshop-rca"
    out: list[LabelledSeries] = []
    for scen in sorted(p for p in base.iterdir() if p.is_dir()):
        normal_path = scen / "noissue" / "metrics.csv"
        normal = _petshop_table(normal_path) if normal_path.exists() else None
        if normal is not None:
            ts = normal.index.to_numpy(np.float64)
            for col in [c for c in normal.columns if _usable(_col_values(normal, c))][:max_series]:
                name = f"{scen.name}/noissue/{'/'.join(col)}"
                out.append(_petshop_series(name, ts, _col_values(normal, col), [], 0))
        for issue in sorted(scen.glob("*/issue_*")):
            out.append(_petshop_issue(scen.name, issue, normal))
    return out


def _petshop_issue(scenario: str, issue: Path, normal: pd.DataFrame | None) -> LabelledSeries:
    target = json.loads((issue / "target.json").read_text())["target"]
    col = (target["node"], target["metric"], target["agg"])
    df = _petshop_table(issue / "metrics.csv")
    ts, vals = df.index.to_numpy(np.float64), _col_values(df, col)
    name = f"{scenario}/{issue.parent.name}/{issue.name}/{'/'.join(col)}"
    window = [(float(target["timestamp"]), float(ts[-1]))]
    if normal is None or col not in normal.columns:
        return _petshop_series(name, ts, vals, window, 0, too_short=True)
    hist_ts = normal.index.to_numpy(np.float64)
    hist_ts = hist_ts - hist_ts[-1] + ts[0] - (median_step(ts) or 300.0)
    full_ts, full_vals = np.concatenate([hist_ts, ts]), np.concatenate([_col_values(normal, col), vals])
    return _petshop_series(name, full_ts, full_vals, window, len(hist_ts))


def _petshop_series(
    name: str, ts: np.ndarray, v: np.ndarray, wins: list[Window], start: int, **meta: Any
) -> LabelledSeries:
    ts, v = sorted_unique(ts, v)
    meta = {"eval_from": start, **meta}
    return LabelledSeries(name, "petshop", ts, v, label_mask(ts, wins), wins, median_step(ts), meta)


def load(name: str, root: Path, quick: bool = False) -> list[LabelledSeries]:
    """Dispatch by data set name: ``ms``, ``nezha`` or ``petshop``."""
    if name == "ms":
        return load_ms(root, limit=12 if quick else None)
    if name == "nezha":
        return load_nezha(root, dates=["2022-08-23"] if quick else None)
    if name == "petshop":
        return load_petshop(root, max_series=20 if quick else None)
    raise ValueError(f"unknown data set {name!r}; choose ms, nezha or petshop")
