"""The rounding modes as one table: Berkeley SoftFloat's rounding funnel written as data.

A value is rounded to an integer number of quanta, |v| = (k + f) * quantum with k the truncated
significand and f the discarded fraction, 0 <= f < 1. Each mode of `Policy.rounding` is a row:
how an inexact value (f > 0) steps for each sign, how a nearest mode breaks a tie (f = 1/2), and
whether a value beyond the largest finite one goes to infinity under overflow="ieee" (otherwise it
stops at max normal, as it always does under overflow="saturate", MX v1.0 §6.3):

    mode        step (+ / -)           tie      k + f rounds to                    IEEE overflow (+ / -)
    rne         nearest                even     k + (f > 1/2 or f = 1/2, k odd)    Inf / Inf
    rna         nearest                away     k + (f >= 1/2)                     Inf / Inf
    rtz         toward zero            -        k                                  max / max
    rup         away / toward zero     -        k + (f > 0) for +, k for -         Inf / max
    rdn         toward zero / away     -        k for +, k + (f > 0) for -         max / Inf
    rto         odd                    -        k + (f > 0, k even)  (k | sticky)  max / max
    stochastic  random                 -        k + (f + r / 2^sr_bits >= 1)       Inf / Inf

The overflow column is IEEE 754-2019 §7.4 (and SoftFloat's `softfloat_roundPackTo*`: Inf when the
rounding increment is not zero): a mode that can move a value away from zero takes an overflowing
value to infinity, one that never does stops at max normal; to odd stops at max normal like the
truncation it is built on. Stochastic rounding reaches Inf as the nearest modes do.

The general element encoder (`element.round_up`, `element.encode_value`), the fast kernels'
branch-free terms (`fast.ROUNDING_TERMS`), the two-level kernels (through `encode_value`) and the
Triton kernels (`mxemu.cuda.kernels._encode_finite`, special codes from `mxemu.cuda.constants`) all
read this table. A new rounding mode is a value in `CHOICES["rounding"]`, a row here, and, if it
steps in a new way, a branch in `element.round_up` and `cuda.kernels._encode_finite`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mxemu.kernels.abi import RDN, RNA, RNE, RTO, RTZ, RUP, STOCHASTIC
from mxemu.policy import CHOICES

# How an inexact value steps: to the nearer neighbour, always toward or away from zero, to the odd
# neighbour (truncate, then set the last bit: "jamming"), or up by the carry of a random addend.
NEAREST, TOWARD_ZERO, AWAY, ODD, RANDOM = range(5)
# How a nearest mode breaks a tie; TIE_NONE for the others (a tie is just an inexact value to them).
TIE_NONE, TIE_EVEN, TIE_AWAY = range(3)


@dataclass(frozen=True)
class Rounding:
    """One rounding mode: its step and IEEE overflow for a positive and a negative value, and its tie rule."""

    step: tuple[int, int]
    tie: int
    overflow_to_inf: tuple[bool, bool]


ROUNDING_TABLE: dict[int, Rounding] = {
    RNE: Rounding(step=(NEAREST, NEAREST), tie=TIE_EVEN, overflow_to_inf=(True, True)),
    RNA: Rounding(step=(NEAREST, NEAREST), tie=TIE_AWAY, overflow_to_inf=(True, True)),
    RTZ: Rounding(step=(TOWARD_ZERO, TOWARD_ZERO), tie=TIE_NONE, overflow_to_inf=(False, False)),
    RUP: Rounding(step=(AWAY, TOWARD_ZERO), tie=TIE_NONE, overflow_to_inf=(True, False)),
    RDN: Rounding(step=(TOWARD_ZERO, AWAY), tie=TIE_NONE, overflow_to_inf=(False, True)),
    RTO: Rounding(step=(ODD, ODD), tie=TIE_NONE, overflow_to_inf=(False, False)),
    STOCHASTIC: Rounding(step=(RANDOM, RANDOM), tie=TIE_NONE, overflow_to_inf=(True, True)),
}
if sorted(ROUNDING_TABLE) != list(range(len(CHOICES["rounding"]))):
    raise AssertionError(f"the rounding table needs one row per mode of {CHOICES['rounding']}")

# The table as arrays indexed [mode, sign] (sign 0 for +, 1 for -) or [mode], for the numba kernels,
# which freeze global arrays into their code as constants.
STEP = np.array([ROUNDING_TABLE[r].step for r in sorted(ROUNDING_TABLE)], np.int64)
TIE = np.array([ROUNDING_TABLE[r].tie for r in sorted(ROUNDING_TABLE)], np.int64)
OVERFLOW_TO_INF = np.array([ROUNDING_TABLE[r].overflow_to_inf for r in sorted(ROUNDING_TABLE)], np.bool_)


def overflow_to_inf(rounding: int, sign: int) -> bool:
    """Whether a value of this sign beyond max normal rounds to infinity under this mode (overflow="ieee")."""
    return ROUNDING_TABLE[rounding].overflow_to_inf[sign]
