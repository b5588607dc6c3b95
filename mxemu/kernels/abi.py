"""The kernels' interface: formats and policies as flat integer tuples, with every slot and code named.

numba kernels take a format as the tuple F and a policy as the tuple P and read them only through the
names below (`F[SPECIALS] == SPECIALS_IEEE`, `P[ROUNDING] == RTZ`). The policy slots are `Policy`'s
fields in declaration order and each value code is the value's index in `CHOICES`: both are generated
here, and every name is looked up by the string it stands for, so an added, removed or reordered
field or value changes the numbers with it or fails at import, never silently.
"""

from __future__ import annotations

import numpy as np

from mxemu import spec
from mxemu.policy import CHOICES, FIELDS, Policy
from mxemu.spec import ElementFormat

# Format tuple slots: (kind, bits, mantissa bits, emin, emax, largest significand, specials, bias).
FORMAT_SLOTS = ("kind", "bits", "mbits", "emin", "emax", "maxint", "specials", "bias")
KIND, BITS, MBITS, EMIN, EMAX, MAXINT, SPECIALS, BIAS = range(len(FORMAT_SLOTS))
KIND_FLOAT, KIND_INT = 0, 1
# Ordered by what a format has: nothing, a NaN (OFP8 E4M3: S.1111.111), Inf and NaNs (IEEE-style).
SPECIALS_CODE = {"none": 0, "nan_only": 1, "ieee": 2}
SPECIALS_NONE, SPECIALS_NAN_ONLY, SPECIALS_IEEE = (SPECIALS_CODE[s] for s in ("none", "nan_only", "ieee"))
if set(SPECIALS_CODE) != set(spec.SPECIALS):
    raise AssertionError(f"every value of spec.SPECIALS {spec.SPECIALS} needs a code")

# Policy tuple slots: the fields of Policy, in its order.
POLICY_SLOTS: tuple[str, ...] = FIELDS


def slots(*fields: str) -> tuple[int, ...]:
    """Positions of the named Policy fields in the policy tuple; every field named exactly once."""
    if sorted(fields) != sorted(POLICY_SLOTS):
        raise AssertionError(f"the policy slots must name every Policy field {POLICY_SLOTS}, got {fields}")
    return tuple(POLICY_SLOTS.index(f) for f in fields)


def codes(field: str, *values: str) -> tuple[int, ...]:
    """Codes of a Policy field's values, named in any order; every value of CHOICES[field] exactly once."""
    if sorted(values) != sorted(CHOICES[field]):
        raise AssertionError(f"the codes of Policy.{field} must name {CHOICES[field]}, got {values}")
    return tuple(CHOICES[field].index(v) for v in values)


(ROUNDING, OVERFLOW, SCALE_RULE, LOG2, DESCALE, MIN_SCALE_ENCODING, SCALE_OVERFLOW, ZERO_BLOCK_SCALE,
 NONFINITE, NAN_TO_NONAN, NAN_CODE, INT_RANGE, SUBNORMAL_INPUTS, ZERO_SIGN, SR_BITS, FAKE_INT_ZERO, INT_EMAX,
 SCALE_VALUE) = slots(
    "rounding", "overflow", "scale_rule", "log2", "descale", "min_scale_encoding", "scale_overflow",
    "zero_block_scale", "nonfinite", "nan_to_nonan", "nan_code", "int_range", "subnormal_inputs", "zero_sign",
    "sr_bits", "fake_int_zero", "int_emax", "scale_value")

RNE, RNA, RTZ, RUP, RDN, RTO, STOCHASTIC = codes("rounding", "rne", "rna", "rtz", "rup", "rdn", "rto", "stochastic")
SATURATE, IEEE = codes("overflow", "saturate", "ieee")
FLOOR, CEIL, EVEN, RCEIL = codes("scale_rule", "floor", "ceil", "even", "rceil")
LOG2_EXACT, LOG2_FP32 = codes("log2", "exact", "fp32")
DESCALE_EXACT, DESCALE_FP32_DIV, DESCALE_FP32_RECIP = codes("descale", "exact", "fp32_div", "fp32_recip")
MIN_SCALE_EXACT, MIN_SCALE_MIN_NORMAL, MIN_SCALE_ONE = codes("min_scale_encoding", "exact", "min_normal", "one")
SCALE_OVERFLOW_CLAMP, SCALE_OVERFLOW_NAN = codes("scale_overflow", "clamp", "nan")
NAN_SCALE, PROPAGATE, IGNORE_NAN, FINITE_AMAX, INF_AS_EXPONENT = codes(
    "nonfinite", "nan_scale", "propagate", "ignore_nan", "finite_amax", "inf_as_exponent")
NAN_ZERO, NAN_SIGNED_ZERO, NAN_FLIPPED_ZERO, NAN_ERROR = codes(
    "nan_to_nonan", "zero", "signed_zero", "flipped_zero", "error")
NAN_CANONICAL, NAN_ALL_ONES = codes("nan_code", "canonical", "all_ones")
INT_SYMMETRIC, INT_FULL = codes("int_range", "symmetric", "full")
KEEP, FLUSH_BLOCK, FLUSH = codes("subnormal_inputs", "keep", "flush_block", "flush")
ZERO_KEEP, ZERO_POSITIVE, ZERO_FP32_QUOTIENT = codes("zero_sign", "keep", "positive", "fp32_quotient")
FAKE_INT_ZERO_POSITIVE, FAKE_INT_ZERO_SIGNED, FAKE_INT_ZERO_SIGNED_QUOTIENT = codes(
    "fake_int_zero", "positive", "signed", "signed_quotient")
INT_EMAX_ZERO, INT_EMAX_ONE = codes("int_emax", "zero", "one")
SCALE_VALUE_E8M0, SCALE_VALUE_FP32_POW2, SCALE_VALUE_FP32_MIN_VAL = codes(
    "scale_value", "e8m0", "fp32_pow2", "fp32_min_val")


def format_params(fmt: ElementFormat) -> tuple[int, ...]:
    """(kind, bits, mantissa bits, emin, emax, largest significand, specials, bias) of an element format.

    Integers use mantissa bits = fraction bits and emin = -fraction bits (their one quantum).
    """
    kind = KIND_INT if fmt.is_int else KIND_FLOAT
    return (kind, fmt.bits, fmt.mantissa_bits, fmt.emin, fmt.emax, fmt.max_int,
            SPECIALS_CODE[fmt.specials], fmt.bias)


def policy_params(policy: Policy) -> tuple[int, ...]:
    """The policy's fields as integers: the index of each value in `CHOICES`, or the integer itself."""
    return tuple(getattr(policy, f) if f not in CHOICES else CHOICES[f].index(getattr(policy, f))
                 for f in POLICY_SLOTS)


# Input float layouts: (exponent bits, mantissa bits) by numpy dtype name.
INPUT_LAYOUTS = {"float16": (5, 10), "bfloat16": (8, 7), "float32": (8, 23), "float64": (11, 52)}
# Inputs reach the kernels as signed integer views of their bits.
INT_VIEW = {"float16": np.int16, "bfloat16": np.int16, "float32": np.int32, "float64": np.int64}


def ieee_format(ebits: int, mbits: int) -> tuple[int, ...]:
    """The format tuple of an IEEE 754 binary format (Inf and NaNs, emax = bias, emin = 1 - bias)."""
    bias = (1 << (ebits - 1)) - 1
    return (KIND_FLOAT, 1 + ebits + mbits, mbits, 1 - bias, bias, (1 << (mbits + 1)) - 1, SPECIALS_IEEE, bias)


# The input layouts as format tuples, for rounding exact values into a float type.
IEEE_FORMATS = {name: ieee_format(*layout) for name, layout in INPUT_LAYOUTS.items()}
FLOAT32_FORMAT = IEEE_FORMATS["float32"]
# What an IEEE cast does: round to nearest even, beyond the largest finite value to Inf (the other
# fields do not apply to finite values).
IEEE_CAST = policy_params(Policy(overflow="ieee"))
