"""Adapters between the conformance kit's numpy blocks and torch kernels on CPU or CUDA tensors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mxemu.errors import InputError

# torch dtypes whose bytes are MX codes: element codes (float8) and E8M0 scale codes.
CODE_DTYPES = ("float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu", "uint8", "int8")


def to_numpy(value: object) -> np.ndarray:
    """A torch tensor (any device) or array-like as a numpy array: float8 and E8M0 tensors as their uint8
    codes, bfloat16 as ml_dtypes.bfloat16, everything else by `.numpy()` / `np.asarray`."""
    if not hasattr(value, "detach"):
        return np.asarray(value)
    import torch

    t = value.detach()
    if t.layout != torch.strided:
        raise InputError(f"a {t.layout} tensor is not a block result; return a dense (strided) tensor")
    t = t.cpu().contiguous()
    name = str(t.dtype).removeprefix("torch.")
    if name in CODE_DTYPES[:3]:
        return t.view(torch.uint8).numpy()
    if name == "bfloat16":
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def to_torch(x: np.ndarray, device: str = "cpu") -> object:
    """A numpy array (bfloat16 included) as a torch tensor on `device`."""
    import torch

    if x.dtype.name == "bfloat16":
        return torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16).to(device)
    return torch.from_numpy(np.ascontiguousarray(x).copy()).to(device)


def unpack_fp4(packed: np.ndarray) -> np.ndarray:
    """FP4 codes packed two per byte (element 0 in the low nibble, as torchao's pack_uint4) as one code per
    byte, on the last axis.

    >>> unpack_fp4(np.array([[0x21, 0x43]], np.uint8)).tolist()
    [[1, 2, 3, 4]]
    """
    p = np.asarray(packed).astype(np.uint8)
    return np.stack([p & 0x0F, p >> 4], axis=-1).reshape(*p.shape[:-1], -1)


def torch_kernel(fn: Callable, device: str = "cpu", *, fp4_packed: bool = False) -> Callable:
    """A batched numpy callable around a torch kernel: blocks (N, K) go to `device` as a tensor, and the
    kernel's result — a tensor, or (scales, codes) — comes back as numpy codes or values (float8 and
    E8M0 as their bytes; with fp4_packed, codes packed two per byte are unpacked).

    Pass it to `check_quantizer` / `identify` with batched=True (tensor="numpy", the default).
    """
    def run(x: np.ndarray) -> object:
        out = fn(to_torch(x, device))
        if isinstance(out, tuple | list):
            scales, codes = (to_numpy(o) for o in out)
            return scales.reshape(-1), unpack_fp4(codes) if fp4_packed else codes
        y = to_numpy(out)
        return unpack_fp4(y) if fp4_packed else y

    run.__qualname__ = getattr(fn, "__qualname__", "torch kernel")
    return run
