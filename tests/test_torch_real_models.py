"""MX layers on real architectures: transformers GPT-2 (Conv1D, tied head) and Llama, convolutions, embeddings,
weight + activation MF-QAT, anchors and state dicts that carry the formats, copies, and torch.compile (inductor)."""

import copy
import pickle
import warnings

import ml_dtypes
import numpy as np
import pytest
import torch
import transformers
from safetensors import safe_open
from torch.nn import functional

import mxemu as mx
import mxemu.torch as mxt
from mxemu.conversion import convert

WIDTHS = ["mxint8", "mxint6", "mxint4", "mxint3", "mxint2"]


def _bits(t):
    return t.detach().contiguous().view(torch.int32).numpy()


def _fq(t, fmt, axis=-1, policy=None):
    """The expected fake quantization, straight from the numpy API."""
    return torch.from_numpy(mx.fake_quantize(np.ascontiguousarray(t.detach().numpy()), fmt, axis, policy))


# The models are built from configs: nothing is downloaded.


def _gpt2(seed=0):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=96, n_positions=32, n_embd=64, n_layer=1, n_head=2)
    return transformers.GPT2LMHeadModel(cfg).eval()


def _llama(seed=0):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)
    return transformers.LlamaForCausalLM(cfg).eval()


IDS = torch.arange(24).reshape(2, 12) % 96


def test_gpt2_conv1d_layers_are_converted_and_the_head_tied_to_a_float_embedding_stays_float():
    model = _gpt2()
    with pytest.warns(UserWarning, match=r"'lm_head'.*tied to 'transformer\.wte'"):
        handle = mxt.quantize_model(model, "mxint4")
    convs = [n for n, m in model.named_modules() if isinstance(m, mxt.MXConv1D)]
    assert sorted(convs) == sorted(handle.replaced) == ["transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj",
                                                        "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj"]
    assert type(model.lm_head) is torch.nn.Linear and "tied" in handle.skipped["lm_head"]
    assert "embedding" in handle.skipped["transformer.wte"]
    assert "lm_head: left float" in handle.report()


def test_mx_conv1d_quantizes_its_weight_along_the_input_features():
    model = _gpt2()
    conv = model.transformer.h[0].mlp.c_fc
    mx_conv = mxt.MXConv1D.from_conv1d(conv, weight_format="mxint4", input_format="mxfp8_e4m3")
    assert mx_conv.weight is conv.weight and mx_conv.bias is conv.bias
    x = torch.randn(2, 5, 64)
    expected = torch.addmm(conv.bias, _fq(x, "mxfp8_e4m3").reshape(-1, 64), _fq(conv.weight, "mxint4", 0))
    np.testing.assert_array_equal(_bits(mx_conv(x)), _bits(expected.view(2, 5, -1)))
    np.testing.assert_array_equal(_bits(mx_conv.to_float()(x)), _bits(conv(x)))


@pytest.mark.parametrize("anchor_fmt", ["mxint8"])
def test_tied_weights_are_quantized_by_every_holder_and_the_anchor_serves_what_slice_aware_training_saw(
        tmp_path, anchor_fmt):
    model = _gpt2()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # embedding and head converted together: nothing left float by accident
        mxt.quantize_model(model, "mxint8", embeddings=True)
    assert isinstance(model.lm_head, mxt.MXLinear) and isinstance(model.transformer.wte, mxt.MXEmbedding)
    assert model.lm_head.weight is model.transformer.wte.weight
    path = mxt.save_anchor(model, tmp_path / "gpt2.safetensors", fmt=anchor_fmt)
    with safe_open(str(path), framework="pt") as fh:
        keys = set(fh.keys())
    assert "transformer.wte.weight::codes" in keys and not any(k.startswith("lm_head.weight") for k in keys)
    for fmt in WIDTHS:
        for m in mxt.mx_layers(model):
            m.weight_anchor = anchor_fmt  # what slice-aware MF-QAT trains with
        with mxt.use_format(model, fmt), torch.no_grad():
            trained = model(IDS).logits
        served = _gpt2(seed=1)  # a fresh float model: the anchor converts it
        mxt.load_anchor(served, path, runtime_format=fmt)
        assert served.lm_head.weight is served.transformer.wte.weight
        with torch.no_grad():
            np.testing.assert_array_equal(_bits(served(IDS).logits), _bits(trained), err_msg=fmt)


def test_an_anchor_never_writes_quantized_values_into_a_float_tied_embedding(tmp_path):
    model = _gpt2()
    with pytest.warns(UserWarning):
        mxt.quantize_model(model, "mxint8")
    wte = model.transformer.wte.weight.detach().clone()
    path = mxt.save_anchor(model, tmp_path / "a.safetensors")
    served = copy.deepcopy(model)
    mxt.load_anchor(served, path, runtime_format="mxint2")
    assert torch.equal(served.transformer.wte.weight, wte) and torch.equal(served.lm_head.weight, wte)


def test_weight_and_activation_anchor_round_trip_restores_activation_formats_into_a_fresh_float_model(tmp_path):
    model = _llama()
    mxt.quantize_model(model, {"lm_head": {"weight_format": "mxint8"},
                               "*": {"weight_format": "mxint8", "input_format": "mxfp8_e4m3",
                                     "input_policy": "torchao"}})
    path = mxt.save_anchor(model, tmp_path / "llama.safetensors")
    served = _llama(seed=5)
    mxt.load_anchor(served, path, runtime_format="mxint4")
    layers = dict(served.named_modules())
    assert layers["lm_head"].input_format is None
    q = layers["model.layers.0.mlp.down_proj"]
    assert isinstance(q, mxt.MXLinear) and q.input_format == "mxfp8_e4m3" and q.weight_format == "mxint4"
    assert q.input_policy == mx.get_policy("torchao")
    with mxt.use_format(model, "mxint4"):
        for m in mxt.mx_layers(model):
            m.weight_anchor = "mxint8"
        with torch.no_grad():
            np.testing.assert_array_equal(_bits(served(IDS).logits), _bits(model(IDS).logits))
    mxt.load_anchor(served, path, runtime_format="mxint6", input_format="mxint6")
    assert all(m.input_format == "mxint6" and m.weight_format == "mxint6" for m in mxt.mx_layers(served))


@pytest.mark.parametrize("dtype, np_dtype", [(torch.bfloat16, ml_dtypes.bfloat16), (torch.float16, np.float16),
                                             (torch.float32, np.float32)])
def test_a_float32_anchor_loads_into_a_model_of_any_float_dtype(tmp_path, dtype, np_dtype):
    model = _llama()
    mxt.quantize_model(model, "mxint8")
    path = mxt.save_anchor(model, tmp_path / "a.safetensors")
    served = _llama(seed=3).to(dtype)
    arrays = mxt.load_anchor(served, path, runtime_format="mxint4")
    w = served.get_parameter("model.layers.0.self_attn.q_proj.weight")
    assert w.dtype == dtype
    expected = convert(mx.quantize(model.get_parameter("model.layers.0.self_attn.q_proj.weight").detach().numpy(),
                                   "mxint8"), "mxint4", "slice_and_scale")
    np.testing.assert_array_equal(arrays["model.layers.0.self_attn.q_proj.weight"].codes, expected.codes)
    got = w.detach().float().numpy()
    np.testing.assert_array_equal(got, expected.dequantize(np_dtype).astype(np.float32))
    norm = served.get_parameter("model.norm.weight")
    assert norm.dtype == dtype and torch.equal(norm, model.get_parameter("model.norm.weight").detach().to(dtype))


def test_state_dict_carries_the_settings_into_a_fresh_float_model_and_an_mx_model():
    model = _llama()
    mxt.quantize_model(model, {"*.mlp.*": {"weight_format": "mxint4", "input_format": "mxint8", "ste": "masked"},
                               "*": {"weight_format": "mxfp6_e2m3", "weight_policy": "torchao"}})
    state = model.state_dict()
    fresh = _llama(seed=9)
    mxt.load_quantized_state_dict(fresh, state)
    for (n, a), (_, b) in zip(model.named_modules(), fresh.named_modules(), strict=True):
        assert type(a) is type(b), n
        if isinstance(a, mxt.MXLinear):
            assert a.quant_config() == b.quant_config(), n
    with torch.no_grad():
        np.testing.assert_array_equal(_bits(fresh(IDS).logits), _bits(model(IDS).logits))
    again = copy.deepcopy(model)
    mxt.set_format(again, "mxint2", input_format=None)
    again.load_state_dict(state)  # strict, between MX models: the settings come back
    assert [m.quant_config() for m in mxt.mx_layers(again)] == [m.quant_config() for m in mxt.mx_layers(model)]
    with pytest.raises(mx.InputError, match="MX config"):
        again.lm_head.set_extra_state({"weight_format": "mxint4", "colour": 1})


def test_save_pretrained_keeps_the_settings_and_they_come_back_into_the_float_model_from_pretrained(tmp_path):
    from safetensors.torch import load_file

    model = _llama()
    mxt.quantize_model(model, {"*": {"weight_format": "mxint4", "input_format": "mxint8", "input_policy": "torchao"}})
    model.save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    assert state["lm_head._extra_state"].dtype == torch.uint8
    fresh = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()  # float: the settings are left over
    assert not mxt.mx_layers(fresh)
    mxt.load_quantized_state_dict(fresh, state, strict=False)  # the file has no rotary buffers
    assert [m.quant_config() for m in mxt.mx_layers(fresh)] == [m.quant_config() for m in mxt.mx_layers(model)]
    with torch.no_grad():
        np.testing.assert_array_equal(_bits(fresh(IDS).logits), _bits(model(IDS).logits))
    with pytest.raises(mx.InputError, match="JSON"):
        fresh.lm_head.set_extra_state(torch.tensor([123, 34], dtype=torch.uint8))


def test_deepcopy_and_pickle_keep_the_layers_and_dequantize_model_works_on_a_copy():
    model = _llama()
    mxt.quantize_model(model, {"*": {"weight_format": "mxint4", "input_format": "mxint8"}})
    with torch.no_grad():
        y = model(IDS).logits
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert [m.quant_config() for m in mxt.mx_layers(clone)] == [m.quant_config() for m in mxt.mx_layers(model)]
        with torch.no_grad():
            np.testing.assert_array_equal(_bits(clone(IDS).logits), _bits(y))
        mxt.dequantize_model(clone)
        assert not mxt.mx_layers(clone) and type(clone.lm_head) is torch.nn.Linear
    mxt.dequantize_model(model)
    with pytest.raises(mx.InputError, match="no MX layer"):
        mxt.dequantize_model(model)


def test_conv2d_blocks_run_along_input_channels_and_grouped_convolutions_stay_float():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 8, 3, padding=1)
    layer = mxt.MXConv2d.from_conv(conv, weight_format="mxint4", input_format="mxfp6_e2m3")
    x = torch.randn(2, 64, 5, 5)
    expected = functional.conv2d(_fq(x, "mxfp6_e2m3", 1), _fq(conv.weight, "mxint4", 1), conv.bias, padding=1)
    np.testing.assert_array_equal(_bits(layer(x)), _bits(expected))
    net = torch.nn.Sequential(torch.nn.Conv1d(32, 64, 3), torch.nn.Conv1d(64, 64, 3, groups=2))
    with pytest.warns(UserWarning, match="grouped convolution"):
        handle = mxt.quantize_model(net, "mxint8")
    assert isinstance(net[0], mxt.MXConv1d) and type(net[1]) is torch.nn.Conv1d and "1" in handle.skipped
    y = net[0](torch.randn(32, 7))  # unbatched input: channels are axis 0
    assert y.shape == (64, 5)


def test_mx_embedding_returns_rows_of_the_quantized_table():
    emb = torch.nn.Embedding(10, 64)
    layer = mxt.MXEmbedding.from_embedding(emb, weight_format="mxfp4_e2m1")
    ids = torch.tensor([[3, 1, 3]])
    np.testing.assert_array_equal(_bits(layer(ids)), _bits(_fq(emb.weight, "mxfp4_e2m1")[ids]))
    with pytest.raises(mx.InputError, match="input_format"):
        mxt.MXEmbedding(10, 64, input_format="mxint8")


def test_weight_and_activation_recipe_trains_pairs_and_independent_sets():
    pairs = mxt.MFQATRecipe([("mxint8", "mxint8"), ("mxint4", "mxint8"), ("mxint2", None)], rule="sum")
    assert [f for f, _ in pairs.formats_for_step(0)] == [("mxint8", "mxint8"), ("mxint4", "mxint8"), ("mxint2", None)]
    indep = mxt.MFQATRecipe(["mxint8", "mxint4"], input_formats=["mxfp8_e4m3", None], weights=[3, 1],
                            input_weights=[1, 1], seed=2)
    assert indep.formats == [("mxint8", "mxfp8_e4m3"), ("mxint8", None), ("mxint4", "mxfp8_e4m3"), ("mxint4", None)]
    assert indep.weights == [3.0, 3.0, 1.0, 1.0]
    draws = [indep.formats_for_step(s)[0][0] for s in range(400)]
    assert set(draws) == set(indep.formats) and 0.65 < np.mean([w == "mxint8" for w, _ in draws]) < 0.85
    model = torch.nn.Sequential(mxt.MXLinear(32, 32, weight_format="mxint8"), mxt.MXLinear(32, 2))
    seen = []
    pairs.loss(model, 0, lambda: seen.append([(m.weight_format, m.input_format) for m in model]) or model(
        torch.randn(2, 32)).sum())
    assert seen == [[p, p] for p in [("mxint8", "mxint8"), ("mxint4", "mxint8"), ("mxint2", None)]]
    assert [(m.weight_format, m.input_format) for m in model] == [("mxint8", None), ("mxfp8_e4m3", None)]
    with pytest.raises(mx.InputError, match="pair"):
        mxt.MFQATRecipe([("mxint8",)])
    with pytest.raises(mx.InputError, match="input_formats only"):
        mxt.MFQATRecipe([("mxint8", "mxint8")], input_formats=["mxint8"])


def test_slice_aware_recipe_of_mxfp_formats_defaults_to_the_mxfp8_anchor():
    assert mxt.MFQATRecipe(["mxfp8_e4m3", "mxfp4_e2m1"], slice_aware=True).anchor == "mxfp8_e4m3"
    assert mxt.MFQATRecipe([("mxfp6_e2m3", "mxint8")], slice_aware=True).anchor == "mxfp8_e4m3"
    assert mxt.MFQATRecipe(["mxint4"], slice_aware=True).anchor == "mxint8"


def test_inductor_compiles_mx_layers_without_graph_breaks_and_bit_equal_to_eager():
    # Every float op here is exact or an extern GEMM (ReLU, bias-free matmuls), so the compiled graph
    # and eager agree bit for bit; inductor's own fusions of inexact ops (GELU, bias adds) may round
    # differently, which is not the quantizer's doing.
    torch.manual_seed(0)
    model = torch.nn.Sequential(mxt.MXLinear(64, 64, bias=False, weight_format="mxint4", input_format="mxfp8_e4m3"),
                                torch.nn.ReLU(),
                                mxt.MXLinear(64, 10, bias=False, weight_format="mxfp4_e2m1", input_format="mxint8",
                                             ste="masked"))
    x = torch.randn(8, 64) * 3
    explain = torch._dynamo.explain(model)(x)
    assert explain.graph_break_count == 0 and explain.graph_count == 1
    torch._dynamo.reset()
    compiled = torch.compile(model)  # the default backend: inductor
    np.testing.assert_array_equal(_bits(compiled(x)), _bits(model(x)))
    compiled(x).square().sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(x).square().sum().backward()
    for g, p in zip(grads, model.parameters(), strict=True):
        np.testing.assert_array_equal(_bits(g), _bits(p.grad))
    fn = torch.compile(lambda t: mxt.fake_quantize(t * 2, "mxfp6_e3m2", axis=0) + 1)
    np.testing.assert_array_equal(_bits(fn(x)), _bits(_fq(x * 2, "mxfp6_e3m2", 0) + 1))


def test_torch_func_grad_and_vmap_give_the_ste_gradient_and_the_per_member_result():
    torch.manual_seed(0)
    x = torch.randn(3, 64) * 4
    g = torch.func.grad(lambda t: mxt.fake_quantize(t, "mxint4", ste="masked").sum())(x[0])
    mask = torch.from_numpy(mxt.saturation_mask(x[0].numpy(), "mxint4"))
    assert torch.equal(g, (~mask).float())
    batched = torch.func.vmap(lambda t: mxt.fake_quantize(t, "mxfp4_e2m1"))(x)
    for row, got in zip(x, batched, strict=True):
        np.testing.assert_array_equal(_bits(got), _bits(_fq(row, "mxfp4_e2m1")))
    tiles = torch.randn(2, 64, 64)
    got = torch.func.vmap(lambda t: mxt.fake_quantize(t, "mxint8", axis=(0, 1)), in_dims=1)(tiles.movedim(0, 1))
    for i in range(2):
        np.testing.assert_array_equal(_bits(got[i]), _bits(_fq(tiles[i], "mxint8", (0, 1))))
    sr = mx.get_policy("ocp").replace(rounding="stochastic")
    with pytest.raises(mx.InputError, match="stochastic"):
        torch.func.vmap(lambda t: mxt.fake_quantize(t, "mxint4", policy=sr, seed=1))(x)
    with pytest.raises(mx.InputError, match=r"torch\.func"):
        torch.func.grad(lambda t: mxt.slice_fake_quantize(t, "mxint8", "mxint4").sum())(x[0])


@pytest.mark.parametrize("layout", ["to_sparse", "to_sparse_csr"])
def test_sparse_tensors_are_refused_with_a_typed_error(layout):
    t = getattr(torch.eye(32), layout)()
    with pytest.raises(mx.InputError, match="to_dense"):
        mxt.fake_quantize(t, "mxint8")
    with pytest.raises(mx.InputError, match="to_dense"):
        mxt.slice_fake_quantize(t, "mxint8", "mxint4")


@pytest.mark.parametrize("seed", [0, 7, np.int32(7), 2**63 - 1, 2**63, np.uint64(2**63 + 5), 2**64 - 1])
def test_stochastic_seeds_over_the_whole_64_bit_range_draw_what_the_numpy_api_draws(seed):
    # the op's schema takes an int64: seeds from 2^63 on travel as negative numbers and must come back
    sr = mx.get_policy("ocp").replace(rounding="stochastic")
    x = torch.randn(4, 64, generator=torch.Generator().manual_seed(1))
    expected = mx.fake_quantize(x.numpy(), "mxint4", policy=sr, seed=int(seed))
    np.testing.assert_array_equal(_bits(mxt.fake_quantize(x, "mxint4", policy=sr, seed=seed)), expected.view(np.int32))


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True, "1"])
def test_bad_seeds_are_refused_with_a_typed_error(seed):
    with pytest.raises(mx.InputError, match="seed"):
        mxt.fake_quantize(torch.ones(32), "mxint4", seed=seed)
