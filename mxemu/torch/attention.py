"""MX fake quantization of the operands of the two attention matrix products (Q·Kᵀ and P·V) of transformers models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from mxemu.errors import InputError
from mxemu.policy import Policy
from mxemu.torch.functional import fake_quantize

IMPLEMENTATION = "mxemu_eager"  # the name under which the quantizing attention is registered in transformers
SETTINGS = "mx_attention"  # the attribute of a hooked attention module that holds its AttentionQuant
# Attention classes whose forward hands (module, query, key, value, mask, scaling=, dropout=) to the function
# transformers' AttentionInterface holds for config._attn_implementation, with q, k, v as (batch, heads, seq, head_dim)
SUPPORTED = ("LlamaAttention", "GPT2Attention")
# implementations whose mask is the additive 4-D float mask the eager product takes (flash and flex take others)
REPLACEABLE = ("eager", "sdpa")


@dataclass
class AttentionQuant:
    """How one attention module quantizes its operands: MX format (None: float), policy, STE, backend, and
    the attention implementation the model ran before (restored by `unhook_attention`)."""

    fmt: str | None
    policy: Policy
    ste: str = "identity"
    backend: str = "auto"
    replaced: str = "eager"

    def __call__(self, t: torch.Tensor, axis: int) -> torch.Tensor:
        if self.fmt is None:
            return t
        return fake_quantize(t, self.fmt, axis, self.policy, self.ste, backend=self.backend)


def _repeat_heads(t: torch.Tensor, groups: int) -> torch.Tensor:
    """(batch, kv_heads, seq, dim) -> (batch, kv_heads·groups, seq, dim), each key/value head repeated
    `groups` times for grouped-query attention (as transformers' repeat_kv)."""
    if groups == 1:
        return t
    b, h, s, d = t.shape
    return t[:, :, None].expand(b, h, groups, s, d).reshape(b, h * groups, s, d)


def mx_eager_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                       attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                       **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' eager attention with MX fake-quantized operands: Q and K with blocks along the head
    dimension (the contraction axis of Q·Kᵀ), P (the softmax probabilities, after dropout) along the key
    axis and V along its sequence axis (the contraction axis of P·V). The softmax runs in float32 as in
    Llama's eager attention. Returns (output as (batch, seq, heads, head_dim), P before quantization)."""
    quant = getattr(module, SETTINGS, None)
    if not isinstance(quant, AttentionQuant):
        raise InputError(f"{type(module).__name__} runs attention {IMPLEMENTATION!r} but carries no MX attention "
                         "settings; convert the model with quantize_model(..., attention=True)")
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    groups = getattr(module, "num_key_value_groups", 1)
    # quantized before the heads are repeated: a repeated head holds the same blocks
    key = _repeat_heads(quant(key, -1), groups)
    value = _repeat_heads(quant(value, -2), groups)
    scores = torch.matmul(quant(query, -1), key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = functional.dropout(probs, p=dropout, training=module.training)
    out = torch.matmul(quant(probs, -1), value)
    return out.transpose(1, 2).contiguous(), probs


def _register() -> None:
    """Register the quantizing attention and its mask (the eager one) with transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(IMPLEMENTATION, mx_eager_attention)
    AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)


def attention_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The attention modules of `model` that carry MX attention settings, by qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(getattr(m, SETTINGS, None), AttentionQuant)}


def plan_attention(model: nn.Module) -> dict[str, nn.Module]:
    """The attention modules of transformers `model` that `hook_attention` can quantize, by qualified name;
    `InputError` for a model whose attention it cannot hook (so none is silently left in float)."""
    try:
        from transformers import PreTrainedModel
    except ImportError:
        raise InputError("attention=True quantizes transformers models; install transformers") from None
    if not isinstance(model, PreTrainedModel):
        raise InputError(f"attention=True takes a transformers PreTrainedModel, got {type(model).__name__}")
    found = {n: m for n, m in model.named_modules() if type(m).__name__ in SUPPORTED}
    unknown = sorted({type(m).__name__ for m in model.modules()
                      if type(m).__name__.endswith("Attention") and type(m).__name__ not in SUPPORTED})
    if unknown or not found:
        raise InputError(f"attention=True supports the attention of {', '.join(SUPPORTED)}; "
                         f"{type(model).__name__} has {', '.join(unknown) or 'none of them'}")
    impls = {m.config._attn_implementation for m in found.values()}
    if not impls <= set(REPLACEABLE):
        raise InputError(f"attention=True replaces the {' or '.join(REPLACEABLE)} attention implementation; the model "
                         f"runs {', '.join(sorted(map(str, impls)))}: load it with attn_implementation='eager'")
    cross = [n for n, m in found.items() if getattr(m, "is_cross_attention", False)]
    if cross:
        raise InputError(f"attention=True does not quantize cross-attention ({', '.join(cross)})")
    return found


def hook_attention(model: nn.Module, modules: dict[str, nn.Module], settings: dict[str, AttentionQuant]) -> str:
    """Give each module in `modules` its settings and switch `model` to the quantizing attention; returns
    the attention implementation it replaced (`unhook_attention` restores it)."""
    _register()
    previous = model.config._attn_implementation
    for name, m in modules.items():
        settings[name].replaced = previous
        setattr(m, SETTINGS, settings[name])
    model.set_attn_implementation(IMPLEMENTATION)
    stray = [n for n, m in modules.items() if m.config._attn_implementation != IMPLEMENTATION]
    if stray:
        unhook_attention(model)
        raise InputError(f"the attention implementation of {', '.join(stray)} could not be switched; "
                         "attention=True leaves the model as it was")
    return previous


def unhook_attention(model: nn.Module) -> None:
    """Remove the MX attention settings from `model` and switch it back to the attention implementation
    they replaced (also in a copy of a hooked model)."""
    modules = attention_modules(model)
    if not modules:
        return
    previous = getattr(next(iter(modules.values())), SETTINGS).replaced
    for m in modules.values():
        delattr(m, SETTINGS)
    model.set_attn_implementation(previous)


def set_attention_format(model: nn.Module, fmt: str | None) -> dict[str, str | None]:
    """Set the operand format of every hooked attention module of `model`; returns the previous ones."""
    modules = attention_modules(model)
    previous = {n: getattr(m, SETTINGS).fmt for n, m in modules.items()}
    for m in modules.values():
        getattr(m, SETTINGS).fmt = fmt
    return previous
