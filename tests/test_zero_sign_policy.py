"""The sign-of-zero policy fields (zero_sign fp32_quotient, fake_int_zero) equal the oracle and the
sign(x) * round(|x|) rule of microxcaling."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu import oracle
from mxemu.testing.strategies import blocks

MX_FORMATS = mx.formats(kind="mx")
ZERO_FIELDS = st.fixed_dictionaries({
    "zero_sign": st.sampled_from(["keep", "positive", "fp32_quotient"]),
    "min_scale_encoding": st.sampled_from(["exact", "min_normal", "one"]),
    "fake_int_zero": st.sampled_from(["positive", "signed"]),
    "subnormal_inputs": st.sampled_from(["keep", "flush", "flush_block"]),
    "rounding": st.sampled_from(["rne", "rna", "rtz"]),
    "nonfinite": st.sampled_from(["nan_scale", "finite_amax"]),
})


def bits(a):
    return np.asarray(a, np.float64).view(np.uint64)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fake_quantize_zeros_equal_the_oracle_under_every_zero_sign_policy(data):
    fmt = mx.get_format(data.draw(st.sampled_from(MX_FORMATS)))
    x = data.draw(blocks(fmt))
    policy = mx.Policy(**data.draw(ZERO_FIELDS))
    want = oracle.fake_quantize_block(x, fmt, policy)
    got = mx.fake_quantize(x.reshape(1, -1), fmt, policy=policy).astype(np.float64)[0]
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(bits(got)[~nan], bits(want)[~nan])
    codes, scale = oracle.quantize_block(x, fmt, policy)
    q = mx.quantize(x.reshape(1, -1), fmt, policy=policy)
    assert int(q.scales[0, 0]) == scale
    np.testing.assert_array_equal(q.codes[0], codes)


# Lane 0 sets the scale (amax 1); the other lanes: -0, a negative value far below the smallest
# quantum, +0 and a positive one far below it. sign(x) * round(|x|) with torch.sign(-0) = 0 gives
# +0, -0, +0, +0 for them, for float and integer elements alike.
ZERO_LANES = np.array([1.0, -0.0, -1e-6, 0.0, 1e-6], np.float32)


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxfp4_e2m1", "mxint8"])
def test_the_microxcaling_preset_gives_the_zeros_of_sign_times_rounded_magnitude(fmt):
    x = np.zeros((1, 32), np.float32)
    x[0, :5] = ZERO_LANES
    got = mx.fake_quantize(x, fmt, policy="microxcaling")[0, 1:5]
    assert np.signbit(got).tolist() == [False, True, False, False]
    assert (got == 0).all()


@pytest.mark.parametrize(("fmt", "signs"), [("mxfp8_e4m3", [True, True, False, False]),
                                            ("mxint8", [False, False, False, False])])
def test_the_ocp_preset_keeps_the_sign_of_float_zeros_and_has_one_integer_zero(fmt, signs):
    x = np.zeros((1, 32), np.float32)
    x[0, :5] = ZERO_LANES
    assert np.signbit(mx.fake_quantize(x, fmt, policy="ocp")[0, 1:5]).tolist() == signs


def test_the_fast_path_leaves_the_new_zero_rules_to_the_general_kernels():
    # float32 input, rne: the fast kernels would take this call, but they know only keep / positive.
    x = np.tile(ZERO_LANES, 8).reshape(1, 40)[:, :32].copy()
    policy = mx.Policy(zero_sign="fp32_quotient")
    got = mx.fake_quantize(x, "mxfp8_e4m3", policy=policy)
    assert not np.signbit(got[0, 1])  # -0 input -> +0
    assert np.signbit(got[0, 2])      # -1e-6 -> -0


@pytest.mark.torch
@pytest.mark.cuda
def test_the_cuda_path_refuses_the_zero_rules_it_does_not_implement():
    from mxemu.cuda.api import _check_zero_sign_policy

    _check_zero_sign_policy(mx.get_policy("ocp"))
    with pytest.raises(mx.errors.PolicyError, match=r"fake_int_zero='signed'.*accepted"):
        _check_zero_sign_policy(mx.get_policy("microxcaling"))


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxint8"])
def test_fp32_quotient_zero_is_positive_only_when_the_float32_quotient_underflows(fmt):
    # amax 2^126: scale 2^(126 - emax); -2^-149 / scale is far below 2^-150 and is +0 as a float32,
    # while -2^-20 / scale is a (negative) float32 subnormal or normal, so its zero is -0.
    x = np.zeros((1, 32), np.float32)
    x[0, 0] = 2.0 ** 126
    x[0, 1] = -(2.0 ** -149)
    x[0, 2] = -(2.0 ** -20)
    got = mx.fake_quantize(x, fmt, policy="microxcaling")[0, 1:3]
    assert (got == 0).all() and np.signbit(got).tolist() == [False, True]
