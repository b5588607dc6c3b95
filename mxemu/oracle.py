"""Exact-rational reference for MX element codecs and block quantization, written from the contract."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import cache
from itertools import pairwise

import numpy as np

from mxemu.errors import InputError, MXError, PolicyError, UnknownNameError
from mxemu.policy import Policy, get_policy
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, get_format

__all__ = [
    "decode_array",
    "decode_value",
    "dequantize_block",
    "encode_array",
    "encode_value",
    "exponent_field",
    "fixed_point_dot",
    "float_accumulator_dot",
    "nearest_float32",
    "philox4x32_10",
    "quantize_block",
    "random_int",
    "random_ints",
    "round_to_integer",
    "scale_code",
]

FP32_MIN_NORMAL = Fraction(1, 1 << 126)
_MASK32 = 0xFFFFFFFF
_INPUT_DTYPES = ("float16", "bfloat16", "float32", "float64")

# ----------------------------------------------------------------------------------------------------------
# Small exact helpers
# ----------------------------------------------------------------------------------------------------------


def _pow2(k: int) -> Fraction:
    """2^k as an exact rational."""
    return Fraction(1 << k) if k >= 0 else Fraction(1, 1 << -k)


def floor_log2(v: Fraction) -> int:
    """floor(log2 v) for a rational v > 0, exactly."""
    n, d = v.numerator, v.denominator
    e = n.bit_length() - d.bit_length()  # n/d lies in (2^(e-1), 2^(e+1))
    if (n << max(-e, 0)) < (d << max(e, 0)):  # n/d < 2^e
        e -= 1
    return e


def _ceil_log2(v: Fraction) -> int:
    """ceil(log2 v) for a rational v > 0, exactly."""
    e = floor_log2(v)
    return e if v == _pow2(e) else e + 1


def _element(fmt: str | ElementFormat) -> ElementFormat:
    found = get_format(fmt)
    if not isinstance(found, ElementFormat):
        raise InputError(f"{fmt!r} is not an element format; accepted: an element format name or ElementFormat")
    return found


def _read_scalar(x: float | Fraction | int) -> tuple[bool, Fraction | str]:
    """(sign bit, |x|) with |x| an exact Fraction, or the string "nan" / "inf"."""
    if isinstance(x, (Fraction, int)) and not isinstance(x, bool):
        return x < 0, abs(Fraction(x))
    f = float(x)  # exact for Python floats and numpy float16 / bfloat16 / float32 / float64 scalars
    negative = math.copysign(1.0, f) < 0
    if math.isnan(f):
        return negative, "nan"
    if math.isinf(f):
        return negative, "inf"
    return negative, abs(Fraction(f))


# ----------------------------------------------------------------------------------------------------------
# Codes of an element format, straight from the bit layout (MX v1.0 §5.3)
# ----------------------------------------------------------------------------------------------------------


def _sign_bit(fmt: ElementFormat) -> int:
    return 1 << (fmt.bits - 1)


def _top_exponent(fmt: ElementFormat) -> int:
    return (1 << fmt.exponent_bits) - 1


def _quantum(v: Fraction, fmt: ElementFormat) -> Fraction:
    """Grid spacing at magnitude v > 0: 2^(max(floor(log2 v), emin) - m) for floats, 2^-f for ints."""
    if fmt.is_int:
        return _pow2(-fmt.mantissa_bits)
    return _pow2(max(floor_log2(v), 1 - fmt.bias) - fmt.mantissa_bits)


def _max_magnitude(fmt: ElementFormat, negative: bool, policy: Policy) -> Fraction:
    """Largest magnitude of a value of the given sign (two's complement reaches one step further)."""
    if fmt.is_int:
        k = (1 << (fmt.bits - 1)) - 1
        if negative and policy.int_range == "full":
            k += 1
        return Fraction(k, 1 << fmt.mantissa_bits)
    return fmt.max_normal


def _magnitude_code(r: Fraction, fmt: ElementFormat) -> int:
    """Bit pattern of the finite float magnitude r >= 0 (sign bit clear)."""
    m, emin = fmt.mantissa_bits, 1 - fmt.bias
    if r == 0:
        return 0
    e = max(floor_log2(r), emin)
    significand = r / _pow2(e - m)
    assert significand.denominator == 1, f"{r} is not on the grid of {fmt.name}"
    significand = significand.numerator
    if significand < 1 << m:  # subnormal (only possible at e == emin)
        return significand
    return ((e + fmt.bias) << m) | (significand - (1 << m))


def _finite_code(fmt: ElementFormat, negative: bool, r: Fraction) -> int:
    """Code of the representable value (-1)^negative * r."""
    if fmt.is_int:
        k = r * (1 << fmt.mantissa_bits)
        assert k.denominator == 1
        return (-k.numerator if negative else k.numerator) & ((1 << fmt.bits) - 1)
    return (_sign_bit(fmt) if negative else 0) | _magnitude_code(r, fmt)


def _zero_code(fmt: ElementFormat, negative: bool) -> int:
    """Zero with the given sign; integers have a single zero, code 0."""
    return _sign_bit(fmt) if negative and not fmt.is_int else 0


def _nan_code(fmt: ElementFormat, negative: bool, all_ones: bool = False) -> int:
    """Canonical NaN: S.1..1.1..1 for nan_only formats, the quiet NaN S.1..1.10..0 for ieee formats;
    with `all_ones` (policy nan_code = "all_ones"), S.1..1.1..1 for both."""
    m = fmt.mantissa_bits
    mantissa = (1 << m) - 1 if fmt.specials == "nan_only" or all_ones else 1 << (m - 1)
    return (_sign_bit(fmt) if negative else 0) | (_top_exponent(fmt) << m) | mantissa


def _inf_code(fmt: ElementFormat, negative: bool) -> int:
    return (_sign_bit(fmt) if negative else 0) | (_top_exponent(fmt) << fmt.mantissa_bits)


def _max_code(fmt: ElementFormat, negative: bool, policy: Policy) -> int:
    return _finite_code(fmt, negative, _max_magnitude(fmt, negative, policy))


def _inf_like_code(fmt: ElementFormat, negative: bool, policy: Policy) -> int:
    """Inf if the format has it, else NaN if it has one, else the largest magnitude (keeping the sign)."""
    if fmt.has_inf:
        return _inf_code(fmt, negative)
    if fmt.has_nan:
        return _nan_code(fmt, negative, policy.nan_code == "all_ones")
    return _max_code(fmt, negative, policy)


def decode_value(code: int, fmt: str | ElementFormat) -> Fraction | float:
    """Exact value of one code: a Fraction, or float NaN / ±inf.

    Floats by MX v1.0 §5.3: (-1)^S 2^(E-bias) (1 + M/2^m) for E > 0 and (-1)^S 2^(1-bias) M/2^m for E = 0,
    with the top exponent reserved per `specials`. Integers: two's complement k times 2^-fraction_bits.
    Both zeros decode to Fraction(0); the sign of a float zero is the code's top bit.
    """
    fmt = _element(fmt)
    code = int(code)
    if not 0 <= code < 1 << fmt.bits:
        raise InputError(f"code {code:#x} does not fit in the {fmt.bits} bits of {fmt.name}; accepted: "
                         f"0..{fmt.num_codes - 1}")
    if fmt.is_int:
        k = code - (1 << fmt.bits) if code & _sign_bit(fmt) else code
        return Fraction(k, 1 << fmt.mantissa_bits)
    m = fmt.mantissa_bits
    negative = bool(code & _sign_bit(fmt))
    exponent = (code >> m) & _top_exponent(fmt)
    mantissa = code & ((1 << m) - 1)
    if exponent == _top_exponent(fmt):
        if fmt.specials == "ieee":
            return math.nan if mantissa else (-math.inf if negative else math.inf)
        if fmt.specials == "nan_only" and mantissa == (1 << m) - 1:
            return math.nan
    if exponent == 0:
        magnitude = Fraction(mantissa, 1 << m) * _pow2(1 - fmt.bias)
    else:
        magnitude = (1 + Fraction(mantissa, 1 << m)) * _pow2(exponent - fmt.bias)
    return -magnitude if negative else magnitude


# ----------------------------------------------------------------------------------------------------------
# Scalar encode: every step of the contract, on exact rationals
# ----------------------------------------------------------------------------------------------------------


def _round_magnitude(
    v: Fraction, negative: bool, fmt: ElementFormat, policy: Policy, rnd: int | None
) -> Fraction:
    """Round |v| > 0 onto the format's grid, extended past max normal with IEEE unbounded exponents."""
    q = _quantum(v, fmt)
    lo = (v // q) * q
    hi = lo + q
    if v == lo:
        return lo
    lo_is_odd = (lo / q).numerator % 2 == 1
    mode = policy.rounding
    if mode == "rne":
        return lo if v - lo < hi - v or (v - lo == hi - v and not lo_is_odd) else hi
    if mode == "rna":
        return lo if v - lo < hi - v else hi
    if mode == "rtz":
        return lo
    if mode == "rup":
        return lo if negative else hi
    if mode == "rdn":
        return hi if negative else lo
    if mode == "rto":
        return lo if lo_is_odd else hi
    if mode == "stochastic":
        if rnd is None:
            raise InputError("stochastic rounding needs rnd, a random integer in [0, 2^sr_bits)")
        bits = policy.sr_bits
        if not 0 <= rnd < 1 << bits:
            raise InputError(f"rnd = {rnd} is outside [0, 2^{bits}); accepted: an integer in that range")
        t = math.floor((v - lo) / q * (1 << bits))
        return hi if t + rnd >= 1 << bits else lo
    raise PolicyError(f"unknown rounding {mode!r}; accepted: rne, rna, rtz, rup, rdn, rto, stochastic")


def _overflow_goes_to_inf(negative: bool, policy: Policy) -> bool:
    """Under overflow = ieee: does a result beyond max normal become Inf-like (True) or max (False)?"""
    mode = policy.rounding
    if mode in ("rne", "rna", "stochastic"):
        return True
    if mode in ("rtz", "rto"):
        return False
    return negative if mode == "rdn" else not negative


def _keeps_sign(magnitude: Fraction, scale_exp: int, policy: Policy) -> bool:
    """Whether a nonzero input that rounds to zero keeps its sign: under "keep"; under "fp32_quotient"
    only if the float32 quotient |x| / 2^s (RNE) is nonzero, i.e. |x| / 2^s > 2^-150."""
    if policy.zero_sign == "fp32_quotient":
        return magnitude * _pow2(-scale_exp) > _pow2(-150)
    return policy.zero_sign == "keep"


def encode_value(
    x: float | Fraction,
    fmt: str | ElementFormat,
    scale_exp: int = 0,
    policy: Policy | str | None = None,
    rnd: int | None = None,
) -> int:
    """Code of x * 2^-scale_exp in `fmt` under `policy` (contract steps 1-5); rnd is the stochastic draw."""
    fmt = _element(fmt)
    policy = get_policy(policy)
    negative, magnitude = _read_scalar(x)

    # 1. NaN
    if magnitude == "nan":
        if fmt.has_nan:
            return _nan_code(fmt, negative, policy.nan_code == "all_ones")
        if fmt.is_int:
            if policy.nan_to_nonan == "error":
                raise MXError(f"NaN input cannot be encoded in {fmt.name} (policy nan_to_nonan = 'error')")
            return 0
        choice = policy.nan_to_nonan
        if choice == "error":
            raise MXError(f"NaN input cannot be encoded in {fmt.name} (policy nan_to_nonan = 'error')")
        if choice == "zero":
            return 0
        return _zero_code(fmt, negative if choice == "signed_zero" else not negative)

    # 2. FP32-subnormal inputs read as zero
    if policy.subnormal_inputs == "flush" and magnitude != "inf" and 0 < magnitude < FP32_MIN_NORMAL:
        magnitude = Fraction(0)

    # 3. Infinities
    if magnitude == "inf":
        if policy.overflow == "ieee":
            return _inf_like_code(fmt, negative, policy)
        return _max_code(fmt, negative, policy)

    # 4. Zeros
    if magnitude == 0:
        return _zero_code(fmt, negative and policy.zero_sign == "keep")

    # 5. Finite nonzero: round v = |x| 2^-s, then overflow and underflow
    r = _round_magnitude(magnitude * _pow2(-scale_exp), negative, fmt, policy, rnd)
    if r > _max_magnitude(fmt, negative, policy):
        if policy.overflow == "ieee" and not fmt.is_int and _overflow_goes_to_inf(negative, policy):
            return _inf_like_code(fmt, negative, policy)
        return _max_code(fmt, negative, policy)
    if r == 0:
        return _zero_code(fmt, negative and _keeps_sign(magnitude, scale_exp, policy))
    return _finite_code(fmt, negative, r)


# ----------------------------------------------------------------------------------------------------------
# Philox4x32-10 (Salmon et al. 2011; Random123) and the per-element random integer of the contract
# ----------------------------------------------------------------------------------------------------------

PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85


def philox4x32_10(
    key0: int, key1: int, c0: int, c1: int, c2: int = 0, c3: int = 0
) -> tuple[int, int, int, int]:
    """Philox4x32 with 10 rounds: four 32-bit words from a 4-word counter and a 2-word key."""
    k0, k1 = key0 & _MASK32, key1 & _MASK32
    c0, c1, c2, c3 = c0 & _MASK32, c1 & _MASK32, c2 & _MASK32, c3 & _MASK32
    for round_ in range(10):
        if round_:
            k0 = (k0 + PHILOX_W0) & _MASK32
            k1 = (k1 + PHILOX_W1) & _MASK32
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & _MASK32
    return c0, c1, c2, c3


def random_int(seed: int, index: int, sr_bits: int) -> int:
    """The contract's rnd for flat element `index`: top bits of Philox word 0 at counter (index, 0, 0)."""
    if not 1 <= sr_bits <= 32:
        raise InputError(f"sr_bits = {sr_bits}; accepted: 1..32")
    word = philox4x32_10(seed & _MASK32, (seed >> 32) & _MASK32, index & _MASK32, (index >> 32) & _MASK32)[0]
    return word >> (32 - sr_bits)


def random_ints(seed: int, indices: Iterable[int] | np.ndarray, sr_bits: int) -> np.ndarray:
    """`random_int` for many flat indices at once (numpy uint64 arithmetic; same numbers)."""
    if not 1 <= sr_bits <= 32:
        raise InputError(f"sr_bits = {sr_bits}; accepted: 1..32")
    idx = np.asarray(indices, dtype=np.uint64)
    mask = np.uint64(_MASK32)
    c0, c1 = idx & mask, idx >> np.uint64(32)
    c2 = np.zeros_like(idx)
    c3 = np.zeros_like(idx)
    k0, k1 = seed & _MASK32, (seed >> 32) & _MASK32
    for round_ in range(10):
        if round_:
            k0 = (k0 + PHILOX_W0) & _MASK32
            k1 = (k1 + PHILOX_W1) & _MASK32
        p0 = np.uint64(PHILOX_M0) * c0
        p1 = np.uint64(PHILOX_M1) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & mask,
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & mask)
    return (c0 >> np.uint64(32 - sr_bits)).astype(np.int64)


# ----------------------------------------------------------------------------------------------------------
# Vectorised exact oracle: a sorted table of representable magnitudes, searched with exact float64 compares
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """Non-negative magnitudes of a format at scale 2^s, sorted, plus one or two points past the maximum.

    Consecutive entries differ by the grid quantum of the lower one, so [T[i], T[i+1]) is exactly the
    interval the contract's lo = floor(|v|/q) q maps to T[i]; midpoints are exact in float64.
    """

    table: np.ndarray  # float64, scaled by 2^s
    midpoints: np.ndarray  # float64, (T[i] + T[i+1]) / 2
    quantum_exp: np.ndarray  # int64, log2 of T[i+1] - T[i]
    odd: np.ndarray  # bool, lo/q is odd
    codes: np.ndarray  # int64: float magnitude codes, or integer significands k
    max_index: int  # index of max normal (floats) or max_int (ints)


@cache
def _grid(fmt: ElementFormat, scale_exp: int) -> _Grid:
    if fmt.is_int:
        steps = (1 << (fmt.bits - 1)) + 1  # k = 0 .. max_int + 2: room past the negative maximum
        values = [Fraction(k, 1 << fmt.mantissa_bits) for k in range(steps + 1)]
        codes = list(range(steps + 1))
        max_index = (1 << (fmt.bits - 1)) - 1
    else:
        finite = []
        for code in range(1 << (fmt.bits - 1)):  # sign bit clear
            value = decode_value(code, fmt)
            if isinstance(value, Fraction):
                finite.append((value, code))
        finite.sort()
        values = [v for v, _ in finite]
        codes = [c for _, c in finite]
        max_index = len(values) - 1
        values.append(values[-1] + _quantum(values[-1], fmt))  # first grid point past max normal
        codes.append(-1)
    scale = _pow2(scale_exp)
    scaled = [v * scale for v in values]
    table = np.array([float(v) for v in scaled], dtype=np.float64)
    mids = [(a + b) / 2 for a, b in pairwise(scaled)]
    midpoints = np.array([float(v) for v in mids], dtype=np.float64)
    if any(Fraction(float(v)) != v for v in scaled + mids) or not np.all(np.isfinite(table)):
        raise InputError(f"scale_exp = {scale_exp} puts {fmt.name} outside the exact float64 range; accepted: "
                         f"scale exponents whose values float64 holds exactly")
    quanta = [b - a for a, b in pairwise(values)]
    assert all(
        q == (_quantum(a, fmt) if a else fmt.min_subnormal) for a, q in zip(values, quanta, strict=False)
    )
    quantum_exp = np.array([floor_log2(q) + scale_exp for q in quanta], dtype=np.int64)
    odd = np.array([(a / q).numerator % 2 == 1 for a, q in zip(values, quanta, strict=False)], dtype=bool)
    return _Grid(table, midpoints, quantum_exp, odd, np.array(codes, dtype=np.int64), max_index)


def _as_float64(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.name not in _INPUT_DTYPES:
        raise InputError(f"input dtype {x.dtype}; accepted: {', '.join(_INPUT_DTYPES)}")
    with np.errstate(invalid="ignore"):  # bfloat16 NaNs warn on the way to float64
        return x.astype(np.float64)  # exact for every accepted dtype


def encode_array(
    x: np.ndarray,
    fmt: str | ElementFormat,
    scale_exp: int = 0,
    policy: Policy | str | None = None,
    random_bits: np.ndarray | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """`encode_value` over an array of float16 / bfloat16 / float32 / float64, as uint8 codes of x's shape.

    Stochastic rounding takes rnd from `random_bits` (x's shape), or from (`seed`, flat index) by Philox.
    """
    fmt = _element(fmt)
    policy = get_policy(policy)
    values = _as_float64(x)
    shape = values.shape
    values = values.ravel()
    negative = np.signbit(values)
    is_nan = np.isnan(values)
    magnitude = np.abs(values)
    is_inf = np.isinf(magnitude)
    if is_nan.any() and not fmt.has_nan and policy.nan_to_nonan == "error":
        raise MXError(f"NaN input cannot be encoded in {fmt.name} (policy nan_to_nonan = 'error')")
    if policy.subnormal_inputs == "flush":
        magnitude = np.where(magnitude < float(FP32_MIN_NORMAL), 0.0, magnitude)
    magnitude = np.where(is_nan | is_inf, 0.0, magnitude)  # their codes are set at the end

    grid = _grid(fmt, int(scale_exp))
    last = len(grid.table) - 1
    i = np.searchsorted(grid.table, magnitude, side="right") - 1  # table[i] <= |x| < table[i+1]
    inside = i < last
    j = np.minimum(i, last - 1)
    lo = grid.table[j]
    mid = grid.midpoints[j]
    odd = grid.odd[j]
    inexact = magnitude != grid.table[i]
    mode = policy.rounding
    if mode == "rne":
        up = (magnitude > mid) | ((magnitude == mid) & odd)
    elif mode == "rna":
        up = magnitude >= mid
    elif mode == "rtz":
        up = np.zeros_like(inexact)
    elif mode == "rup":
        up = ~negative
    elif mode == "rdn":
        up = negative.copy()
    elif mode == "rto":
        up = ~odd
    else:  # stochastic: t = floor((|v| - lo)/q 2^R), exact (Sterbenz, then a power-of-two scaling)
        bits = policy.sr_bits
        rnd = _random_draws(random_bits, seed, shape, bits)
        fraction = np.where(inside, magnitude - lo, 0.0)
        t = np.floor(np.ldexp(fraction, bits - grid.quantum_exp[j])).astype(np.int64)
        up = t + rnd >= 1 << bits
    r = np.where(inside, i + (up & inexact), last)

    max_pos = grid.max_index
    max_neg = max_pos + 1 if fmt.is_int and policy.int_range == "full" else max_pos
    max_r = np.where(negative, max_neg, max_pos)
    over = r > max_r
    r = np.minimum(r, max_r)
    codes = _signed_codes(fmt, grid.codes[r], negative)
    zero = r == 0
    if policy.zero_sign == "positive":
        codes[zero] = 0
    elif policy.zero_sign == "fp32_quotient":  # zero as a float32 quotient |x| / 2^s (RNE): +0
        codes[zero & (magnitude <= np.ldexp(1.0, int(scale_exp) - 150))] = 0

    if policy.overflow == "ieee" and not fmt.is_int:
        to_inf = np.where(negative, _overflow_goes_to_inf(True, policy), _overflow_goes_to_inf(False, policy))
        inf_like = (over & to_inf) | is_inf
        codes[inf_like & ~negative] = _inf_like_code(fmt, False, policy)
        codes[inf_like & negative] = _inf_like_code(fmt, True, policy)
    else:
        codes[is_inf & ~negative] = _max_code(fmt, False, policy)
        codes[is_inf & negative] = _max_code(fmt, True, policy)

    if fmt.has_nan:
        all_ones = policy.nan_code == "all_ones"
        codes[is_nan & ~negative] = _nan_code(fmt, False, all_ones)
        codes[is_nan & negative] = _nan_code(fmt, True, all_ones)
    elif fmt.is_int or policy.nan_to_nonan == "zero":
        codes[is_nan] = 0
    else:
        sign_of_zero = negative if policy.nan_to_nonan == "signed_zero" else ~negative
        codes[is_nan] = np.where(sign_of_zero[is_nan], _sign_bit(fmt), 0)
    return codes.astype(np.uint8).reshape(shape)


def _signed_codes(fmt: ElementFormat, magnitude_codes: np.ndarray, negative: np.ndarray) -> np.ndarray:
    if fmt.is_int:
        return np.where(negative, -magnitude_codes, magnitude_codes) & ((1 << fmt.bits) - 1)
    return np.where(negative, magnitude_codes | _sign_bit(fmt), magnitude_codes)


def _random_draws(random_bits: np.ndarray | None, seed: int | None, shape: tuple, bits: int) -> np.ndarray:
    if random_bits is not None:
        rnd = np.asarray(random_bits)
        if rnd.shape != shape or rnd.dtype.kind not in "iu":
            raise InputError(f"random_bits must be integers of shape {shape}, got {rnd.dtype} {rnd.shape}")
        rnd = rnd.astype(np.int64).ravel()
        if rnd.size and (rnd.min() < 0 or rnd.max() >= 1 << bits):
            raise InputError(f"random_bits must lie in [0, 2^{bits})")
        return rnd
    if seed is None:
        raise InputError("stochastic rounding needs random_bits or a seed")
    return random_ints(seed, np.arange(math.prod(shape), dtype=np.uint64), bits)


@cache
def _decode_table(fmt: ElementFormat, scale_exp: int) -> np.ndarray:
    out = np.empty(1 << fmt.bits, dtype=np.float64)
    scale = _pow2(scale_exp)
    for code in range(1 << fmt.bits):
        value = decode_value(code, fmt)
        if isinstance(value, Fraction):
            exact = value * scale
            out[code] = float(exact)
            if Fraction(out[code]) != exact:
                raise InputError(f"scale_exp = {scale_exp} puts {fmt.name} outside the exact float64 range; "
                                 f"accepted: scale exponents whose values float64 holds exactly")
            if value == 0 and code & _sign_bit(fmt) and not fmt.is_int:
                out[code] = -0.0
        else:
            out[code] = value
    return out


def decode_array(codes: np.ndarray, fmt: str | ElementFormat, scale_exp: int = 0) -> np.ndarray:
    """Exact float64 values of the codes times 2^scale_exp (NaN codes give NaN, Inf codes ±inf, -0 kept)."""
    fmt = _element(fmt)
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        raise InputError(f"codes must be integers, got {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << fmt.bits):
        raise InputError(f"codes must lie in [0, 2^{fmt.bits}) for {fmt.name}")
    return _decode_table(fmt, int(scale_exp))[codes.astype(np.int64)]


# ----------------------------------------------------------------------------------------------------------
# Block quantization
# ----------------------------------------------------------------------------------------------------------


def _log2_float32(a: np.float32) -> np.float32:
    """log2(a) correctly rounded to float32, for a finite float32 a > 0."""
    value = Fraction(float(a))
    e = floor_log2(value)
    if value == _pow2(e):
        return np.float32(e)
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(float(a)).ln() / Decimal(2).ln()  # relative error ~1e-59; log2 here is irrational
        guess = np.float32(float(exact))
        below, above = np.nextafter(guess, np.float32(-np.inf)), np.nextafter(guess, np.float32(np.inf))
        candidates = [below, guess, above]
        return min(candidates, key=lambda c: abs(Decimal(float(c)) - exact))


_ABOVE_ANY_SCALE, _BELOW_ANY_SCALE = 1 << 30, -(1 << 30)  # stand-ins for E = +inf and -inf


def _shared_exponent(amax: Fraction, elem: ElementFormat, policy: Policy) -> int:
    """Unclamped scale exponent E of a block with finite amax > 0 (contract step 3)."""
    rule = policy.scale_rule
    emax = elem.emax
    if rule == "rceil" and policy.descale != "exact":
        return _rceil_float32_exponent(amax, elem, policy)
    # `even` takes no log2 of an unrounded value, and rceil with an exact quotient is exact: log2 is moot.
    if policy.log2 == "fp32" and rule not in ("even", "rceil"):
        with np.errstate(over="ignore", under="ignore"):
            a32 = np.float32(float(min(amax, _pow2(128))))  # RNE; 2^128 and above are Inf in float32
        if a32 == 0:
            return _BELOW_ANY_SCALE  # log2 = -inf
        if np.isinf(a32):
            return _ABOVE_ANY_SCALE  # log2 = +inf
        log2 = float(_log2_float32(a32))
        return (math.floor(log2) if rule == "floor" else math.ceil(log2)) - emax
    if rule == "floor":
        return floor_log2(amax) - emax
    if rule == "ceil":
        return _ceil_log2(amax) - emax
    if rule == "even":
        m = elem.bits - 2 if elem.is_int else elem.mantissa_bits
        ulp = _pow2(floor_log2(amax) - m)
        rounded = math.floor(amax / ulp + Fraction(1, 2)) * ulp  # m+1 significant bits, ties away
        return floor_log2(rounded) - emax
    if rule == "rceil":
        return _ceil_log2(amax / elem.max_normal)
    raise PolicyError(f"unknown scale_rule {rule!r}; accepted: floor, ceil, even, rceil")


def _rceil_float32_exponent(amax: Fraction, elem: ElementFormat, policy: Policy) -> int:
    """RCEIL with the quotient amax / max_normal taken in float32 (numpy's IEEE float32 arithmetic):
    a division (descale fp32_div) or a product with the float32 reciprocal (fp32_recip)."""
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        a32 = np.float32(float(min(amax, _pow2(128))))
        top = np.float32(float(elem.max_normal))
        if policy.descale == "fp32_div":
            d = np.float32(a32 / top)
        else:
            d = np.float32(a32 * np.float32(1.0 / float(elem.max_normal)))
    if d == 0:
        return _BELOW_ANY_SCALE
    if np.isinf(d):
        return _ABOVE_ANY_SCALE
    if policy.log2 == "fp32":
        return math.ceil(float(_log2_float32(d)))
    return _ceil_log2(Fraction(float(d)))


def scale_code(
    x: np.ndarray | Iterable[float], mxfmt: str | MXFormat, policy: Policy | str | None = None
) -> int:
    """The shared scale code of one block (contract steps 1-3); the scale's NaN code when the scale is NaN."""
    mxfmt, scale = _mx(mxfmt)
    policy = get_policy(policy)
    values, input_exponent_bits = _block_values(x)
    return _scale_code_of(_flushed_block(values, policy), input_exponent_bits, mxfmt.element, scale, policy)


def _mx(mxfmt: str | MXFormat) -> tuple[MXFormat, ScaleFormat]:
    found = get_format(mxfmt)
    if not isinstance(found, MXFormat):
        raise InputError(f"{mxfmt!r} is not an MX block format; accepted: an MX format name or MXFormat")
    if not isinstance(found.scale, ScaleFormat):
        raise InputError(f"{found.name}: the oracle defines blocks with E8M0-like scales only; accepted: the "
                         f"E8M0-scaled MX formats")
    return found, found.scale


_INPUT_EXPONENT_BITS = {"float16": 5, "bfloat16": 8, "float32": 8, "float64": 11}


def _block_values(x: np.ndarray | Iterable[float]) -> tuple[list[float], int]:
    """The block as exact Python floats, and the exponent width of its dtype (float64 for plain sequences)."""
    array = np.asarray(x)
    if array.dtype.name not in _INPUT_EXPONENT_BITS:
        array = array.astype(np.float64)
    with np.errstate(invalid="ignore"):
        values = [float(v) for v in array.ravel()]
    return values, _INPUT_EXPONENT_BITS[array.dtype.name]


def _flushed_block(values: list[float], policy: Policy) -> list[float]:
    """The block after subnormal_inputs (contract step 1): FP32-subnormal lanes read as signed zeros."""
    tiny = float(FP32_MIN_NORMAL)
    finite = [abs(v) for v in values if math.isfinite(v)]
    if policy.subnormal_inputs == "flush":
        flush = [math.isfinite(v) and abs(v) < tiny for v in values]
    elif policy.subnormal_inputs == "flush_block" and max(finite, default=0.0) < tiny:
        flush = [math.isfinite(v) for v in values]
    else:
        flush = [False] * len(values)
    return [math.copysign(0.0, v) if f else v for v, f in zip(values, flush, strict=True)]


def _scale_code_of(
    values: list[float], input_exponent_bits: int, elem: ElementFormat, scale: ScaleFormat, policy: Policy
) -> int:
    """Contract steps 2-3. `inf_as_exponent` (a Policy value the contract does not list yet) follows
    policy.py: NaN makes the scale NaN, and Inf is read through its all-ones exponent field as the number
    2^(2^(w-1)) for an input exponent width w (2^128 for float32)."""
    has_nan = any(math.isnan(v) for v in values)
    has_inf = any(math.isinf(v) for v in values)
    amax: Fraction | float = max((abs(Fraction(v)) for v in values if math.isfinite(v)), default=Fraction(0))
    rule = policy.nonfinite
    if rule not in ("nan_scale", "propagate", "ignore_nan", "finite_amax", "inf_as_exponent"):
        raise PolicyError(f"unknown nonfinite rule {rule!r}; accepted: nan_scale, propagate, ignore_nan, "
                          f"finite_amax, inf_as_exponent")
    nan_makes_nan = rule in ("nan_scale", "propagate", "inf_as_exponent")
    if (has_nan and nan_makes_nan) or (has_inf and rule == "nan_scale"):
        return scale.nan_code
    if has_inf and rule in ("propagate", "ignore_nan"):
        amax = math.inf
    if has_inf and rule == "inf_as_exponent":
        amax = _pow2(1 << (input_exponent_bits - 1))
    if amax == 0:
        return policy.zero_block_scale
    exponent = _ABOVE_ANY_SCALE if amax == math.inf else _shared_exponent(amax, elem, policy) - _int_emax(elem, policy)
    if policy.scale_value != "e8m0" and _fp32_scale(values, input_exponent_bits, elem, policy) is None:
        return scale.nan_code
    if exponent < scale.min_exponent:
        exponent = scale.min_exponent
    if exponent > scale.max_exponent:
        if policy.scale_overflow == "nan":
            return scale.nan_code
        exponent = scale.max_exponent
    return exponent + scale.bias


# ----------------------------------------------------------------------------------------------------------
# Peers' scale arithmetic (int_emax, scale_value): Brevitas's and AMD Quark's fake-quantizers, in float32
# ----------------------------------------------------------------------------------------------------------

_FP32_EPS = _pow2(-23)  # torch.finfo(torch.float32).eps, Quark's stand-in for a scale that underflowed to 0
_BREVITAS_MIN_VAL = Fraction(float(np.float32(1e-10)))  # scaling_min_val, as the float32 torch.clamp uses


def _int_emax(elem: ElementFormat, policy: Policy) -> int:
    """1 where integer elements take emax 1 (Brevitas divides 2^floor(log2 amax) by 2^(b-1)), else 0."""
    return 1 if elem.is_int and policy.int_emax == "one" else 0


def _fp32_scale(values: list[float], input_exponent_bits: int, elem: ElementFormat,
                policy: Policy) -> Fraction | None:
    """The block's float32 scale under scale_value fp32_pow2 or fp32_min_val; None where it is NaN or Inf
    (every lane of the peer's result is then NaN: x / Inf, 0 * Inf)."""
    rule = policy.nonfinite
    has_nan = any(math.isnan(v) for v in values)
    has_inf = any(math.isinf(v) for v in values)
    if has_nan and rule in ("nan_scale", "propagate", "inf_as_exponent"):
        return None
    if has_inf and rule in ("nan_scale", "propagate", "ignore_nan"):
        return None  # nan_scale: NaN; the others: amax = Inf, log2 = Inf, a scale of Inf
    amax = max((abs(Fraction(v)) for v in values if math.isfinite(v)), default=Fraction(0))
    if has_inf and rule == "inf_as_exponent":
        amax = _pow2(1 << (input_exponent_bits - 1))
    emax = elem.emax + _int_emax(elem, policy)
    x = _shared_exponent(amax, elem, policy) - _int_emax(elem, policy) if amax > 0 else None
    if policy.scale_value == "fp32_pow2":
        # torch.pow(2, x) in float32: Inf above 2^127, 0 below 2^-149 (then eps), subnormal in between.
        if x is not None and x > 127:
            return None
        return _FP32_EPS if x is None or x < -149 else _pow2(x)
    # max(2^floor(log2 max(amax, m)), m) / 2^emax: the power of two is a float32 before the division.
    if x is not None and x + emax > 127:
        return None
    if x is None or x + emax < -126 or _pow2(x + emax) < _BREVITAS_MIN_VAL:  # 2^-126 < m: a short cut
        return _BREVITAS_MIN_VAL / _pow2(emax)
    return _pow2(x)


def _fp32_scale_fake_quantize(values: list[float], input_exponent_bits: int, elem: ElementFormat,
                              policy: Policy) -> np.ndarray:
    """Fake-quantized values of one block under a float32 scale_value rule: each input, read as a float32,
    divided in float32 by the unit (the scale; for integers fl32(scale * 2^emin), the peers' scale / 2^f),
    encoded as that many units, and multiplied back in float32."""
    s = _fp32_scale(values, input_exponent_bits, elem, policy)
    if s is None:
        return np.full(len(values), np.nan)
    emin = elem.emin if elem.is_int else 0
    unit = Fraction(float(nearest_float32(s * _pow2(emin))))
    out = []
    for v in values:
        with np.errstate(over="ignore"):
            v32 = float(np.float32(v))  # RNE; float64 beyond the float32 range becomes Inf
        if unit == 0:  # an integer quantum below the float32 range (Quark: scale / 2^f underflows)
            q = math.copysign(math.inf, v32) if v32 != 0 and not math.isnan(v32) else math.nan
        elif math.isfinite(v32) and v32 != 0:
            q = float(nearest_float32(Fraction(v32) / unit))
            if q == 0:
                q = math.copysign(0.0, v32)
        else:
            q = v32  # +-0, +-Inf and NaN keep their kind through the division
        code = encode_value(q, elem, -emin, policy)
        element = decode_value(code, elem)
        if isinstance(element, float) and not math.isfinite(element):
            out.append(element * (1 if unit else math.nan))
        elif unit == 0 and element != 0:
            out.append(math.copysign(0.0, element))
        elif element == 0:
            negative = elem.is_int and math.copysign(1.0, q) < 0 and not math.isnan(q) and _int_zero_negative(q, policy)
            out.append(-0.0 if negative or (not elem.is_int and code & _sign_bit(elem)) else 0.0)
        else:
            out.append(float(nearest_float32(Fraction(element) / _pow2(emin) * unit)))
    return np.array(out, dtype=np.float64)


def _int_zero_negative(q: float, policy: Policy) -> bool:
    """Whether an integer zero from the negative float32 quotient q reads as -0 (fake_int_zero, zero_sign)."""
    if policy.fake_int_zero == "positive" or policy.zero_sign == "positive":
        return False
    if policy.fake_int_zero == "signed_quotient" or policy.zero_sign == "fp32_quotient":
        return q != 0
    return True


def quantize_block(
    x: np.ndarray | Iterable[float],
    mxfmt: str | MXFormat,
    policy: Policy | str | None = None,
    random_bits: np.ndarray | Iterable[int] | None = None,
    seed: int | None = None,
    indices: np.ndarray | Iterable[int] | None = None,
) -> tuple[int, np.ndarray]:
    """(scale code, element codes) of one block of at most block_size values, by the contract's block rules.

    Stochastic rounding draws rnd from `random_bits` (one per lane) or from Philox keyed by `seed` at the
    lanes' flat `indices` in the caller's array (default 0, 1, ...).
    """
    mxfmt, scale = _mx(mxfmt)
    policy = get_policy(policy)
    elem = mxfmt.element
    raw, input_exponent_bits = _block_values(x)
    if len(raw) > mxfmt.block_size:
        raise InputError(f"a block of {mxfmt.name} holds at most {mxfmt.block_size} values, got {len(raw)}; "
                         f"accepted: 1..{mxfmt.block_size} values")
    values = _flushed_block(raw, policy)
    code = _scale_code_of(values, input_exponent_bits, elem, scale, policy)
    if code == scale.nan_code:
        fill = _nan_code(elem, False) if elem.has_nan else 0
        return code, np.full(len(values), fill, dtype=np.uint8)
    # Only a NaN that reaches an element must be encoded; under a NaN scale every element is don't-care.
    if policy.nan_to_nonan == "error" and not elem.has_nan and any(math.isnan(v) for v in raw):
        raise MXError(f"NaN input cannot be encoded in {elem.name} (policy nan_to_nonan = 'error')")

    draws: list[int | None] = [None] * len(values)
    if policy.rounding == "stochastic":
        if random_bits is not None:
            draws = [int(r) for r in np.asarray(random_bits).ravel()]
            if len(draws) != len(values):
                raise InputError(f"random_bits has {len(draws)} entries for {len(values)} values; accepted: one "
                                 f"per value")
        elif seed is not None:
            lanes = range(len(values)) if indices is None else [int(i) for i in np.asarray(indices).ravel()]
            draws = [random_int(seed, i, policy.sr_bits) for i in lanes]
        else:
            raise InputError("stochastic rounding needs random_bits or a seed")
    exponent = code - scale.bias
    if code == 0 and policy.min_scale_encoding != "exact":
        # The stored scale is 2^-127, but these peers encode the elements at 2^-126 or at 1.
        exponent = -126 if policy.min_scale_encoding == "min_normal" else 0
    codes = [encode_value(v, elem, exponent, policy, r) for v, r in zip(values, draws, strict=True)]
    return code, np.array(codes, dtype=np.uint8)


def dequantize_block(scale: int, codes: np.ndarray | Iterable[int], mxfmt: str | MXFormat) -> np.ndarray:
    """Exact float64 values of one block: element value times 2^(scale - bias); a NaN scale gives all NaN."""
    mxfmt, scale_fmt = _mx(mxfmt)
    codes = np.asarray(codes, dtype=np.int64)
    if scale == scale_fmt.nan_code:
        return np.full(codes.shape, np.nan)
    if not 0 <= scale < scale_fmt.nan_code:
        raise InputError(f"scale code {scale} outside [0, {scale_fmt.nan_code}]; accepted: 0..{scale_fmt.nan_code}")
    return decode_array(codes, mxfmt.element, scale - scale_fmt.bias)


def fake_quantize_block(x: np.ndarray | Iterable[float], mxfmt: str | MXFormat,
                        policy: Policy | str | None = None) -> np.ndarray:
    """Exact float64 fake-quantized values of one block (non-stochastic policies): the dequantized codes,
    except that under fake_int_zero = "signed" an integer lane that is zero is -0 when its input was
    negative and nonzero (or -0 itself under zero_sign = "keep"), as sign(x) * round(|x|) computes it, and
    under "signed_quotient" when its float32 quotient by the integer quantum is negative and nonzero. Under
    a float32 scale_value the values are the peers' float32 arithmetic (`_fp32_scale_fake_quantize`)."""
    mxfmt, _ = _mx(mxfmt)
    policy = get_policy(policy)
    if policy.scale_value != "e8m0":
        raw, input_exponent_bits = _block_values(x)
        return _fp32_scale_fake_quantize(_flushed_block(raw, policy), input_exponent_bits, mxfmt.element, policy)
    code, codes = quantize_block(x, mxfmt, policy)
    values = dequantize_block(code, codes, mxfmt)
    if not mxfmt.element.is_int or policy.fake_int_zero == "positive":
        return values
    exponent = code - mxfmt.scale.bias
    if code == 0 and policy.min_scale_encoding != "exact":
        exponent = -126 if policy.min_scale_encoding == "min_normal" else 0
    raw, _ = _block_values(x)
    for i, v in enumerate(_flushed_block(raw, policy)):
        negative = math.copysign(1.0, v) < 0 and not math.isnan(v)
        if policy.fake_int_zero == "signed_quotient":
            # -0 where the float32 quotient by the integer quantum is negative and nonzero.
            quantum = _pow2(exponent + mxfmt.element.emin)
            if values[i] == 0 and negative and math.isfinite(v) and v != 0 and policy.zero_sign != "positive" \
                    and nearest_float32(abs(Fraction(v)) / quantum) != 0:
                values[i] = -0.0
        elif values[i] == 0 and negative and not math.isinf(v) and (
                (v != 0 and _keeps_sign(abs(Fraction(v)), exponent, policy))
                or (v == 0 and policy.zero_sign == "keep")):
            values[i] = -0.0
    return values


# ----------------------------------------------------------------------------------------------------------
# Dot products: the fixed-point accumulation model, from its definition on exact products
# ----------------------------------------------------------------------------------------------------------

FLOAT32_OVERFLOW = _pow2(128) - _pow2(103)  # from here up, round to nearest gives Inf


def nearest_float32(v: Fraction) -> np.float32:
    """The float32 nearest to an exact rational (ties to even, gradual underflow, Inf from 2^128 - 2^103 up;
    +0 for 0).

    >>> float(nearest_float32(Fraction(1) + _pow2(-24))), float(nearest_float32(Fraction(3, 1 << 150))) == 2.0**-148
    (1.0, True)
    """
    if v == 0:
        return np.float32(0.0)
    mag = abs(v)
    q = _pow2(max(floor_log2(mag), -126) - 23)
    r = round(mag / q) * q  # Fraction.__round__ rounds half to even
    out = np.float32(np.inf) if r >= FLOAT32_OVERFLOW else np.float32(float(r))
    return -out if v < 0 else out


def round_to_integer(v: Fraction, rounding: str) -> int:
    """v rounded to an integer: rtz, rdn (floor), rup (ceil), rne, rna (ties away) or rto (to odd).

    >>> [round_to_integer(Fraction(-5, 2), r) for r in ("rtz", "rdn", "rup", "rne", "rna", "rto")]
    [-2, -3, -2, -2, -3, -3]
    """
    lo = math.floor(v)
    if lo == v:
        return lo
    if rounding == "rtz":
        return lo if v > 0 else lo + 1
    if rounding == "rdn":
        return lo
    if rounding == "rup":
        return lo + 1
    if rounding == "rto":
        return lo if lo % 2 else lo + 1
    half = v - lo - Fraction(1, 2)
    if rounding == "rne":
        return lo + (half > 0 or (half == 0 and lo % 2 == 1))
    if rounding == "rna":
        return lo + (half > 0 or (half == 0 and v > 0))
    raise UnknownNameError(f"unknown rounding {rounding!r}; accepted: rtz, rdn, rup, rne, rna, rto")


def _in_word(n: int, bits: int, saturate: bool) -> int:
    """n as a `bits`-bit two's complement integer: clamped to its range, or reduced modulo 2^bits."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if saturate:
        return min(max(n, lo), hi)
    return (n - lo) % (1 << bits) + lo


def _special_sum(values: list[float]) -> float:
    """IEEE sum of NaN / ±Inf products: NaN if any NaN or both infinities, else the infinity."""
    if any(math.isnan(x) for x in values) or (math.inf in values and -math.inf in values):
        return math.nan
    return values[0]


def fixed_point_dot(blocks: list[tuple[list[Fraction | float], Fraction]], frac_bits: int, width: int,
                    rounding: str, saturate: bool = True, scaled: bool = False,
                    output: tuple[int, int, str] | None = None) -> np.float32 | int:
    """The fixed-point accumulation model (docs/convert_dot.md) on exact products.

    `blocks`: per block, its unscaled products P_A,i * P_B,i (Fractions, or float NaN / ±Inf) and its scale
    product X_A * X_B. Each product (times the scale when `scaled`) is rounded to an integer multiple of
    2^-frac_bits, put in `width` bits (clamped or wrapped) and added into a `width`-bit accumulator (clamped or
    wrapped after every addition), one accumulator per block (unscaled) or one for all (scaled). `output`
    (int_bits, out_frac_bits, rounding) gives the signed output word instead of float32.

    >>> float(fixed_point_dot([([Fraction(1, 1 << 18)] * 16 + [Fraction(-1, 1 << 18)] * 16, Fraction(1))],
    ...                       16, 40, "rup")) == 2.0**-12
    True
    """
    def word(v: Fraction, out: tuple[int, int, str]) -> int:
        return _in_word(round_to_integer(v * _pow2(out[1]), out[2]), 1 + out[0] + out[1], saturate)

    acc, acc32, total = 0, np.float32(0.0), 0
    specials: list[float] = []
    for products, scale in blocks:
        if not scaled:
            acc = 0
        nonfinite = [p for p in products if isinstance(p, float)]
        if nonfinite:
            specials += nonfinite
            if not scaled and output is None:
                with np.errstate(invalid="ignore"):
                    acc32 = np.float32(acc32 + np.float32(_special_sum(nonfinite)))
            continue
        for p in products:
            v = p * scale if scaled else p
            acc = _in_word(acc + _in_word(round_to_integer(v * _pow2(frac_bits), rounding), width, saturate),
                           width, saturate)
        if scaled:
            continue
        if output is None:
            with np.errstate(invalid="ignore", over="ignore"):  # IEEE: Inf - Inf is NaN, a finite overflow Inf
                acc32 = np.float32(acc32 + nearest_float32(acc * _pow2(-frac_bits) * scale))
        else:
            total = _in_word(total + word(acc * _pow2(-frac_bits) * scale, output), 1 + output[0] + output[1],
                             saturate)
    if output is not None:
        if specials:
            s = _special_sum(specials)
            bits = 1 + output[0] + output[1]
            return 0 if math.isnan(s) else (1 << (bits - 1)) - 1 if s > 0 else -(1 << (bits - 1))
        return word(acc * _pow2(-frac_bits), output) if scaled else total
    if scaled:
        return np.float32(_special_sum(specials)) if specials else nearest_float32(acc * _pow2(-frac_bits))
    return acc32


def exponent_field(code: int, fmt: str | ElementFormat) -> int:
    """The exponent a float element's exponent field gives, max(field, 1) - bias (zeros and subnormals: the
    minimum normal's); an integer element's emax.

    >>> exponent_field(0x38, "fp8_e4m3"), exponent_field(0x01, "fp8_e4m3"), exponent_field(0x7F, "int8")
    (0, -6, 0)
    """
    fmt = _element(fmt)
    if fmt.is_int:
        return fmt.emax
    return max((int(code) >> fmt.mantissa_bits) & ((1 << fmt.exponent_bits) - 1), 1) - fmt.bias


def _on_grid(v: Fraction, exponent: int, rounding: str) -> Fraction:
    """v rounded to a multiple of 2^exponent."""
    return round_to_integer(v / _pow2(exponent), rounding) * _pow2(exponent)


def float_accumulator_dot(blocks: list[tuple[list[Fraction | float], Fraction, list[int]]], mant_bits: int,
                          group: int, align: str, align_bits: int, align_rounding: str, add_rounding: str,
                          rounding: str) -> np.float32:
    """The float accumulation model (docs/convert_dot.md) on exact products.

    `blocks`: per block, its unscaled products (Fractions, or float NaN / ±Inf), its scale product X_A * X_B and
    per lane the sum of the two elements' `exponent_field`s. Per group of `group` lanes of a block: the
    reference T (align "product": the largest floor(log2 |p|) of the non-zero products; "exponent": the largest
    exponent-field sum; "fixed": 0), each product rounded to a multiple of 2^(T - align_bits) by
    `align_rounding`, the exact sum times the scale added to the register: with E the larger floor(log2) of the
    non-zero addends, both rounded to multiples of 2^(E - mant_bits) by `add_rounding`, their exact sum rounded
    to mant_bits + 1 significant bits by `rounding`. The register ends rounded to the nearest float32.

    >>> blocks = [([Fraction(1), Fraction(3, 1 << 24)], Fraction(1), [0, -24])]  # 1 + 1.5 * 2^-23
    >>> [float(float_accumulator_dot(blocks, 23, 1, "product", 24, "rtz", r, "rne")) - 1 for r in ("rne", "rtz")]
    [2.384185791015625e-07, 1.1920928955078125e-07]
    """
    acc = Fraction(0)
    specials: list[float] = []
    for products, scale, exponents in blocks:
        for lo in range(0, len(products), group):
            grp, exps = products[lo:lo + group], exponents[lo:lo + group]
            nonfinite = [p for p in grp if isinstance(p, float)]
            if nonfinite:
                specials += nonfinite
                continue
            nonzero = [p for p in grp if p != 0]
            if align == "fixed":
                top = 0
            elif align == "exponent":
                top = max(exps)
            elif nonzero:
                top = max(floor_log2(abs(p)) for p in nonzero)
            else:
                continue
            v = sum((_on_grid(p, top - align_bits, align_rounding) for p in grp), Fraction(0)) * scale
            if v == 0:
                continue
            grid = max(floor_log2(abs(x)) for x in (acc, v) if x != 0) - mant_bits
            z = _on_grid(acc, grid, add_rounding) + _on_grid(v, grid, add_rounding)
            acc = Fraction(0) if z == 0 else _on_grid(z, floor_log2(abs(z)) - mant_bits, rounding)
    if specials:
        return np.float32(_special_sum(specials))
    return nearest_float32(acc)
