"""MXLinear, quantize_model / dequantize_model, and runtime format switching (set_format, use_format)."""

import numpy as np
import pytest
import torch
from torch.nn import functional

import mxemu as mx
import mxemu.torch as mxt


def _bits(t):
    return t.detach().contiguous().view(torch.int32).numpy()


def _fq(t, fmt, policy=None):
    """The expected fake quantization, straight from the numpy API."""
    return torch.from_numpy(mx.fake_quantize(np.ascontiguousarray(t.detach().numpy()), fmt, -1, policy))


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 48),
        torch.nn.ReLU(),
        torch.nn.Sequential(torch.nn.Linear(48, 40, bias=False), torch.nn.GELU()),
        torch.nn.Linear(40, 10),
    )


def test_mxlinear_output_is_linear_of_fake_quantized_input_and_weight():
    torch.manual_seed(1)
    layer = mxt.MXLinear(96, 24, weight_format="mxint4", input_format="mxfp8_e4m3", weight_policy="torchao")
    x = torch.randn(3, 5, 96)
    expected = functional.linear(_fq(x, "mxfp8_e4m3"), _fq(layer.weight, "mxint4", "torchao"), layer.bias)
    np.testing.assert_array_equal(_bits(layer(x)), _bits(expected))


def test_weight_blocks_run_along_in_features():
    layer = mxt.MXLinear(64, 2, bias=False, weight_format="mxfp4_e2m1")
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0], layer.weight[0, 1] = 7.0, 0.25  # one block: X = 1, 0.25 ties to 0
        layer.weight[1, 33] = 0.25  # its own block: X = 2^-4, exact
    assert layer.quantized_weight()[0, :2].tolist() == [6.0, 0.0]
    assert layer.quantized_weight()[1, 33].item() == 0.25


def test_input_format_none_leaves_activations_in_float():
    torch.manual_seed(2)
    layer = mxt.MXLinear(64, 8, weight_format="mxint8", input_format=None)
    x = torch.randn(4, 64)
    expected = functional.linear(x, _fq(layer.weight, "mxint8"), layer.bias)
    np.testing.assert_array_equal(_bits(layer(x)), _bits(expected))
    layer.weight_format = None
    np.testing.assert_array_equal(_bits(layer(x)), _bits(functional.linear(x, layer.weight, layer.bias)))


def test_identity_ste_gradients_are_those_of_the_quantized_gemm():
    torch.manual_seed(3)
    layer = mxt.MXLinear(64, 16, weight_format="mxint4", input_format="mxfp6_e2m3")
    x = torch.randn(5, 64, requires_grad=True)
    gy = torch.randn(5, 16)
    layer(x).backward(gy)
    xq = _fq(x, "mxfp6_e2m3").requires_grad_()
    wq = _fq(layer.weight, "mxint4").requires_grad_()
    functional.linear(xq, wq, layer.bias.detach()).backward(gy)
    np.testing.assert_array_equal(_bits(layer.weight.grad), _bits(wq.grad))
    np.testing.assert_array_equal(_bits(x.grad), _bits(xq.grad))


def test_grad_format_quantizes_grad_output_before_both_backward_gemms():
    torch.manual_seed(4)
    layer = mxt.MXLinear(64, 40, weight_format="mxint8", grad_format="mxfp8_e5m2")
    x = torch.randn(6, 64, requires_grad=True)
    gy = torch.randn(6, 40)
    y = layer(x)
    np.testing.assert_array_equal(_bits(y), _bits(functional.linear(x, _fq(layer.weight, "mxint8"), layer.bias)))
    y.backward(gy)
    xr = x.detach().clone().requires_grad_()
    wq = _fq(layer.weight, "mxint8").requires_grad_()
    b = layer.bias.detach().clone().requires_grad_()
    functional.linear(xr, wq, b).backward(_fq(gy, "mxfp8_e5m2"))
    np.testing.assert_array_equal(_bits(layer.weight.grad), _bits(wq.grad))
    np.testing.assert_array_equal(_bits(x.grad), _bits(xr.grad))
    np.testing.assert_array_equal(_bits(layer.bias.grad), _bits(b.grad))
    assert not torch.equal(_fq(gy, "mxfp8_e5m2"), gy)


def test_mxlinear_rejects_non_mx_formats_and_bad_ste():
    with pytest.raises(mx.InputError, match="weight_format"):
        mxt.MXLinear(8, 8, weight_format="int4")
    with pytest.raises(mx.UnknownNameError):
        mxt.MXLinear(8, 8, input_format="mxfp5")
    with pytest.raises(mx.InputError, match="ste"):
        mxt.MXLinear(8, 8, ste="none")


def test_quantize_model_swaps_matching_linears_sharing_their_parameters():
    model = _model()
    originals = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    x = torch.randn(2, 64)
    handle = mxt.quantize_model(model, {"3": None, "re:[02](\\.0)?": {"weight_format": "mxint4",
                                                                       "input_format": "mxfp8_e4m3"}})
    assert sorted(handle.replaced) == ["0", "2.0"]
    assert type(model[0]) is mxt.MXLinear and type(model[2][0]) is mxt.MXLinear and type(model[3]) is torch.nn.Linear
    assert model[0].weight is originals["0"].weight and model[0].bias is originals["0"].bias
    assert model[2][0].weight is originals["2.0"].weight and model[2][0].bias is None
    assert model[0].input_format == "mxfp8_e4m3"
    h = functional.relu(functional.linear(_fq(x, "mxfp8_e4m3"), _fq(model[0].weight, "mxint4"), model[0].bias))
    h = functional.gelu(functional.linear(_fq(h, "mxfp8_e4m3"), _fq(model[2][0].weight, "mxint4")))
    np.testing.assert_array_equal(_bits(model(x)), _bits(model[3](h)))


def test_training_through_the_swap_updates_the_original_parameters_and_undo_restores_modules():
    model = _model()
    before = [(n, m) for n, m in model.named_modules()]
    params = list(model.parameters())
    handle = mxt.quantize_model(model, "mxint8")
    assert sorted(handle.replaced) == ["0", "2.0", "3"]
    weight_before = model[3].weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(4, 64)).square().sum().backward()
    opt.step()
    mxt.dequantize_model(model)
    after = [(n, m) for n, m in model.named_modules()]
    assert [n for n, _ in after] == [n for n, _ in before]
    assert all(a is b and type(a) is type(b) for (_, a), (_, b) in zip(after, before, strict=True))
    assert all(p is q for p, q in zip(model.parameters(), params, strict=True))
    assert not torch.equal(model[3].weight, weight_before)
    with pytest.raises(mx.InputError, match="not quantized"):
        mxt.dequantize_model(model)
    handle.undo()  # idempotent
    mxt.quantize_model(model, {"*": {"weight_format": "mxfp4_e2m1"}}).undo()


def test_fnmatch_patterns_and_first_match_wins():
    model = _model()
    handle = mxt.quantize_model(model, {"2.*": {"weight_format": "mxint2"}, "*": {"weight_format": "mxint8"}})
    assert model[2][0].weight_format == "mxint2" and model[0].weight_format == "mxint8"
    handle.undo()


def test_quantize_model_errors():
    model = _model()
    with pytest.raises(mx.InputError, match="no layer matches"):
        mxt.quantize_model(model, {"encoder.*": {}})
    with pytest.raises(mx.InputError, match="unknown MX layer option"):
        mxt.quantize_model(model, {"*": {"weight_fmt": "mxint8"}})
    with pytest.raises(mx.InputError, match="bad regular expression"):
        mxt.quantize_model(model, {"re:(": {}})
    with pytest.raises(mx.InputError, match="itself a Linear"):
        mxt.quantize_model(torch.nn.Linear(4, 4), "mxint8")
    assert all(type(m) is not mxt.MXLinear for m in model.modules())
    mxt.quantize_model(model, "mxint8")
    with pytest.raises(mx.InputError, match="already quantized"):
        mxt.quantize_model(model, "mxint4")
    model[0] = torch.nn.Identity()
    with pytest.raises(mx.InputError, match="replaced after quantize_model"):
        mxt.dequantize_model(model)


def test_set_format_switches_every_layer_without_rebuilding():
    model = _model()
    mxt.quantize_model(model, "mxint8")
    layers = mxt.mx_layers(model)
    x = torch.randn(2, 64)
    y8 = model(x)
    assert mxt.set_format(model, "mxint4") == {"0": "mxint8", "2.0": "mxint8", "3": "mxint8"}
    assert mxt.mx_layers(model) == layers and all(m.weight_format == "mxint4" for m in layers)
    y4 = model(x)
    assert not torch.equal(y4, y8)
    mxt.set_format(model, "mxint8")
    np.testing.assert_array_equal(_bits(model(x)), _bits(y8))
    with pytest.raises(mx.InputError, match="must be an MX block format"):
        mxt.set_format(model, "fp8_e4m3")
    with pytest.raises(mx.InputError, match="no MX layer"):
        mxt.set_format(_model(), "mxint4")


def test_use_format_restores_the_previous_formats_even_on_error():
    model = _model()
    mxt.quantize_model(model, {"3": {"weight_format": "mxfp8_e4m3"}, "*": {"weight_format": "mxint8"}})
    x = torch.randn(2, 64)
    with mxt.use_format(model, "mxint4"):
        y4 = model(x)
    assert [m.weight_format for m in mxt.mx_layers(model)] == ["mxint8", "mxint8", "mxfp8_e4m3"]
    mxt.set_format(model, "mxint4")
    np.testing.assert_array_equal(_bits(model(x)), _bits(y4))
    mxt.set_format(model, "mxint8")
    with pytest.raises(RuntimeError), mxt.use_format(model, "mxint2"):
        raise RuntimeError("inside")
    assert all(m.weight_format == "mxint8" for m in mxt.mx_layers(model))


def _raw(t):
    return t.detach().contiguous().view({torch.float32: torch.int32}.get(t.dtype, torch.int16)).numpy()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mxlinear_in_half_precision_is_linear_of_operands_fake_quantized_in_that_dtype(dtype):
    import ml_dtypes

    np_dtype = {torch.bfloat16: ml_dtypes.bfloat16, torch.float16: np.float16}[dtype]
    torch.manual_seed(4)
    layer = mxt.MXLinear(64, 16, weight_format="mxint4", input_format="mxfp8_e4m3").to(dtype)
    x = torch.randn(5, 64).to(dtype).requires_grad_()

    def fq(t, fmt):  # the numpy API on the same half-precision values
        a = mx.fake_quantize(t.detach().float().numpy().astype(np_dtype), fmt)
        return torch.from_numpy(a.astype(np.float32)).to(dtype)

    out = layer(x)
    assert out.dtype == dtype
    expected = functional.linear(fq(x, "mxfp8_e4m3"), fq(layer.weight, "mxint4"), layer.bias)
    np.testing.assert_array_equal(_raw(out), _raw(expected))
    out.float().sum().backward()
    assert x.grad.dtype == dtype and layer.weight.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()


def test_mxlinear_on_a_non_contiguous_input_equals_its_contiguous_copy():
    torch.manual_seed(5)
    layer = mxt.MXLinear(64, 8, weight_format="mxfp6_e2m3", input_format="mxfp4_e2m1")
    base = torch.randn(64, 12, requires_grad=True)
    view = base.t()[::2]  # 6 x 64, strided
    assert not view.is_contiguous()
    copy = view.detach().contiguous().requires_grad_()
    np.testing.assert_array_equal(_bits(layer(view)), _bits(layer(copy)))
    layer(view).square().sum().backward()
    layer(copy).square().sum().backward()
    np.testing.assert_array_equal(_bits(base.grad.t()[::2]), _bits(copy.grad))
    assert base.grad.t()[1::2].eq(0).all()


def test_mxlinear_under_no_grad_gives_the_same_output_and_no_graph():
    torch.manual_seed(6)
    layer = mxt.MXLinear(64, 8, weight_format="mxint4", input_format="mxint8", grad_format="mxfp8_e5m2")
    x = torch.randn(3, 64)
    with torch.no_grad():
        out = layer(x)
    assert out.grad_fn is None and not out.requires_grad
    np.testing.assert_array_equal(_bits(out), _bits(layer(x)))


def test_compiled_training_step_gives_the_outputs_and_gradients_of_eager():
    torch.manual_seed(7)
    model = torch.nn.Sequential(mxt.MXLinear(64, 32, weight_format="mxint4", input_format="mxfp8_e4m3",
                                             grad_format="mxfp8_e5m2"),
                                torch.nn.ReLU(), mxt.MXLinear(32, 10, weight_format="mxfp4_e2m1", ste="masked"))
    x = torch.randn(8, 64)
    compiled = torch.compile(model, backend="aot_eager")
    grads = []
    for m in (model, compiled):
        model.zero_grad()
        out = m(x)
        out.square().sum().backward()
        grads.append([_bits(out)] + [_bits(p.grad) for p in model.parameters()])
    for eager, comp in zip(*grads, strict=True):
        np.testing.assert_array_equal(comp, eager)
