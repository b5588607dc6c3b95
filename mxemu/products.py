"""MX dot products and matrix products under named accumulation models, and accumulator widths."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from mxemu.array import MXArray
from mxemu.errors import InputError, UnknownNameError
from mxemu.kernels import dot as kd
from mxemu.kernels.params import format_params
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, get_format

ACCUMULATIONS = ("exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32", "truncated:GROUP:FRAC_BITS")
# The truncated model sums a group exactly in 32 bits: frac_bits + 1 + ceil(log2 group) <= 32.
TRUNCATED_SUM_BITS = 32
_TRUNCATED = re.compile(r"^truncated:(\d+):(\d+)$")


@dataclass(frozen=True)
class Truncated:
    """Accumulation with a truncating aligner: products of each group of `group` consecutive elements
    are aligned to the group's largest product exponent, truncated toward zero to `frac_bits` bits below
    it, summed exactly, and added to a float32 accumulator (one RNE rounding per group).

    >>> Truncated(16, 24)
    Truncated(group=16, frac_bits=24)
    """

    group: int
    frac_bits: int

    def __post_init__(self) -> None:
        for name in ("group", "frac_bits"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise InputError(f"truncated {name} must be an integer, got {v!r}")
        if self.group < 1 or self.frac_bits < 0:
            raise InputError(f"truncated needs group >= 1 and frac_bits >= 0, got group={self.group}, "
                             f"frac_bits={self.frac_bits}")
        need = self.frac_bits + 1 + math.ceil(math.log2(self.group))
        if need > TRUNCATED_SUM_BITS:
            raise InputError(f"truncated(group={self.group}, frac_bits={self.frac_bits}) needs a {need}-bit group "
                             f"sum; accepted: frac_bits + 1 + ceil(log2(group)) <= {TRUNCATED_SUM_BITS}")


def truncated(group: int, frac_bits: int) -> Truncated:
    """The accumulation model truncated(group, frac_bits); the string "truncated:16:24" names the same.

    >>> truncated(16, 24) == Truncated(16, 24)
    True
    """
    return Truncated(group, frac_bits)


def _model(accumulation: object) -> str | Truncated:
    if isinstance(accumulation, Truncated):
        return accumulation
    if isinstance(accumulation, str):
        if accumulation in ACCUMULATIONS[:-1]:
            return accumulation
        m = _TRUNCATED.match(accumulation)
        if m:
            return Truncated(int(m.group(1)), int(m.group(2)))
    raise UnknownNameError(f"unknown accumulation {accumulation!r}; accepted: {', '.join(ACCUMULATIONS)} "
                           f"(or mxemu.products.truncated(group, frac_bits))")


def _element(fmt: object) -> ElementFormat:
    f = get_format(fmt)
    if isinstance(f, MXFormat):
        return f.element
    if isinstance(f, ElementFormat):
        return f
    raise InputError(f"{f.name!r} is a scale format; give an element or MX format")


def _step_exponent(f: ElementFormat) -> int:
    """Exponent of the format's smallest step (min subnormal, or the integer quantum)."""
    return f.emin if f.is_int else f.emin - f.mantissa_bits


def _max_fixed(f: ElementFormat) -> int:
    """Largest |value| / smallest step over the finite codes (an integer)."""
    steps = -_step_exponent(f)
    top = max(abs(f.max_normal), abs(f.min_value))
    return int(top * 2**steps)


def accumulator_bits(fmt_a: str | MXFormat | ElementFormat, fmt_b: str | MXFormat | ElementFormat,
                     block_size: int = 32) -> int:
    """Two's complement bits that hold every exact block sum Σ P_A,i · P_B,i of `block_size` products.

    In units of the two formats' smallest steps each product is an integer of magnitude at most
    Ma·Mb (Ma = max |P| / min step: significand bits plus exponent span), so the block sum needs
    bit_length(block_size·Ma·Mb) + 1 bits (AXE-style bound, tight: the extreme codes reach it).

    >>> accumulator_bits("mxfp8_e4m3", "mxfp8_e4m3"), accumulator_bits("mxfp4_e2m1", "mxfp4_e2m1")
    (42, 14)
    """
    a, b = _element(fmt_a), _element(fmt_b)
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or block_size < 1:
        raise InputError(f"block_size must be a positive integer, got {block_size!r}")
    return (int(block_size) * _max_fixed(a) * _max_fixed(b)).bit_length() + 1


def _split(fa: ElementFormat, fb: ElementFormat, k: int) -> int:
    """0 when block sums fit int64; else the split of A into A_hi * 2^split + A_lo with both sums fitting."""
    ma, mb = _max_fixed(fa), _max_fixed(fb)
    limit = 1 << 62
    if k * ma * mb < limit:
        return 0
    for split in range(1, 37):
        if k * mb * (1 << split) < limit and k * mb * ((ma >> split) + 1) < limit:
            return split
    raise InputError(f"{fa.name} x {fb.name} blocks of {k} need {accumulator_bits(fa, fb, k)} accumulator bits; "
                     f"mxemu's kernels handle up to about 124")


def _check_operand(x: object, name: str) -> MXArray:
    if not isinstance(x, MXArray):
        raise InputError(f"{name} must be an MXArray, got {type(x).__name__}")
    scale = x.format.scale
    if not isinstance(scale, ScaleFormat) or (scale.bias, scale.nan_code) != (127, 255) or x.tensor_scale is not None:
        raise InputError(f"{name} is {x.format.name}; dot and matmul take E8M0-scaled MX formats "
                         f"(mxfp8/6/4, mxint-b), not a two-level format")
    return x


@dataclass(frozen=True)
class _Operand:
    codes: np.ndarray  # (rows, K) uint8, K along the blocked axis
    scales: np.ndarray  # (rows, nblocks) uint8
    element: ElementFormat


def _prepare(A: MXArray, B: MXArray, model: str | Truncated) -> np.ndarray:
    """Run the kernel of `model` on A's rows (M, K) and B's columns given as rows (N, K)."""
    a = _Operand(np.ascontiguousarray(A.codes), np.ascontiguousarray(A.scales), A.format.element)
    b = _Operand(np.ascontiguousarray(_columns(B.codes)), np.ascontiguousarray(_columns(B.scales)), B.format.element)
    return _run(a, b, A.block_size, model, A, B)


def _columns(x: np.ndarray) -> np.ndarray:
    """A (K, N) array blocked along axis 0, as (N, K) rows."""
    return x.T


def _run(a: _Operand, b: _Operand, k: int, model: str | Truncated, A: MXArray, B: MXArray) -> np.ndarray:
    M, N = a.codes.shape[0], b.codes.shape[0]
    out = np.empty((M, N), np.float32)
    qa, qb = _step_exponent(a.element), _step_exponent(b.element)
    fixA, sigA, expA, clsA, negA = kd.element_tables(format_params(a.element), qa)
    fixB, sigB, expB, clsB, negB = kd.element_tables(format_params(b.element), qb)
    if model == "dequant_fp32":
        a32 = A.dequantize(np.float32).reshape(M, -1)
        b32 = np.ascontiguousarray(_columns(B.dequantize(np.float32).reshape(-1, N)))
        kd.matmul_dequant(np.ascontiguousarray(a32), b32, out)
        return out
    if model == "fp32_sequential":
        kd.matmul_sequential(a.codes, b.codes, a.scales, b.scales, clsA, clsB, sigA, sigB, expA, expB, negA, negB,
                             k, out)
        return out
    if isinstance(model, Truncated):
        kd.matmul_truncated(a.codes, b.codes, a.scales, b.scales, clsA, clsB, sigA, sigB, expA, expB, k,
                            model.group, model.frac_bits, out)
        return out
    split = _split(a.element, b.element, k)
    fa = fixA[a.codes]
    if split:
        a_hi, a_lo = fa >> split, fa & ((1 << split) - 1)
    else:
        a_hi, a_lo = fa, np.zeros((M, 0), np.int64)
    fb = np.ascontiguousarray(fixB[b.codes])
    flagA = _special_blocks(a, clsA, k)
    flagB = _special_blocks(b, clsB, k)
    fast64 = accumulator_bits(a.element, b.element, k) <= 53
    kd.matmul_block_models(a_hi, a_lo, fb, a.codes, b.codes, a.scales, b.scales, flagA, flagB, clsA, clsB,
                           sigA, sigB, k, split, qa + qb, model == "exact", fast64, out)
    return out


def _special_blocks(x: _Operand, cls: np.ndarray, k: int) -> np.ndarray:
    """(rows, nblocks) bool: the block's scale is NaN or one of its elements is NaN or Inf."""
    rows, K = x.codes.shape
    nb = x.scales.shape[1]
    bad = cls[x.codes] != kd.C_FIN
    pad = nb * k - K
    if pad:
        bad = np.concatenate([bad, np.zeros((rows, pad), bool)], axis=1)
    return np.ascontiguousarray(bad.reshape(rows, nb, k).any(axis=2) | (x.scales == kd.E8M0_NAN))


def _check_pair(A: MXArray, B: MXArray) -> None:
    if A.block_size != B.block_size:
        raise InputError(f"block sizes differ: {A.format.name} has {A.block_size}, {B.format.name} has "
                         f"{B.block_size}; the blocks of both operands must line up")


def matmul(A: MXArray, B: MXArray, accumulation: str | Truncated = "exact") -> np.ndarray:
    """float32 (M, N) product of A (M, K) blocked along axis 1 and B (K, N) blocked along axis 0.

    `accumulation` is one of "exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32", or
    truncated(group, frac_bits) / "truncated:GROUP:FRAC_BITS"; docs/convert_dot.md defines each.

    >>> import numpy as np, mxemu as mx
    >>> A = mx.quantize(np.ones((2, 32), np.float32), "mxfp8_e4m3", axis=1)
    >>> B = mx.quantize(np.full((32, 3), 0.5, np.float32), "mxfp4_e2m1", axis=0)
    >>> matmul(A, B).tolist()
    [[16.0, 16.0, 16.0], [16.0, 16.0, 16.0]]
    """
    model = _model(accumulation)
    _check_operand(A, "A")
    _check_operand(B, "B")
    if A.codes.ndim != 2 or B.codes.ndim != 2:
        raise InputError(f"matmul takes 2-D operands, got shapes {A.shape} and {B.shape}; use dot for vectors")
    if A.axis != (1,) or B.axis != (0,):
        raise InputError(f"matmul needs A blocked along its last axis (axis=1) and B along axis 0; got A.axis="
                         f"{A.axis}, B.axis={B.axis}")
    if A.shape[1] != B.shape[0]:
        raise InputError(f"inner dimensions differ: A is {A.shape}, B is {B.shape}")
    _check_pair(A, B)
    return _prepare(A, B, model)


def dot(a: MXArray, b: MXArray, accumulation: str | Truncated = "exact") -> np.float32:
    """float32 dot product of two 1-D MXArrays of the same length and block size.

    >>> import numpy as np, mxemu as mx
    >>> a = mx.quantize(np.arange(32, dtype=np.float32), "mxint8")
    >>> b = mx.quantize(np.ones(32, np.float32), "mxfp4_e2m1")
    >>> float(dot(a, b, "block_exact_fp32"))
    496.0
    """
    model = _model(accumulation)
    _check_operand(a, "a")
    _check_operand(b, "b")
    if a.codes.ndim != 1 or b.codes.ndim != 1:
        raise InputError(f"dot takes 1-D operands, got shapes {a.shape} and {b.shape}; use matmul for matrices")
    if a.shape != b.shape:
        raise InputError(f"lengths differ: {a.shape[0]} and {b.shape[0]}")
    _check_pair(a, b)
    A = MXArray(a.codes.reshape(1, -1), a.scales.reshape(1, -1), a.format, a.policy, (1,))
    B = MXArray(b.codes.reshape(-1, 1), b.scales.reshape(-1, 1), b.format, b.policy, (0,))
    return np.float32(_prepare(A, B, model)[0, 0])
