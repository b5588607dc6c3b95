"""Packs formats and policies into the flat integer tuples the numba kernels take."""

from __future__ import annotations

import numpy as np

from mxemu.policy import CHOICES, Policy
from mxemu.spec import ElementFormat

# Format tuple slots.
KIND, BITS, MBITS, EMIN, EMAX, MAXINT, SPECIALS, BIAS = range(8)
KIND_FLOAT, KIND_INT = 0, 1
SPECIALS_CODE = {"none": 0, "nan_only": 1, "ieee": 2}

# Policy tuple slots, in the order of `POLICY_SLOTS`.
POLICY_SLOTS = ("rounding", "overflow", "scale_rule", "log2", "scale_overflow", "zero_block_scale",
                "nonfinite", "nan_to_nonan", "int_range", "subnormal_inputs", "zero_sign", "sr_bits",
                "descale", "min_scale_encoding", "nan_code", "fake_int_zero", "int_emax", "scale_value")
(ROUNDING, OVERFLOW, SCALE_RULE, LOG2, SCALE_OVERFLOW, ZERO_BLOCK_SCALE, NONFINITE, NAN_TO_NONAN,
 INT_RANGE, SUBNORMAL_INPUTS, ZERO_SIGN, SR_BITS, DESCALE, MIN_SCALE_ENCODING, NAN_CODE,
 FAKE_INT_ZERO, INT_EMAX, SCALE_VALUE) = range(len(POLICY_SLOTS))
ZERO_KEEP, ZERO_POSITIVE, ZERO_FP32_QUOTIENT = range(3)
FAKE_INT_ZERO_POSITIVE, FAKE_INT_ZERO_SIGNED, FAKE_INT_ZERO_SIGNED_QUOTIENT = range(3)
DESCALE_EXACT, DESCALE_FP32_DIV, DESCALE_FP32_RECIP = range(3)
MIN_SCALE_EXACT, MIN_SCALE_MIN_NORMAL, MIN_SCALE_ONE = range(3)
INT_EMAX_ZERO, INT_EMAX_ONE = range(2)
SCALE_VALUE_E8M0, SCALE_VALUE_FP32_POW2, SCALE_VALUE_FP32_MIN_VAL = range(3)

RNE, RNA, RTZ, RUP, RDN, RTO, STOCHASTIC = range(7)
SATURATE, IEEE = range(2)
FLOOR, CEIL, EVEN, RCEIL = range(4)
NAN_SCALE, PROPAGATE, IGNORE_NAN, FINITE_AMAX, INF_AS_EXPONENT = range(5)
NAN_ZERO, NAN_SIGNED_ZERO, NAN_FLIPPED_ZERO, NAN_ERROR = range(4)
NAN_CANONICAL, NAN_ALL_ONES = range(2)
KEEP, FLUSH_BLOCK, FLUSH = range(3)

assert CHOICES["rounding"] == ("rne", "rna", "rtz", "rup", "rdn", "rto", "stochastic")
assert CHOICES["scale_value"] == ("e8m0", "fp32_pow2", "fp32_min_val")
assert CHOICES["nonfinite"] == ("nan_scale", "propagate", "ignore_nan", "finite_amax", "inf_as_exponent")


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

# IEEE binary formats as element-format tuples, for rounding decoded values into a narrower float.
OUTPUT_FORMATS = {
    "float16": (KIND_FLOAT, 16, 10, -14, 15, (1 << 11) - 1, SPECIALS_CODE["ieee"], 15),
    "bfloat16": (KIND_FLOAT, 16, 7, -126, 127, (1 << 8) - 1, SPECIALS_CODE["ieee"], 127),
}
