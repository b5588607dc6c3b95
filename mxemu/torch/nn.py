"""MX layers (linear, GPT-2 Conv1D, convolutions, embeddings), model conversion and runtime format switching."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn
from torch.nn import functional

import mxemu as mx
from mxemu.errors import InputError, MXError
from mxemu.policy import Policy
from mxemu.spec import MXFormat
from mxemu.torch.attention import (
    AttentionQuant,
    attention_modules,
    hook_attention,
    plan_attention,
    set_attention_format,
    unhook_attention,
)
from mxemu.torch.functional import (
    BACKENDS,
    _check_ste,
    fake_quantize,
    resolve_backend,
    slice_fake_quantize,
)

LAYER_OPTIONS = ("weight_format", "input_format", "weight_policy", "input_policy", "grad_format",
                 "grad_policy", "ste", "backend")


def _mx_name(fmt: object, what: str, optional: bool = False) -> str | None:
    """The canonical name of MX format `fmt` (None passes when optional)."""
    if fmt is None and optional:
        return None
    f = mx.get_format(fmt)
    if not isinstance(f, MXFormat):
        raise InputError(f"{what} must be an MX block format, got {f.name!r}")
    return f.name


class _GradQuantize(torch.autograd.Function):
    """Identity forward; the backward fake-quantizes the incoming gradient along its last axis."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor, fmt: str, policy: Policy, backend: str) -> torch.Tensor:
        ctx.fmt, ctx.policy, ctx.backend = fmt, policy, backend
        return t.view_as(t)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        return fake_quantize(grad, ctx.fmt, -1, ctx.policy, backend=ctx.backend), None, None, None


@torch.compiler.disable
def _quantize_grad(t: torch.Tensor, fmt: str, policy: Policy, backend: str) -> torch.Tensor:
    return _GradQuantize.apply(t, fmt, policy, backend)


M = TypeVar("M", bound=nn.Module)


def share_linear(linear: nn.Linear, build: Callable[[int, int, bool], M]) -> M:
    """A layer built by `build(in_features, out_features, has_bias)` on the meta device that takes over
    `linear`'s weight and bias Parameters (the same objects) and its train/eval mode.

    >>> lin = torch.nn.Linear(8, 2)
    >>> share_linear(lin, lambda i, o, b: torch.nn.Linear(i, o, bias=b, device="meta")).weight is lin.weight
    True
    """
    if not isinstance(linear, nn.Linear):
        raise InputError(f"from_linear takes an nn.Linear, got {type(linear).__name__}")
    m = build(linear.in_features, linear.out_features, linear.bias is not None)
    m.weight = linear.weight
    m.bias = linear.bias
    m.train(linear.training)
    return m


KEEP: Any = object()  # set_format / use_format: leave this setting as it is


class MXModule:
    """The MX settings every mxemu layer carries, and the fake quantization they drive.

    Subclasses say along which axis of their weight the blocks run (`WEIGHT_AXIS`: the reduction
    dimension of the product the layer computes) and of their input (`INPUT_AXIS`; None for layers
    whose input is not a number, nn.Embedding). The settings are part of the module state
    (`get_extra_state`), so `state_dict` / `load_state_dict` and `copy.deepcopy` carry them.

    >>> layer = MXLinear(32, 4, weight_format="mxint4")
    >>> isinstance(layer, MXModule), layer.quant_config()["weight_format"]
    (True, 'mxint4')
    """

    WEIGHT_AXIS: int = -1
    INPUT_AXIS: int | None = -1
    weight_anchor: str | None = None  # set by slice-aware MF-QAT: the weight is sliced from this anchor format
    weight: nn.Parameter

    def _set_options(self, weight_format: Any = None, input_format: Any = None, weight_policy: Any = None,
                     input_policy: Any = None, grad_format: Any = None, grad_policy: Any = None,
                     ste: str = "identity", backend: str = "auto") -> None:
        self.weight_format = _mx_name(weight_format, "weight_format", optional=True)
        self.input_format = _mx_name(input_format, "input_format", optional=True)
        self.grad_format = _mx_name(grad_format, "grad_format", optional=True)
        if self.INPUT_AXIS is None and (self.input_format or self.grad_format):
            raise InputError(f"{type(self).__name__} takes no input_format or grad_format (its input is indices)")
        self.weight_policy = mx.get_policy(weight_policy)
        self.input_policy = mx.get_policy(input_policy)
        self.grad_policy = mx.get_policy(grad_policy)
        self.ste = _check_ste(ste)
        if backend not in BACKENDS:
            raise InputError(f"backend must be one of {', '.join(repr(b) for b in BACKENDS)}, got {backend!r}")
        self.backend = backend

    def quantized_weight(self) -> torch.Tensor:
        """The weight as the forward uses it: fake-quantized in `weight_format` (or as is when None);
        with `weight_anchor` set, quantized in the anchor format and sliced to `weight_format`."""
        if self.weight_format is None:
            return self.weight
        if self.weight_anchor is not None:
            w = self.weight.movedim(self.WEIGHT_AXIS, -1)
            return slice_fake_quantize(w, self.weight_anchor, self.weight_format, self.weight_policy,
                                       self.ste).movedim(-1, self.WEIGHT_AXIS)
        return fake_quantize(self.weight, self.weight_format, self.WEIGHT_AXIS, self.weight_policy, self.ste,
                             backend=self.backend)

    def quantized_input(self, x: torch.Tensor, axis: int) -> torch.Tensor:
        """x fake-quantized in `input_format` with blocks along `axis` (as is when None)."""
        resolve_backend(x, self.backend, "input")
        if self.input_format is None:
            return x
        return fake_quantize(x, self.input_format, axis, self.input_policy, self.ste, backend=self.backend)

    def quantized_output(self, y: torch.Tensor) -> torch.Tensor:
        """y, whose gradient is fake-quantized in `grad_format` on the way back (blocks along its last axis)."""
        if self.grad_format is not None and y.requires_grad:
            return _quantize_grad(y, self.grad_format, self.grad_policy, self.backend)
        return y

    def quant_config(self) -> dict[str, Any]:
        """The MX settings as plain JSON-able values (policies as dicts); `apply_config` takes them back."""
        return {"weight_format": self.weight_format, "input_format": self.input_format,
                "grad_format": self.grad_format, "weight_policy": self.weight_policy.as_dict(),
                "input_policy": self.input_policy.as_dict(), "grad_policy": self.grad_policy.as_dict(),
                "ste": self.ste}

    def apply_config(self, config: Mapping[str, Any]) -> None:
        """Set the MX settings from `quant_config()` output (validated; unknown keys raise `InputError`)."""
        if not isinstance(config, Mapping) or set(config) - set(CONFIG_KEYS):
            raise InputError(f"a layer's MX config is a mapping with keys {', '.join(CONFIG_KEYS)}, got {config!r}")
        try:
            policies = {k: Policy.from_dict(dict(config[k])) if isinstance(config.get(k), Mapping) else config.get(k)
                        for k in ("weight_policy", "input_policy", "grad_policy")}
        except MXError as exc:
            raise InputError(f"a layer's MX config holds a bad policy: {exc}") from None
        self._set_options(config.get("weight_format"), config.get("input_format"), policies["weight_policy"],
                          policies["input_policy"], config.get("grad_format"), policies["grad_policy"],
                          config.get("ste", "identity"), self.backend)

    def get_extra_state(self) -> torch.Tensor:
        """The MX settings, stored in `state_dict()` under `<name>._extra_state` as the UTF-8 bytes of
        their JSON (a uint8 tensor, so safetensors files and `save_pretrained` keep it)."""
        return encode_config(self.quant_config())

    def set_extra_state(self, state: Any) -> None:
        """Restore the MX settings saved by `get_extra_state` (`load_state_dict`); a mapping is taken as is."""
        self.apply_config(state if isinstance(state, Mapping) else decode_config(state))

    def mx_repr(self) -> str:
        return (f"weight_format={self.weight_format}, input_format={self.input_format}, "
                f"grad_format={self.grad_format}, ste={self.ste}")


CONFIG_KEYS = ("weight_format", "input_format", "grad_format", "weight_policy", "input_policy", "grad_policy", "ste")
EXTRA_STATE = "._extra_state"
MAX_CONFIG_BYTES = 1 << 16  # a layer's settings are a few hundred bytes; refuse to parse anything much larger


def encode_config(config: Mapping[str, Any]) -> torch.Tensor:
    """A layer's MX settings as a uint8 tensor: the UTF-8 bytes of their canonical JSON."""
    data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def decode_config(state: object) -> dict[str, Any]:
    """Inverse of `encode_config`; anything else raises `InputError`."""
    if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8 or state.ndim != 1 or \
            state.numel() > MAX_CONFIG_BYTES:
        raise InputError(f"a layer's stored MX settings are a 1-D uint8 tensor of at most {MAX_CONFIG_BYTES} bytes, "
                         f"got {type(state).__name__}")
    try:
        config = json.loads(bytes(state.cpu().numpy()).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"a layer's stored MX settings are not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise InputError(f"a layer's stored MX settings must be a JSON object, got {config!r}")
    return config


class MXLinear(MXModule, nn.Linear):
    """nn.Linear whose weight (blocks along in_features) and optionally input (blocks along the last
    axis) are MX fake-quantized before the GEMM: y = functional.linear(fq(x), fq(W), b).

    `input_format=None` leaves activations in float (weight-only QAT); `weight_format=None` leaves
    the weight in float. `grad_format` fake-quantizes grad_output (blocks along its last axis, the
    output features) before both backward GEMMs. `ste` picks the straight-through estimator of
    `mxemu.torch.fake_quantize`, `backend` its kernels ("auto": Triton for CUDA tensors, numba
    otherwise). Formats can be switched at any time (`set_format`, `use_format`).

    >>> import torch
    >>> layer = MXLinear(64, 8, weight_format="mxint4", input_format="mxfp8_e4m3")
    >>> layer(torch.randn(2, 64)).shape
    torch.Size([2, 8])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 weight_format: str | MXFormat | None = "mxfp8_e4m3", input_format: str | MXFormat | None = None,
                 weight_policy: str | Policy | None = None, input_policy: str | Policy | None = None,
                 grad_format: str | MXFormat | None = None, grad_policy: str | Policy | None = None,
                 ste: str = "identity", device: Any = None, dtype: torch.dtype | None = None,
                 backend: str = "auto") -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._set_options(weight_format, input_format, weight_policy, input_policy, grad_format, grad_policy, ste,
                          backend)

    @classmethod
    def from_linear(cls, linear: nn.Linear, **options: Any) -> MXLinear:
        """An MXLinear sharing `linear`'s weight and bias Parameters (the same objects, not copies).

        >>> lin = torch.nn.Linear(32, 4)
        >>> MXLinear.from_linear(lin, weight_format="mxint8").weight is lin.weight
        True
        """
        _check_options(options)
        return share_linear(linear, lambda n_in, n_out, bias: cls(n_in, n_out, bias=bias, device="meta", **options))

    def to_float(self) -> nn.Linear:
        """An nn.Linear sharing this layer's Parameters."""
        return share_linear(self, lambda n_in, n_out, bias: nn.Linear(n_in, n_out, bias=bias, device="meta"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quantized_input(x, -1)
        return self.quantized_output(functional.linear(x, self.quantized_weight(), self.bias))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.mx_repr()}"


class MXConv1D(MXModule, nn.Module):
    """transformers' `Conv1D` (GPT-2's linear layer: y = x·W + b with W of shape (in, out)) with MX fake
    quantization; the weight's blocks run along its axis 0 (the input features), the input's along its last.

    >>> layer = MXConv1D(64, 8, weight_format="mxint4")
    >>> layer(torch.randn(2, 3, 64)).shape
    torch.Size([2, 3, 8])
    """

    WEIGHT_AXIS = 0

    def __init__(self, nx: int, nf: int, weight_format: str | MXFormat | None = "mxfp8_e4m3", device: Any = None,
                 dtype: torch.dtype | None = None, **options: Any) -> None:
        super().__init__()
        self.nx, self.nf = nx, nf
        self.weight = nn.Parameter(torch.empty(nx, nf, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(nf, device=device, dtype=dtype))
        _check_options(options)
        self._set_options(weight_format, **options)

    @classmethod
    def from_conv1d(cls, conv: nn.Module, **options: Any) -> MXConv1D:
        """An MXConv1D sharing the Parameters of a transformers `Conv1D`."""
        m = cls(conv.weight.shape[0], conv.weight.shape[1], device="meta", **options)
        m.weight, m.bias = conv.weight, conv.bias
        m.train(conv.training)
        return m

    def to_float(self) -> nn.Module:
        """A transformers `Conv1D` sharing this layer's Parameters."""
        from transformers.pytorch_utils import Conv1D

        m = Conv1D(self.nf, self.nx)
        m.weight, m.bias = self.weight, self.bias
        m.train(self.training)
        return m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quantized_input(x, -1)
        y = torch.addmm(self.bias, x.reshape(-1, self.nx), self.quantized_weight())
        return self.quantized_output(y.view(*x.shape[:-1], self.nf))

    def extra_repr(self) -> str:
        return f"nx={self.nx}, nf={self.nf}, {self.mx_repr()}"


class _MXConvNd(MXModule):
    """Shared forward of MXConv1d / MXConv2d: blocks along the input channels of weight and input."""

    WEIGHT_AXIS = 1
    FLOAT: type[nn.Module]

    def __init__(self, *args: Any, weight_format: str | MXFormat | None = "mxfp8_e4m3", **kwargs: Any) -> None:
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in LAYER_OPTIONS}
        super().__init__(*args, **kwargs)
        if self.groups != 1:
            raise InputError(f"{type(self).__name__} needs groups=1 (blocks run along all input channels), "
                             f"got groups={self.groups}")
        self._set_options(weight_format, **options)

    @classmethod
    def from_conv(cls, conv: nn.Module, **options: Any) -> _MXConvNd:
        """An MX convolution sharing `conv`'s Parameters (groups=1 only)."""
        _check_options(options)
        m = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                conv.groups, conv.bias is not None, conv.padding_mode, device="meta", **options)
        m.weight, m.bias = conv.weight, conv.bias
        m.train(conv.training)
        return m

    def to_float(self) -> nn.Module:
        """The torch convolution sharing this layer's Parameters."""
        m = self.FLOAT(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                       self.dilation, self.groups, self.bias is not None, self.padding_mode, device="meta")
        m.weight, m.bias = self.weight, self.bias
        m.train(self.training)
        return m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quantized_input(x, 1 if x.ndim == self.weight.ndim else 0)  # batched or unbatched input
        return self.quantized_output(self._conv_forward(x, self.quantized_weight(), self.bias))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.mx_repr()}"


class MXConv1d(_MXConvNd, nn.Conv1d):
    """nn.Conv1d with MX fake quantization; blocks along the input channels of the weight and the input.

    >>> MXConv1d(32, 4, 3, weight_format="mxint8")(torch.randn(2, 32, 10)).shape
    torch.Size([2, 4, 8])
    """

    FLOAT = nn.Conv1d


class MXConv2d(_MXConvNd, nn.Conv2d):
    """nn.Conv2d with MX fake quantization; blocks along the input channels of the weight and the input.

    >>> MXConv2d(32, 4, 3, weight_format="mxint8")(torch.randn(1, 32, 5, 5)).shape
    torch.Size([1, 4, 3, 3])
    """

    FLOAT = nn.Conv2d


class MXEmbedding(MXModule, nn.Embedding):
    """nn.Embedding whose table is MX fake-quantized (blocks along the embedding dimension, as a tied
    output head's weight); the input is indices, so there is no input or gradient format.

    >>> MXEmbedding(10, 32, weight_format="mxint4")(torch.tensor([[1, 2]])).shape
    torch.Size([1, 2, 32])
    """

    INPUT_AXIS = None

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 weight_format: str | MXFormat | None = "mxfp8_e4m3", device: Any = None,
                 dtype: torch.dtype | None = None, **options: Any) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx, device=device, dtype=dtype)
        _check_options(options)
        self._set_options(weight_format, **options)

    @classmethod
    def from_embedding(cls, emb: nn.Embedding, **options: Any) -> MXEmbedding:
        """An MXEmbedding sharing `emb`'s weight (max_norm and sparse gradients are not supported)."""
        if emb.max_norm is not None or emb.sparse or emb.scale_grad_by_freq:
            raise InputError("MXEmbedding takes embeddings without max_norm, sparse or scale_grad_by_freq")
        m = cls(emb.num_embeddings, emb.embedding_dim, emb.padding_idx, device="meta", **options)
        m.weight = emb.weight
        m.train(emb.training)
        return m

    def to_float(self) -> nn.Embedding:
        """An nn.Embedding sharing this layer's weight."""
        m = nn.Embedding(self.num_embeddings, self.embedding_dim, self.padding_idx, device="meta")
        m.weight = self.weight
        m.train(self.training)
        return m

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return functional.embedding(ids, self.quantized_weight(), self.padding_idx)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.mx_repr()}"


def _check_options(options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(LAYER_OPTIONS))
    if unknown:
        raise InputError(f"unknown MX layer option(s) {unknown}; accepted: {', '.join(LAYER_OPTIONS)}")


def _is_hf_conv1d(m: nn.Module) -> bool:
    return type(m).__name__ == "Conv1D" and type(m).__module__.startswith("transformers") and \
        isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.ndim == 2


def _converter(m: nn.Module, embeddings: bool) -> tuple[Callable[..., MXModule] | None, str]:
    """How to convert module m (a builder taking the layer options), or None and why not."""
    if isinstance(m, MXModule):
        return None, "already an MX layer"
    if isinstance(m, nn.Linear):
        return MXLinear.from_linear, ""
    if _is_hf_conv1d(m):
        return MXConv1D.from_conv1d, ""
    if isinstance(m, (nn.Conv1d, nn.Conv2d)) and not isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
        if m.groups != 1:
            return None, f"grouped convolution (groups={m.groups}): blocks would cross groups"
        return (MXConv1d if isinstance(m, nn.Conv1d) else MXConv2d).from_conv, ""
    if isinstance(m, nn.Embedding):
        if not embeddings:
            return None, "embedding (pass embeddings=True to quantize embeddings)"
        if m.max_norm is not None or m.sparse or m.scale_grad_by_freq:
            return None, "embedding with max_norm, sparse or scale_grad_by_freq"
        return MXEmbedding.from_embedding, ""
    return None, f"{type(m).__name__} is not a layer type mxemu converts"


def _linear_like(m: nn.Module) -> bool:
    """A module that multiplies by a matrix of its own: a weight Parameter of 2 or more dimensions."""
    w = m._parameters.get("weight")
    return isinstance(w, torch.Tensor) and w.ndim >= 2 and not isinstance(m, nn.Embedding)


@dataclass
class QuantizeHandle:
    """What `quantize_model` replaced: qualified name -> (original module, MX layer); `skipped`: qualified
    name -> why a matrix-holding module was left in float; `attention`: qualified name -> the settings of
    an attention module whose Q·Kᵀ and P·V operands are fake-quantized (`quantize_model(..., attention=True)`).
    `undo()` reverts.

    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 8))
    >>> handle = quantize_model(model, "mxint4")
    >>> list(handle.replaced), type(model[0]).__name__
    (['0'], 'MXLinear')
    >>> handle.undo(); type(model[0]).__name__
    'Linear'
    """

    model: nn.Module
    replaced: dict[str, tuple[nn.Module, MXModule]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    attention: dict[str, AttentionQuant] = field(default_factory=dict)
    attention_before: str | None = None  # the attention implementation attention=True replaced

    def report(self) -> str:
        """One line per converted layer (its MX class and formats), per attention module whose operands are
        quantized and per module left in float (why)."""
        lines = [f"{n}: {type(new).__name__} weight={new.weight_format} input={new.input_format}"
                 for n, (_, new) in self.replaced.items()]
        lines += [f"{n}: attention Q.K^T and P.V operands in {q.fmt} (replacing {self.attention_before} attention)"
                  for n, q in self.attention.items()]
        lines += [f"{n}: left float ({why})" for n, why in self.skipped.items()]
        return "\n".join(lines)

    def undo(self) -> None:
        """Put every original module back in its place (the same objects); idempotent.

        >>> model = torch.nn.Sequential(torch.nn.Linear(32, 4))
        >>> handle = quantize_model(model, "mxint8"); handle.undo(); type(model[0]).__name__
        'Linear'
        """
        for name, (_, new) in self.replaced.items():
            parent, child = _parent(self.model, name)
            if getattr(parent, child) is not new:
                raise InputError(f"module {name!r} was replaced after quantize_model; cannot restore it")
        for name, (orig, _) in self.replaced.items():
            parent, child = _parent(self.model, name)
            setattr(parent, child, orig)
        self.replaced = {}
        if self.attention:
            unhook_attention(self.model)
            self.attention = {}
        _HANDLES.pop(self.model, None)


_HANDLES: weakref.WeakKeyDictionary[nn.Module, QuantizeHandle] = weakref.WeakKeyDictionary()


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    path, _, child = name.rpartition(".")
    return (model.get_submodule(path) if path else model), child


def _matcher(pattern: str) -> Any:
    if not isinstance(pattern, str):
        raise InputError(f"config keys must be strings (fnmatch patterns, or 're:' + a regex), got {pattern!r}")
    if pattern.startswith("re:"):
        try:
            rx = re.compile(pattern[3:])
        except re.error as exc:
            raise InputError(f"bad regular expression {pattern[3:]!r}: {exc}") from None
        return lambda name: rx.fullmatch(name) is not None
    return lambda name: fnmatch.fnmatchcase(name, pattern)


def _holders(model: nn.Module) -> dict[int, list[tuple[str, nn.Module]]]:
    """id(Parameter) -> every (qualified name, module) holding it directly (tied weights have several)."""
    out: dict[int, list[tuple[str, nn.Module]]] = {}
    for name, m in model.named_modules(remove_duplicate=False):
        for p in m._parameters.values():
            if p is not None:
                out.setdefault(id(p), []).append((name, m))
    return out


def _weight_key(m: nn.Module, opts: Mapping[str, Any], axis: int) -> tuple:
    """What decides the quantized values of a weight: its format, policy and block axis."""
    return (_mx_name(opts.get("weight_format", "mxfp8_e4m3"), "weight_format", optional=True),
            mx.get_policy(opts.get("weight_policy")), axis % m.weight.ndim)


def quantize_model(model: nn.Module, config: str | Mapping[str, Mapping[str, Any] | None],
                   embeddings: bool = False, attention: bool = False) -> QuantizeHandle:
    """Swap the matrix layers of `model` whose qualified names match `config` for MX layers sharing the
    same Parameters; returns a handle (what was converted, what was left in float and why; `undo()`).

    Converted: nn.Linear → `MXLinear`, transformers' Conv1D → `MXConv1D`, nn.Conv1d / nn.Conv2d
    (groups=1) → `MXConv1d` / `MXConv2d`, and with `embeddings=True` nn.Embedding → `MXEmbedding`
    (weight only). `config` maps patterns to layer options (`weight_format`, `input_format`,
    `weight_policy`, `input_policy`, `grad_format`, `grad_policy`, `ste`, `backend`); the first
    matching pattern (in the mapping's order) decides, and a value of None leaves the layer alone. A
    pattern is an fnmatch pattern on the qualified name (`"encoder.*"`), or a full-match regex after
    `"re:"`. A plain string is shorthand for `{"*": {"weight_format": config}}`.

    A weight held by several modules (tied embeddings and output head) is quantized by all of them
    with the same format, policy and block axis, or left in float for all of them. Every module
    holding a matrix that stays float although no pattern mapped it to None (a tie to an
    unconverted module, a grouped convolution, an unknown layer type) raises a `UserWarning`.
    `dequantize_model(model)` is `handle.undo()`. Hooks registered on the original layers do not
    run while they are swapped out.

    `attention=True` (transformers Llama and GPT-2 attention) also fake-quantizes the operands of the
    two attention products of every attention module: Q and K with blocks along the head dimension, the
    softmax probabilities P along the key axis and V along its sequence axis (the contraction axes), in
    the `input_format`, `input_policy`, `ste` and `backend` of the pattern matching the attention
    module's name (e.g. `model.layers.0.self_attn`). The model then runs `mxemu.torch.attention`'s eager
    attention in place of its eager or sdpa one; other models and implementations raise `InputError`.

    >>> model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    >>> handle = quantize_model(model, {"2": None, "*": {"weight_format": "mxint4"}})
    >>> sorted(handle.replaced), type(model[2]).__name__
    (['0'], 'Linear')
    >>> dequantize_model(model)
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(config, str):
        config = {"*": {"weight_format": config}}
    if not isinstance(config, Mapping) or not config:
        raise InputError("config must be a format name or a non-empty mapping of name patterns to layer options")
    if not isinstance(embeddings, bool):
        raise InputError(f"embeddings must be True or False, got {embeddings!r}")
    if not isinstance(attention, bool):
        raise InputError(f"attention must be True or False, got {attention!r}")
    if model in _HANDLES:
        raise InputError("model is already quantized by quantize_model; call dequantize_model(model) first")
    rules = [(_matcher(p), opts) for p, opts in config.items()]
    for p, opts in config.items():
        if opts is not None and not isinstance(opts, Mapping):
            raise InputError(f"config[{p!r}] must be a mapping of layer options or None, got {opts!r}")
        if opts is not None:
            _check_options(opts)
    if _converter(model, embeddings)[0] is not None:
        raise InputError(f"model is itself a {type(model).__name__}; use MXLinear.from_linear (or the other MX "
                         "layers' constructors) instead")
    handle = QuantizeHandle(model)
    attn = _attention_settings(model, rules) if attention else {}
    plan: dict[str, tuple[nn.Module, Callable[..., MXModule], dict[str, Any]]] = {}
    unintended: dict[str, str] = {}
    for name, module in model.named_modules():
        if not name:
            continue
        build, why = _converter(module, embeddings)
        matched = next(((True, o) for match, o in rules if match(name)), (False, None))
        if build is None:
            if _linear_like(module) and why != "already an MX layer":
                unintended[name] = why
            elif isinstance(module, nn.Embedding) and not isinstance(module, MXModule):
                handle.skipped[name] = why
            continue
        if matched[1] is None:
            handle.skipped[name] = "no pattern matches" if not matched[0] else "mapped to None"
            continue
        opts = dict(matched[1])
        if isinstance(module, nn.Embedding):  # indices in, no input or gradient to quantize
            opts = {k: v for k, v in opts.items() if k not in ("input_format", "input_policy", "grad_format",
                                                               "grad_policy")}
        plan[name] = (module, build, opts)
    _untie(model, plan, handle.skipped, unintended)
    new = {name: build(module, **opts) for name, (module, build, opts) in plan.items()}
    if not new and not attn:
        raise InputError(f"no layer matches {list(config)}; the model's layers:\n{handle.report()}")
    for name, m in new.items():
        handle.replaced[name] = (plan[name][0], m)
        parent, child = _parent(model, name)
        setattr(parent, child, m)
    if attn:
        modules = {n: model.get_submodule(n) for n in attn}
        try:
            handle.attention_before = hook_attention(model, modules, attn)
        except InputError:
            handle.undo()
            raise
        handle.attention = attn
    handle.skipped.update(unintended)
    for name, why in unintended.items():
        warnings.warn(f"quantize_model left {name!r} ({type(model.get_submodule(name)).__name__}) in float: {why}",
                      UserWarning, stacklevel=2)
    _HANDLES[model] = handle
    return handle


def _attention_settings(model: nn.Module, rules: list[tuple[Any, Any]]) -> dict[str, AttentionQuant]:
    """The operand settings of each attention module of `model`: the input settings of the first pattern
    matching its name; `InputError` where none gives an input format (the operands would stay float)."""
    out = {}
    for name in plan_attention(model):
        opts = next((o for match, o in rules if match(name)), None)
        if opts is None or opts.get("input_format") is None:
            raise InputError(f"attention=True quantizes {name!r}'s operands in the input_format of the pattern "
                             f"matching its name, and {'none matches' if opts is None else 'it has none'}")
        out[name] = AttentionQuant(_mx_name(opts["input_format"], "input_format"), mx.get_policy(
            opts.get("input_policy")), _check_ste(opts.get("ste", "identity")), opts.get("backend", "auto"))
        if out[name].backend not in BACKENDS:
            raise InputError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {out[name].backend!r}")
    return out


def _untie(model: nn.Module, plan: dict[str, Any], skipped: dict[str, str], unintended: dict[str, str]) -> None:
    """Drop from `plan` every layer whose weight is also held by a module that would quantize it otherwise
    (or not at all): tied weights are quantized identically by all their holders, or by none."""
    axes = {MXLinear.from_linear: MXLinear.WEIGHT_AXIS, MXConv1D.from_conv1d: MXConv1D.WEIGHT_AXIS,
            MXEmbedding.from_embedding: MXEmbedding.WEIGHT_AXIS}
    for name, holders in ((n, h) for h in _holders(model).values() if len(h) > 1 for n, _ in h):
        if name not in plan:
            continue
        others = [n for n, _ in holders if n != name]
        keys = {_weight_key(plan[n][0], plan[n][2], axes.get(plan[n][1], _MXConvNd.WEIGHT_AXIS))
                for n, _ in holders if n in plan}
        if all(n in plan for n in others) and len(keys) == 1:
            continue
        why = (f"weight tied to {', '.join(repr(n) for n in others)}, which "
               + ("would quantize it differently" if all(n in plan for n in others) else "stays float"))
        for n, _ in holders:
            if n in plan:
                del plan[n]
                unintended[n] = why


def dequantize_model(model: nn.Module) -> None:
    """Undo `quantize_model(model, ...)`: the original layers (the same objects) go back in place; in a
    copy of a quantized model (deepcopy, pickle) each MX layer becomes its float type, sharing its Parameters,
    and quantized attention goes back to the implementation it replaced.

    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 4))
    >>> _ = quantize_model(model, "mxint8"); dequantize_model(model); type(model[0]).__name__
    'Linear'
    """
    handle = _HANDLES.get(model)
    if handle is not None:
        handle.undo()
        return
    layers = {n: m for n, m in model.named_modules() if n and isinstance(m, MXModule)}
    if not layers and not attention_modules(model):
        raise InputError("model holds no MX layer (it was not quantized, or was already restored)")
    unhook_attention(model)
    for name, m in layers.items():
        parent, child = _parent(model, name)
        setattr(parent, child, m.to_float())


def mx_layers(model: nn.Module) -> list[MXModule]:
    """Every MX layer (MXLinear, MXConv1D, MXConv1d/2d, MXEmbedding) in `model` (itself included), in module order.

    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> _ = quantize_model(model, "mxint8")
    >>> [layer.weight_format for layer in mx_layers(model)]
    ['mxint8', 'mxint8']
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [m for m in model.modules() if isinstance(m, MXModule)]


def set_format(model: nn.Module, fmt: str | MXFormat | None = KEEP, *,
               input_format: str | MXFormat | None = KEEP) -> dict[str, str | None]:
    """Set the weight format (`fmt`) and/or the input format of every MX layer in `model` (an argument
    left out keeps the current setting; layers whose input is indices keep no input format; the input
    format also applies to the attention operands of `quantize_model(..., attention=True)`); returns
    the previous weight formats by qualified name.

    >>> model = torch.nn.Sequential(MXLinear(32, 4, weight_format="mxint8"))
    >>> set_format(model, "mxint4", input_format="mxint8"), model[0].weight_format, model[0].input_format
    ({'0': 'mxint8'}, 'mxint4', 'mxint8')
    """
    weight = KEEP if fmt is KEEP else _mx_name(fmt, "fmt", optional=True)
    act = KEEP if input_format is KEEP else _mx_name(input_format, "input_format", optional=True)
    mx_layers(model)  # checks the type
    layers = {n: m for n, m in model.named_modules() if isinstance(m, MXModule)}
    if not layers:
        raise InputError("model holds no MX layer (convert it with quantize_model first)")
    previous = {n: m.weight_format for n, m in layers.items()}
    for m in layers.values():
        if weight is not KEEP:
            m.weight_format = weight
        if act is not KEEP and m.INPUT_AXIS is not None:
            m.input_format = act
    if act is not KEEP:
        set_attention_format(model, act)
    return previous


@contextlib.contextmanager
def use_format(model: nn.Module, fmt: str | MXFormat | None = KEEP, *,
               input_format: str | MXFormat | None = KEEP) -> Iterator[nn.Module]:
    """Run `model` with every MX layer's weight (and/or input) format set as `set_format` does; the
    previous formats come back on exit.

    >>> model = torch.nn.Sequential(MXLinear(32, 4, weight_format="mxint8"))
    >>> with use_format(model, "mxint2", input_format="mxint4"):
    ...     inside = model[0].weight_format, model[0].input_format
    >>> inside, model[0].weight_format, model[0].input_format
    (('mxint2', 'mxint4'), 'mxint8', None)
    """
    previous = {n: (m.weight_format, m.input_format) for n, m in model.named_modules() if isinstance(m, MXModule)}
    attention = {n: m.mx_attention.fmt for n, m in attention_modules(model).items()}
    set_format(model, fmt, input_format=input_format)
    try:
        yield model
    finally:
        for n, m in model.named_modules():
            if n in previous and isinstance(m, MXModule):
                m.weight_format, m.input_format = previous[n]
            if n in attention:
                m.mx_attention.fmt = attention[n]


def quantized_configs(state_dict: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The MX layer settings stored in a state dict (`<name>._extra_state` uint8 entries), by layer name."""
    out = {}
    for k, v in state_dict.items():
        if k.endswith(EXTRA_STATE) and isinstance(v, torch.Tensor) and v.dtype == torch.uint8:
            config = decode_config(v)
            if set(config) <= set(CONFIG_KEYS) and "weight_format" in config:
                out[k[:-len(EXTRA_STATE)]] = config
    return out


def apply_configs(model: nn.Module, configs: Mapping[str, Mapping[str, Any]]) -> None:
    """Give each named layer of `model` the stored MX settings, converting float layers first (tied
    weights as `quantize_model` handles them); every other layer is left as it is."""
    float_layers = {n: m for n, m in model.named_modules() if n in configs and not isinstance(m, MXModule)}
    missing = sorted(set(configs) - {n for n, _ in model.named_modules()})
    if missing:
        raise InputError(f"the model has no module {missing} that the stored settings name")
    if float_layers:
        embeddings = any(isinstance(m, nn.Embedding) for m in float_layers.values())
        rules = {n: {"weight_format": configs[n].get("weight_format")} for n in float_layers}
        quantize_model(model, {**rules, "*": None}, embeddings=embeddings)
    for n, m in model.named_modules():
        if n in configs:
            m.apply_config(configs[n])


def load_quantized_state_dict(model: nn.Module, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
    """`model.load_state_dict(state_dict)` for a state dict saved from a quantized model: every float layer
    of `model` the state dict stores MX settings for is converted first (as `quantize_model` does), so a
    freshly built float model comes back with the saved formats and policies.

    >>> src = torch.nn.Sequential(torch.nn.Linear(32, 4)); _ = quantize_model(src, "mxint4")
    >>> fresh = torch.nn.Sequential(torch.nn.Linear(32, 4))
    >>> _ = load_quantized_state_dict(fresh, src.state_dict()); fresh[0].weight_format
    'mxint4'
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(state_dict, Mapping):
        raise InputError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
    apply_configs(model, quantized_configs(state_dict))
    return model.load_state_dict(state_dict, strict=strict)
