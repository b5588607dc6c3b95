"""mxemu.torch.fake_quantize: the forward is mx.fake_quantize bit for bit; the backward is an STE."""

import doctest
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxemu as mx
import mxemu.torch as mxt
from mxemu.array import MXArray
from mxemu.spec import MXFormat
from mxemu.testing.strategies import blocks
from mxemu.torch import functional, nn, qat

MX_FORMATS = mx.formats(kind="mx")
DTYPES = {torch.float32: np.uint32, torch.bfloat16: np.uint16, torch.float16: np.uint16}
AXES = [-1, 0, 1, (1, 2)]


def _tensor(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * torch.exp2(
        torch.randint(-6, 6, shape, generator=g).double())
    x.view(-1)[:40] = 0.0
    x.view(-1)[100:132] = torch.tensor([-1.0, 0.5, 1.5, 2.5, 3.5, 6.0, 7.0, 448.0] * 4, dtype=torch.float64)
    return x.to(dtype)


def _numpy(t):
    """An independent route from tensor to numpy: through float32 (exact for all three dtypes)."""
    a = t.detach().float().numpy()
    return a.astype({torch.float32: np.float32, torch.bfloat16: ml_dtypes.bfloat16,
                     torch.float16: np.float16}[t.dtype])


def _bits(t):
    return t.contiguous().view({torch.float32: torch.int32}.get(t.dtype, torch.int16)).numpy()


def _assert_same(out, expected):
    assert out.dtype in DTYPES and out.is_contiguous()
    assert tuple(out.shape) == expected.shape
    np.testing.assert_array_equal(_bits(out), expected.view(np.int32 if expected.itemsize == 4 else np.int16))


def test_importing_mxemu_does_not_import_torch():
    code = "import sys, mxemu, mxemu.ops; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_forward_is_mx_fake_quantize_bit_for_bit(fmt, dtype):
    t = _tensor((3, 40, 36), dtype)
    x = _numpy(t)
    for preset in mx.policies():
        for axis in AXES:
            out = mxt.fake_quantize(t, fmt, axis=axis, policy=preset)
            _assert_same(out, mx.fake_quantize(x, fmt, axis=axis, policy=preset))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_stochastic_rounding_with_a_seed_is_mx_fake_quantize_with_that_seed(dtype):
    t = _tensor((8, 64), dtype)
    pol = mx.get_policy("ocp").replace(rounding="stochastic")
    for fmt in ("mxfp4_e2m1", "mxint4"):
        out = mxt.fake_quantize(t, fmt, policy=pol, seed=1234)
        _assert_same(out, mx.fake_quantize(_numpy(t), fmt, policy=pol, seed=1234))
        other = mxt.fake_quantize(t, fmt, policy=pol, seed=1235)
        assert not torch.equal(out, other)


def test_non_contiguous_inputs_are_quantized_as_their_values():
    base = _tensor((64, 96), torch.float32)
    for view in (base.t(), base[:, ::2], base[::3, 1:], base.t()[::2]):
        assert not view.is_contiguous()
        out = mxt.fake_quantize(view, "mxfp6_e2m3")
        _assert_same(out, mx.fake_quantize(np.ascontiguousarray(view.numpy()), "mxfp6_e2m3"))
        bf = view.to(torch.bfloat16)
        _assert_same(mxt.fake_quantize(bf, "mxint4", axis=0), mx.fake_quantize(_numpy(bf), "mxint4", axis=0))


def test_input_is_not_modified():
    t = _tensor((4, 64), torch.bfloat16)
    before = t.clone()
    mxt.fake_quantize(t, "mxfp4_e2m1", ste="masked")
    np.testing.assert_array_equal(_bits(t), _bits(before))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_identity_ste_passes_the_gradient_unchanged(dtype):
    t = _tensor((4, 70), dtype).requires_grad_()
    upstream = torch.randn(4, 70, dtype=torch.float64).to(dtype)
    mxt.fake_quantize(t, "mxfp4_e2m1", axis=-1).backward(upstream)
    assert t.grad.dtype == dtype
    np.testing.assert_array_equal(_bits(t.grad), _bits(upstream))


def test_masked_ste_zeroes_the_gradient_of_saturated_fp4_elements():
    # amax 7.5: floor(log2 7.5) - emax(2) = 0 -> X = 1, block max = 6: 7.5, 6.5 and -7 saturate, 6 does not.
    x = torch.tensor([7.5, 6.0, 6.5, -7.0, -6.0, 3.0] + [0.0] * 26, requires_grad=True)
    mxt.fake_quantize(x, "mxfp4_e2m1", ste="masked").backward(torch.full((32,), 2.0))
    assert x.grad[:6].tolist() == [0.0, 2.0, 0.0, 0.0, 2.0, 2.0]
    assert x.grad[6:].eq(2.0).all()


def test_masked_ste_on_int8_follows_the_integer_range_policy():
    # amax 1.99 -> X = 1; MXINT8 max = 127/64 = 1.984375; the full range reaches -2 on the negative side.
    values = [1.99, 127 / 64, -1.99, -127 / 64, 1.0] + [0.0] * 27
    for preset, expect in (("ocp", [0.0, 1.0, 0.0, 1.0, 1.0]), ("gfloat", [0.0, 1.0, 1.0, 1.0, 1.0])):
        assert mx.get_policy(preset).int_range == ("symmetric" if preset == "ocp" else "full")
        x = torch.tensor(values, dtype=torch.float64).float().requires_grad_()
        mxt.fake_quantize(x, "mxint8", policy=preset, ste="masked").sum().backward()
        assert x.grad[:5].tolist() == expect


def test_masked_ste_mask_is_magnitude_beyond_scale_times_max_normal():
    t = _tensor((6, 64), torch.float32, seed=3)
    g = torch.Generator().manual_seed(5)
    # One element per block at 1.99 * 2^k, the block's amax (data < 2^9): above X * max_normal in
    # every format (every max normal has a significand below 1.99).
    t[:, ::32] = 1.99 * torch.exp2(torch.randint(9, 12, (6, 2), generator=g).float())
    t[0, 0] = -t[0, 0]
    for fmt in MX_FORMATS:
        x = t.clone().requires_grad_()
        mxt.fake_quantize(x, fmt, ste="masked").sum().backward()
        q = mx.quantize(t.numpy(), fmt)
        bound = np.repeat(np.ldexp(1.0, q.scales.astype(int) - 127), 32, axis=-1)[:, :64] \
            * float(mx.get_format(fmt).element.max_normal)
        saturated = np.abs(t.numpy().astype(np.float64)) > bound
        assert saturated[:, ::32].all(), fmt
        np.testing.assert_array_equal(x.grad.numpy(), np.where(saturated, 0.0, 1.0).astype(np.float32), fmt)


def test_masked_ste_along_axis_zero_uses_the_column_blocks():
    x = torch.zeros(32, 2)
    x[0, 0], x[1, 0], x[0, 1] = 7.5, 6.0, 0.125  # column 1: X = 2^-5, block max 0.1875
    x.requires_grad_()
    mxt.fake_quantize(x, "mxfp4_e2m1", axis=0, ste="masked").sum().backward()
    assert x.grad[0].tolist() == [0.0, 1.0] and x.grad[1].tolist() == [1.0, 1.0]
    assert x.grad.sum().item() == 63.0


def test_infinity_saturates_and_a_nan_scale_block_passes_the_gradient():
    x = torch.tensor([float("inf"), 1.0] + [0.0] * 30 + [float("nan"), 1.0] + [0.0] * 30, requires_grad=True)
    y = mxt.fake_quantize(x, "mxfp8_e4m3", policy="ocp", ste="masked")  # ocp: NaN/Inf make the scale NaN
    assert y.isnan().all()
    y.sum().backward()
    assert x.grad.eq(1.0).all()
    x2 = x.detach().clone().requires_grad_()
    mxt.fake_quantize(x2, "mxfp8_e4m3", policy=mx.get_policy("ocp").replace(nonfinite="finite_amax"),
                      ste="masked").sum().backward()
    assert x2.grad[0].item() == 0.0 and x2.grad[1:].eq(1.0).all()


def test_no_grad_gives_the_same_values_and_no_graph():
    t = _tensor((4, 64), torch.float32).requires_grad_()
    with torch.no_grad():
        out = mxt.fake_quantize(t, "mxint4", ste="masked")
    assert not out.requires_grad and out.grad_fn is None
    _assert_same(out, mx.fake_quantize(_numpy(t), "mxint4"))
    assert mxt.fake_quantize(t, "mxint4").grad_fn is not None


def test_torch_compile_falls_back_and_gives_identical_outputs():
    torch.manual_seed(0)
    model = torch.nn.Sequential(mxt.MXLinear(64, 48, weight_format="mxint4", input_format="mxfp8_e4m3"),
                                torch.nn.ReLU(), mxt.MXLinear(48, 10, weight_format="mxfp4_e2m1"))
    x = torch.randn(8, 64)
    compiled = torch.compile(model, backend="aot_eager")
    np.testing.assert_array_equal(_bits(compiled(x)), _bits(model(x)))
    fn = torch.compile(lambda t: mxt.fake_quantize(t * 2, "mxfp6_e3m2") + 1, backend="aot_eager")
    expected = torch.from_numpy(mx.fake_quantize((x * 2).numpy(), "mxfp6_e3m2")) + 1
    np.testing.assert_array_equal(_bits(fn(x)), _bits(expected))


@pytest.mark.slow
def test_torch_compile_with_inductor_runs():
    model = torch.nn.Sequential(mxt.MXLinear(32, 4, weight_format="mxint8"), torch.nn.Tanh())
    x = torch.randn(2, 32)
    np.testing.assert_array_equal(_bits(torch.compile(model)(x)), _bits(model(x)))


@pytest.mark.parametrize("bad, message", [
    (torch.ones(32, dtype=torch.int32), "dtype"),
    (torch.ones(32, device="meta"), "CPU"),
    (np.ones(32, np.float32), "torch.Tensor"),
])
def test_bad_tensors_raise_input_error(bad, message):
    with pytest.raises(mx.InputError, match=message):
        mxt.fake_quantize(bad, "mxfp8_e4m3")


def test_cuda_tensors_are_refused_by_the_numba_backend_with_a_clear_message(monkeypatch):
    t = torch.ones(32)

    class FakeDevice:
        type = "cuda"

    monkeypatch.setattr(torch.Tensor, "device", property(lambda self: FakeDevice()))
    with pytest.raises(mx.InputError, match=r"numba backend runs on CPU tensors; use backend='triton'"):
        functional.check_tensor(t)


def test_bad_arguments_raise_typed_errors():
    t = torch.ones(32)
    with pytest.raises(mx.InputError, match="ste"):
        mxt.fake_quantize(t, "mxfp8_e4m3", ste="clipped")
    with pytest.raises(mx.InputError, match="not an MX block format"):
        mxt.fake_quantize(t, "fp8_e4m3")
    with pytest.raises(mx.UnknownNameError):
        mxt.fake_quantize(t, "mxfp3")
    with pytest.raises(mx.InputError, match="out of range"):
        mxt.fake_quantize(t, "mxfp8_e4m3", axis=1)
    with pytest.raises(mx.PolicyError):
        mxt.fake_quantize(t, "mxfp8_e4m3", policy=mx.get_policy("ocp").replace(rounding="up"))


@pytest.mark.parametrize("module", [functional, nn, qat])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("fmt, axis", [(f, a) for f in MX_FORMATS for a in AXES] + [("nvfp4", a) for a in AXES[:3]])
def test_saturation_mask_is_the_input_beyond_the_dequantized_extreme_codes_of_its_block(fmt, axis):
    # oracle: dequantize full arrays of the most positive / most negative code at the stored scales
    x = _numpy(_tensor((3, 40, 64), torch.float32, seed=7))
    x[0, 0, :4] = [np.inf, -np.inf, np.nan, 1e30]
    x[1, 5, 5] = 1.99 * 2.0 ** 20  # beyond X·max_normal of its block in every format (mxint8: 127/64)
    # the two-level recipe fixes the fields torchao's and microxcaling's presets change; torchao's NVFP4
    # saturates Inf instead (nonfinite "propagate")
    policies = ("ocp", mx.get_policy("ocp").replace(nonfinite="propagate")) if fmt == "nvfp4" else \
        ("ocp", "torchao", "microxcaling")
    for policy in policies:
        q = mx.quantize(x, fmt, axis, policy)
        big = mx.encode(np.array([2.0 ** 200, -(2.0 ** 200)]), q.format.element,
                        policy=q.policy.replace(overflow="saturate"))
        hi = MXArray(np.full(q.shape, big[0], np.uint8), q.scales, q.format, q.policy, q.axis,
                     q.tensor_scale).dequantize(np.float64)
        lo = MXArray(np.full(q.shape, big[1], np.uint8), q.scales, q.format, q.policy, q.axis,
                     q.tensor_scale).dequantize(np.float64)
        with np.errstate(invalid="ignore"):
            expected = (x > hi) | (x < lo)
        mask = mxt.saturation_mask(x, fmt, axis, policy)
        assert mask.shape == x.shape and mask.any()
        np.testing.assert_array_equal(mask, expected)



def _draw_policy(data, fmt: MXFormat) -> mx.Policy:
    """Any policy, the peers' float32 scale values and signed integer zeros included; a two-level
    format takes the fields its recipe leaves open (the rounding mode)."""
    from mxemu.policy import CHOICES

    if fmt.two_level:
        return mx.Policy(rounding=data.draw(st.sampled_from(["rne", "rna", "rtz", "rup", "rdn", "rto"])))
    fields = {field: data.draw(st.sampled_from(values)) for field, values in CHOICES.items()}
    if fields["nan_to_nonan"] == "error":
        fields["nan_to_nonan"] = "zero"
    fields["zero_block_scale"] = data.draw(st.sampled_from([0, 1, 127]))
    fields["sr_bits"] = data.draw(st.sampled_from([1, 8, 32]))
    return mx.Policy(**fields)


def _masked_reference(x, fmt, axis, policy, seed):
    """The masked forward as two separate calls, the mask in float64 with a bound per element."""
    q = mx.quantize(x, fmt, axis, policy, seed=seed)
    top, bottom = functional._extremes(q.format.element, q.policy)
    rows, padded = functional.to_blocks(x.astype(np.float64), q.axis, q.block_size)
    factor = np.repeat(q.block_factors(), rows.shape[1]).reshape(rows.shape)
    mask = functional.from_blocks((rows > factor * top) | (rows < factor * bottom), padded, x.shape, q.axis,
                                  q.block_size)
    return mx.fake_quantize(x, fmt, axis, policy, seed=seed), np.ascontiguousarray(mask)


def _same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_masked_forward_from_one_quantize_equals_fake_quantize_and_the_float64_mask(data):
    f = mx.get_format(data.draw(st.sampled_from([*MX_FORMATS, "nvfp4"])))
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.float16, ml_dtypes.bfloat16]))
    axis = data.draw(st.sampled_from([-1, 0]))
    x = np.stack([data.draw(blocks(f)) for _ in range(3)])
    with np.errstate(over="ignore"):  # beyond a 16-bit type's range: Inf lanes, which the masks must handle too
        x = (x if axis == -1 else np.ascontiguousarray(x.T)).astype(dtype)
    if dtype is not ml_dtypes.bfloat16 and data.draw(st.booleans()):
        x = x.astype(x.dtype.newbyteorder(">"))  # any byte order in, native values out (as fake_quantize)
    policy = _draw_policy(data, f)
    seed = data.draw(st.integers(0, 2**64 - 1))
    try:
        want_values, want_mask = _masked_reference(x, f, axis, policy, seed)
    except mx.MXError as e:
        with pytest.raises(type(e)):
            functional.fake_quantize_and_mask(x, f, axis, policy, seed)
        return
    values, mask = functional.fake_quantize_and_mask(x, f, axis, policy, seed)
    _same_bits(values, want_values)
    np.testing.assert_array_equal(mask, want_mask)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16, np.float64])
@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxfp6_e3m2", "mxfp4_e2m1", "mxint8"])
def test_the_mask_counts_a_lane_at_the_bound_as_inside_and_one_step_of_its_type_beyond_as_saturated(fmt, dtype):
    # Lane 0 of each block is the largest (row 0) or most negative (row 1) value at scale 1; lane 1 of
    # rows 2 and 3 is one step of x's own type beyond it, in the same binade, so the scale stays 1.
    f = mx.get_format(fmt)
    top, bottom = functional._extremes(f.element, mx.get_policy("ocp"))
    x = np.zeros((4, f.block_size), dtype)
    x[:, 0] = np.array([top, bottom, top, bottom], dtype)
    x[2, 1] = np.nextafter(x[2, 0], np.array(np.inf, dtype))
    x[3, 1] = np.nextafter(x[3, 0], np.array(-np.inf, dtype))
    values, mask = functional.fake_quantize_and_mask(x, fmt)
    assert mask.tolist() == [[False] * f.block_size] * 2 + [[False, True] + [False] * (f.block_size - 2)] * 2
    _same_bits(values, mx.fake_quantize(x, fmt))
