"""Policies written as "preset,field=value,..." text everywhere a policy is taken, and the nan_code field."""

from __future__ import annotations

import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu import oracle
from mxemu.errors import MXError, PolicyError, UnknownNameError
from mxemu.golden import suites
from mxemu.policy import CHOICES, FIELDS, INT_FIELDS, PRESETS, get_policy, parse_policy
from mxemu.spec import get_format

# ---------------------------------------------------------------------------------------------------------
# One parser for the CLI's --policy and every policy= argument
# ---------------------------------------------------------------------------------------------------------


@st.composite
def _changes(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    preset = draw(st.sampled_from(sorted(PRESETS)))
    fields = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=4))
    values = {f: draw(st.sampled_from(CHOICES[f]) if f in CHOICES else st.integers(*INT_FIELDS[f])) for f in fields}
    return preset, values


@given(_changes())
@settings(max_examples=200, deadline=None)
def test_preset_field_text_is_the_preset_with_those_fields_replaced(case) -> None:
    preset, values = case
    text = ",".join([preset, *(f"{k}={v}" for k, v in values.items())])
    expected = PRESETS[preset].replace(**values) if values else PRESETS[preset]
    assert get_policy(text) == expected == parse_policy(text)
    assert get_policy(text).name == (text if values else preset)


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_text_is_a_policy_or_a_typed_error(text: str) -> None:
    try:
        p = get_policy(text)
    except MXError:
        return
    assert p == parse_policy(text.strip())


@pytest.mark.parametrize(("text", "error", "message"), [
    ("ocq", UnknownNameError, "unknown policy preset 'ocq'"),
    ("ocq,rounding=rtz", UnknownNameError, "presets: ocp"),
    ("ocp,rounding", PolicyError, "is not field=value"),
    ("ocp,rounding=", PolicyError, "is not field=value"),
    ("ocp,=rtz", PolicyError, "is not field=value"),
    ("ocp,colour=red", PolicyError, "unknown field 'colour'"),
    ("ocp,name=mine", PolicyError, "unknown field 'name'"),
    ("ocp,rounding=rtz,rounding=rne", PolicyError, "given twice"),
    ("ocp,rounding=sideways", PolicyError, "sideways"),
    ("ocp,sr_bits=0x10", PolicyError, "decimal integer in \\[1, 32\\]"),
    ("ocp,sr_bits=33", PolicyError, "an integer in \\[1, 32\\]"),
    ("ocp,sr_bits=٣", PolicyError, "decimal integer"),
])
def test_malformed_policy_text_is_a_typed_error_naming_what_is_accepted(text, error, message) -> None:
    with pytest.raises(error, match=message):
        get_policy(text)
    with pytest.raises(error, match=message):
        suites.parse_policy(text)


def test_policy_arguments_take_the_text_form() -> None:
    x = np.linspace(-7, 7, 64, dtype=np.float32)
    text = "ocp,rounding=rtz,scale_rule=ceil"
    pol = get_policy("ocp").replace(rounding="rtz", scale_rule="ceil")
    a, b = mx.quantize(x, "mxfp4_e2m1", policy=text), mx.quantize(x, "mxfp4_e2m1", policy=pol)
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.scales, b.scales)
    assert np.array_equal(mx.encode(x, "fp8_e4m3", policy=text), mx.encode(x, "fp8_e4m3", policy=pol))
    # the policy really applies: round-to-nearest gives other codes
    assert not np.array_equal(a.codes, mx.quantize(x, "mxfp4_e2m1").codes)
    with pytest.raises(PolicyError):
        mx.quantize(x, "mxfp4_e2m1", policy="ocp,rounding=up")


# ---------------------------------------------------------------------------------------------------------
# nan_code: which NaN a format with several NaN codes produces
# ---------------------------------------------------------------------------------------------------------

NAN_FORMATS = ["fp8_e5m2", "fp8_e4m3"]
SPECIALS = np.array([np.nan, -np.nan, np.inf, -np.inf, 1e6, -1e6, 448.0, 57344.0, 61440.0, 1.0], np.float32)


@pytest.mark.parametrize("fmt", NAN_FORMATS)
@pytest.mark.parametrize("overflow", ["saturate", "ieee"])
@pytest.mark.parametrize("nan_code", CHOICES["nan_code"])
def test_nan_code_field_the_general_and_fast_kernels_equal_the_oracle(fmt, overflow, nan_code) -> None:
    pol = get_policy(f"ocp,overflow={overflow},nan_code={nan_code}")
    want = oracle.encode_array(SPECIALS, fmt, policy=pol)
    for x in (SPECIALS, SPECIALS.astype(ml_dtypes.bfloat16), SPECIALS.astype(np.float64)):
        assert np.array_equal(mx.encode(x, fmt, policy=pol), want)
    # NaN lanes kept as element NaNs (the scale ignores them), in the block kernels and the oracle's blocks
    block = get_policy(f"ocp,overflow={overflow},nan_code={nan_code},nonfinite=finite_amax")
    x = np.resize(SPECIALS, 32)
    q = mx.quantize(x, f"mxfp8_{fmt[4:]}", policy=block)
    codes, scale = oracle.quantize_block(x, f"mxfp8_{fmt[4:]}", policy=block)
    assert int(q.scales[0]) == scale and np.array_equal(q.codes, codes)


def test_nan_code_gives_the_spec_codes_and_the_peers_casts() -> None:
    """E5M2 NaN codes are S.11111.{01,10,11} (OCP OFP8 Table 1): canonical S.11111.10 as ml_dtypes casts,
    all ones as torch casts; E4M3 has one NaN, S.1111.111, under both."""
    nan = np.array([np.nan, -np.nan], np.float32)
    e5 = get_format("fp8_e5m2")
    canonical = mx.encode(nan, e5, policy="ocp,nan_code=canonical")
    all_ones = mx.encode(nan, e5, policy="ocp,nan_code=all_ones")
    assert canonical.tolist() == [0x7E, 0xFE] and all_ones.tolist() == [0x7F, 0xFF]
    assert set(canonical.tolist() + all_ones.tolist()) <= set(e5.nan_codes)
    assert canonical.tolist() == nan.astype(ml_dtypes.float8_e5m2).view(np.uint8).tolist()
    assert all_ones.tolist() == torch.from_numpy(nan).to(torch.float8_e5m2).view(torch.uint8).tolist()
    for choice in CHOICES["nan_code"]:
        assert mx.encode(nan, "fp8_e4m3", policy=f"ocp,nan_code={choice}").tolist() == [0x7F, 0xFF]
        # E4M3 IEEE overflow goes to its only NaN
        big = np.float32([1e6, -1e6])
        assert mx.encode(big, "fp8_e4m3", policy=f"ocp,overflow=ieee,nan_code={choice}").tolist() == [0x7F, 0xFF]


def test_nan_code_all_ones_runs_the_triton_kernels_byte_equal_to_numba() -> None:
    """The Triton twin reads the NaN codes from the same element rule (interpreted on the CPU here)."""
    code = ("import torch; from mxemu.cuda.checks import diffcheck; "
            "x = torch.tensor([float('nan'), -float('nan'), 3.0, float('inf')] * 16); "
            "p = 'ocp,nan_code=all_ones,nonfinite=finite_amax,overflow=ieee'; "
            "m = [diffcheck.mismatches(x, f, p).total for f in ('mxfp8_e5m2', 'mxfp8_e4m3')]; "
            "assert m == [0, 0], m")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
