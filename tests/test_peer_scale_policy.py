"""The peers' scale fields (int_emax, scale_value, fake_int_zero signed_quotient): the kernels equal the
exact-rational oracle byte for byte under every format, on hostile blocks."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu import oracle
from mxemu.errors import PolicyError
from mxemu.policy import CHOICES
from mxemu.testing.strategies import blocks

MX_FORMATS = [n for n in mx.formats() if isinstance(mx.get_format(n), mx.MXFormat) and n != "nvfp4"]
PEER_PRESETS = ("brevitas", "quark", "quark_floor")
F32 = np.float32


def _bits(y: np.ndarray) -> np.ndarray:
    """float32 bits, every NaN one pattern (the peers' NaN payloads are not modelled)."""
    y = np.asarray(y, F32).copy()
    y[np.isnan(y)] = np.nan
    return y.view(np.uint32)


@st.composite
def peer_policies(draw) -> mx.Policy:
    """A peer preset or ocp with the new fields, and the other fields the peers' arithmetic reads drawn."""
    base = mx.get_policy(draw(st.sampled_from(("ocp", *PEER_PRESETS))))
    fields = {f: draw(st.sampled_from(CHOICES[f])) for f in ("int_emax", "scale_value", "fake_int_zero")}
    for f in ("scale_rule", "log2", "zero_sign", "nonfinite", "int_range", "subnormal_inputs", "rounding"):
        if draw(st.booleans()):
            fields[f] = draw(st.sampled_from([v for v in CHOICES[f] if v != "stochastic"]))
    return base.replace(**fields) if draw(st.booleans()) else base


def _tiny_or_huge(draw, fmt) -> np.ndarray:
    """Blocks at the ends of the float32 range, where the peers' float32 scales leave E8M0."""
    top = draw(st.integers(-152, 128))
    lanes = draw(st.lists(st.floats(-1, 1, width=32, allow_subnormal=True), min_size=32, max_size=32))
    x = np.array(lanes, np.float64) * 2.0 ** top
    with np.errstate(over="ignore"):
        return x.astype(F32)


@pytest.mark.clause("6.3", "ext.scale-rules")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fake_quantize_under_the_peer_scale_fields_equals_the_oracle(data):
    fmt = data.draw(st.sampled_from(MX_FORMATS))
    x = data.draw(st.one_of(blocks(mx.get_format(fmt)), st.builds(lambda: None).flatmap(
        lambda _: st.composite(lambda d: _tiny_or_huge(d, fmt))())))
    policy = data.draw(peer_policies())
    with np.errstate(all="ignore"):
        x = np.asarray(x, F32)
        try:
            got = mx.fake_quantize(x.reshape(1, -1), fmt, policy=policy)[0]
        except PolicyError:  # a NaN lane into a format without NaN under ignore_nan / finite_amax
            return
        want = oracle.fake_quantize_block(x, fmt, policy).astype(F32)
    np.testing.assert_array_equal(_bits(got), _bits(want))


@pytest.mark.clause("6.3", "ext.scale-rules")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_quantize_under_the_peer_scale_fields_equals_the_oracle(data):
    fmt = data.draw(st.sampled_from(MX_FORMATS))
    x = np.asarray(data.draw(blocks(mx.get_format(fmt))), F32)
    policy = data.draw(peer_policies())
    with np.errstate(all="ignore"):
        try:
            q = mx.quantize(x.reshape(1, -1), fmt, policy=policy)
        except PolicyError:
            return
        want_codes, want_scale = oracle.quantize_block(x, fmt, policy)
    assert int(q.scales[0, 0]) == want_scale
    np.testing.assert_array_equal(q.codes[0], want_codes)


@pytest.mark.parametrize("fmt", MX_FORMATS)
@pytest.mark.parametrize("preset", PEER_PRESETS)
def test_every_format_equals_the_oracle_on_every_power_of_two_amax(fmt, preset):
    """amax = 2^k, 2^k(1 - 2^-24) and 2^k * 1.75 for every float32 exponent k, lanes down to 2^-149."""
    rows = []
    for k in range(-149, 128):
        for mant in (1.0, 1 - 2.0 ** -24, 1.75, 1.5):
            row = np.array([mant * 2.0 ** k, -2.0 ** -149, -(mant * 2.0 ** k) / 3, -0.0] * 8, np.float64)
            with np.errstate(over="ignore"):
                rows.append(row.astype(F32))
    x = np.stack(rows)
    with np.errstate(all="ignore"):
        got = mx.fake_quantize(x, fmt, policy=preset)
        want = np.stack([oracle.fake_quantize_block(r, fmt, preset) for r in x]).astype(F32)
    np.testing.assert_array_equal(_bits(got), _bits(want))


def test_the_brevitas_scale_is_no_power_of_two_below_2_to_the_minus_33():
    """m = fl32(1e-10) divided by 2^emax: a lone 2^-42 in mxfp8_e4m3 comes back as 0.5625 * m / 256."""
    x = np.zeros((1, 32), F32)
    x[0, 0] = 2.0 ** -42
    m = float(F32(1e-10))
    assert mx.fake_quantize(x, "mxfp8_e4m3", policy="brevitas")[0, 0] == F32(0.5625 * m / 256)
    assert mx.fake_quantize(x, "mxfp8_e4m3", policy="ocp")[0, 0] == F32(2.0 ** -42)


def test_quark_floor_scales_below_2_to_the_minus_127_and_flushes_below_2_to_the_minus_149():
    x = np.zeros((2, 32), F32)
    x[0, 0] = 2.0 ** -140  # scale 2^-148 (a float32 subnormal): the lane keeps its value
    x[1, 0] = 2.0 ** -149  # 2^(-149 - 8) underflows: eps scale, the lane flushes
    y = mx.fake_quantize(x, "mxfp8_e4m3", policy="quark_floor")
    assert y[0, 0] == F32(2.0 ** -140) and y[1, 0] == 0
    assert mx.fake_quantize(x, "mxfp8_e4m3", policy="quark")[0, 0] == 0  # clamped at 2^-127: below 2^-136


def test_quantize_stores_the_e8m0_code_of_the_float32_scale_and_nan_where_it_is_inf():
    x = np.zeros((2, 32), F32)
    x[0, 0] = 2.0 ** -20
    x[1, 0] = np.finfo(F32).max  # float32 log2 rounds to 128: 2^128 is Inf in float32
    q = mx.quantize(x, "mxfp8_e4m3", policy="brevitas")
    assert q.scales.tolist() == [[127 - 28], [255]]
    assert np.isnan(mx.fake_quantize(x, "mxfp8_e4m3", policy="brevitas")[1]).all()


def test_brevitas_integer_scale_is_one_below_ocp():
    x = np.zeros((1, 32), F32)
    x[0, :2] = [1.99, -1.0]
    assert mx.fake_quantize(x, "mxint8", policy="brevitas")[0, :2].tolist() == [127 / 128, -1.0]
    assert mx.fake_quantize(x, "mxint8", policy="ocp")[0, :2].tolist() == [127 / 64, -1.0]


def test_older_policy_files_without_the_new_fields_load_with_their_defaults():
    d = mx.get_policy("ocp").as_dict()
    for f in ("int_emax", "scale_value"):
        d.pop(f)
    assert mx.Policy.from_dict(d) == mx.get_policy("ocp")
    assert mx.get_policy("ocp,scale_value=fp32_pow2,int_emax=one").scale_value == "fp32_pow2"
    with pytest.raises(PolicyError, match="accepted: e8m0, fp32_pow2, fp32_min_val"):
        mx.Policy(scale_value="fp64")


@pytest.mark.parametrize("preset", PEER_PRESETS[:1] + PEER_PRESETS[2:])
def test_two_level_formats_refuse_the_peer_scale_fields(preset):
    with pytest.raises(PolicyError, match="two-level"):
        mx.fake_quantize(np.ones((1, 16), F32), "nvfp4", policy=preset)


def test_a_float32_scale_value_is_refused_for_a_scale_format_other_than_e8m0(tmp_path):
    spec = tmp_path / "formats.toml"
    spec.write_text('[scale.e5m0_peer]\nclause = "test"\nexponent_bits = 5\nbias = 15\n'
                    '[mx.mxfp8_e4m3_e5m0_peer]\nclause = "test"\nelement = "fp8_e4m3"\nscale = "e5m0_peer"\n'
                    'block_size = 32\n')
    names = mx.register_formats(spec)
    try:
        x = np.ones(32, np.float32)
        with pytest.raises(PolicyError, match="accepts 'e8m0' only"):
            mx.fake_quantize(x, "mxfp8_e4m3_e5m0_peer", policy=mx.get_policy("ocp").replace(scale_value="fp32_pow2"))
        assert mx.fake_quantize(x, "mxfp8_e4m3_e5m0_peer").tobytes() == x.tobytes()
    finally:
        mx.unregister_formats(list(reversed(names)))
