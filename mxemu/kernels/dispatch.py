"""Chooses, for each call, which kernel runs: the general one, or a faster one proven byte-equal to it.

The fast kernels (fast.py) take float32, bfloat16, float16 and float64 inputs under every rounding mode
(stochastic rounding when its random integers come from a seed as a `Stream`, not from an array) with
subnormal_inputs "keep" (any other policy field, any MX format), and dequantize E8M0-scaled codes into
float32, bfloat16, float16 or float64. They quantize every block whose lanes are finite and whose
scale is a number and not tiny, and mark the others; those few blocks then run the general kernels of
block.py. tests/test_fast_path*.py hold the two paths byte-equal on exhaustive and random inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from mxemu.kernels import block as kb
from mxemu.kernels import fast
from mxemu.kernels.abi import IEEE_CAST, IEEE_FORMATS, INPUT_LAYOUTS, INT_VIEW, ROUNDING, SR_BITS, STOCHASTIC
from mxemu.kernels.element import INF, NAN, decode_value, nonfinite_code
from mxemu.kernels.scale import E8M0_SCALE
from mxemu.kernels.threads import region, run_row_ranges

# Stochastic rounding's random source as (seed, flat index of the first lane): lane j of the flat rows
# draws Philox4x32-10(seed, start + j) (NUMERICS.md "Stochastic rounding").
Stream = tuple[int, int]

_NO_RBITS = np.empty((0, 0), np.uint32)


def _run_blocks(kernel: Callable[..., None], rows: np.ndarray, args: tuple) -> None:
    """kernel(x, k, *args, b_lo, b_hi) over the blocks (rows) in tasks of about FAST_TASK_ELEMENTS elements."""
    nb, k = rows.shape
    x = rows.reshape(-1)
    run_row_ranges(lambda lo, hi: kernel(x, k, *args, lo, hi), nb, k, fast.CHUNK)


def uses_fast_path(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, rbits: np.ndarray,
                   stream: Stream | None = None) -> bool:
    """Whether quantize_rows / fake_quantize_rows run the fast kernels for these arguments (stochastic rounding:
    only with its random integers drawn from a `Stream`, not read from rbits)."""
    if P[ROUNDING] == STOCHASTIC and (stream is None or rbits.size):
        return False
    return (rows.ndim == 2 and rows.shape[1] > 0 and rows.flags.c_contiguous
            and fast.supported(ebits, mbits, rows.dtype, F, P, rbits.size > 0))


def _block_params(ebits: int, mbits: int, F: tuple, P: tuple) -> tuple[tuple[int, ...], np.ndarray]:
    """(lane parameters, scale lookup) of the fast block kernels for an input layout, format and policy."""
    G = fast.lane_params(F, P, mbits == 7)
    return G, fast.scale_lookup(F, P, G, (ebits, mbits) == fast.FLOAT64)


def _key(P: tuple, stream: Stream | None) -> tuple[np.uint64, np.uint64, np.uint64]:
    """The fast kernels' Philox key and first counter (zeros when the policy does not round stochastically)."""
    seed, start = stream if P[ROUNDING] == STOCHASTIC else (0, 0)
    return np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32), np.uint64(start)


def _lanes(a: np.ndarray, ebits: int, mbits: int) -> np.ndarray:
    """The flat integer lanes of a C-contiguous array as the fast kernels read its layout (fast.LAYOUTS)."""
    return a.reshape(-1).view(fast.LAYOUTS[(ebits, mbits)])


def stream_bits(stream: Stream, P: tuple, n_rows: int, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The stochastic-rounding integers of rows (block indexes; all n_rows when None) of k lanes drawn from stream:
    lane i of block b draws Philox4x32-10(seed, start + b * k + i) >> (32 - sr_bits), as the fast kernels do."""
    seed, start = stream
    blocks = np.arange(n_rows, dtype=np.int64) if rows is None else rows.astype(np.int64)
    out = np.empty(blocks.size * k, np.uint32)
    with region(out.size):
        kb.philox_bits(np.uint64(seed).astype(np.int64), start + blocks * k, k, 32 - P[SR_BITS], out)
    return out.reshape(blocks.size, k)


def quantize_rows(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, rbits: np.ndarray,
                  codes: np.ndarray, scales: np.ndarray, S: tuple = E8M0_SCALE, stream: Stream | None = None) -> None:
    """Quantize each row (one block) of integer-viewed floats into codes and scales (S: the scale's
    (bias, NaN code); the fast kernels take E8M0 only). Stochastic rounding draws from rbits, or from
    stream: (seed, flat index of the first lane), lane j of the flat rows drawing Philox(seed, start + j)."""
    fast_path = (S == E8M0_SCALE and uses_fast_path(rows, ebits, mbits, F, P, rbits, stream)
                 and codes.flags.c_contiguous and scales.flags.c_contiguous)
    if not fast_path:
        if stream is not None and P[ROUNDING] == STOCHASTIC:
            rbits = stream_bits(stream, P, *rows.shape)
        with region(rows.size):
            kb.quantize_blocks(rows, ebits, mbits, F, P, rbits, codes, scales, S)
        return
    slow = np.empty(rows.shape[0], np.bool_)
    G, lookup = _block_params(ebits, mbits, F, P)
    _run_blocks(fast.block_kernel("quantize", G), _lanes(rows, ebits, mbits).reshape(rows.shape),
                (F, P, G, lookup, _key(P, stream), codes.reshape(-1), scales, slow))
    idx = np.flatnonzero(slow)
    if idx.size:
        sub_codes = np.empty((idx.size, rows.shape[1]), np.uint8)
        sub_scales = np.empty(idx.size, np.uint8)
        sub_rbits = stream_bits(stream, P, 0, rows.shape[1], idx) if P[ROUNDING] == STOCHASTIC else _NO_RBITS
        with region(sub_codes.size):
            kb.quantize_blocks(rows[idx], ebits, mbits, F, P, sub_rbits, sub_codes, sub_scales)
        codes[idx] = sub_codes
        scales[idx] = sub_scales


def fake_quantize_rows(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, rbits: np.ndarray,
                       out: np.ndarray, S: tuple = E8M0_SCALE, stream: Stream | None = None) -> None:
    """Quantize each row and write the dequantized values into out (float16, bfloat16, float32 or float64).

    The fast kernel writes the input's own type (float32, bfloat16, float16); any other output type,
    and the blocks the fast kernel leaves, take the general kernel's exact float64 values, rounded once
    (RNE, IEEE overflow) into out's type. rbits, stream: as in `quantize_rows`.
    """
    fast_path = (S == E8M0_SCALE and uses_fast_path(rows, ebits, mbits, F, P, rbits, stream)
                 and out.flags.c_contiguous and INPUT_LAYOUTS.get(out.dtype.name) == (ebits, mbits))
    if not fast_path:
        if stream is not None and P[ROUNDING] == STOCHASTIC:
            rbits = stream_bits(stream, P, *rows.shape)
        _fake_quantize_general(rows, ebits, mbits, F, P, rbits, out, S)
        return
    slow = np.empty(rows.shape[0], np.bool_)
    G, lookup = _block_params(ebits, mbits, F, P)
    _run_blocks(fast.block_kernel("fake_quantize", G), _lanes(rows, ebits, mbits).reshape(rows.shape),
                (F, P, G, lookup, _key(P, stream), _lanes(out, ebits, mbits), slow))
    idx = np.flatnonzero(slow)
    if idx.size:
        sub = np.empty((idx.size, rows.shape[1]), out.dtype)
        sub_rbits = stream_bits(stream, P, 0, rows.shape[1], idx) if P[ROUNDING] == STOCHASTIC else _NO_RBITS
        _fake_quantize_general(rows[idx], ebits, mbits, F, P, sub_rbits, sub)
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


@functools.cache
def _value_table(F: tuple, dtype: str) -> np.ndarray:
    """The exact value of every 8-bit code of the element format F (codes above 2^bits - 1 wrap), in dtype."""
    table = np.array([decode_value(c, F) for c in range(256)], np.float64)
    return np.ascontiguousarray(table.astype(dtype))


def dequantize_rows(rows: np.ndarray, F: tuple, scales: np.ndarray | None, factors: Callable[[], np.ndarray],
                    out: np.ndarray) -> None:
    """out[b, i] = value of code rows[b, i] times block b's scale, in out's type (float16, bfloat16, float32 or
    float64): exact, rounded once (RNE, IEEE overflow) into the narrower types.

    scales: the blocks' E8M0 codes where the scale is E8M0 alone (then the fast kernels run), else None;
    factors(): the blocks' exact scale values (float64), which the general kernel multiplies by.
    """
    if not (scales is not None and fast.dequantize_supported(F) and rows.ndim == 2 and rows.shape[1] > 0
            and rows.flags.c_contiguous and out.flags.c_contiguous):
        _dequantize_general(rows, factors(), F, out)
        return
    slow = np.empty(rows.shape[0], np.bool_)
    codes = np.ascontiguousarray(scales, np.uint8)
    if out.dtype.name == "float64":
        _run_blocks(fast.dequantize_kernel64, rows, (_value_table(F, "float64"), codes, out.reshape(-1), slow))
    else:
        _run_blocks(fast.dequantize_kernel, rows, (_value_table(F, "float32"), codes, fast.OUT_KINDS[out.dtype.name],
                                                   out.reshape(-1).view(INT_VIEW[out.dtype.name]), slow))
    idx = np.flatnonzero(slow)
    if idx.size:
        sub = np.empty((idx.size, rows.shape[1]), out.dtype)
        _dequantize_general(rows[idx], np.full(idx.size, np.nan), F, sub)
        out[idx] = sub


def _dequantize_general(rows: np.ndarray, factors: np.ndarray, F: tuple, out: np.ndarray) -> None:
    """block.py's dequantize: exact float64 values, stored (RNE) into float32/float64 or rounded into 16 bits."""
    wide = out.dtype.name in ("float32", "float64")
    dest = out if wide else np.empty(rows.shape, np.float64)
    with region(rows.size):
        kb.dequantize_blocks(rows, factors, F, dest)
    if not wide:
        out[...] = to_dtype(dest, out.dtype)


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
    lanes = _lanes(x, ebits, mbits)
    run_row_ranges(lambda lo, hi: fast.encode_kernel(lanes, c, G, specials, out, lo, hi), n, 1)


def saturated_rows(rows: np.ndarray, above: np.ndarray, below: np.ndarray) -> np.ndarray:
    """Whether each lane of the rows (blocks) lies strictly above its block's bound `above` or strictly
    below `below` (float64 bounds, one per row; NaN lanes and NaN bounds never count).

    Compared in float32 (exact for every input of 32 bits or less) where float32 holds every bound
    exactly, so no float64 copy of a float32 input is made; in float64 otherwise (exact for every input).
    """
    with np.errstate(over="ignore"):  # a bound beyond float32's range becomes Inf, so is not held exactly
        above32, below32 = above.astype(np.float32), below.astype(np.float32)
    if rows.dtype.itemsize <= 4 and np.array_equal(above32, above, equal_nan=True) \
            and np.array_equal(below32, below, equal_nan=True):
        rows, above, below = rows.astype(np.float32, copy=False), above32, below32
    else:
        rows = rows.astype(np.float64, copy=False)
    nb, k = rows.shape
    x = np.ascontiguousarray(rows).reshape(-1)
    out = np.empty(nb * k, np.bool_)
    run_row_ranges(lambda lo, hi: fast.saturation_kernel(x, k, above, below, out, lo, hi), nb, k)
    return out.reshape(nb, k)
