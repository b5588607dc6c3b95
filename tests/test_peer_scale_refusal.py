"""quantize under a float32 scale_value (Brevitas's fp32_min_val, AMD Quark's fp32_pow2) refuses exactly the
blocks whose float32 scale no E8M0 code holds, decided per block as the exact-rational oracle decides it, and
stores every other block as the oracle quantizes it, with the values fake_quantize gives."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu import oracle
from mxemu.errors import InputError, PolicyError
from mxemu.oracle.block import _encoding_exponent
from mxemu.oracle.scale import block_values, flushed_block, fp32_scale
from mxemu.policy import CHOICES
from mxemu.testing import check_quantizer
from mxemu.testing.discriminating import candidate_presets, pair_blocks
from mxemu.testing.strategies import blocks

F32 = np.float32
MX_FORMATS = [n for n in mx.formats() if isinstance(mx.get_format(n), mx.MXFormat) and n != "nvfp4"]
PEER_PRESETS = ("brevitas", "quark_floor")


def threshold_exponent(fmt: str, preset: str) -> int:
    """t with the refusal starting below amax 2^t: Brevitas's smallest power of two above fl32(1e-10), 2^-33;
    for Quark's unclamped 2^(floor(log2 amax) - emax), the amax whose scale is E8M0's smallest, 2^(emax - 127)."""
    if mx.get_policy(preset).scale_value == "fp32_min_val":
        return math.floor(math.log2(float(F32(1e-10)))) + 1
    return mx.get_format(fmt).element.emax - 127


def has_mx_form(x: np.ndarray, fmt: str, policy: str | mx.Policy) -> bool:
    """The oracle's answer: the block is all zeros, or its float32 scale is NaN/Inf, or is the value of the
    E8M0 code the oracle's quantize stores and the exponent the elements are encoded at (min_scale_encoding
    moves the elements of code 0x00 elsewhere)."""
    pol = mx.get_policy(policy)
    values, ebits = block_values(x)
    values = flushed_block(values, pol)
    scale = fp32_scale(values, ebits, mx.get_format(fmt).element, pol)
    if scale is None or all(v == 0 for v in values if math.isfinite(v)):
        return True
    _, code = oracle.quantize_block(x, fmt, pol)
    scale_format = mx.get_format(fmt).scale
    return code != 255 and scale == Fraction(2) ** (code - 127) == Fraction(2) ** _encoding_exponent(
        code, scale_format, pol)


def _bits(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, F32).copy()
    y[np.isnan(y)] = np.nan
    return y.view(np.uint32)


def assert_stored_as_the_oracle_quantizes(x: np.ndarray, fmt: str, preset: str | mx.Policy,
                                          values: bool = True) -> None:
    """quantize equals the oracle byte for byte, and (values) its values are fake_quantize's (bits for float
    elements; an integer code has one zero, while fake_int_zero signs the fake-quantized zero: values there)."""
    q = mx.quantize(x.reshape(1, -1), fmt, policy=preset)
    want_codes, want_scale = oracle.quantize_block(x, fmt, preset)
    assert int(q.scales[0, 0]) == want_scale
    np.testing.assert_array_equal(q.codes[0], want_codes)
    if not values:
        return
    fake = mx.fake_quantize(x.reshape(1, -1), fmt, policy=preset)[0]
    if mx.get_format(fmt).element.is_int:
        np.testing.assert_array_equal(q.dequantize()[0], fake)
    else:
        np.testing.assert_array_equal(_bits(q.dequantize()[0]), _bits(fake))


@st.composite
def blocks_near_the_threshold(draw, fmt: str, preset: str) -> np.ndarray:
    """32 float32 lanes whose amax lies within a few binades of the refusal threshold, at a power of two or
    next to one in some draws (where a float32 log2 rounds), with -0 and zero lanes."""
    top = threshold_exponent(fmt, preset) + draw(st.integers(-3, 2))
    lanes = draw(st.lists(st.floats(-1, 1, width=32), min_size=32, max_size=32))
    x = np.array(lanes, np.float64) * 2.0 ** top
    lead = draw(st.sampled_from((None, 1.0, 1 - 2.0 ** -24, 1 + 2.0 ** -23)))
    if lead is not None:
        x[draw(st.integers(0, 31))] = draw(st.sampled_from((1.0, -1.0))) * lead * 2.0 ** top
    return x.astype(F32)


@pytest.mark.clause("6.3", "ext.scale-rules")
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_quantize_refuses_exactly_the_blocks_the_oracle_gives_no_e8m0_scale(data):
    fmt = data.draw(st.sampled_from(MX_FORMATS))
    preset = data.draw(st.sampled_from(PEER_PRESETS))
    x = data.draw(blocks_near_the_threshold(fmt, preset))
    with np.errstate(all="ignore"):
        if has_mx_form(x, fmt, preset):
            assert_stored_as_the_oracle_quantizes(x, fmt, preset)
        else:
            with pytest.raises(PolicyError, match=r"scale_value='fp32_(min_val|pow2)'.*no e8m0 code holds"):
                mx.quantize(x.reshape(1, -1), fmt, policy=preset)


@pytest.mark.parametrize("preset", PEER_PRESETS)
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_every_float32_binade_is_refused_below_the_threshold_and_stored_at_or_above_it(fmt, preset):
    """amax = 2^k and 2^k * 1.5 for every float32 exponent k: refused for k below the threshold, stored as the
    oracle stores it from the threshold up, as the oracle decides each block."""
    t = threshold_exponent(fmt, preset)
    with np.errstate(all="ignore"):
        for k in range(-149, 128):
            for mant in (1.0, 1.5):
                x = np.array([mant * 2.0 ** k, -(2.0 ** -149), -mant * 2.0 ** k / 3, -0.0] * 8).astype(F32)
                assert has_mx_form(x, fmt, preset) == (k >= t), (k, mant)
                if k >= t:
                    if k in (t, t + 1, 0, 127):  # the oracle's codes are checked where the refusal turns
                        assert_stored_as_the_oracle_quantizes(x, fmt, preset)
                    else:
                        mx.quantize(x.reshape(1, -1), fmt, policy=preset)
                else:
                    with pytest.raises(PolicyError):
                        mx.quantize(x.reshape(1, -1), fmt, policy=preset)


@pytest.mark.parametrize("preset", PEER_PRESETS)
def test_a_threshold_one_binade_off_would_fail_the_binade_sweep(preset):
    """Mutation check: the sweep's oracle tells 2^(t-1) from 2^t, so a kernel deciding one binade off fails."""
    t = threshold_exponent("mxfp8_e4m3", preset)
    below, at = (np.array([2.0 ** k] + [0.0] * 31, F32) for k in (t - 1, t))
    assert not has_mx_form(below, "mxfp8_e4m3", preset) and has_mx_form(at, "mxfp8_e4m3", preset)


@pytest.mark.parametrize("preset", PEER_PRESETS)
@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxint8", "mxfp4_e2m1"])
def test_all_zero_and_non_finite_blocks_are_stored(fmt, preset):
    """A zero is exact at any scale; a NaN or Inf block has the NaN scale in both quantize and fake_quantize."""
    x = np.zeros((3, 32), F32)
    x[0, ::2] = -0.0
    x[1, 3] = np.inf
    x[2, 5] = np.nan
    with np.errstate(all="ignore"):
        for row in x:
            assert_stored_as_the_oracle_quantizes(row, fmt, preset)


def test_the_message_names_the_field_the_block_its_amax_the_scale_and_what_is_accepted():
    x = np.ones((2, 96), F32)
    x[1, 64:] = 2.0 ** -40
    with pytest.raises(PolicyError) as brevitas:
        mx.quantize(x, "mxfp8_e4m3", policy="brevitas")
    text = str(brevitas.value)
    m = float(F32(1e-10))
    for part in ("scale_value='fp32_min_val'", "scales index (1, 2)", f"amax {2.0 ** -40!r}",
                 f"float32 scale {float(F32(m / 256))!r}", "fake_quantize", "scale_value='e8m0'", "1 of the 6 blocks"):
        assert part in text, (part, text)
    with pytest.raises(PolicyError, match=r"scale_value='fp32_pow2'.*scales index \(1, 2\).*float32 scale "
                                          + repr(2.0 ** -141)):
        mx.quantize(x * F32(2.0 ** -93), "mxfp8_e4m3", policy="quark_floor")  # 2^-133 over 2^8


def test_the_block_index_is_in_the_scales_of_the_whole_array_along_any_axis_and_across_chunks():
    x = np.ones((64, 3), F32)
    x[32:, 2] = 2.0 ** -40
    with pytest.raises(PolicyError, match=r"scales index \(1, 2\)"):
        mx.quantize(x, "mxfp8_e4m3", axis=0, policy="brevitas")
    rows = (1 << 22) // 32 + 8  # more than one chunk of 2^22 elements: the block lies in the last chunk
    big = np.ones((rows, 32), F32)
    big[-1] = 2.0 ** -40
    with pytest.raises(PolicyError, match=rf"scales index \({rows - 1}, 0\)"):
        mx.quantize(big, "mxfp8_e4m3", policy="brevitas")


@st.composite
def float32_scale_policies(draw) -> mx.Policy:
    """A float32 scale_value with every other field drawn (deterministic rounding; NaN inputs not refused)."""
    fields = {f: draw(st.sampled_from([v for v in values if v not in ("stochastic", "error")]))
              for f, values in CHOICES.items()}
    fields["scale_value"] = draw(st.sampled_from(("fp32_pow2", "fp32_min_val")))
    fields["zero_block_scale"] = draw(st.sampled_from((0, 1, 127)))
    return mx.Policy(**fields)


@pytest.mark.clause("6.3", "ext.scale-rules")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_policy_with_a_float32_scale_value_refuses_as_the_oracle_decides(data):
    fmt = data.draw(st.sampled_from(MX_FORMATS))
    policy = data.draw(float32_scale_policies())
    preset = "brevitas" if policy.scale_value == "fp32_min_val" else "quark_floor"
    x = np.asarray(data.draw(st.one_of(blocks(mx.get_format(fmt)), blocks_near_the_threshold(fmt, preset))), F32)
    with np.errstate(all="ignore"):
        if has_mx_form(x, fmt, policy):
            # The peers round to nearest: under a directed rounding a lane whose float32 quotient underflows
            # to zero is fake-quantized from that zero, while quantize rounds the exact quotient.
            assert_stored_as_the_oracle_quantizes(x, fmt, policy, values=policy.rounding in ("rne", "rna", "rtz"))
        else:
            with pytest.raises(PolicyError, match=f"scale_value='{policy.scale_value}'"):
                mx.quantize(x.reshape(1, -1), fmt, policy=policy)


def test_convert_by_requantize_refuses_as_quantize_does():
    q = mx.quantize(np.full((1, 32), 2.0 ** -40, F32), "mxfp8_e4m3")
    with pytest.raises(PolicyError, match="scale_value='fp32_min_val'"):
        mx.convert(q, "mxfp4_e2m1", method="requantize", policy="brevitas")


def test_the_conformance_kit_leaves_float32_scale_values_out_of_quantize_comparisons():
    e8m0 = {n for n in mx.policies() if mx.get_policy(n).scale_value == "e8m0"}
    assert set(candidate_presets("quantize")) == e8m0 != set(mx.policies())
    assert set(candidate_presets("fake_quantize")) == set(mx.policies())
    found, _ = pair_blocks(mx.get_format("mxfp8_e4m3"), "quantize")
    assert not any(name.startswith("scale_value") for name, _ in found)

    def target(x):
        q = mx.quantize(x, "mxfp8_e4m3")
        return q.scales.reshape(-1), q.codes

    with pytest.raises(InputError, match=r"kind='quantize' cannot be checked under scale_value=fp32_min_val.*"
                                         r"kind='fake_quantize'"):
        check_quantizer(target, "mxfp8_e4m3", "brevitas", kind="quantize", batched=True)
