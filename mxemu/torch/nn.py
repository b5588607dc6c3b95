"""MXLinear, model conversion (quantize_model / dequantize_model) and runtime format switching."""

from __future__ import annotations

import contextlib
import fnmatch
import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn
from torch.nn import functional

import mxemu as mx
from mxemu.errors import InputError
from mxemu.policy import Policy
from mxemu.spec import MXFormat
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


class MXLinear(nn.Linear):
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

    weight_anchor: str | None = None  # set by slice-aware MF-QAT: the weight is sliced from this anchor format

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 weight_format: str | MXFormat | None = "mxfp8_e4m3", input_format: str | MXFormat | None = None,
                 weight_policy: str | Policy | None = None, input_policy: str | Policy | None = None,
                 grad_format: str | MXFormat | None = None, grad_policy: str | Policy | None = None,
                 ste: str = "identity", device: Any = None, dtype: torch.dtype | None = None,
                 backend: str = "auto") -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.weight_format = _mx_name(weight_format, "weight_format", optional=True)
        self.input_format = _mx_name(input_format, "input_format", optional=True)
        self.grad_format = _mx_name(grad_format, "grad_format", optional=True)
        self.weight_policy = mx.get_policy(weight_policy)
        self.input_policy = mx.get_policy(input_policy)
        self.grad_policy = mx.get_policy(grad_policy)
        self.ste = _check_ste(ste)
        if backend not in BACKENDS:
            raise InputError(f"backend must be one of {', '.join(repr(b) for b in BACKENDS)}, got {backend!r}")
        self.backend = backend

    @classmethod
    def from_linear(cls, linear: nn.Linear, **options: Any) -> MXLinear:
        """An MXLinear sharing `linear`'s weight and bias Parameters (the same objects, not copies).

        >>> lin = torch.nn.Linear(32, 4)
        >>> MXLinear.from_linear(lin, weight_format="mxint8").weight is lin.weight
        True
        """
        unknown = sorted(set(options) - set(LAYER_OPTIONS))
        if unknown:
            raise InputError(f"unknown MXLinear option(s) {unknown}; accepted: {', '.join(LAYER_OPTIONS)}")
        return share_linear(linear, lambda n_in, n_out, bias: cls(n_in, n_out, bias=bias, device="meta", **options))

    def quantized_weight(self) -> torch.Tensor:
        """The weight as the forward uses it: fake-quantized in `weight_format` (or as is when None);
        with `weight_anchor` set, quantized in the anchor format and sliced to `weight_format`."""
        if self.weight_format is None:
            return self.weight
        if self.weight_anchor is not None:
            return slice_fake_quantize(self.weight, self.weight_anchor, self.weight_format, self.weight_policy,
                                       self.ste)
        return fake_quantize(self.weight, self.weight_format, -1, self.weight_policy, self.ste,
                             backend=self.backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        resolve_backend(x, self.backend, "input")
        if self.input_format is not None:
            x = fake_quantize(x, self.input_format, -1, self.input_policy, self.ste, backend=self.backend)
        y = functional.linear(x, self.quantized_weight(), self.bias)
        if self.grad_format is not None and y.requires_grad:
            y = _quantize_grad(y, self.grad_format, self.grad_policy, self.backend)
        return y

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, weight_format={self.weight_format}, input_format={self.input_format}, "
                f"grad_format={self.grad_format}, ste={self.ste}")


@dataclass
class QuantizeHandle:
    """What `quantize_model` replaced: qualified name -> (original module, MXLinear). `undo()` reverts.

    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 8))
    >>> handle = quantize_model(model, "mxint4")
    >>> list(handle.replaced), type(model[0]).__name__
    (['0'], 'MXLinear')
    >>> handle.undo(); type(model[0]).__name__
    'Linear'
    """

    model: nn.Module
    replaced: dict[str, tuple[nn.Module, MXLinear]] = field(default_factory=dict)

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


def quantize_model(model: nn.Module, config: str | Mapping[str, Mapping[str, Any] | None]) -> QuantizeHandle:
    """Swap the nn.Linear layers of `model` whose qualified names match `config` for MXLinear layers
    sharing the same weight and bias Parameters; returns a handle whose `undo()` restores them.

    `config` maps patterns to MXLinear options (`weight_format`, `input_format`, `weight_policy`,
    `input_policy`, `grad_format`, `grad_policy`, `ste`); the first matching pattern (in the
    mapping's order) decides, and a value of None leaves the layer alone. A pattern is an fnmatch
    pattern on the qualified name (`"encoder.*"`), or a full-match regex after `"re:"`. A plain
    string is shorthand for `{"*": {"weight_format": config}}`. `dequantize_model(model)` is
    `handle.undo()`. Hooks registered on the original layers do not run while they are swapped out.

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
        raise InputError("config must be a format name or a non-empty mapping of name patterns to MXLinear options")
    if model in _HANDLES:
        raise InputError("model is already quantized by quantize_model; call dequantize_model(model) first")
    rules = [(_matcher(p), opts) for p, opts in config.items()]
    for p, opts in config.items():
        if opts is not None and not isinstance(opts, Mapping):
            raise InputError(f"config[{p!r}] must be a mapping of MXLinear options or None, got {opts!r}")
    if isinstance(model, nn.Linear):
        raise InputError("model is itself an nn.Linear; use MXLinear.from_linear(model, ...) instead")
    handle = QuantizeHandle(model)
    new: dict[str, MXLinear] = {}
    for name, module in model.named_modules():
        if not name or not isinstance(module, nn.Linear) or isinstance(module, MXLinear):
            continue
        opts = next((o for match, o in rules if match(name)), None)
        if opts is not None:
            new[name] = MXLinear.from_linear(module, **opts)
            handle.replaced[name] = (module, new[name])
    if not new:
        names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and not isinstance(m, MXLinear)]
        raise InputError(f"no nn.Linear layer matches {list(config)}; the model's linear layers: {names}")
    for name, m in new.items():
        parent, child = _parent(model, name)
        setattr(parent, child, m)
    _HANDLES[model] = handle
    return handle


def dequantize_model(model: nn.Module) -> None:
    """Undo `quantize_model(model, ...)`: the original layers (the same objects) go back in place.

    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 4))
    >>> _ = quantize_model(model, "mxint8"); dequantize_model(model); type(model[0]).__name__
    'Linear'
    """
    handle = _HANDLES.get(model)
    if handle is None:
        raise InputError("model was not quantized by quantize_model (or was already restored)")
    handle.undo()


def mx_layers(model: nn.Module) -> list[MXLinear]:
    """Every MXLinear in `model` (itself included), in module order.

    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> _ = quantize_model(model, "mxint8")
    >>> [layer.weight_format for layer in mx_layers(model)]
    ['mxint8', 'mxint8']
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [m for m in model.modules() if isinstance(m, MXLinear)]


def set_format(model: nn.Module, fmt: str | MXFormat | None) -> dict[str, str | None]:
    """Set the weight format of every MXLinear in `model`; returns the previous ones by qualified name.

    >>> model = torch.nn.Sequential(MXLinear(32, 4, weight_format="mxint8"))
    >>> set_format(model, "mxint4"), model[0].weight_format
    ({'0': 'mxint8'}, 'mxint4')
    """
    name = _mx_name(fmt, "fmt", optional=True)
    mx_layers(model)  # checks the type
    layers = {n: m for n, m in model.named_modules() if isinstance(m, MXLinear)}
    if not layers:
        raise InputError("model holds no MXLinear layer (convert it with quantize_model first)")
    previous = {n: m.weight_format for n, m in layers.items()}
    for m in layers.values():
        m.weight_format = name
    return previous


@contextlib.contextmanager
def use_format(model: nn.Module, fmt: str | MXFormat | None) -> Iterator[nn.Module]:
    """Run `model` with every MXLinear's weight format set to `fmt`; the previous formats come back on exit.

    >>> model = torch.nn.Sequential(MXLinear(32, 4, weight_format="mxint8"))
    >>> with use_format(model, "mxint2"):
    ...     inside = model[0].weight_format
    >>> inside, model[0].weight_format
    ('mxint2', 'mxint8')
    """
    previous = set_format(model, fmt)
    try:
        yield model
    finally:
        for n, m in model.named_modules():
            if n in previous and isinstance(m, MXLinear):
                m.weight_format = previous[n]
