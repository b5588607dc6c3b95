"""Checks of the `out=` arrays that fake_quantize, decode and dequantize write their results into."""

from __future__ import annotations

import numpy as np

from mxemu.errors import InputError


def check_out(out: object, shape: tuple[int, ...], dtype: np.dtype, inputs: dict[str, np.ndarray],
              in_place: str | None = None) -> np.ndarray:
    """`out` if results of `shape` and `dtype` can be written into it, else `InputError` saying why.

    Accepted: a writeable, C-contiguous, native-endian numpy array of exactly that shape and dtype,
    sharing no memory with the inputs, except that `out` may be the input named by `in_place`
    itself (the same array or an identical view: every kernel reads a block before it writes it).
    """
    if not isinstance(out, np.ndarray) or isinstance(out, np.matrix):
        raise InputError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise InputError(f"out has shape {out.shape}; the result has shape {shape}")
    if out.dtype != dtype:
        raise InputError(f"out has dtype {out.dtype}; the result has dtype {dtype} "
                         f"(native byte order; pass dtype= to choose another)")
    if not out.flags.c_contiguous:
        raise InputError("out must be C-contiguous (np.ascontiguousarray gives a copy that is)")
    if not out.flags.writeable:
        raise InputError("out is read-only")
    for name, a in inputs.items():
        same = (name == in_place and a.dtype == out.dtype and a.shape == out.shape and a.strides == out.strides
                and a.__array_interface__["data"][0] == out.__array_interface__["data"][0])
        if not same and np.may_share_memory(out, a):
            allowed = f" (only out={name} itself is accepted, for an update in place)" if name == in_place else ""
            raise InputError(f"out overlaps {name}{allowed}")
    return out
