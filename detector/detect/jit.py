"""The one place numba compilation flags are set.

Every kernel in :mod:`detector.detect` is decorated with :func:`kernel`, so changing
a flag here changes it everywhere, and tests can rely on all kernels behaving alike.

* ``cache=True``: the service and the CLI start often; recompiling on every start
  would cost seconds.
* ``fastmath=False``: fastmath lets LLVM assume there are no NaN/Inf, but NaN is how
  MeshPulse says "no data"; the NaN checks must survive optimisation. Speed does not
  need it either: the blocked robust-EWMA kernel vectorises across series with it off
  (there is no reduction to reassociate), and without contraction or reciprocal
  approximations its results stay bit-identical to the per-series loop.
* ``error_model="numpy"``: float division by zero gives inf/NaN like numpy instead of
  raising, so kernels have no exception paths (and no Python objects) in their loops.
* ``nogil=True``: the scheduler may score while the API thread serves requests.
* no ``parallel``: series are cheap and a cycle is small; one core per call keeps the
  kernels deterministic and leaves the other cores to the web server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

JIT_OPTIONS: dict[str, Any] = {
    "cache": True,
    "nogil": True,
    "fastmath": False,
    "error_model": "numpy",
}


def kernel(fn: F) -> F:
    """Compile ``fn`` as a MeshPulse kernel (nopython mode, flags from :data:`JIT_OPTIONS`)."""
    return numba.njit(**JIT_OPTIONS)(fn)
