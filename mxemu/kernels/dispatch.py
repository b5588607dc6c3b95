"""Chooses, for each call, which kernel runs: the general one, or a faster one proven byte-equal to it.

The fast kernels (fast.py) take float32 and bfloat16 inputs under every deterministic rounding mode
with subnormal_inputs "keep" (any other policy field, any MX format). They quantize every
block whose lanes are finite and whose scale is a number and not tiny, and mark the others; those
few blocks then run the general kernels of block.py. tests/test_fast_path.py holds the two paths
byte-equal on exhaustive and random inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mxemu.kernels import block as kb
from mxemu.kernels import fast
from mxemu.kernels.abi import IEEE_CAST, IEEE_FORMATS, INT_VIEW
from mxemu.kernels.element import INF, NAN, nonfinite_code
from mxemu.kernels.scale import E8M0_SCALE
from mxemu.kernels.threads import FAST_TASK_ELEMENTS, fast_threads, region, run_tasks

# The output type the fast fake-quantize kernel writes for an input layout: the input's own.
FAST_OUTPUT = {(8, 23): "float32", (8, 7): "bfloat16"}

_NO_RBITS = np.empty((0, 0), np.uint32)


def _run_blocks(kernel: Callable[..., None], rows: np.ndarray, args: tuple) -> None:
    """kernel(x, k, *args, b_lo, b_hi) over the blocks (rows) in tasks of about FAST_TASK_ELEMENTS elements."""
    nb, k = rows.shape
    x = rows.reshape(-1)
    per_task = max(fast.CHUNK, FAST_TASK_ELEMENTS // k // fast.CHUNK * fast.CHUNK)
    run_tasks(lambda t: kernel(x, k, *args, t * per_task, min(nb, (t + 1) * per_task)),
              -(-nb // per_task), fast_threads(rows.size))


def uses_fast_path(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, rbits: np.ndarray) -> bool:
    """Whether quantize_rows / fake_quantize_rows run the fast kernels for these arguments."""
    return (rows.ndim == 2 and rows.shape[1] > 0 and rows.flags.c_contiguous
            and fast.supported(ebits, mbits, rows.dtype, F, P, rbits.size > 0))


def quantize_rows(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, rbits: np.ndarray,
                  codes: np.ndarray, scales: np.ndarray, S: tuple = E8M0_SCALE) -> None:
    """Quantize each row (one block) of integer-viewed floats into codes and scales (S: the scale's
    (bias, NaN code); the fast kernels take E8M0 only)."""
    if S != E8M0_SCALE:
        with region(rows.size):
            kb.quantize_blocks(rows, ebits, mbits, F, P, rbits, codes, scales, S)
        return
    if not (uses_fast_path(rows, ebits, mbits, F, P, rbits) and codes.flags.c_contiguous
            and scales.flags.c_contiguous):
        with region(rows.size):
            kb.quantize_blocks(rows, ebits, mbits, F, P, rbits, codes, scales)
        return
    slow = np.empty(rows.shape[0], np.bool_)
    G = fast.lane_params(F, P, mbits == 7)
    _run_blocks(fast.quantize_kernel, rows, (F, P, G, codes.reshape(-1), scales, slow))
    idx = np.flatnonzero(slow)
    if idx.size:
        sub_codes = np.empty((idx.size, rows.shape[1]), np.uint8)
        sub_scales = np.empty(idx.size, np.uint8)
        with region(sub_codes.size):
            kb.quantize_blocks(rows[idx], ebits, mbits, F, P, _NO_RBITS, sub_codes, sub_scales)
        codes[idx] = sub_codes
        scales[idx] = sub_scales


def fake_quantize_rows(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, rbits: np.ndarray,
                       out: np.ndarray, S: tuple = E8M0_SCALE) -> None:
    """Quantize each row and write the dequantized values into out (float16, bfloat16, float32 or float64).

    The fast kernel writes the input's own type (float32 for float32 rows, bfloat16 for bfloat16
    rows); any other output type, and the blocks the fast kernel leaves, take the general kernel's
    exact float64 values, rounded once (RNE, IEEE overflow) into out's type.
    """
    if not (S == E8M0_SCALE and uses_fast_path(rows, ebits, mbits, F, P, rbits) and out.flags.c_contiguous
            and FAST_OUTPUT.get((ebits, mbits)) == out.dtype.name):
        _fake_quantize_general(rows, ebits, mbits, F, P, rbits, out, S)
        return
    slow = np.empty(rows.shape[0], np.bool_)
    G = fast.lane_params(F, P, mbits == 7)
    _run_blocks(fast.fake_quantize_kernel, rows, (F, P, G, out.reshape(-1).view(INT_VIEW[out.dtype.name]), slow))
    idx = np.flatnonzero(slow)
    if idx.size:
        sub = np.empty((idx.size, rows.shape[1]), out.dtype)
        _fake_quantize_general(rows[idx], ebits, mbits, F, P, _NO_RBITS, sub)
        out[idx] = sub


def _fake_quantize_general(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, rbits: np.ndarray,
                           out: np.ndarray, S: tuple = E8M0_SCALE) -> None:
    """block.py's fake-quantize: float64 values, stored (RNE) into float32/float64 or rounded into 16 bits."""
    if out.dtype.name in ("float32", "float64"):
        with region(rows.size):
            kb.fake_quantize_blocks(rows, ebits, mbits, F, P, rbits, out, S)
        return
    values = np.empty(rows.shape, np.float64)
    with region(rows.size):
        kb.fake_quantize_blocks(rows, ebits, mbits, F, P, rbits, values, S)
    out[...] = to_dtype(values, out.dtype)


def to_dtype(values64: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Exact float64 values into dtype: float32/float64 by a cast (RNE), float16/bfloat16 by RNE + IEEE overflow."""
    if dtype.name in ("float32", "float64"):
        with np.errstate(over="ignore"):  # beyond float32's range the value rounds to Inf, as documented
            return values64.astype(dtype, copy=False)
    out = np.empty(values64.size, np.int16)
    with region(out.size):
        kb.round_float64(values64.reshape(-1).view(np.int64), IEEE_FORMATS[dtype.name], IEEE_CAST, out)
    return out.view(dtype).reshape(values64.shape)


def encode_elements(x: np.ndarray, ebits: int, mbits: int, scale_exp: np.ndarray, F: tuple, P: tuple,
                    rbits: np.ndarray, out: np.ndarray) -> None:
    """out[i] = element code of x[i] * 2^-scale_exp[i or 0] (x: 1-D integer view of the input floats)."""
    s = int(scale_exp[0]) if scale_exp.shape[0] == 1 else None
    if s is None or not (x.ndim == 1 and x.flags.c_contiguous and out.flags.c_contiguous
                         and fast.encode_supported(ebits, mbits, x.dtype, F, P, s, rbits.size > 0)):
        with region(x.size):
            kb.encode_elements(x, ebits, mbits, scale_exp, F, P, rbits, out)
        return
    specials = tuple(int(nonfinite_code(F, cls, sign, P)) for cls in (NAN, INF) for sign in (0, 1))
    c, G, n = 127 + s + F[fast.EMIN], fast.lane_params(F, P, mbits == 7), x.shape[0]
    run_tasks(lambda t: fast.encode_kernel(x, c, G, specials, out, t * FAST_TASK_ELEMENTS,
                                           min(n, (t + 1) * FAST_TASK_ELEMENTS)),
              -(-n // FAST_TASK_ELEMENTS), fast_threads(n))
