"""Argument checks shared by the numpy and torch/Triton front ends: one rule, one typed error, one message."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import numpy as np

from mxemu.errors import InputError, PolicyError
from mxemu.policy import Policy
from mxemu.spec import ElementFormat, MXFormat, formats, get_format


def _is_int(v: object) -> bool:
    """A Python or numpy integer, not a bool (True is an int to Python, never a count or a seed here)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def dtype_name(dtype: object) -> str:
    """A numpy or torch dtype by its bare name ("float32" for np.float32 and torch.float32 alike)."""
    return str(getattr(dtype, "name", dtype)).removeprefix("torch.")


def mx_format(fmt: object) -> MXFormat:
    """The block format named by `fmt`; `UnknownNameError` for an unknown name, `InputError` for another kind."""
    f = get_format(fmt)
    if not isinstance(f, MXFormat):
        raise InputError(f"{f.name!r} is not an MX block format; MX formats: {', '.join(formats(kind='block'))}")
    return f


def element_format(fmt: object) -> ElementFormat:
    """The element format named by `fmt`; `UnknownNameError` for an unknown name, `InputError` for another kind."""
    f = get_format(fmt)
    if not isinstance(f, ElementFormat):
        raise InputError(f"{f.name!r} is not an element format; element formats: "
                         f"{', '.join(formats(kind='element'))}")
    return f


def check_nonempty(shape: tuple[int, ...], verb: str = "quantize") -> None:
    """`InputError` for an array without elements: it has no blocks to scale."""
    if 0 in tuple(shape):
        raise InputError(f"cannot {verb} an empty array (shape {tuple(shape)})")


def check_shape(shape: object) -> tuple[int, ...]:
    """`shape` as a tuple of ints; `InputError` unless a non-empty tuple or list of non-negative integers."""
    if not isinstance(shape, (tuple, list)) or not shape or not all(_is_int(n) and n >= 0 for n in shape):
        raise InputError(f"shape must be a non-empty tuple of non-negative ints, got {shape!r}")
    return tuple(int(n) for n in shape)


def check_seed(seed: object) -> int:
    """The 64-bit key of stochastic rounding's counter-based generator (a fresh one for None)."""
    if seed is None:
        return secrets.randbits(64)
    if not _is_int(seed) or not 0 <= int(seed) < 1 << 64:
        raise InputError(f"seed must be an integer in [0, 2^64), got {seed!r}")
    return int(seed)


def draws_random_bits(policy: Policy, random_bits: object) -> bool:
    """Whether the policy rounds stochastically; `PolicyError` for random bits given to another rounding."""
    if policy.rounding != "stochastic":
        if random_bits is not None:
            raise PolicyError("random_bits given but policy.rounding is not 'stochastic'")
        return False
    return True


def check_random_bits(dtype: object, is_integer: bool, shape: tuple[int, ...], want: tuple[int, ...],
                      bounds: Callable[[], tuple[int, int]], sr_bits: int) -> None:
    """`InputError` unless user-given random bits are integers of the input's shape in [0, 2^sr_bits).

    `bounds` gives (min, max) of the bits; it is called only for a non-empty array of the right shape.
    """
    if not is_integer:
        raise InputError(f"random_bits must be an integer array, got dtype {dtype_name(dtype)}")
    if tuple(shape) != tuple(want):
        raise InputError(f"random_bits has shape {tuple(shape)}; it must match the input's shape {tuple(want)}")
    if 0 not in tuple(shape):
        lo, hi = bounds()
        if lo < 0 or hi >= 1 << sr_bits:
            raise InputError(f"random_bits must lie in [0, 2^{sr_bits}) for sr_bits={sr_bits}")


def check_nan_input(has_nan: Callable[[], bool], element: ElementFormat, policy: Policy) -> None:
    """`InputError` for NaN inputs to an element format without NaN when the policy says so
    (nan_to_nonan='error'); `has_nan` is called only then."""
    if policy.nan_to_nonan == "error" and not element.has_nan and has_nan():
        raise InputError(f"input holds NaN and {element.name} has no NaN encoding "
                         f"(policy nan_to_nonan='error'; choose zero, signed_zero or flipped_zero)")


def check_codes_range(lo: int, hi: int, element: ElementFormat) -> None:
    """`InputError` unless the smallest and largest code, lo and hi, are codes of the element format."""
    if lo < 0 or hi >= element.num_codes:
        raise InputError(f"codes of {element.name} lie in [0, {element.num_codes}); got values outside")


def is_tensor_scale(v: object) -> bool:
    """Whether v is a positive finite number that float32 holds exactly (an NVFP4 tensor scale)."""
    return (isinstance(v, (float, int, np.floating)) and not isinstance(v, bool) and np.isfinite(v) and v > 0
            and float(np.float32(v)) == float(v))


def check_tensor_scale(v: object, f: MXFormat, what: str = "tensor_scale") -> None:
    """`InputError` unless v is None or the per-tensor scale of a format that has one."""
    if v is not None and not (f.tensor_scale and is_tensor_scale(v)):
        raise InputError(f"{what} {v!r}: accepted only for a format with a per-tensor scale (NVFP4), "
                         f"as a positive finite float32 value")
