"""The time-major tile layout the blocked kernels share.

One series alone is a chain: every point's update needs the previous point's state, so
a series-outer loop is bound by the latency of that arithmetic. The blocked kernels
instead take ``LANES`` series at a time, copy a tile of ``TILE`` steps of them to a
time-major buffer (``tile[t * LANES + j]``), step all of them together (each step one
vector operation across the series), and copy the outputs back to the row-major
``(N, T)`` arrays. This module is that copy, and the test of whether a tile may take the
vectorised step at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from detector.detect.jit import kernel

LANES = 16
"""Series scored side by side by the blocked kernels (their SIMD lanes)."""

TILE = 256
"""Time steps per tile: the 5 or 6 tiles of ``TILE × LANES`` float64 a kernel uses (160-192 KB) stay in L2."""

MIN_BLOCKED_POINTS = 4
"""Fewer points per series than this take the per-series loop. A live cycle brings
about one point per series: there is no chain to break, consecutive series already
overlap in the CPU, and the tiles' bookkeeping would make it ~1.5× slower."""


@kernel
def all_warm(values: np.ndarray, a: int, m: int, t0: int, t1: int, nn: np.ndarray, grace: int) -> bool:
    """Can the vectorised step run this tile: every series past its warm-up, or without data throughout?

    ``count`` only grows, so a series past its warm-up at the start of a tile stays so.
    """
    for j in range(m):
        n = nn[j]
        if n == 0:
            for t in range(t0, t1):
                if math.isfinite(values[a + j, t]):
                    return False
        elif n < 0 or n < grace:
            return False
    return True


_SHUFFLE = not getattr(numba.config, "DISABLE_JIT", False)
"""Use :func:`_transpose4` (compiled code only: it has no pure-Python form)."""


@intrinsic
def _transpose4_ir(typingctx: Any, src: Any, src_step: Any, dst: Any, dst_step: Any) -> Any:
    """Copy a 4×4 block of float64, transposed: value ``c`` of the source row at address
    ``src + r * src_step`` becomes value ``r`` of the destination row at ``dst + c * dst_step``.

    Four vector loads, eight shuffles, four vector stores, instead of 16 scalar loads and
    16 scalar stores: the layout change costs more than the arithmetic, and LLVM does not
    find this on its own. Addresses are byte addresses (``arr.ctypes.data`` + offsets);
    the caller keeps them inside its arrays.
    """
    sig = types.void(types.intp, types.intp, types.intp, types.intp)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        src, src_step, dst, dst_step = args
        vec = ir.VectorType(ir.DoubleType(), 4)

        def at(base: Any, step: Any, k: int) -> Any:
            return builder.inttoptr(
                builder.add(base, builder.mul(step, ir.Constant(step.type, k))), vec.as_pointer()
            )

        def shuffle(x: Any, y: Any, mask: list[int]) -> Any:
            return builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(ir.IntType(32), 4), mask))

        r0, r1, r2, r3 = (builder.load(at(src, src_step, k), align=8) for k in range(4))
        # r0 = a00 a01 a02 a03, r1 = a10 …: lo01 = a00 a10 a02 a12, hi01 = a01 a11 a03 a13
        lo01, hi01 = shuffle(r0, r1, [0, 4, 2, 6]), shuffle(r0, r1, [1, 5, 3, 7])
        lo23, hi23 = shuffle(r2, r3, [0, 4, 2, 6]), shuffle(r2, r3, [1, 5, 3, 7])
        cols = (
            shuffle(lo01, lo23, [0, 1, 4, 5]),  # a00 a10 a20 a30
            shuffle(hi01, hi23, [0, 1, 4, 5]),
            shuffle(lo01, lo23, [2, 3, 6, 7]),
            shuffle(hi01, hi23, [2, 3, 6, 7]),
        )
        for k, col in enumerate(cols):
            builder.store(col, at(dst, dst_step, k), align=8)
        return context.get_dummy_value()

    return sig, codegen


_transpose4 = cast(Callable[[int, int, int, int], None], _transpose4_ir)
"""``_transpose4(src, src_step, dst, dst_step)``, as kernels call it."""


@kernel
def to_tile(values: np.ndarray, a: int, m: int, t0: int, t1: int, tile: np.ndarray) -> None:
    """``tile[t * LANES + j] = values[a + j, t0 + t]``, by 4×4 blocks where it can."""
    tn = t1 - t0
    m4 = m - m % 4 if _SHUFFLE and values.strides[1] == 8 else 0
    tn4 = tn - tn % 4
    rs = values.strides[0]
    src = values.ctypes.data + a * rs + t0 * 8
    dst = tile.ctypes.data
    for j in range(0, m4, 4):
        for t in range(0, tn4, 4):
            _transpose4(src + j * rs + t * 8, rs, dst + (t * LANES + j) * 8, LANES * 8)
        for t in range(tn4, tn):
            for jj in range(j, j + 4):
                tile[t * LANES + jj] = values[a + jj, t0 + t]
    for j in range(m4, m):
        for t in range(tn):
            tile[t * LANES + j] = values[a + j, t0 + t]


@kernel
def from_tile(tile: np.ndarray, a: int, m: int, t0: int, t1: int, out: np.ndarray) -> None:
    """``out[a + j, t0 + t] = tile[t * LANES + j]``, by 4×4 blocks where it can."""
    tn = t1 - t0
    m4 = m - m % 4 if _SHUFFLE and out.strides[1] == 8 else 0
    tn4 = tn - tn % 4
    rs = out.strides[0]
    src = tile.ctypes.data
    dst = out.ctypes.data + a * rs + t0 * 8
    for j in range(0, m4, 4):
        for t in range(0, tn4, 4):
            _transpose4(src + (t * LANES + j) * 8, LANES * 8, dst + j * rs + t * 8, rs)
        for t in range(tn4, tn):
            for jj in range(j, j + 4):
                out[a + jj, t0 + t] = tile[t * LANES + jj]
    for j in range(m4, m):
        for t in range(tn):
            out[a + j, t0 + t] = tile[t * LANES + j]
