"""One element, exactly: the codes of an element format from its bit layout, decode, and encode under a policy."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from mxemu.errors import InputError, MXError, PolicyError
from mxemu.oracle.exact import FP32_MIN_NORMAL, floor_log2, pow2
from mxemu.policy import Policy, get_policy
from mxemu.spec import ElementFormat, get_format

__all__ = ["decode_value", "encode_value"]


def element_format(fmt: str | ElementFormat) -> ElementFormat:
    """The element format a name or an ElementFormat gives (`InputError` for an MX block format)."""
    found = get_format(fmt)
    if not isinstance(found, ElementFormat):
        raise InputError(f"{fmt!r} is not an element format; accepted: an element format name or ElementFormat")
    return found


_SCALAR_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _read_scalar(x: float | Fraction | int) -> tuple[bool, Fraction | str]:
    """(sign bit, |x|) with |x| an exact Fraction, or the string "nan" / "inf"."""
    if isinstance(x, (Fraction, int, np.integer)) and not isinstance(x, bool):
        return x < 0, abs(Fraction(int(x) if isinstance(x, np.integer) else x))
    if not (isinstance(x, float) or (isinstance(x, np.generic) and x.dtype.name in _SCALAR_DTYPES)):
        raise InputError(f"cannot encode {x!r:.60}; accepted: an int, a Fraction, a Python float or a numpy "
                         f"{', '.join(_SCALAR_DTYPES)} scalar")
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


def sign_bit(fmt: ElementFormat) -> int:
    """The sign bit of a code: its top bit."""
    return 1 << (fmt.bits - 1)


def _top_exponent(fmt: ElementFormat) -> int:
    """The all-ones exponent field."""
    return (1 << fmt.exponent_bits) - 1


def quantum(v: Fraction, fmt: ElementFormat) -> Fraction:
    """Grid spacing at magnitude v > 0: 2^(max(floor(log2 v), emin) - m) for floats, 2^-f for ints."""
    if fmt.is_int:
        return pow2(-fmt.mantissa_bits)
    return pow2(max(floor_log2(v), 1 - fmt.bias) - fmt.mantissa_bits)


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
    significand = r / pow2(e - m)
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
    return (sign_bit(fmt) if negative else 0) | _magnitude_code(r, fmt)


def _zero_code(fmt: ElementFormat, negative: bool) -> int:
    """Zero with the given sign; integers have a single zero, code 0."""
    return sign_bit(fmt) if negative and not fmt.is_int else 0


def nan_code(fmt: ElementFormat, negative: bool, all_ones: bool = False) -> int:
    """Canonical NaN: S.1..1.1..1 for nan_only formats, the quiet NaN S.1..1.10..0 for ieee formats;
    with `all_ones` (policy nan_code = "all_ones"), S.1..1.1..1 for both."""
    m = fmt.mantissa_bits
    mantissa = (1 << m) - 1 if fmt.specials == "nan_only" or all_ones else 1 << (m - 1)
    return (sign_bit(fmt) if negative else 0) | (_top_exponent(fmt) << m) | mantissa


def _inf_code(fmt: ElementFormat, negative: bool) -> int:
    """S.1..1.0..0: the IEEE infinity of the given sign."""
    return (sign_bit(fmt) if negative else 0) | (_top_exponent(fmt) << fmt.mantissa_bits)


def max_code(fmt: ElementFormat, negative: bool, policy: Policy) -> int:
    """Code of the largest magnitude of the given sign (saturation)."""
    return _finite_code(fmt, negative, _max_magnitude(fmt, negative, policy))


def inf_like_code(fmt: ElementFormat, negative: bool, policy: Policy) -> int:
    """Inf if the format has it, else NaN if it has one, else the largest magnitude (keeping the sign)."""
    if fmt.has_inf:
        return _inf_code(fmt, negative)
    if fmt.has_nan:
        return nan_code(fmt, negative, policy.nan_code == "all_ones")
    return max_code(fmt, negative, policy)


def decode_value(code: int, fmt: str | ElementFormat) -> Fraction | float:
    """Exact value of one code: a Fraction, or float NaN / ±inf.

    Floats by MX v1.0 §5.3: (-1)^S 2^(E-bias) (1 + M/2^m) for E > 0 and (-1)^S 2^(1-bias) M/2^m for E = 0,
    with the top exponent reserved per `specials`. Integers: two's complement k times 2^-fraction_bits.
    Both zeros decode to Fraction(0); the sign of a float zero is the code's top bit.
    """
    fmt = element_format(fmt)
    if isinstance(code, bool) or not isinstance(code, (int, np.integer)):
        raise InputError(f"code {code!r:.60} is not an integer; accepted: an int in 0..{fmt.num_codes - 1}")
    code = int(code)
    if not 0 <= code < 1 << fmt.bits:
        raise InputError(f"code {code:#x} does not fit in the {fmt.bits} bits of {fmt.name}; accepted: "
                         f"0..{fmt.num_codes - 1}")
    if fmt.is_int:
        k = code - (1 << fmt.bits) if code & sign_bit(fmt) else code
        return Fraction(k, 1 << fmt.mantissa_bits)
    m = fmt.mantissa_bits
    negative = bool(code & sign_bit(fmt))
    exponent = (code >> m) & _top_exponent(fmt)
    mantissa = code & ((1 << m) - 1)
    if exponent == _top_exponent(fmt):
        if fmt.specials == "ieee":
            return math.nan if mantissa else (-math.inf if negative else math.inf)
        if fmt.specials == "nan_only" and mantissa == (1 << m) - 1:
            return math.nan
    if exponent == 0:
        magnitude = Fraction(mantissa, 1 << m) * pow2(1 - fmt.bias)
    else:
        magnitude = (1 + Fraction(mantissa, 1 << m)) * pow2(exponent - fmt.bias)
    return -magnitude if negative else magnitude


# ----------------------------------------------------------------------------------------------------------
# Scalar encode: every step of the contract, on exact rationals
# ----------------------------------------------------------------------------------------------------------


def _round_magnitude(
    v: Fraction, negative: bool, fmt: ElementFormat, policy: Policy, rnd: int | None
) -> Fraction:
    """Round |v| > 0 onto the format's grid, extended past max normal with IEEE unbounded exponents."""
    q = quantum(v, fmt)
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


def overflow_goes_to_inf(negative: bool, policy: Policy) -> bool:
    """Under overflow = ieee: does a result beyond max normal become Inf-like (True) or max (False)?"""
    mode = policy.rounding
    if mode in ("rne", "rna", "stochastic"):
        return True
    if mode in ("rtz", "rto"):
        return False
    return negative if mode == "rdn" else not negative


def keeps_sign(magnitude: Fraction, scale_exp: int, policy: Policy) -> bool:
    """Whether a nonzero input that rounds to zero keeps its sign: under "keep"; under "fp32_quotient"
    only if the float32 quotient |x| / 2^s (RNE) is nonzero, i.e. |x| / 2^s > 2^-150."""
    if policy.zero_sign == "fp32_quotient":
        return magnitude * pow2(-scale_exp) > pow2(-150)
    return policy.zero_sign == "keep"


def encode_value(
    x: float | Fraction,
    fmt: str | ElementFormat,
    scale_exp: int = 0,
    policy: Policy | str | None = None,
    rnd: int | None = None,
) -> int:
    """Code of x * 2^-scale_exp in `fmt` under `policy` (contract steps 1-5); rnd is the stochastic draw."""
    fmt = element_format(fmt)
    policy = get_policy(policy)
    negative, magnitude = _read_scalar(x)

    # 1. NaN
    if magnitude == "nan":
        if fmt.has_nan:
            return nan_code(fmt, negative, policy.nan_code == "all_ones")
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
            return inf_like_code(fmt, negative, policy)
        return max_code(fmt, negative, policy)

    # 4. Zeros
    if magnitude == 0:
        return _zero_code(fmt, negative and policy.zero_sign == "keep")

    # 5. Finite nonzero: round v = |x| 2^-s, then overflow and underflow
    r = _round_magnitude(magnitude * pow2(-scale_exp), negative, fmt, policy, rnd)
    if r > _max_magnitude(fmt, negative, policy):
        if policy.overflow == "ieee" and not fmt.is_int and overflow_goes_to_inf(negative, policy):
            return inf_like_code(fmt, negative, policy)
        return max_code(fmt, negative, policy)
    if r == 0:
        return _zero_code(fmt, negative and keeps_sign(magnitude, scale_exp, policy))
    return _finite_code(fmt, negative, r)

