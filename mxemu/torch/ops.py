"""The fake quantizer as a torch.library custom op: opaque to torch.compile (no graph break), with a fake impl."""

from __future__ import annotations

import functools
import json
import secrets
from typing import Any

import torch

import mxemu as mx
from mxemu.policy import Policy

# One op for every caller: torch.compile (dynamo + inductor) sees a single node with a known output
# (a tensor of t's shape and dtype, plus the saturation mask) instead of breaking the graph around a
# numpy call. Autograd and vmap come from an autograd.Function around it, which torch.func accepts.


@functools.lru_cache(maxsize=256)
def _policy(key: str) -> Policy:
    return Policy.from_dict(json.loads(key))


def zero_where_saturated(grad: torch.Tensor, saturated: torch.Tensor) -> torch.Tensor:
    """The masked straight-through estimator's gradient: grad with +0 where the forward saturated."""
    return torch.where(saturated, 0.0, grad)  # the bits of grad.masked_fill(saturated, 0), in a third of its time


@torch.library.custom_op("mxemu::fake_quantize", mutates_args=())
def _fake_quantize_op(t: torch.Tensor, fmt: str, axis: list[int], policy: str, masked: bool,
                      seed: int | None, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    from mxemu.torch.functional import fake_quantize_and_mask, from_numpy, saturation_mask, to_numpy

    pol = _policy(policy)
    ax: Any = axis[0] if len(axis) == 1 else tuple(axis)
    if pol.rounding == "stochastic" and seed is None:
        seed = secrets.randbits(64)  # one seed for the values and the mask
    elif seed is not None:
        seed %= 2**64  # the op's int64 back to the seed in [0, 2^64)
    mask = torch.zeros(0, dtype=torch.bool, device=t.device)
    # No more threads than torch's intra-op pool: the user's torch.set_num_threads (one per rank under
    # DDP, say) bounds the cores this process may take.
    with mx.limit_threads(torch.get_num_threads()):
        if backend == "triton":
            from mxemu import cuda

            out = cuda.fake_quantize(t.detach(), fmt, ax, pol, seed=seed)
            if masked:  # the mask comes from the numba kernels (same codes, same scales)
                mask = torch.from_numpy(saturation_mask(to_numpy(t.detach().cpu()), fmt, ax, pol, seed)).to(t.device)
        elif masked:
            values, saturated = fake_quantize_and_mask(to_numpy(t), fmt, ax, pol, seed)
            out, mask = from_numpy(values), torch.from_numpy(saturated)
        else:
            out = from_numpy(mx.fake_quantize(to_numpy(t), fmt, ax, pol, seed=seed))
    return out, mask


@_fake_quantize_op.register_fake
def _(t, fmt, axis, policy, masked, seed, backend):
    mask = torch.empty(t.shape if masked else (0,), dtype=torch.bool, device=t.device)
    return torch.empty(t.shape, dtype=t.dtype, device=t.device), mask


class _FakeQuantize(torch.autograd.Function):
    """The op with the straight-through estimator as its backward (zero where the forward saturated,
    `ste="masked"`) and a vmap rule; written with `setup_context` so torch.func transforms accept it."""

    @staticmethod
    def forward(t: torch.Tensor, fmt: str, axis: list[int], policy: str, masked: bool, seed: int | None,
                backend: str) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ops.mxemu.fake_quantize(t, fmt, axis, policy, masked, seed, backend)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        ctx.masked = inputs[4]
        if ctx.masked:
            ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, _grad_mask: Any) -> tuple:
        if ctx.masked:
            (saturated,) = ctx.saved_tensors
            grad = zero_where_saturated(grad, saturated)
        return grad, None, None, None, None, None, None

    @staticmethod
    def vmap(info: Any, in_dims: tuple, t: torch.Tensor, fmt: str, axis: list[int], policy: str, masked: bool,
             seed: int | None, backend: str) -> tuple:
        # Blocks never cross the mapped dimension: moved to the front, with the block axes counted from
        # the end, the whole batch is one call with the same blocks as a loop over its members.
        from mxemu.errors import InputError

        if _policy(policy).rounding == "stochastic":
            raise InputError("stochastic rounding under torch.func.vmap is not supported: the random bits of a "
                             "batched call differ from those of a loop; call fake_quantize on each member")
        batched = t.movedim(in_dims[0], 0)
        ndim = batched.ndim - 1
        out = _FakeQuantize.apply(batched, fmt, [a - ndim if a >= 0 else a for a in axis], policy, masked, seed,
                                  backend)
        return out, (0, 0 if masked else None)


@torch.compiler.assume_constant_result
def policy_key(policy: Policy) -> str:
    """A policy as the canonical JSON string the op takes (ops take str, not Python objects); a constant
    under torch.compile."""
    return json.dumps(policy.as_dict(), sort_keys=True, separators=(",", ":"))


def fake_quantize_op(t: torch.Tensor, fmt: str, axis: int | tuple[int, ...], policy: Policy, ste: str,
                     seed: int | None, backend: str) -> torch.Tensor:
    """The custom op on checked arguments (see `mxemu.torch.fake_quantize`); returns the fake-quantized tensor."""
    axes = [axis] if isinstance(axis, int) else list(axis)
    masked = ste == "masked" and t.requires_grad and torch.is_grad_enabled()
    signed = None if seed is None else int(seed) - (2**64 if seed >= 2**63 else 0)  # an int64 for the schema
    out, _ = _FakeQuantize.apply(t, fmt, axes, policy_key(policy), masked, signed, backend)
    return out
