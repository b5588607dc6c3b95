"""identify names the right preset or says "no policy", and never names a policy that then fails its own check:
real peers (torchao's four scale modes on five formats, ml_dtypes casts, Brevitas) and planted-bug kernels."""

import logging
import warnings

import ml_dtypes
import numpy as np
import pytest
import torch

import mxemu as mx
from mxemu.testing import check_quantizer, identify, pair_blocks
from mxemu.testing.adapters import torch_kernel

logging.disable(logging.WARNING)
warnings.filterwarnings("ignore")
from torchao.prototype.mx_formats.config import ScaleCalculationMode  # noqa: E402
from torchao.prototype.mx_formats.constants import DTYPE_FP6_E2M3, DTYPE_FP6_E3M2  # noqa: E402
from torchao.prototype.mx_formats.mx_tensor import to_mx  # noqa: E402

VERIFY = 1024
TORCHAO_ELEMENTS = {"mxfp8_e4m3": torch.float8_e4m3fn, "mxfp8_e5m2": torch.float8_e5m2,
                    "mxfp6_e2m3": DTYPE_FP6_E2M3, "mxfp6_e3m2": DTYPE_FP6_E3M2,
                    "mxfp4_e2m1": torch.float4_e2m1fn_x2}
TORCHAO_MODES = {"torchao": ScaleCalculationMode.FLOOR, "torchao_ceil": ScaleCalculationMode.CEIL,
                 "torchao_even": ScaleCalculationMode.EVEN, "torchao_rceil": ScaleCalculationMode.RCEIL}


def assert_answer_checks_out(found, fn, fmt, kind, **call):
    """The property identify promises: a named preset or policy passes check_quantizer on fresh blocks."""
    if found.status in ("preset", "policy"):
        check_quantizer(fn, fmt, found.policy, kind, max_examples=1500, batched=True, **call)
    else:
        assert found.status == "none" and found.differing > 0 and found.classes, str(found)
        assert "no policy in mxemu's space reproduces this function" in str(found)


def torchao_kernel(fmt, mode):
    def fn(t):
        scale, data = to_mx(t.float(), TORCHAO_ELEMENTS[fmt], 32, mode)
        return scale, data
    return torch_kernel(fn, fp4_packed=fmt == "mxfp4_e2m1")


@pytest.mark.parametrize("fmt", list(TORCHAO_ELEMENTS))
@pytest.mark.parametrize("preset", list(TORCHAO_MODES))
def test_torchao_to_mx_is_named_by_its_preset_in_every_scale_mode_and_format(preset, fmt):
    fn = torchao_kernel(fmt, TORCHAO_MODES[preset])
    found = identify(fn, fmt, "quantize", batched=True, verify_blocks=VERIFY)
    assert found.status == "preset" and preset in found.presets, str(found)
    assert_answer_checks_out(found, fn, fmt, "quantize")


ML_DTYPES = {"mxfp8_e4m3": ml_dtypes.float8_e4m3fn, "mxfp8_e5m2": ml_dtypes.float8_e5m2,
             "mxfp6_e2m3": ml_dtypes.float6_e2m3fn, "mxfp6_e3m2": ml_dtypes.float6_e3m2fn,
             "mxfp4_e2m1": ml_dtypes.float4_e2m1fn}


@pytest.mark.parametrize("fmt", list(ML_DTYPES))
def test_ml_dtypes_casts_are_named_as_the_ml_dtypes_preset(fmt):
    def cast(x):
        return x.astype(ML_DTYPES[fmt]).view(np.uint8)

    found = identify(cast, fmt, "encode", batched=True, verify_blocks=VERIFY)
    assert "ml_dtypes" in found.presets, str(found)
    assert_answer_checks_out(found, cast, fmt, "encode")


def _mxemu_kernel(fmt, policy, kind="quantize"):
    def fn(x):
        if kind == "fake_quantize":
            return mx.fake_quantize(x, fmt, policy=policy)
        q = mx.quantize(x, fmt, policy=policy)
        return q.scales.reshape(-1), q.codes
    return fn


@pytest.mark.parametrize(("fmt", "bug", "fields"), [
    ("mxfp4_e2m1", {"rounding": "rna"}, "rounding=rna"),                     # wrong tie rule
    ("mxfp8_e4m3", {"scale_rule": "ceil"}, "scale_rule=ceil"),               # wrong scale rule
    ("mxint8", {"log2": "fp32", "zero_sign": "fp32_quotient", "fake_int_zero": "signed"},
     "log2=fp32"),                                                           # one quirk plus another field
])
def test_a_planted_policy_bug_is_named_by_the_fields_that_explain_it(fmt, bug, fields):
    fn = _mxemu_kernel(fmt, mx.Policy(**bug), "fake_quantize")
    found = identify(fn, fmt, "fake_quantize", batched=True, verify_blocks=VERIFY)
    assert found.status == "policy" and fields in str(found), str(found)
    assert_answer_checks_out(found, fn, fmt, "fake_quantize")


def test_even_scales_are_not_taken_for_ceil():
    # The case that used to be named wrongly: no block separated EVEN from CEIL, and nothing was verified.
    fn = _mxemu_kernel("mxfp8_e4m3", "torchao_even")
    found = identify(fn, "mxfp8_e4m3", "quantize", batched=True, verify_blocks=VERIFY)
    assert found.presets == ["torchao_even"], str(found)
    assert "scale_rule: ceil vs even" in dict(pair_blocks(mx.get_format("mxfp8_e4m3"), "quantize")[0])


def test_a_kernel_right_except_on_one_rare_class_gets_no_policy_and_the_class():
    good = _mxemu_kernel("mxfp8_e4m3", "ocp", "fake_quantize")

    def rare(x):
        y = good(x)
        # The bug: a lane that is exactly 2^-3 times the block's largest power of two comes back as zero.
        amax = np.abs(np.where(np.isfinite(x), x, 0)).max(axis=1, keepdims=True)
        top = np.exp2(np.floor(np.log2(np.where(amax > 0, amax, 1))))
        return np.where((np.abs(x) == top / 8) & (amax > 0), np.float32(0), y).astype(np.float32)

    found = identify(rare, "mxfp8_e4m3", "fake_quantize", batched=True, verify_blocks=VERIFY)
    assert found.status == "none" and "underflow" in found.classes, str(found)
    assert_answer_checks_out(found, rare, "mxfp8_e4m3", "fake_quantize")


def test_brevitas_mx_quantizers_get_an_honest_answer():
    from brevitas.nn import QuantIdentity
    from brevitas.quant.mx_quant_ocp import MXFloat8e4m3Act

    module = QuantIdentity(act_quant=MXFloat8e4m3Act, return_quant_tensor=False, group_dim=-1).eval()

    def fn(t):
        with torch.no_grad():
            return module(t)

    found = identify(fn, "mxfp8_e4m3", "fake_quantize", tensor="torch", batched=True, verify_blocks=VERIFY)
    assert_answer_checks_out(found, fn, "mxfp8_e4m3", "fake_quantize", tensor="torch")
    x = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    # On ordinary data Brevitas agrees with the OCP rules; the differences are at the edges.
    np.testing.assert_array_equal(fn(torch.from_numpy(x)).numpy(), mx.fake_quantize(x, "mxfp8_e4m3"))


def test_sign_of_zero_only_differences_are_named_with_the_comparison_that_accepts_them():
    fn = _mxemu_kernel("mxfp8_e4m3", mx.Policy(zero_sign="positive"), "fake_quantize")
    found = identify(fn, "mxfp8_e4m3", "fake_quantize", batched=True, verify_blocks=VERIFY, comparison="value")
    assert found.status == "preset" and "ocp" in found.presets, str(found)
