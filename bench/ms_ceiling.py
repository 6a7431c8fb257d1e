"""How far any threshold on MeshPulse's score could take the Microsoft data set's event F1 and NAB score.

    .venv/bin/python bench/ms_ceiling.py [--data DIR]

Scores every Microsoft cloud-monitoring series with MeshPulse's ensemble (``meshpulse score``'s
default; same event rules, probation and oracle grid as ``bench/eval.py``) and prints the pooled event
precision, recall and F1 three ways:

* at the calibrated threshold 0.5 (what the product does);
* at the one global threshold that is best for F1 on the labels (an oracle);
* with a threshold chosen *per file* on that file's own labels (a stronger oracle: every
  series gets the cut-off that suits its labels best; an all-normal file gets one above its
  highest score). No causal detector with one threshold can beat this on these scores.

If the per-file oracle stays far below a target, the target is out of reach of the score's
ranking, whatever the threshold: what remains is how the labels treat alarms the score
ranks alike (here: single-point spikes, mostly left unlabelled).

Then the same for the NAB standard-profile score (``bench/eval.py``'s rules: every alarm
point outside a window is charged): NAB's own rule, one best global threshold, against a
threshold chosen per file to maximise that file's NAB total. The gap between the two is
how much the score's scale differs from file to file for NAB's purposes, which one
global threshold cannot bridge.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from detector.detect.csv_score import score_points
from detector.evaluation.datasets import LabelledSeries, data_root, load
from detector.evaluation.events import (
    SeriesOutcome,
    aggregate,
    best_f1_threshold,
    event_metrics,
    series_outcome,
)
from detector.evaluation.nab import (
    PROFILES,
    judged_nab_windows,
    nab_scores,
    perfect_tp,
    series_curves,
    threshold_grid,
)
from detector.evaluation.report import F1_GRID, MERGE_GAP, ORACLE_TOP_FRACTION, PROBATION, TOLERANCE


def per_file_best(series: LabelledSeries, scores: np.ndarray, grid: np.ndarray) -> SeriesOutcome:
    """The outcome of ``series`` at the threshold best for its own F1 (fewest alarms on ties)."""
    probation = PROBATION["ms"]
    top = float(np.nanmax(scores)) if np.isfinite(scores).any() else 1.0
    best: tuple[float, SeriesOutcome] | None = None
    for thr in sorted({*grid.tolist(), np.nextafter(top, np.inf)}, reverse=True):
        out = series_outcome(series, scores, float(thr), TOLERANCE, probation, MERGE_GAP)
        caught, windows = len(out.caught), len(set(out.keys))
        if windows == 0:  # all normal: the best is no alarm at all
            f1 = 1.0 if out.n_detections == 0 else 0.0
        else:
            p = out.n_true / out.n_detections if out.n_detections else 0.0
            r = caught / windows
            f1 = 2 * p * r / (p + r) if p + r else 0.0
        if best is None or f1 > best[0]:
            best = (f1, out)
    assert best is not None
    return best[1]


def nab_per_file(series: Sequence[LabelledSeries], scores: Sequence[np.ndarray], grid: np.ndarray) -> float:
    """Normalised NAB standard score with each file at its own best threshold (an oracle)."""
    p = PROFILES[0]
    total = null = top = 0.0
    for s, sc in zip(series, scores, strict=True):
        wins, start = judged_nab_windows(s, PROBATION["ms"])
        fp, tp, missed, n = series_curves(sc, wins, start, grid)
        total += float(np.max(p.a_fp * fp + p.a_tp * tp - p.a_fn * missed))
        null -= p.a_fn * n
        top += p.a_tp * perfect_tp(wins, start)
    return 100.0 * (total - null) / (top - null)


def row(name: str, threshold: str, m: object) -> str:
    p, r, f1 = (getattr(m, k) for k in ("precision", "recall", "f1"))
    return f"| {name} | {threshold} | {p:.2f} | {r:.2f} | {f1:.2f} |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data set root (default ../shared/datasets)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    series = load("ms", data_root(args.data))
    scores = [score_points(s.timestamps, s.values, "ensemble") for s in series]
    grid = threshold_grid(scores, size=F1_GRID, top_fraction=ORACLE_TOP_FRACTION)
    grid = grid[np.isfinite(grid)]
    fine = np.linspace(0.0, 1.0, 201)  # per file: any cut-off at all
    probation = PROBATION["ms"]
    calibrated = event_metrics(series, scores, 0.5, TOLERANCE, probation, MERGE_GAP)
    thr, global_best = best_f1_threshold(series, scores, grid, TOLERANCE, probation, MERGE_GAP)
    per_file = aggregate([per_file_best(s, sc, fine) for s, sc in zip(series, scores, strict=True)])
    print(f"Microsoft cloud monitoring, {len(series)} series, MeshPulse ensemble\n")
    print("| threshold | chosen | precision | recall | F1 |\n|---|---|---|---|---|")
    print(row("calibrated", "0.5", calibrated))
    print(row("best global (oracle)", f"{thr:.3g}", global_best))
    print(row("best per file (oracle)", "per file", per_file))
    nab = nab_scores(series, scores, probation=probation)[0]
    print("\n| NAB standard | chosen | score |\n|---|---|---|")
    print(f"| best global (NAB's rule) | {nab.threshold:.3g} | {nab.score:.1f} |")
    print(f"| best per file (oracle) | per file | {nab_per_file(series, scores, np.r_[fine, np.inf]):.1f} |")
    print(f"\nwall time: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
