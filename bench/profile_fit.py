"""What one season fit costs: per-phase medians (the default) against statsmodels' robust STL.

    .venv/bin/python bench/profile_fit.py [--repeats 5]

A season is re-checked on every series as its history grows (``BaselineDetector``'s
checkpoints), so the fit's cost is paid per series, not once. For a noisy daily season
at a 1-min and a 1-h step, this times (best of ``--repeats``, CPU time of this thread):

* ``fit_profile``: per-phase medians of bin means (288 bins a day at 1 min);
* ``fit_profile_stl``: robust STL on bin means at ``STL_MAX_BINS`` (48) bins a cycle,
  what ``seasonal_stl`` uses;
* robust STL at the step's own bins (288 a day at 1 min), what STL would cost at the
  median fit's resolution (one run: it takes seconds);

and how well each profile matches the true season (RMS error, in units of the season's
amplitude, after both are brought to the same bins).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from detector.detect.periods import DAY, bin_width, fit_profile, fit_profile_stl, stl_bin_width


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.thread_time()
        out = fn()
        best = min(best, time.thread_time() - t0)
    return best, out


def _profile_error(prof: np.ndarray, bin_s: float) -> float:
    """RMS gap between a profile and the true season (both centred), per unit of amplitude."""
    centres = (np.arange(len(prof)) + 0.5) * bin_s
    truth = np.sin(2 * np.pi * centres / DAY)
    gap = (prof - prof.mean()) - (truth - truth.mean()) * AMPLITUDE
    return float(np.sqrt(np.mean(gap**2)) / AMPLITUDE)


AMPLITUDE = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print("| step | history | fit | bins/cycle | ms per fit | × median fit | profile RMS error |")
    print("|---|---|---|---|---:|---:|---:|")
    for step, days in ((60.0, 8), (3600.0, 28)):
        ts = np.arange(0, days * DAY, step)
        x = 100 + AMPLITUDE * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, 5, ts.size)
        bin_s = bin_width(DAY, step)
        fits: list[tuple[str, float, Callable[[], Any], int]] = [
            ("median (default)", bin_s, partial(fit_profile, ts, x, DAY, bin_s), args.repeats),
            (
                "STL robust",
                stl_bin_width(DAY, bin_s),
                partial(fit_profile_stl, ts, x, DAY, bin_s),
                args.repeats,
            ),
        ]
        if round(DAY / bin_s) > round(DAY / stl_bin_width(DAY, bin_s)):
            fits.append(("STL robust", DAY / round(DAY / bin_s), partial(_stl_full, ts, x, bin_s), 1))
        base = None
        for name, width, fn, repeats in fits:
            seconds, (prof, _, _) = _best(fn, repeats)
            base = base or seconds
            print(
                f"| {step:g} s | {days} days | {name} | {round(DAY / width)} | {seconds * 1e3:.2f} | "
                f"{seconds / base:,.0f} | {_profile_error(prof, width):.3f} |"
            )
    return 0


def _stl_full(ts: np.ndarray, x: np.ndarray, bin_s: float) -> tuple[np.ndarray, float, float]:
    """``fit_profile_stl`` without its bin cap: STL at the median fit's own resolution."""
    import detector.detect.periods as periods

    cap = periods.STL_MAX_BINS
    periods.STL_MAX_BINS = round(DAY / bin_s)
    try:
        return fit_profile_stl(ts, x, DAY, bin_s)
    finally:
        periods.STL_MAX_BINS = cap


if __name__ == "__main__":
    raise SystemExit(main())
