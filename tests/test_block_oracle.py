"""Block quantization equals the exact-rational oracle, for every policy field value, on hostile blocks."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu import oracle
from mxemu.policy import CHOICES
from mxemu.testing.strategies import blocks

MX_FORMATS = mx.formats(kind="mx")


@st.composite
def policies(draw) -> mx.Policy:
    fields = {field: draw(st.sampled_from(values)) for field, values in CHOICES.items()}
    if fields["nan_to_nonan"] == "error":
        fields["nan_to_nonan"] = "zero"
    fields["scale_value"] = "e8m0"  # float32 scales, refused where no code holds them: test_peer_scale_refusal.py
    fields["zero_block_scale"] = draw(st.sampled_from([0, 1, 127]))
    fields["sr_bits"] = draw(st.sampled_from([1, 8, 32]))
    return mx.Policy(**fields)


@pytest.mark.clause("5.2", "6.3", "ext.scale-rules", "ext.rounding", "ext.nonfinite", "ext.subnormal")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_quantize_equals_the_oracle_for_every_policy(data):
    fmt = mx.get_format(data.draw(st.sampled_from(MX_FORMATS)))
    x = data.draw(blocks(fmt))
    policy = data.draw(policies())
    bits = None
    if policy.rounding == "stochastic":
        bits = np.array(data.draw(st.lists(st.integers(0, (1 << policy.sr_bits) - 1),
                                           min_size=32, max_size=32)), np.uint32)
    want_codes, want_scale = oracle.quantize_block(x, fmt, policy, random_bits=bits)
    q = mx.quantize(x.reshape(1, -1), fmt, policy=policy,
                    random_bits=None if bits is None else bits.reshape(1, -1))
    assert int(q.scales[0, 0]) == want_scale
    np.testing.assert_array_equal(q.codes[0], want_codes)


@pytest.mark.clause("5.2")
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_dequantize_equals_the_oracle(data):
    fmt = mx.get_format(data.draw(st.sampled_from(MX_FORMATS)))
    x = data.draw(blocks(fmt))
    q = mx.quantize(x.reshape(1, -1), fmt)
    want = oracle.dequantize_block(q.codes[0], int(q.scales[0, 0]), fmt)
    np.testing.assert_array_equal(q.dequantize(np.float64)[0], want)


@pytest.mark.clause("5.4.1")
def test_scale_clamps_at_both_ends_of_e8m0():
    tiny = np.full((1, 32), 2.0 ** -149, np.float32)
    huge = np.full((1, 32), np.finfo(np.float32).max, np.float32)
    for fmt in MX_FORMATS:
        assert mx.quantize(tiny, fmt).scales[0, 0] == oracle.quantize_block(tiny[0], fmt)[1] == 0
        want = oracle.quantize_block(huge[0], fmt)[1]
        assert mx.quantize(huge, fmt).scales[0, 0] == want == 127 + 127 - mx.get_format(fmt).element.emax
