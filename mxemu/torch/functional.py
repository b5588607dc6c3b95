"""Autograd fake quantization of CPU torch tensors through the numpy-level kernels."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

import mxemu as mx
from mxemu.blocking import from_blocks, to_blocks
from mxemu.errors import InputError
from mxemu.kernels import dispatch
from mxemu.policy import Policy
from mxemu.spec import ElementFormat, MXFormat
from mxemu.torch.ops import fake_quantize_op, zero_where_saturated

STE_MODES = ("identity", "masked")
BACKENDS = ("auto", "numba", "triton")
TORCH_DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
                torch.bfloat16: "bfloat16"}
BIG = 2.0 ** 200  # beyond every element format's range: encodes to the most positive / negative code


def check_tensor(t: object, what: str = "t") -> torch.Tensor:
    """`t` if it is a CPU float16/bfloat16/float32/float64 tensor, else `InputError` saying what is accepted."""
    if not isinstance(t, torch.Tensor):
        raise InputError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
    if t.layout != torch.strided:
        raise InputError(f"{what} is a {t.layout} tensor; mxemu.torch takes dense (strided) tensors: "
                         f"convert it with {what}.to_dense()")
    if t.device.type == "cuda":
        raise InputError(f"{what} is a CUDA tensor: the numba backend runs on CPU tensors; "
                         f"use backend='triton' (or 'auto'), or move it to the CPU with {what}.cpu()")
    if t.device.type != "cpu":
        raise InputError(f"{what} is on device {t.device}; mxemu.torch runs on CPU tensors only")
    if t.dtype not in TORCH_DTYPES:
        raise InputError(f"{what} has dtype {t.dtype}; accepted: float16, bfloat16, float32, float64")
    return t


def resolve_backend(t: object, backend: str, what: str = "t") -> str:
    """"numba" or "triton" for tensor t: "auto" picks triton for CUDA tensors; checks t against the choice.

    >>> import torch
    >>> resolve_backend(torch.ones(2), "auto")
    'numba'
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(repr(b) for b in BACKENDS)}, got {backend!r}")
    if backend == "auto":
        backend = "triton" if isinstance(t, torch.Tensor) and t.device.type == "cuda" else "numba"
    if backend == "numba":
        check_tensor(t, what)
    else:
        from mxemu.cuda import check_device

        if not isinstance(t, torch.Tensor):
            raise InputError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
        check_device(t, what)
    return backend


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A zero-copy numpy view of a CPU float tensor (bfloat16 as ml_dtypes.bfloat16), C-contiguous."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def from_numpy(a: np.ndarray) -> torch.Tensor:
    """A tensor sharing `a`'s memory (ml_dtypes.bfloat16 becomes torch.bfloat16)."""
    a = np.ascontiguousarray(a)
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _check_ste(ste: object) -> str:
    if ste not in STE_MODES:
        raise InputError(f"ste must be one of {', '.join(repr(s) for s in STE_MODES)}, got {ste!r}")
    return ste  # type: ignore[return-value]


@functools.lru_cache(maxsize=256)
def _extremes(element: ElementFormat, policy: Policy) -> tuple[float, float]:
    """Values of the element format's most positive and most negative codes under `policy` (cached:
    each kernel call costs a parallel launch, which dominates for two values)."""
    big = mx.encode(np.array([BIG, -BIG]), element, policy=policy.replace(overflow="saturate"))
    top, bottom = mx.decode(big, element, dtype=np.float64)
    return float(top), float(bottom)


def saturation_mask(x: np.ndarray, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
                    policy: str | Policy | None = None, seed: int | None = None) -> np.ndarray:
    """Where x saturates in `fmt`: x above its block's largest value or below its block's most negative one.

    The bounds are the dequantized values of the element format's most positive and most negative
    codes at the block's stored scale X (so ±X·max_normal; with `int_range="full"` the negative
    bound is one step further). NaN never counts as saturated; ±Inf always does (under a finite scale).

    >>> import numpy as np
    >>> saturation_mask(np.array([7.5, 6.0, 6.5, -7.0] + [0.0] * 28, np.float32), "mxfp4_e2m1")[:4].tolist()
    [True, False, True, True]
    """
    return _saturated(x, mx.quantize(x, fmt, axis, policy, seed=seed))


def fake_quantize_and_mask(x: np.ndarray, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
                           policy: str | Policy | None = None, seed: int | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
    """(`mxemu.fake_quantize(x, ...)`, `saturation_mask(x, ...)`): the forward of `ste="masked"`.

    Both come from one `mxemu.quantize` where fake quantization is by definition its dequantized
    value: an E8M0 scale value (scale_value "e8m0"; the float32 scales of the peers' fake quantizers
    are not stored codes) and integer zeros read as +0 (fake_int_zero "positive"; the signed zeros of
    the peers' fake quantizers are not codes either). Otherwise the values come from fake_quantize.

    >>> import numpy as np
    >>> values, mask = fake_quantize_and_mask(np.array([7.5, 6.0, 6.5, -7.0] + [0.0] * 28, np.float32), "mxfp4")
    >>> values[:4].tolist(), mask[:4].tolist()
    ([6.0, 6.0, 6.0, -6.0], [True, False, True, True])
    """
    pol = mx.get_policy(policy)
    q = mx.quantize(x, fmt, axis, pol, seed=seed)
    if pol.scale_value == "e8m0" and (not q.format.element.is_int or pol.fake_int_zero == "positive"):
        values = q.dequantize(x.dtype.newbyteorder("="))  # as fake_quantize: native byte order
    else:
        values = mx.fake_quantize(x, fmt, axis, pol, seed=seed)
    return values, _saturated(x, q)


def _saturated(x: np.ndarray, q: mx.MXArray) -> np.ndarray:
    """`saturation_mask` of x from q, its quantized array."""
    top, bottom = _extremes(q.format.element, q.policy)
    # one bound pair per block (block order), compared with the blocked input: no full-size bound arrays
    factors = q.block_factors()
    rows, padded = to_blocks(x, q.axis, q.block_size)
    saturated = dispatch.saturated_rows(rows, factors * top, factors * bottom)
    return np.ascontiguousarray(from_blocks(saturated, padded, x.shape, q.axis, q.block_size))


class _StraightThrough(torch.autograd.Function):
    """Backward of the fake quantizers: the straight-through estimator, zero where the forward saved a
    saturation mask (`ste="masked"`); no gradient for the other (non-tensor) arguments."""

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if ctx.ste == "masked":
            (saturated,) = ctx.saved_tensors
            grad = zero_where_saturated(grad, saturated)
        return grad, *(None,) * (len(ctx.needs_input_grad) - 1)


def fake_quantize(t: torch.Tensor, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
                  policy: str | Policy | None = None, ste: str = "identity",
                  seed: int | None = None, backend: str = "auto", out: torch.Tensor | None = None) -> torch.Tensor:
    """MX quantize + dequantize of a tensor, differentiable by a straight-through estimator.

    The forward has exactly the bits of `mxemu.fake_quantize` on the same data (any axis, any
    strides; the result is contiguous, of t's dtype). The backward passes the gradient through
    unchanged (`ste="identity"`) or zeroes it where the element saturated (`ste="masked"`, see
    `saturation_mask`). It is the custom op `torch.ops.mxemu.fake_quantize` (with a fake
    implementation), so torch.compile, inductor included, compiles around it without a graph break,
    and `torch.func.grad` / `torch.func.vmap` apply to it (vmap: deterministic rounding only).
    `backend`: "numba" (CPU tensors), "triton" (CUDA tensors, or CPU tensors under
    TRITON_INTERPRET=1; float32/bfloat16/float16, E8M0 formats; the same bits, see docs/gpu.md),
    or "auto" (triton for CUDA tensors, numba otherwise). `out`: a contiguous CPU tensor of t's shape
    and dtype to write the result into (numba backend); as torch's own out= functions, not
    differentiable: refused while autograd records t or out.

    >>> import torch
    >>> t = torch.tensor([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27, requires_grad=True)
    >>> y = fake_quantize(t, "mxfp4_e2m1")
    >>> y[:5].tolist()
    [6.0, 4.0, 0.0, 1.0, -4.0]
    >>> y.sum().backward(); t.grad[:2].tolist()
    [1.0, 1.0]
    """
    backend = resolve_backend(t, backend)
    _check_ste(ste)
    pol = mx.get_policy(policy)
    f = mx.get_format(fmt)
    if not isinstance(f, MXFormat):
        raise InputError(f"{f.name!r} is not an MX block format")
    if isinstance(axis, list):
        axis = tuple(axis)
    if not (isinstance(axis, int) or (isinstance(axis, tuple) and all(isinstance(a, int) for a in axis))) \
            or isinstance(axis, bool):
        raise InputError(f"axis must be an int or a pair of ints, got {axis!r}")
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
                             or not 0 <= int(seed) < 1 << 64):
        raise InputError(f"seed must be an integer in [0, 2^64), got {seed!r}")
    if out is not None:
        return _fake_quantize_out(t, f, axis, pol, None if seed is None else int(seed), backend, out)
    return fake_quantize_op(t, f.name, axis, pol, ste, None if seed is None else int(seed), backend)


def _fake_quantize_out(t: torch.Tensor, f: MXFormat, axis: Any, pol: Policy, seed: int | None, backend: str,
                       out: object) -> torch.Tensor:
    """`fake_quantize(..., out=out)`: the numpy kernels write into out's memory."""
    out = check_tensor(out, "out")
    if backend != "numba":
        raise InputError("out= is supported by the numba backend (CPU tensors)")
    if out.shape != t.shape or out.dtype != t.dtype or not out.is_contiguous():
        raise InputError(f"out must be a contiguous tensor of shape {tuple(t.shape)} and dtype {t.dtype}; got "
                         f"shape {tuple(out.shape)}, dtype {out.dtype}, contiguous {out.is_contiguous()}")
    if torch.is_grad_enabled() and (t.requires_grad or out.requires_grad):
        raise InputError("out= does not support autograd (as torch's out= functions): call it under "
                         "torch.no_grad(), or without out=")
    with mx.limit_threads(torch.get_num_threads()):
        mx.fake_quantize(to_numpy(t), f, axis, pol, seed=seed, out=to_numpy(out))
    return out


class _SliceFakeQuantize(_StraightThrough):
    """Forward: quantize in `anchor`, Slice-and-Scale to `fmt`, dequantize; backward: the STE."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor, anchor: MXFormat, fmt: MXFormat, policy: Policy,
                ste: str) -> torch.Tensor:
        x = to_numpy(t)
        q = mx.quantize(x, anchor, -1, policy)
        out = from_numpy(mx.convert(q, fmt, "slice_and_scale").dequantize(x.dtype))
        if ste == "masked" and ctx.needs_input_grad[0]:
            # where the anchor saturates, or where the anchor's value saturates in fmt (the slice clamps
            # exactly there: Slice-and-Scale of an RNE anchor equals a cast of its values, METHODS.md §1.4)
            mask = saturation_mask(x, anchor, -1, policy) | saturation_mask(q.dequantize(x.dtype), fmt, -1, policy)
            ctx.save_for_backward(torch.from_numpy(mask))
        ctx.ste = ste
        return out


@torch.compiler.disable
def slice_fake_quantize(t: torch.Tensor, anchor: str | MXFormat, fmt: str | MXFormat,
                        policy: str | Policy | None = None, ste: str = "identity") -> torch.Tensor:
    """Slice-aware fake quantization: `t` quantized in `anchor` (blocks along the last axis), converted
    to `fmt` by `mxemu.convert(..., "slice_and_scale")` and dequantized — exactly the values an anchor
    checkpoint loaded at `fmt` holds. Differentiable by the straight-through estimator (`ste` as in
    `fake_quantize`; "masked" zeroes where the anchor or the slice saturates). `fmt == anchor` is
    `fake_quantize(t, anchor)`.

    >>> import torch
    >>> t = torch.linspace(-1, 1, 32)
    >>> sliced = slice_fake_quantize(t, "mxint8", "mxint4")
    >>> bool((sliced == fake_quantize(fake_quantize(t, "mxint8"), "mxint4")).all())  # METHODS.md §1.4
    True
    """
    check_tensor(t)
    _check_ste(ste)
    pol = mx.get_policy(policy)
    a, f = mx.get_format(anchor), mx.get_format(fmt)
    for g, what in ((a, "anchor"), (f, "fmt")):
        if not isinstance(g, MXFormat):
            raise InputError(f"{what} {g.name!r} is not an MX block format")
    if a.name == f.name:
        return fake_quantize_op(t, a.name, -1, pol, ste, None, "numba")
    if torch._C._functorch.is_functorch_wrapped_tensor(t):
        raise InputError("slice_fake_quantize does not run under torch.func transforms (grad, vmap); "
                         "fake_quantize does, or call it on plain tensors")
    return _SliceFakeQuantize.apply(t, a, f, pol, ste)
