"""MX fake quantization of the attention products (Q·Kᵀ and P·V operands) of transformers Llama and GPT-2:
equal, bit for bit, to attention written by hand from the same q, k, v; STE gradients; refusals."""

import copy

import pytest
import torch
import transformers
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

import mxemu.torch as mxt
from mxemu.errors import InputError
from mxemu.torch.attention import IMPLEMENTATION, SETTINGS

pytestmark = pytest.mark.filterwarnings("ignore:quantize_model left .lm_head.:UserWarning")  # GPT-2's tied head

# Models are built from small configs (nothing is downloaded), in float32 with eager math on both sides.


def _llama(seed=0):
    torch.manual_seed(seed)
    # grouped-query attention (4 query heads, 2 key/value heads), head_dim 32
    cfg = transformers.LlamaConfig(vocab_size=96, hidden_size=128, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(cfg).eval()


def _gpt2(seed=0, **extra):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=96, n_positions=64, n_embd=64, n_layer=2, n_head=2, attn_pdrop=0.0,
                                  resid_pdrop=0.0, embd_pdrop=0.0, **extra)
    return transformers.GPT2LMHeadModel(cfg).eval()


MODELS = {"llama": _llama, "gpt2": _gpt2}
ATTENTION = r"re:.*\.(self_attn|attn)"  # the attention modules' names; not their projections
IDS = (torch.arange(80).reshape(2, 40) * 7) % 96  # 40 keys: one full block of 32 and one partial block along P


def _config(fmt, policy=None, **extra):
    return {ATTENTION: {"weight_format": None, "input_format": fmt, "input_policy": policy, **extra}, "*": None}


def _hand_attention(fmt, policy=None, p_axis=-1, v_axis=-2):
    """Attention written out from the module's q, k, v (batch, heads, seq, head_dim): q and k fake-quantized
    along the head dimension, the float32 softmax, p along the key axis and v along the sequence axis."""

    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        groups = query.shape[1] // key.shape[1]
        q = mxt.fake_quantize(query, fmt, -1, policy)
        k = mxt.fake_quantize(key, fmt, -1, policy).repeat_interleave(groups, dim=1)
        v = mxt.fake_quantize(value, fmt, v_axis, policy).repeat_interleave(groups, dim=1)
        scores = q @ k.transpose(-1, -2) * (query.shape[-1] ** -0.5 if scaling is None else scaling)
        if attention_mask is not None:
            scores = scores + attention_mask
        p = torch.softmax(scores, dim=-1, dtype=torch.float32)
        return (mxt.fake_quantize(p, fmt, p_axis, policy) @ v).transpose(1, 2).contiguous(), p

    return attention


def _with_hand_attention(model, attention):
    AttentionInterface.register("hand_written", attention)
    AttentionMaskInterface.register("hand_written", eager_mask)
    model.set_attn_implementation("hand_written")
    return model


def _bits_equal(a, b):
    return torch.equal(a.view(torch.int32), b.view(torch.int32))


@pytest.mark.parametrize("arch", MODELS)
@pytest.mark.parametrize(("fmt", "policy"), [("mxfp8_e4m3", None), ("mxint4", None), ("mxfp4_e2m1", "torchao_rceil")])
def test_quantized_attention_equals_attention_written_by_hand_bit_for_bit(arch, fmt, policy):
    model = MODELS[arch]()
    handle = mxt.quantize_model(model, _config(fmt, policy), attention=True)
    assert sorted(handle.attention) == sorted(n for n, m in model.named_modules() if type(m).__name__.endswith(
        "Attention"))
    assert model.config._attn_implementation == IMPLEMENTATION
    reference = _with_hand_attention(MODELS[arch](), _hand_attention(fmt, policy))
    floats = MODELS[arch]()(IDS).logits
    with torch.no_grad():
        got, want = model(IDS).logits, reference(IDS).logits
    assert _bits_equal(got, want)
    assert not torch.equal(got, floats)  # the operands were quantized at all


@pytest.mark.parametrize("arch", MODELS)
@pytest.mark.parametrize("mutation", [{"v_axis": -1}, {"p_axis": -2}])
def test_a_reference_with_the_wrong_block_axis_differs(arch, mutation):
    model = MODELS[arch]()
    mxt.quantize_model(model, _config("mxint4"), attention=True)
    wrong = _with_hand_attention(MODELS[arch](), _hand_attention("mxint4", **mutation))
    with torch.no_grad():
        assert not torch.equal(model(IDS).logits, wrong(IDS).logits)


@pytest.mark.parametrize("arch", MODELS)
def test_gradients_flow_through_the_quantized_operands_by_the_straight_through_estimator(arch):
    model, reference = MODELS[arch](), _with_hand_attention(MODELS[arch](), _hand_attention("mxint4"))
    mxt.quantize_model(model, _config("mxint4"), attention=True)
    for m in (model, reference):
        m.train()
        m(IDS, labels=IDS).loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for n, p in reference.named_parameters():
        assert _bits_equal(grads[n], p.grad), n
    query = "model.layers.0.self_attn.q_proj.weight" if arch == "llama" else "transformer.h.0.attn.c_attn.weight"
    assert grads[query].abs().sum() > 0  # q reaches the loss only through Q·Kᵀ


@pytest.mark.parametrize("arch", MODELS)
def test_without_the_option_and_after_undo_the_attention_is_the_float_one(arch):
    floats = MODELS[arch]()(IDS).logits
    model = MODELS[arch]()
    before = model.config._attn_implementation
    handle = mxt.quantize_model(model, {"*": {"weight_format": None}})
    assert model.config._attn_implementation == before and not handle.attention
    assert not any(hasattr(m, SETTINGS) for m in model.modules())
    assert _bits_equal(model(IDS).logits, floats)
    handle.undo()
    handle = mxt.quantize_model(model, _config("mxint4"), attention=True)
    assert "attention Q.K^T and P.V operands in mxint4" in handle.report()
    handle.undo()
    assert model.config._attn_implementation == before
    assert not any(hasattr(m, SETTINGS) for m in model.modules())
    assert _bits_equal(model(IDS).logits, floats)


@pytest.mark.parametrize("arch", MODELS)
def test_set_format_and_use_format_switch_the_attention_operands(arch):
    model = MODELS[arch]()
    mxt.quantize_model(model, {"*": {"weight_format": None, "input_format": "mxfp8_e4m3"}}, attention=True)
    reference = MODELS[arch]()
    mxt.quantize_model(reference, {"*": {"weight_format": None, "input_format": "mxint4"}})
    _with_hand_attention(reference, _hand_attention("mxint4"))
    with torch.no_grad():
        at_fp8 = model(IDS).logits
        with mxt.use_format(model, input_format="mxint4"):
            assert _bits_equal(model(IDS).logits, reference(IDS).logits)
        assert _bits_equal(model(IDS).logits, at_fp8)
        mxt.set_format(model, input_format="mxint4")
        assert _bits_equal(model(IDS).logits, reference(IDS).logits)


def _bert():
    cfg = transformers.BertConfig(vocab_size=96, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=64)
    return transformers.BertModel(cfg).eval()


def _custom_implementation():
    model = _llama()
    AttentionInterface.register("someone_elses", _hand_attention("mxint8"))
    AttentionMaskInterface.register("someone_elses", eager_mask)
    model.set_attn_implementation("someone_elses")
    return model


@pytest.mark.parametrize(("build", "config", "match"), [
    (_custom_implementation, _config("mxint8"), "replaces the eager or sdpa attention"),
    (_bert, _config("mxint8"), "supports the attention of"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(32, 32)), "mxint8", "PreTrainedModel"),
    (lambda: _gpt2(add_cross_attention=True), _config("mxint8"), "cross-attention"),
    (_llama, {"*": {"weight_format": "mxint8"}}, "has none"),
    (_llama, {"*self_attn.*": {"input_format": "mxint8"}, "*": None}, "none matches"),
    (_llama, _config("mxint8", backend="cuda"), "backend"),
])
def test_attention_it_cannot_quantize_is_refused_and_the_model_left_as_it_was(build, config, match):
    model = build()
    before = [(n, type(m)) for n, m in model.named_modules()]
    implementation = getattr(getattr(model, "config", None), "_attn_implementation", None)
    with pytest.raises(InputError, match=match):
        mxt.quantize_model(model, config, attention=True)
    assert [(n, type(m)) for n, m in model.named_modules()] == before
    assert getattr(getattr(model, "config", None), "_attn_implementation", None) == implementation
    assert not any(hasattr(m, SETTINGS) for m in model.modules())


def test_attention_must_be_a_bool():
    with pytest.raises(InputError, match="attention must be True or False"):
        mxt.quantize_model(_llama(), _config("mxint8"), attention="yes")


@pytest.mark.parametrize("arch", MODELS)
def test_a_deep_copy_keeps_the_quantized_attention_and_dequantize_model_restores_it(arch):
    floats = MODELS[arch]()(IDS).logits
    model = MODELS[arch]()
    before = model.config._attn_implementation
    mxt.quantize_model(model, _config("mxint4"), attention=True)
    twin = copy.deepcopy(model)
    with torch.no_grad():
        assert _bits_equal(twin(IDS).logits, model(IDS).logits)
    mxt.dequantize_model(twin)
    assert twin.config._attn_implementation == before
    assert not any(hasattr(m, SETTINGS) for m in twin.modules())
    assert _bits_equal(twin(IDS).logits, floats)


def test_mfqat_with_activation_formats_switches_the_attention_operands():
    model = _llama()
    mxt.quantize_model(model, {"*": {"weight_format": "mxint8", "input_format": "mxint8"}}, attention=True)
    settings = getattr(model.model.layers[0].self_attn, SETTINGS)
    seen = []

    def compute_loss():
        seen.append(settings.fmt)
        return model(IDS, labels=IDS).loss

    recipe = mxt.MFQATRecipe([("mxint8", "mxint4"), ("mxint4", "mxfp8_e4m3")], rule="sum")
    recipe.loss(model, 0, compute_loss).backward()
    assert sorted(seen) == ["mxfp8_e4m3", "mxint4"] and settings.fmt == "mxint8"
