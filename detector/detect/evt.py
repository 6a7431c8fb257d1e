"""Extreme-value tail of a series' own residuals: how far out a risk ``q`` point lies.

Why: "3.5 sigmas" means one point in 2000 only for Gaussian noise, and mesh metrics are
not Gaussian. The peaks-over-threshold theorem (Pickands-Balkema-de Haan; used for
streaming detection as SPOT by Siffer et al., KDD 2017) says the excesses of almost any
distribution over a high threshold ``u`` follow a Generalised Pareto distribution
``GPD(γ, σ)``. So from the excesses over ``u`` (exceeded with probability ``p0``), the
level exceeded with probability ``q ≪ p0`` is::

    z_q = u + σ/γ · ((q / p0)^(-γ) - 1)        (u + σ·ln(p0 / q) as γ → 0)

which is far beyond the largest normal residual seen when ``q`` is small, yet fitted
to this series' own tail. The fit here is by moments, on exponentially weighted
moments of the excesses (``m1``, ``m2``), so it streams with two numbers of state:
``γ = (1 - m1²/v)/2``, ``σ = m1·(1 + m1²/v)/2`` with ``v = m2 - m1²``. The shape is
clamped to ``±GPD_SHAPE_MAX``: moments need ``γ < 1/2`` to exist, and a strongly
negative shape (a bounded tail) fitted on a few dozen peaks would promise that nothing
beyond them ever happens.

>>> import numpy as np
>>> e = np.random.default_rng(0).exponential(1.0, 5000)      # exponential tail: γ = 0
>>> m1, m2 = float(e.mean()), float((e * e).mean())
>>> round(gpd_excess_quantile(m1, m2, 0.02, 1e-4), 1), round(float(np.log(0.02 / 1e-4)), 1)
(5.5, 5.3)
"""

from __future__ import annotations

import math

from detector.detect.jit import kernel

GPD_SHAPE_MAX = 0.5
MIN_PEAKS = 10  # excesses needed before the tail is trusted


@kernel
def gpd_excess_quantile(m1: float, m2: float, p0: float, q: float) -> float:
    """How far beyond ``u`` the probability-``q`` level lies, given excess moments ``m1``, ``m2``.

    ``p0`` is the probability of exceeding ``u``; 0 if the moments describe no tail yet.
    """
    if not m1 > 0.0 or not 0.0 < q < p0:
        return 0.0
    var = m2 - m1 * m1
    if var > 0.0:
        r = m1 * m1 / var
        shape, sigma = 0.5 * (1.0 - r), 0.5 * m1 * (1.0 + r)
    else:  # no spread in the excesses: the exponential (γ = 0) fit
        shape, sigma = 0.0, m1
    shape = min(max(shape, -GPD_SHAPE_MAX), GPD_SHAPE_MAX)
    if abs(shape) < 1e-6:
        return sigma * math.log(p0 / q)
    return sigma / shape * ((q / p0) ** (-shape) - 1.0)
