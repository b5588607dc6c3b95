"""mxemu.encode / mxemu.decode equal the exact oracle on every float16 and bfloat16 input, byte for byte."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import mxemu
from mxemu import oracle
from mxemu.errors import MXError
from mxemu.policy import CHOICES, Policy
from mxemu.spec import ElementFormat, formats, get_format

ELEMENTS = [n for n in formats() if isinstance(get_format(n), ElementFormat)]
SCALES = (-127, -3, 0, 5, 127)
INPUTS = {
    "float16": np.arange(1 << 16, dtype=np.uint16).view(np.float16),
    "bfloat16": np.arange(1 << 16, dtype=np.uint16).view(ml_dtypes.bfloat16),
}
RANDOM_BITS = np.random.default_rng(20240601).integers(0, 1 << 32, 1 << 16, dtype=np.uint64).astype(np.uint32)


def random_bits_for(policy: Policy) -> np.ndarray | None:
    """The fixed draws, cut to sr_bits bits, when the policy rounds stochastically."""
    if policy.rounding != "stochastic":
        return None
    return RANDOM_BITS >> np.uint32(32 - policy.sr_bits)


def assert_same_codes(x: np.ndarray, got: np.ndarray, want: np.ndarray, fmt: str, scale_exp: int,
                      policy: Policy) -> None:
    """Byte equality; on failure list the first inputs (value, bit pattern) with expected and actual codes."""
    assert got.dtype == np.uint8 and got.shape == want.shape
    bad = np.flatnonzero(got != want)
    if bad.size:
        bits = x.reshape(-1).view(np.uint16 if x.dtype.itemsize == 2 else np.uint32)
        lines = [f"x={float(x.flat[i])!r} (0x{int(bits[i]):04x} {x.dtype}) "
                 f"expected 0x{int(want.flat[i]):02x} got 0x{int(got.flat[i]):02x}" for i in bad[:5]]
        pytest.fail(f"{bad.size} mismatches, {fmt} scale_exp={scale_exp} {policy}:\n" + "\n".join(lines))


def check(x: np.ndarray, fmt: str, scale_exp: int, policy: Policy) -> None:
    bits = random_bits_for(policy)
    got = mxemu.encode(x, fmt, scale_exp=scale_exp, policy=policy, random_bits=bits)
    want = oracle.encode_array(x, fmt, scale_exp, policy, random_bits=bits)
    assert_same_codes(x, got, want, fmt, scale_exp, policy)


@pytest.mark.parametrize("dtype", list(INPUTS))
@pytest.mark.parametrize("scale_exp", SCALES)
@pytest.mark.parametrize("overflow", CHOICES["overflow"])
@pytest.mark.parametrize("rounding", CHOICES["rounding"])
@pytest.mark.parametrize("fmt", ELEMENTS)
@pytest.mark.clause("5.3.1", "5.3.2", "5.3.3", "5.3.4", "ext.mxint", "ext.rounding")
def test_encode_equals_oracle_on_every_input(fmt: str, rounding: str, overflow: str, scale_exp: int,
                                             dtype: str) -> None:
    check(INPUTS[dtype], fmt, scale_exp, Policy(rounding=rounding, overflow=overflow))


@pytest.mark.parametrize("scale_exp", SCALES)
@pytest.mark.parametrize("fmt", ELEMENTS)
@pytest.mark.clause("5.3.1", "5.3.2", "5.3.3", "5.3.4", "ext.mxint")
def test_decode_of_every_code_equals_oracle(fmt: str, scale_exp: int) -> None:
    codes = np.arange(get_format(fmt).num_codes, dtype=np.uint8)
    want = oracle.decode_array(codes, fmt, scale_exp)
    got = mxemu.decode(codes, fmt, scale_exp=scale_exp, dtype=np.float64)
    assert got.dtype == np.float64
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    assert np.array_equal(got[finite], want[finite])
    assert np.array_equal(np.signbit(got[finite]), np.signbit(want[finite]))
    # float32 output: the exact value rounded to nearest even, which can only overflow to Inf here
    with np.errstate(over="ignore"):
        want32 = want.astype(np.float32)
    got32 = mxemu.decode(codes, fmt, scale_exp=scale_exp)
    assert got32.dtype == np.float32
    assert np.array_equal(got32, want32, equal_nan=True)
    assert np.array_equal(np.signbit(got32[finite]), np.signbit(want32[finite]))


@pytest.mark.parametrize("sr_bits", [32, 5])
@pytest.mark.parametrize("fmt", ELEMENTS)
@pytest.mark.clause("ext.rounding")
def test_stochastic_encode_with_a_seed_draws_philox_at_the_flat_index(fmt: str, sr_bits: int) -> None:
    rng = np.random.default_rng(5)
    x = rng.choice(INPUTS["float16"], 4096).reshape(64, 64)  # 2-D: the index is the flat C-order position
    policy = Policy(rounding="stochastic", sr_bits=sr_bits)
    draws = np.array([oracle.random_int(7, i, sr_bits) for i in range(x.size)]).reshape(x.shape)
    want = oracle.encode_array(x, fmt, 0, policy, random_bits=draws)
    got = mxemu.encode(x, fmt, policy=policy, seed=7)
    assert_same_codes(x, got, want, fmt, 0, policy)


VARIANTS = [
    *(("fp4_e2m1", Policy(nan_to_nonan=n)) for n in ("zero", "signed_zero", "flipped_zero")),
    *(("fp6_e3m2", Policy(nan_to_nonan=n, overflow="ieee")) for n in ("signed_zero", "flipped_zero")),
    *(("int8", Policy(nan_to_nonan=n)) for n in ("signed_zero", "flipped_zero")),
    *(("fp8_e4m3", Policy(zero_sign="positive", rounding=r)) for r in ("rne", "rtz", "rdn", "stochastic")),
    *(("fp4_e2m1", Policy(zero_sign="positive", rounding=r)) for r in ("rna", "rup", "rto")),
    ("fp8_e5m2", Policy(zero_sign="positive", overflow="ieee", rounding="rdn")),
    *((f, Policy(int_range="full", rounding=r))
      for f in ("int8", "int4", "int2") for r in CHOICES["rounding"]),
    *((f, Policy(subnormal_inputs="flush", rounding=r))
      for f in ("fp8_e5m2", "fp8_e4m3", "int8", "fp4_e2m1") for r in ("rne", "rup", "rdn", "stochastic")),
    *((f, Policy(subnormal_inputs="flush_block", rounding="rup")) for f in ("fp8_e5m2", "int8")),
    *((f, Policy(rounding="stochastic", sr_bits=b))
      for f in ("fp8_e4m3", "int4", "fp6_e2m3") for b in (1, 3, 8, 16)),
    ("fp8_e4m3", Policy(rounding="stochastic", sr_bits=2, overflow="ieee", zero_sign="positive")),
]


def _variant_id(case: tuple[str, Policy]) -> str:
    fmt, policy = case
    default = Policy()
    return fmt + "-" + "-".join(f"{k}={v}" for k, v in policy.as_dict().items() if v != getattr(default, k))


@pytest.mark.parametrize("dtype", list(INPUTS))
@pytest.mark.parametrize("scale_exp", [-127, 0])
@pytest.mark.parametrize("case", VARIANTS, ids=[_variant_id(c) for c in VARIANTS])
@pytest.mark.clause("ext.nonfinite", "ext.subnormal")
def test_policy_variants_equal_oracle_on_every_input(case: tuple[str, Policy], scale_exp: int,
                                                      dtype: str) -> None:
    fmt, policy = case
    check(INPUTS[dtype], fmt, scale_exp, policy)


@pytest.mark.parametrize("dtype", list(INPUTS))
@pytest.mark.parametrize("fmt", ["fp4_e2m1", "fp6_e2m3", "int8", "fp8_e4m3"])
@pytest.mark.clause("ext.nonfinite")
def test_nan_to_nonan_error_raises_on_nan_only_for_formats_without_nan(fmt: str, dtype: str) -> None:
    x = INPUTS[dtype]
    policy = Policy(nan_to_nonan="error")
    if get_format(fmt).has_nan:
        check(x, fmt, 0, policy)
        return
    with pytest.raises(MXError):
        mxemu.encode(x, fmt, policy=policy)
    with pytest.raises(MXError):
        oracle.encode_array(x, fmt, 0, policy)
    check(x[~np.isnan(x.astype(np.float32))], fmt, 0, policy)
