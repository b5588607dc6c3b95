"""check_quantizer reports every difference by class with a shrunk counterexample, names the comparison class
that would make it pass, takes batched targets, and refuses bad targets and arguments with typed errors."""

import json

import numpy as np
import pytest

import mxemu as mx
from mxemu.errors import InputError
from mxemu.testing import ConformanceError, TargetError, check_quantizer
from mxemu.testing.adapters import torch_kernel, unpack_fp4
from mxemu.testing.coverage import coverage_blocks
from mxemu.testing.runner import shrink


def fq(fmt, policy="ocp"):
    return lambda x: mx.fake_quantize(x, fmt, policy=policy)


def failure(fn, fmt, **kw):
    with pytest.raises(ConformanceError) as info:
        check_quantizer(fn, fmt, **kw)
    return info.value.report


def test_a_kernel_with_two_bugs_gets_both_classes_each_with_a_minimal_block():
    def two_bugs(x):
        y = mx.fake_quantize(x, "mxfp4_e2m1", policy=mx.Policy(rounding="rna"))
        return np.where(y == 0, np.float32(0), y)  # ...and every zero positive
    report = failure(two_bugs, "mxfp4_e2m1", batched=True)
    names = [c.name for c in report.failures]
    assert names == ["sign of zero", "rounding"], str(report)
    assert report.passes_under is None and "no comparison class makes it pass" in str(report)
    for c in report.failures:
        # Shrunk: every lane but the failing one (and the amax lane that sets the scale) is +0.
        nonzero = np.flatnonzero(c.example.block.view(np.uint32))
        assert nonzero.size <= 2, (c.name, c.example)


def test_zero_sign_only_differences_pass_under_value_and_the_report_says_so():
    fn = fq("mxfp8_e4m3", mx.Policy(zero_sign="positive"))
    report = failure(fn, "mxfp8_e4m3")
    assert [c.name for c in report.failures] == ["sign of zero"]
    assert report.passes_under == "value" and "comparison='value'" in str(report)
    assert check_quantizer(fn, "mxfp8_e4m3", comparison="value").ok


def test_nan_payload_differences_pass_under_nan_any():
    def other_nan(x):
        y = mx.fake_quantize(x, "mxfp8_e4m3")
        return np.where(np.isnan(y), np.float32(-np.nan), y).astype(np.float32)
    report = failure(other_nan, "mxfp8_e4m3", batched=True)
    assert [c.name for c in report.failures] == ["NaN encoding"] and report.passes_under == "nan_any"
    assert check_quantizer(other_nan, "mxfp8_e4m3", comparison="nan_any", batched=True).ok


def test_the_json_report_holds_every_class_with_its_example():
    report = failure(fq("mxint8", mx.Policy(rounding="rtz")), "mxint8", batched=True)
    doc = json.loads(report.to_json())
    assert doc["ok"] is False and doc["failing_blocks"] == report.failing_blocks > 0
    assert [c["name"] for c in doc["classes"]] == [c.name for c in report.failures]
    example = doc["classes"][0]["example"]
    assert len(example["input_hex"].split()) == 32 and len(example["input"]) == 32


def test_the_shrinker_simplifies_every_lane_including_negative_zero_and_nan():
    x = np.array([-0.0, np.nan, -3.7, 5.5, -0.0, np.inf], np.float32)
    # Fails while lane 3 is positive and at least 4: every other lane can go, lane 3 becomes 4.
    out = shrink(x, lambda b: bool(b[3] >= 4))
    assert out.view(np.uint32).tolist() == [0, 0, 0, np.float32(4).view(np.uint32), 0, 0]


def test_batched_and_per_block_calls_give_the_same_report():
    fn = fq("mxfp6_e3m2", mx.Policy(rounding="rna"))
    one = failure(fn, "mxfp6_e3m2", max_examples=60)
    many = failure(fn, "mxfp6_e3m2", max_examples=60, batched=True)
    assert one.as_dict() == many.as_dict()


def test_target_keyword_arguments_reach_the_function():
    def kernel(x, *, policy):
        return mx.fake_quantize(x, "mxfp4_e2m1", policy=policy)
    assert check_quantizer(kernel, "mxfp4_e2m1", "torchao_rceil", kwargs={"policy": "torchao_rceil"}).ok


@pytest.mark.parametrize(("fn", "kind", "message"), [
    (lambda x: 1 / 0, "fake_quantize", "raised ZeroDivisionError: division by zero"),
    (lambda x: mx.fake_quantize(x, "mxfp4_e2m1")[:, :16], "fake_quantize", "shape"),
    (lambda x: mx.fake_quantize(x, "mxfp4_e2m1").astype(np.float64), "fake_quantize", "dtype float64"),
    (lambda x: mx.quantize(x, "mxfp4_e2m1").codes, "quantize", r"returns \(scales, codes\)"),
    (lambda x: (np.zeros(x.shape[0], np.uint8), np.full(x.shape, 99)), "quantize", r"4-bit codes in \[0, 15\]"),
    (lambda x: (np.zeros(x.shape[0]), np.zeros(x.shape, np.uint8)), "quantize", "expected integer codes"),
    (lambda x: "not an array", "encode", "entries"),
])
def test_a_target_that_raises_or_returns_the_wrong_thing_gets_a_typed_error(fn, kind, message):
    with pytest.raises(TargetError, match=message):
        check_quantizer(fn, "mxfp4_e2m1", kind=kind, max_examples=5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_examples": 0}, r"max_examples must be an integer in \[1, 1000000\], got 0"),
    ({"max_examples": True}, "max_examples"),
    ({"comparison": "approx"}, "comparison must be one of bits, nan_any, value"),
    ({"kind": "dequantize"}, "kind must be one of"),
    ({"dtype": np.int32}, "dtype must be one of"),
    ({"policy": mx.Policy(rounding="stochastic")}, "stochastic rounding cannot be compared"),
])
def test_bad_arguments_are_refused_with_typed_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        check_quantizer(fq("mxfp4_e2m1"), "mxfp4_e2m1", **kwargs)


def test_coverage_blocks_hold_the_coverage_model():
    x = coverage_blocks(mx.get_format("mxfp8_e4m3"), 2000).astype(np.float64)
    finite = np.isfinite(x)
    assert np.isnan(x).any() and np.isinf(x).any()
    assert (np.signbit(x) & (x == 0)).any() and ((np.abs(x) < 2.0 ** -126) & (x != 0)).any()
    assert (np.abs(x[finite]) >= 2.0 ** 127).any()  # blocks whose scale clamps at the top
    # Exact ties of the element grid at the floor-rule scale.
    q = mx.quantize(x.astype(np.float32), "mxfp8_e4m3")
    rne = q.dequantize(np.float64)
    rna = mx.quantize(x.astype(np.float32), "mxfp8_e4m3", policy=mx.Policy(rounding="rna")).dequantize(np.float64)
    assert (rne != rna).sum() > 100


@pytest.mark.torch
def test_the_torch_adapter_unpacks_fp4_and_reads_float8_codes():
    import torch

    assert unpack_fp4(np.array([[0x21, 0x43]], np.uint8)).tolist() == [[1, 2, 3, 4]]

    def kernel(t):
        q = mx.quantize(t.numpy(), "mxfp8_e4m3")
        return torch.from_numpy(q.scales.reshape(-1).copy()), torch.from_numpy(q.codes).view(torch.float8_e4m3fn)
    assert check_quantizer(torch_kernel(kernel), "mxfp8_e4m3", kind="quantize", batched=True).ok


@pytest.mark.peers  # the kernel under test casts with ml_dtypes
def test_the_conform_command_passes_keyword_arguments_writes_json_and_refuses_zero_examples(tmp_path, monkeypatch,
                                                                                            capsys):
    from mxemu.cli import main

    (tmp_path / "kern.py").write_text(
        "import ml_dtypes\nimport mxemu as mx\n"
        "def fq(x, policy='ocp'):\n    return mx.fake_quantize(x, 'mxfp4_e2m1', policy=policy)\n"
        "def cast(x):\n    return x.astype(ml_dtypes.float8_e4m3fn).view('uint8')\n"
        "def broken(x):\n    raise RuntimeError('kernel launch failed')\n")
    monkeypatch.chdir(tmp_path)
    assert main(["conform", "kern:fq", "--format", "mxfp4_e2m1", "--policy", "torchao_rceil",
                 "--arg", "policy='torchao_rceil'", "--batched", "--json", "r.json", "--max-examples", "50"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["ok"] is True
    assert main(["conform", "kern:cast", "--format", "mxfp8_e4m3", "--kind", "encode", "--policy", "ml_dtypes",
                 "--batched"]) == 0
    capsys.readouterr()
    assert main(["conform", "kern:fq", "--format", "mxfp4_e2m1", "--max-examples", "0"]) == 2
    assert "max_examples must be an integer in [1, 1000000], got 0" in capsys.readouterr().err
    assert main(["conform", "kern:broken", "--format", "mxfp4_e2m1"]) == 2
    assert "raised RuntimeError: kernel launch failed" in capsys.readouterr().err
    assert main(["conform", "kern:fq", "--format", "mxfp4_e2m1", "--arg", "no-name"]) == 2
