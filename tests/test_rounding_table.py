"""The rounding table (kernels/rounding.py) and the kernel interface (kernels/abi.py) against the oracle."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mxemu as mx
from mxemu import oracle
from mxemu.kernels import abi, fast
from mxemu.kernels.rounding import (
    AWAY,
    NEAREST,
    ODD,
    RANDOM,
    ROUNDING_TABLE,
    TIE_AWAY,
    TIE_EVEN,
    TOWARD_ZERO,
    Rounding,
    overflow_to_inf,
)
from mxemu.policy import CHOICES, FIELDS, Policy

MODES = CHOICES["rounding"]
DETERMINISTIC = tuple(m for m in MODES if m != "stochastic")
CODE = {name: i for i, name in enumerate(MODES)}
# Fractions f of a quantum that tell the rounding rules apart: exact, below, at and above the tie.
FRACTIONS = (Fraction(0), Fraction(1, 4), Fraction(1, 2), Fraction(3, 4))


def table_rounds(row: Rounding, sign: int, k: int, f: Fraction) -> int:
    """|v| = k + f rounded to an integer as the row says (a reading of the table written for this test)."""
    if f == 0:
        return k
    step = row.step[sign]
    if step == NEAREST:
        tie_up = row.tie == TIE_AWAY or (row.tie == TIE_EVEN and k % 2 == 1)
        return k + (f > Fraction(1, 2) or (f == Fraction(1, 2) and tie_up))
    if step == AWAY:
        return k + 1
    if step == ODD:
        return k + (k % 2 == 0)
    assert step == TOWARD_ZERO
    return k


def step_mismatches(table: dict[int, Rounding]) -> list[tuple]:
    """(mode, sign, k, f) where the table's step and tie disagree with oracle.round_to_integer."""
    bad = []
    for name in DETERMINISTIC:
        for sign in (0, 1):
            for k in (2, 3):
                for f in FRACTIONS:
                    v = (k + f) * (-1 if sign else 1)
                    if abs(oracle.round_to_integer(v, name)) != table_rounds(table[CODE[name]], sign, k, f):
                        bad.append((name, sign, k, f))
    return bad


def overflow_mismatches(table: dict[int, Rounding]) -> list[tuple]:
    """(mode, sign) where the table's overflow column disagrees with the oracle's encode of 2 * max normal
    into fp8_e5m2 under overflow="ieee" (Inf code, or the largest finite code)."""
    fmt = mx.get_format("mxfp8_e5m2").element
    bad = []
    for name in MODES:
        policy = Policy(rounding=name, overflow="ieee")
        for sign in (0, 1):
            x = -2 * float(fmt.max_normal) if sign else 2 * float(fmt.max_normal)
            code = oracle.encode_value(x, fmt, 0, policy, rnd=0 if name == "stochastic" else None)
            if np.isinf(float(oracle.decode_value(code, fmt))) != table[CODE[name]].overflow_to_inf[sign]:
                bad.append((name, sign))
    return bad


def test_the_rounding_table_has_one_row_per_rounding_mode_of_the_policy():
    assert sorted(ROUNDING_TABLE) == list(range(len(MODES)))
    assert ROUNDING_TABLE[CODE["stochastic"]].step == (RANDOM, RANDOM)


def test_each_deterministic_row_steps_and_breaks_ties_as_the_oracle_rounds_to_an_integer():
    assert step_mismatches(ROUNDING_TABLE) == []


def test_each_row_sends_ieee_overflow_to_inf_for_the_signs_where_the_oracle_does():
    assert overflow_mismatches(ROUNDING_TABLE) == []
    assert all(overflow_to_inf(c, s) == ROUNDING_TABLE[c].overflow_to_inf[s] for c in ROUNDING_TABLE for s in (0, 1))


@pytest.mark.parametrize("field, value", [("tie", TIE_AWAY), ("step", (AWAY, AWAY)), ("overflow_to_inf", (True, True))])
def test_a_changed_row_is_caught_by_the_oracle_checks(field, value):
    # Mutation check: rne with ties away, rtz stepping away, or rtz overflowing to Inf must be reported.
    mode = CODE["rne"] if field == "tie" else CODE["rtz"]
    mutated = {**ROUNDING_TABLE, mode: dataclasses.replace(ROUNDING_TABLE[mode], **{field: value})}
    assert step_mismatches(mutated) or overflow_mismatches(mutated)


@given(m=st.integers(1, (1 << 24) - 1), shift=st.integers(1, 24), sign=st.integers(0, 1),
       mode=st.sampled_from(DETERMINISTIC))
def test_the_fast_kernels_terms_derived_from_the_table_round_as_the_oracle(m, shift, sign, mode):
    # The branch-free formula of fast.py, evaluated on Python integers with the terms it derives.
    halfmask, r1, lsbmask, away_sign, jam = fast.ROUNDING_TERMS[CODE[mode]]
    half, rem, lsb = 1 << (shift - 1), m & ((1 << shift) - 1), (m >> shift) & 1
    bias = (half & halfmask) - r1 + (lsb & lsbmask) + ((1 << shift) - 1 if sign == away_sign else 0)
    k = ((m + bias) >> shift) | (jam & int(rem != 0))
    assert k == abs(oracle.round_to_integer(Fraction(-m if sign else m, 1 << shift), mode))


def test_the_fast_kernels_take_every_mode_and_its_overflow_column():
    assert sorted(fast.ROUNDING_TERMS) == sorted(CODE[m] for m in DETERMINISTIC)
    assert {c: ROUNDING_TABLE[c].overflow_to_inf for c in (*fast.ROUNDING_TERMS, CODE["stochastic"])} == fast.TOWARD_INF


@pytest.mark.parametrize("fmt", ["fp8_e5m2", "fp8_e4m3", "fp6_e3m2", "int8"])
@pytest.mark.parametrize("mode", DETERMINISTIC)
def test_encode_beyond_max_normal_under_ieee_overflow_equals_the_oracle_for_both_signs(fmt, mode):
    element = mx.get_format({"int8": "mxint8"}.get(fmt, "mx" + fmt)).element
    top = float(element.max_normal)
    x = np.array([2 * top, -2 * top, top * (1 + 2.0 ** -(element.mantissa_bits + 1)), np.inf, -np.inf], np.float64)
    policy = Policy(rounding=mode, overflow="ieee")
    expected = [oracle.encode_value(float(v), element, 0, policy) for v in x]
    assert mx.encode(x, fmt, policy=policy).tolist() == expected
    assert mx.encode(x.astype(np.float32), fmt, policy=policy).tolist() == expected


def test_every_policy_slot_and_value_code_is_named_by_the_string_it_stands_for():
    assert abi.POLICY_SLOTS == FIELDS
    named = {"rounding": abi.ROUNDING, "overflow": abi.OVERFLOW, "nonfinite": abi.NONFINITE,
             "int_range": abi.INT_RANGE, "zero_sign": abi.ZERO_SIGN, "sr_bits": abi.SR_BITS}
    assert all(abi.POLICY_SLOTS[slot] == field for field, slot in named.items())
    codes = [abi.RNE, abi.RNA, abi.RTZ, abi.RUP, abi.RDN, abi.RTO, abi.STOCHASTIC]
    assert codes == [CODE[m] for m in MODES]
    codes = [abi.INT_FULL, abi.ZERO_POSITIVE, abi.IEEE]
    assert codes == [CHOICES["int_range"].index("full"), CHOICES["zero_sign"].index("positive"),
                     CHOICES["overflow"].index("ieee")]
    policy = Policy(rounding="rdn", int_range="full", nonfinite="finite_amax", sr_bits=7)
    P = abi.policy_params(policy)
    assert (P[abi.ROUNDING], P[abi.INT_RANGE], P[abi.NONFINITE], P[abi.SR_BITS]) == (
        abi.RDN, abi.INT_FULL, abi.FINITE_AMAX, 7)


def test_codes_that_miss_a_value_or_name_an_unknown_one_fail_at_definition():
    with pytest.raises(AssertionError, match="rounding"):
        abi.codes("rounding", "rne", "rna")
    with pytest.raises(AssertionError, match="overflow"):
        abi.codes("overflow", "saturate", "ieee", "wrap")
    with pytest.raises(AssertionError, match="slots"):
        abi.slots("rounding")


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_the_ieee_format_tuples_describe_the_numpy_float_types(name):
    F, info = abi.IEEE_FORMATS[name], np.finfo(np.dtype(name))
    assert abi.INPUT_LAYOUTS[name] == (info.nexp, info.nmant)
    fields = (F[abi.BITS], F[abi.MBITS], F[abi.EMIN], F[abi.EMAX])
    assert fields == (info.bits, info.nmant, info.minexp, info.maxexp - 1)
    assert F[abi.MAXINT] * 2.0 ** (F[abi.EMAX] - F[abi.MBITS]) == float(info.max)
    assert F[abi.SPECIALS] == abi.SPECIALS_IEEE and abi.FLOAT32_FORMAT is abi.IEEE_FORMATS["float32"]
