"""mxemu.testing tells a kernel writer what their implementation does: real peers are identified by name."""

import logging
import warnings

import ml_dtypes
import numpy as np
import pytest
import torch
from gfloat import compute_scale_amax, encode_block
from gfloat.formats import format_info_mxfp8_e4m3

import mxemu as mx
from mxemu.testing import ConformanceError, check_quantizer, identify
from mxemu.testing.identify import discriminating_blocks

logging.disable(logging.WARNING)
warnings.filterwarnings("ignore", module="torchao")
from torchao.prototype.mx_formats.config import ScaleCalculationMode  # noqa: E402
from torchao.prototype.mx_formats.mx_tensor import to_mx  # noqa: E402


def torchao_quantizer(mode):
    def fn(t):
        scale, data = to_mx(t.float(), torch.float8_e4m3fn, 32, mode)
        return scale.view(torch.uint8), data.view(torch.uint8)
    return fn


def gfloat_quantizer(x):
    values = x.reshape(-1).astype(np.float64)
    codes = encode_block(format_info_mxfp8_e4m3, compute_scale_amax(8, values), values / compute_scale_amax(8, values))
    codes = list(codes)
    return np.array(codes[:1]), np.array(codes[1:])


def numpy_ml_dtypes_quantizer(x):
    """The usual hand-written version: floor scale from the exponent bits, divide, clamp, cast."""
    amax = np.abs(x).max()
    exp = int((np.array(amax, np.float32).view(np.uint32) >> 23) & 0xFF) - 127 - 8
    exp = max(exp, -127)
    scaled = np.clip(x / np.float32(2.0) ** exp, -448, 448)
    return np.array([exp + 127]), scaled.astype(ml_dtypes.float8_e4m3fn).view(np.uint8)


@pytest.mark.parametrize(("mode", "preset"), [(ScaleCalculationMode.FLOOR, "torchao"),
                                              (ScaleCalculationMode.RCEIL, "torchao_rceil")])
def test_torchao_to_mx_is_identified_as_its_preset(mode, preset):
    found = identify(torchao_quantizer(mode), "mxfp8_e4m3", tensor="torch", batched=True)
    assert preset in found.presets, str(found)


def test_gfloat_encode_block_is_identified_as_the_gfloat_preset():
    found = identify(gfloat_quantizer, "mxfp8_e4m3")
    assert "gfloat" in found.presets, str(found)


def test_a_hand_written_numpy_quantizer_is_explained_field_by_field():
    found = identify(numpy_ml_dtypes_quantizer, "mxfp8_e4m3")
    # It never checks for NaN/Inf: no preset explains every block, and the report says which do not fit.
    text = str(found)
    assert "mxfp8_e4m3" in text
    assert found.presets or found.unexplained or found.policy != mx.Policy()


def test_torchao_passes_the_differential_runner_under_its_preset():
    check_quantizer(torchao_quantizer(ScaleCalculationMode.RCEIL), "mxfp8_e4m3", "torchao_rceil",
                    kind="quantize", tensor="torch", max_examples=150)


def test_a_ties_away_kernel_fails_with_a_minimal_report():
    broken = mx.get_policy("ocp").replace(rounding="rna")
    pattern = r"\[rounding\] .*\n +minimal block at lane \d+: expected .*\n +input block \(hex bits"
    with pytest.raises(ConformanceError, match=pattern):
        check_quantizer(lambda x: mx.fake_quantize(x, "mxfp4_e2m1", policy=broken), "mxfp4_e2m1",
                        max_examples=300)


def test_a_scale_off_by_one_is_reported_as_a_scale_difference():
    def off_by_one(x):
        q = mx.quantize(x, "mxint8")
        return q.scales + 1, q.codes
    with pytest.raises(ConformanceError, match=r"\[scale\] .* scale code differs"):
        check_quantizer(off_by_one, "mxint8", kind="quantize", max_examples=50)


def test_the_pytest_fixture_checks_a_quantizer_in_one_line(mx_conformance):
    mx_conformance(lambda x: mx.fake_quantize(x, "mxfp6_e2m3"), "mxfp6_e2m3", max_examples=30)


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp6_e2m3", "fp4_e2m1", "int8"])
def test_boundary_floats_hit_the_encoders_decisions_and_agree_with_the_oracle(fmt):
    from hypothesis import given, settings

    from mxemu import oracle
    from mxemu.testing.strategies import boundary_floats

    seen_midpoint = []

    @settings(max_examples=120, database=None, derandomize=True, deadline=None)
    @given(boundary_floats(fmt, scale_exp=-3))
    def run(v):
        x = np.array([v], np.float32)
        code = int(mx.encode(x, fmt, scale_exp=-3)[0])
        assert code == oracle.encode_value(float(x[0]), mx.get_format(fmt), -3, mx.Policy())
        lo = mx.encode(x, fmt, scale_exp=-3, policy=mx.Policy(rounding="rtz"))[0]
        hi = mx.encode(x, fmt, scale_exp=-3, policy=mx.Policy(rounding="rna"))[0]
        seen_midpoint.append(lo != hi)

    run()
    assert any(seen_midpoint), "the strategy never produced a value between two grid points"


def test_the_conform_command_reports_pass_fail_and_the_policy(tmp_path, monkeypatch, capsys):
    from mxemu.cli import main

    (tmp_path / "my_kernels.py").write_text(
        "import mxemu as mx\n"
        "def good(x):\n    return mx.fake_quantize(x, 'mxfp4_e2m1', policy='torchao_rceil')\n"
        "def ties_away(x):\n    return mx.fake_quantize(x, 'mxfp4_e2m1', policy=mx.Policy(rounding='rna'))\n")
    monkeypatch.chdir(tmp_path)
    assert main(["conform", "my_kernels:good", "--format", "mxfp4_e2m1", "--policy", "torchao_rceil",
                 "--identify", "--max-examples", "40"]) == 0
    out = capsys.readouterr().out
    assert "matches preset(s) torchao_rceil" in out and out.rstrip().splitlines()[-1].startswith("PASS")
    assert main(["conform", "my_kernels:ties_away", "--format", "mxfp4_e2m1", "--max-examples", "200"]) == 1
    assert "FAIL my_kernels:ties_away" in capsys.readouterr().out
    assert main(["conform", "my_kernels:missing", "--format", "mxfp4_e2m1"]) == 2


def _quantizer(fmt, policy):
    def fn(x):
        q = mx.quantize(x, fmt, policy=policy)
        return q.scales, q.codes
    return fn


@pytest.mark.parametrize(("fmt", "wrong", "field"), [
    ("mxfp4_e2m1", {"rounding": "rna"}, "rounding=rna"),            # ties away instead of RNE
    ("mxfp8_e4m3", {"log2": "fp32"}, "log2=fp32"),                   # float32 log2 for the scale
    ("mxfp8_e4m3", {"overflow": "ieee"}, "overflow=ieee"),           # no saturation
    ("mxfp6_e3m2", {"nonfinite": "finite_amax"}, "nonfinite=finite_amax"),  # NaN lost in the amax
])
def test_a_wrong_implementation_is_caught_and_named_by_the_field_that_explains_it(fmt, wrong, field):
    fn = _quantizer(fmt, mx.get_policy("ocp").replace(**wrong))
    with pytest.raises(ConformanceError):
        check_quantizer(fn, fmt, "ocp", kind="quantize", max_examples=300, batched=True)
    found = identify(fn, fmt, batched=True)
    assert not found.unexplained and field in str(found), str(found)


def test_ml_dtypes_casts_are_identified_as_the_ml_dtypes_element_preset():
    def cast(x):
        with np.errstate(invalid="ignore", over="ignore"):
            return x.astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
    found = identify(cast, "mxfp8_e4m3", kind="encode", batched=True)
    assert "ml_dtypes" in found.presets, str(found)


@pytest.mark.parametrize("fmt", mx.formats(kind="mx"))
def test_the_tie_block_holds_exact_midpoints_that_separate_the_rounding_modes(fmt):
    block = dict(discriminating_blocks(mx.get_format(fmt)))["ties at element precision"]
    ocp = mx.get_policy("ocp")
    q = {r: mx.quantize(block, fmt, policy=ocp.replace(rounding=r)) for r in ("rne", "rna", "rtz")}
    assert q["rne"].scales.tolist() == [127]  # block scale 1: the lanes are element-grid midpoints
    lanes = np.abs(block[1:].astype(np.float64))
    down = np.abs(q["rtz"].dequantize(np.float64)[1:])
    up = np.abs(q["rna"].dequantize(np.float64)[1:])
    np.testing.assert_array_equal((down + up) / 2, lanes)  # exactly halfway between the two neighbours
    assert (up > down).all()
    assert not np.array_equal(q["rne"].codes, q["rna"].codes)


def test_a_float32_log2_kernel_with_ties_to_even_is_not_taken_for_microxcaling():
    fn = _quantizer("mxfp4_e2m1", mx.get_policy("ocp").replace(log2="fp32"))
    found = identify(fn, "mxfp4_e2m1", batched=True)
    assert "microxcaling" not in found.presets and found.policy.rounding == "rne", str(found)
