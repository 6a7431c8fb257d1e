"""Smoke test: the bench/eval.py logic on two real MS series, every registered detector."""

from __future__ import annotations

import io

import numpy as np

from detector.evaluation.baselines import baselines, rolling_z, stl
from detector.evaluation.datasets import data_root, load_ms
from detector.evaluation.report import detectors, markdown, run_dataset


def test_eval_quick_on_two_real_ms_series() -> None:
    series = load_ms(data_root())[:2]
    rows = run_dataset("ms", series, detectors())
    assert rows[0].detector == "meshpulse" and len(rows) == len(detectors())
    assert rows[0].threshold == 0.5 and not rows[0].oracle
    for r in rows:
        assert 0.0 <= r.events.recall <= 1.0 and len(r.nab) == 3
        assert all(n.score <= 100.0 + 1e-9 for n in r.nab)
    out = io.StringIO()
    out.write(markdown("ms", rows, series))
    assert out.getvalue().count("\n| ") == len(rows) + 1


def test_baselines_are_causal() -> None:
    """Changing the future must not change a past score."""
    rng = np.random.default_rng(0)
    ts = np.arange(400, dtype=np.float64) * 60
    x = rng.normal(10, 1, 400)
    y = x.copy()
    y[300:] += 50
    for name, scorer in {**baselines(), "rolling_z": rolling_z, "stl": stl}.items():
        a, b = scorer(ts, x), scorer(ts, y)
        assert np.allclose(a[:300], b[:300], equal_nan=True), name
        assert np.nanmax(b[300:305]) > np.nanmax(b[100:300]), name
