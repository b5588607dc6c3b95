"""The shared scale of one block (contract steps 1-3): exact inputs, subnormal flushing, amax and the scale rule."""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np

from mxemu.errors import InputError, PolicyError
from mxemu.oracle.exact import FP32_MIN_NORMAL, ceil_log2, floor_log2, pow2
from mxemu.policy import Policy, get_policy
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, get_format

__all__ = ["scale_code", "shared_exponent"]


def log2_float32(a: np.float32) -> np.float32:
    """log2(a) correctly rounded to float32, for a finite float32 a > 0."""
    value = Fraction(float(a))
    e = floor_log2(value)
    if value == pow2(e):
        return np.float32(e)
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(float(a)).ln() / Decimal(2).ln()  # relative error ~1e-59; log2 here is irrational
        guess = np.float32(float(exact))
        below, above = np.nextafter(guess, np.float32(-np.inf)), np.nextafter(guess, np.float32(np.inf))
        candidates = [below, guess, above]
        return min(candidates, key=lambda c: abs(Decimal(float(c)) - exact))


_ABOVE_ANY_SCALE, _BELOW_ANY_SCALE = 1 << 30, -(1 << 30)  # stand-ins for E = +inf and -inf


def shared_exponent(amax: Fraction, elem: ElementFormat, policy: Policy) -> int:
    """Unclamped scale exponent E of a block with finite amax > 0 (contract step 3)."""
    rule = policy.scale_rule
    emax = elem.emax
    if rule == "rceil" and policy.descale != "exact":
        return _rceil_float32_exponent(amax, elem, policy)
    # `even` takes no log2 of an unrounded value, and rceil with an exact quotient is exact: log2 is moot.
    if policy.log2 == "fp32" and rule not in ("even", "rceil"):
        with np.errstate(over="ignore", under="ignore"):
            a32 = np.float32(float(min(amax, pow2(128))))  # RNE; 2^128 and above are Inf in float32
        if a32 == 0:
            return _BELOW_ANY_SCALE  # log2 = -inf
        if np.isinf(a32):
            return _ABOVE_ANY_SCALE  # log2 = +inf
        log2 = float(log2_float32(a32))
        return (math.floor(log2) if rule == "floor" else math.ceil(log2)) - emax
    if rule == "floor":
        return floor_log2(amax) - emax
    if rule == "ceil":
        return ceil_log2(amax) - emax
    if rule == "even":
        m = elem.bits - 2 if elem.is_int else elem.mantissa_bits
        ulp = pow2(floor_log2(amax) - m)
        rounded = math.floor(amax / ulp + Fraction(1, 2)) * ulp  # m+1 significant bits, ties away
        return floor_log2(rounded) - emax
    if rule == "rceil":
        return ceil_log2(amax / elem.max_normal)
    raise PolicyError(f"unknown scale_rule {rule!r}; accepted: floor, ceil, even, rceil")


def _rceil_float32_exponent(amax: Fraction, elem: ElementFormat, policy: Policy) -> int:
    """RCEIL with the quotient amax / max_normal taken in float32 (numpy's IEEE float32 arithmetic):
    a division (descale fp32_div) or a product with the float32 reciprocal (fp32_recip)."""
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        a32 = np.float32(float(min(amax, pow2(128))))
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
        return math.ceil(float(log2_float32(d)))
    return ceil_log2(Fraction(float(d)))


def scale_code(
    x: np.ndarray | Iterable[float], mxfmt: str | MXFormat, policy: Policy | str | None = None
) -> int:
    """The shared scale code of one block (contract steps 1-3); the scale's NaN code when the scale is NaN."""
    mxfmt, scale = mx_format(mxfmt)
    policy = get_policy(policy)
    values, input_exponent_bits = block_values(x)
    return scale_code_of(flushed_block(values, policy), input_exponent_bits, mxfmt.element, scale, policy)


def mx_format(mxfmt: str | MXFormat) -> tuple[MXFormat, ScaleFormat]:
    """The MX format a name gives and its E8M0-like scale (`InputError` for anything else)."""
    found = get_format(mxfmt)
    if not isinstance(found, MXFormat):
        raise InputError(f"{mxfmt!r} is not an MX block format; accepted: an MX format name or MXFormat")
    if not isinstance(found.scale, ScaleFormat):
        raise InputError(f"{found.name}: the oracle defines blocks with E8M0-like scales only; accepted: the "
                         f"E8M0-scaled MX formats")
    return found, found.scale


_INPUT_EXPONENT_BITS = {"float16": 5, "bfloat16": 8, "float32": 8, "float64": 11}


def block_values(x: np.ndarray | Iterable[float]) -> tuple[list[float], int]:
    """The block as exact Python floats, and the exponent width of its dtype (float64 for plain sequences;
    integers only where float64 holds them exactly)."""
    array = np.asarray(x)
    if array.dtype.name not in _INPUT_EXPONENT_BITS:
        if array.dtype.kind not in "iu" or np.any(array.astype(np.float64).astype(array.dtype) != array):
            raise InputError(f"a block of {array.dtype} values; accepted: float16, bfloat16, float32, float64, or "
                             f"integers that float64 holds exactly")
        array = array.astype(np.float64)
    with np.errstate(invalid="ignore"):
        values = [float(v) for v in array.ravel()]
    return values, _INPUT_EXPONENT_BITS[array.dtype.name]


def flushed_block(values: list[float], policy: Policy) -> list[float]:
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


def scale_code_of(
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
        amax = pow2(1 << (input_exponent_bits - 1))
    if amax == 0:
        return policy.zero_block_scale
    exponent = _ABOVE_ANY_SCALE if amax == math.inf else shared_exponent(amax, elem, policy) - int_emax(elem, policy)
    if policy.scale_value != "e8m0" and fp32_scale(values, input_exponent_bits, elem, policy) is None:
        return scale.nan_code
    if exponent < scale.min_exponent:
        exponent = scale.min_exponent
    if exponent > scale.max_exponent:
        if policy.scale_overflow == "nan":
            return scale.nan_code
        exponent = scale.max_exponent
    return exponent + scale.bias



# Peers' scale arithmetic (int_emax, scale_value): Brevitas's and AMD Quark's fake-quantizers, in float32.

_FP32_EPS = pow2(-23)  # torch.finfo(torch.float32).eps, Quark's stand-in for a scale that underflowed to 0
_BREVITAS_MIN_VAL = Fraction(float(np.float32(1e-10)))  # scaling_min_val, as the float32 torch.clamp uses


def int_emax(elem: ElementFormat, policy: Policy) -> int:
    """1 where integer elements take emax 1 (Brevitas divides 2^floor(log2 amax) by 2^(b-1)), else 0."""
    return 1 if elem.is_int and policy.int_emax == "one" else 0


def fp32_scale(values: list[float], input_exponent_bits: int, elem: ElementFormat,
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
        amax = pow2(1 << (input_exponent_bits - 1))
    emax = elem.emax + int_emax(elem, policy)
    x = shared_exponent(amax, elem, policy) - int_emax(elem, policy) if amax > 0 else None
    if policy.scale_value == "fp32_pow2":
        # torch.pow(2, x) in float32: Inf above 2^127, 0 below 2^-149 (then eps), subnormal in between.
        if x is not None and x > 127:
            return None
        return _FP32_EPS if x is None or x < -149 else pow2(x)
    # max(2^floor(log2 max(amax, m)), m) / 2^emax: the power of two is a float32 before the division.
    if x is not None and x + emax > 127:
        return None
    if x is None or x + emax < -126 or pow2(x + emax) < _BREVITAS_MIN_VAL:  # 2^-126 < m: a short cut
        return _BREVITAS_MIN_VAL / pow2(emax)
    return pow2(x)
