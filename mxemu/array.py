"""MXArray (codes + scales + format + policy + blocking) and the block layout of arrays."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mxemu.destination import check_out
from mxemu.errors import InputError
from mxemu.kernels import block as kb
from mxemu.kernels import dispatch
from mxemu.kernels.params import format_params
from mxemu.kernels.scale import E8M0_SCALE
from mxemu.kernels.threads import region
from mxemu.policy import Policy
from mxemu.spec import ElementFormat, MXFormat

OUTPUT_DTYPES = ("float32", "float64", "float16", "bfloat16")


def output_dtype(dtype: object) -> np.dtype:
    """The numpy dtype named by `dtype` if values can be written in it, else `InputError`.

    Either byte order is accepted: the values are computed in native order and the result is byte-swapped
    at the end (`as_output`).
    """
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt.name not in OUTPUT_DTYPES:
        raise InputError(f"dtype {dtype!r} is not accepted; accepted: {', '.join(OUTPUT_DTYPES)} (either byte order)")
    return dt


def as_output(values: np.ndarray, dt: np.dtype) -> np.ndarray:
    """values (computed in dt's native-order twin) in dt's byte order: the same numbers, other bytes."""
    return values if values.dtype == dt else values.astype(dt)


def normalize_axes(axis: object, ndim: int) -> tuple[int, ...]:
    """The blocked axes as non-negative ints: one axis, or two for square 2-D tiles."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
    if not isinstance(axes, (tuple, list)) or not 1 <= len(axes) <= 2 or \
            not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        raise InputError(f"axis must be an int or a tuple of two ints (2-D tiles), got {axis!r}")
    if ndim == 0:
        raise InputError("cannot quantize a 0-d array: blocks need at least one axis")
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise InputError(f"axis {a} is out of range for an array of {ndim} dimension(s)")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise InputError(f"axis {axis!r} names the same dimension twice")
    return tuple(out)


def to_blocks(a: np.ndarray, axes: tuple[int, ...], k: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Rows of one block each (padded with zero bits), and the shape of the moved, padded array."""
    moved = np.moveaxis(a, axes, tuple(range(a.ndim - len(axes), a.ndim)))
    pad = [(0, 0)] * (a.ndim - len(axes)) + [(0, -n % k) for n in moved.shape[a.ndim - len(axes):]]
    if any(p for _, p in pad):
        moved = np.pad(moved, pad)
    padded = moved.shape
    if len(axes) == 1:
        return np.ascontiguousarray(moved).reshape(-1, k), padded
    r, c = padded[-2:]
    # The leading dimensions are merged first, so that an array of up to numpy's 64 dimensions can be tiled.
    tiles = moved.reshape(-1, r // k, k, c // k, k).swapaxes(-3, -2)
    return np.ascontiguousarray(tiles).reshape(-1, k * k), padded


def from_blocks(rows: np.ndarray, padded: tuple[int, ...], shape: tuple[int, ...],
                 axes: tuple[int, ...], k: int) -> np.ndarray:
    """Inverse of `to_blocks`: the array of x's shape (padding lanes dropped)."""
    nd = len(shape)
    if len(axes) == 1:
        moved = rows.reshape(padded)
    else:
        r, c = padded[-2:]
        moved = rows.reshape(-1, r // k, c // k, k, k).swapaxes(-3, -2).reshape(padded)
    moved_shape = tuple(np.moveaxis(np.empty(shape, np.uint8), axes, tuple(range(nd - len(axes), nd))).shape)
    moved = moved[tuple(slice(0, n) for n in moved_shape)]
    return np.moveaxis(moved, tuple(range(nd - len(axes), nd)), axes)


def scale_array(scales: np.ndarray, padded: tuple[int, ...], axes: tuple[int, ...], k: int) -> np.ndarray:
    nd = len(padded)
    lead = padded[: nd - len(axes)]
    blocks = tuple(n // k for n in padded[nd - len(axes):])
    return np.moveaxis(scales.reshape(*lead, *blocks), tuple(range(nd - len(axes), nd)), axes)


CHUNK_ELEMENTS = 1 << 22  # elements processed per kernel call: bounds every temporary to a few x 16 MiB


def block_chunks(shape: tuple[int, ...], axes: tuple[int, ...] = (), k: int = 1) -> list[tuple[slice, ...]]:
    """Index tuples of sub-arrays of at most about CHUNK_ELEMENTS elements that cover `shape` and cut no
    block of k along `axes` (no axes: element-wise work); one tuple of whole slices when `shape` is small.

    >>> block_chunks((6, 64), (1,), 32)
    [(slice(0, 6, None),)]
    """
    return list(_chunks(shape, axes, k, CHUNK_ELEMENTS)) if shape else [()]


def _chunks(shape: tuple[int, ...], axes: tuple[int, ...], k: int, limit: int,
            dim: int = 0) -> Iterator[tuple[slice, ...]]:
    """Sub-array indexes of about `limit` elements; along a blocked axis a cut falls on a multiple of k,
    so every block lies wholly in one sub-array."""
    n, inner = shape[dim], math.prod(shape[dim + 1:])
    unit = k if dim in axes else 1
    if n * inner <= limit:
        yield (slice(0, n),)
        return
    if unit * inner > limit and dim + 1 < len(shape):  # one unit along this axis is still too big: cut deeper
        for a in range(0, n, unit):
            for rest in _chunks(shape, axes, k, max(limit // unit, 1), dim + 1):
                yield (slice(a, min(a + unit, n)), *rest)
        return
    step = max(unit, limit // inner // unit * unit)
    for a in range(0, n, step):
        yield (slice(a, min(a + step, n)),)


def scale_index(index: tuple[slice, ...], axes: tuple[int, ...], k: int) -> tuple[slice, ...]:
    """The scales of the blocks of the sub-array x[index] (its cuts along blocked axes are multiples of k).

    >>> scale_index((slice(0, 2), slice(64, 128)), (1,), 32)
    (slice(0, 2, None), slice(2, 4, None))
    """
    return tuple(slice(s.start // k, -(-s.stop // k)) if d in axes else s for d, s in enumerate(index))


def flat_runs(shape: tuple[int, ...], index: tuple[slice, ...]) -> tuple[np.ndarray, int]:
    """The sub-array x[index] of a `block_chunks` index as runs of C-order positions in x: (first position
    of each run, run length). Only the last sliced dimension may be partial within a run; every dimension
    after it is whole.

    >>> starts, run = flat_runs((4, 6, 10), (slice(1, 3), slice(2, 4)))
    >>> starts.tolist(), run
    ([80, 140], 20)
    """
    if not index:
        return np.zeros(1, np.int64), math.prod(shape)
    d = len(index)
    inner = math.prod(shape[d:])
    starts = np.array([index[-1].start * inner], np.int64)
    for dim in range(d - 2, -1, -1):
        stride = math.prod(shape[dim + 1:])
        starts = (np.arange(index[dim].start, index[dim].stop, dtype=np.int64)[:, None] * stride + starts).reshape(-1)
    return starts, (index[-1].stop - index[-1].start) * inner


@dataclass(frozen=True, eq=False)
class MXArray:
    """An MX-quantized array: element `codes` of the original shape and one scale code per block.

    `axis` holds the blocked dimension (or two, for square 2-D tiles); `scales` has the shape of
    `codes` with each blocked dimension n replaced by ceil(n / block_size).

    >>> import numpy as np, mxemu as mx
    >>> q = mx.quantize(np.linspace(-6, 6, 64, dtype=np.float32).reshape(2, 32), "mxfp4_e2m1")
    >>> q.codes.shape, q.scales.shape, q.scales.ravel().tolist()
    ((2, 32), (2, 1), [127, 127])
    """

    codes: np.ndarray
    scales: np.ndarray
    format: MXFormat
    policy: Policy
    axis: tuple[int, ...]
    tensor_scale: float | None = None

    def __repr__(self) -> str:
        # a summary, not the arrays: the dataclass default printed every code and scale
        tensor = "" if self.tensor_scale is None else f", tensor_scale={self.tensor_scale!r}"
        return (f"MXArray({self.format.name}, shape={self.shape}, axis={self.axis}, scales={self.scales.shape}, "
                f"policy={self.policy.name}{tensor})")

    def __post_init__(self) -> None:
        """InputError unless the parts fit together: every later read stays inside the arrays and every code
        means a value of the format (a hand-built array is as checked as one from `quantize`)."""
        f = self.format
        if not isinstance(f, MXFormat):
            raise InputError(f"MXArray format must be an MXFormat, got {type(f).__name__}")
        if not isinstance(self.policy, Policy):
            raise InputError(f"MXArray policy must be a Policy, got {type(self.policy).__name__}")
        for name in ("codes", "scales"):
            a = getattr(self, name)
            if type(a) is not np.ndarray or a.dtype != np.uint8:
                raise InputError(f"MXArray codes and scales must be uint8 numpy arrays; {name} is "
                                 f"{type(a).__name__}" + (f" of dtype {a.dtype}" if isinstance(a, np.ndarray) else ""))
        axes = normalize_axes(self.axis, self.codes.ndim)
        object.__setattr__(self, "axis", axes)
        k = f.block_size
        want = tuple(-(-n // k) if d in axes else n for d, n in enumerate(self.codes.shape))
        if self.scales.shape != want:
            raise InputError(f"MXArray scales have shape {self.scales.shape}; codes of shape {self.codes.shape} "
                             f"blocked along axis {axes} by {k} need {want}")
        bits = f.element.bits
        if bits < 8 and self.codes.size and int(self.codes.max()) >> bits:
            raise InputError(f"MXArray codes out of range for {bits}-bit {f.element.name}: accepted [0, {1 << bits})")
        # An element-format scale is positive: its sign bit is clear (MX §5.4 scales carry no sign).
        top = (1 << (f.scale.bits - 1)) - 1 if isinstance(f.scale, ElementFormat) else f.scale.nan_code
        if self.scales.size and int(self.scales.max()) > top:
            raise InputError(f"MXArray scale codes out of range for {f.scale.name}: accepted [0, {top}]")
        ts = self.tensor_scale
        if ts is not None and not (f.tensor_scale and isinstance(ts, (float, int, np.floating))
                                   and not isinstance(ts, bool) and np.isfinite(ts) and ts > 0
                                   and float(np.float32(ts)) == float(ts)):
            raise InputError(f"MXArray tensor_scale {ts!r}: accepted only for a format with a per-tensor "
                             f"scale (NVFP4), as a positive finite float32 value")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.codes.shape

    @property
    def block_size(self) -> int:
        return self.format.block_size

    def scale_rows(self) -> np.ndarray:
        """The scales flattened in block (row) order, as the kernels produce them."""
        nd = self.codes.ndim
        moved = np.moveaxis(self.scales, self.axis, tuple(range(nd - len(self.axis), nd)))
        return np.ascontiguousarray(moved).reshape(-1)

    def pack(self, layout: str = "byte", scale_layout: str = "separate") -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The codes (and scales) as bytes in a named layout; see docs/layouts.md and `MXArray.unpack`."""
        from mxemu.packing import pack_array

        return pack_array(self, layout, scale_layout)

    @classmethod
    def unpack(cls, packed: np.ndarray | bytes | tuple[np.ndarray, np.ndarray], fmt: str | MXFormat,
               shape: tuple[int, ...], axis: int | tuple[int, ...] = -1, policy: str | Policy | None = None,
               layout: str = "byte", scale_layout: str = "separate") -> MXArray:
        """Inverse of `pack`: rebuild an MXArray from packed bytes and the array's shape and blocking."""
        from mxemu.packing import unpack_array

        return unpack_array(packed, fmt, shape, axis, policy, layout, scale_layout)

    def save(self, path: str | os.PathLike, layout: str = "byte") -> Path:
        """Write to `.npz` or `.safetensors` (by extension) with format, policy and layout metadata, atomically."""
        from mxemu.io import save

        return save(self, path, layout)

    def block_factors(self) -> np.ndarray:
        """The exact value of each block's scale (times the tensor scale), in block order (float64)."""
        s = self.scale_rows()
        if isinstance(self.format.scale, ElementFormat):
            factors = np.empty(s.size, np.float64)
            with region(s.size):
                kb.decode_elements(s, format_params(self.format.scale), np.zeros(1, np.int64), factors)
            return factors * (1.0 if self.tensor_scale is None else self.tensor_scale)
        with np.errstate(over="ignore"):
            return np.where(s == self.format.scale.nan_code, np.nan,
                            np.ldexp(1.0, s.astype(np.int64) - self.format.scale.bias))

    def dequantize(self, dtype: object = np.float32, out: np.ndarray | None = None) -> np.ndarray:
        """Values X * P_i: exact in float64; float32 exact unless beyond its range; RNE into narrower types.

        `dtype` may be of either byte order (the values are computed in native order, then stored).
        `out`: an array of this shape and `dtype` (native byte order) to write the values into (see
        `mxemu.dequantize`).
        """
        want = output_dtype(dtype)
        dt = want.newbyteorder("=")
        if out is not None:
            out = check_out(out, self.shape, dt, {"codes": self.codes, "scales": self.scales})
        k = self.block_size
        index = block_chunks(self.shape, self.axis, k)
        if out is None and len(index) == 1:
            return as_output(self._dequantize(dt), want)
        result = np.empty(self.shape, want) if out is None else out
        for ix in index:  # large arrays in parts, so no temporary is of the array's size
            part = MXArray(self.codes[ix], self.scales[scale_index(ix, self.axis, k)], self.format, self.policy,
                           self.axis, self.tensor_scale)
            part._dequantize(dt, result[ix])
        return result

    def _dequantize(self, dt: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
        """`dequantize` in one pass over the whole array, into out when given (directly when its memory
        holds the blocks as rows and the kernel writes dt)."""
        rows, padded = to_blocks(self.codes, self.axis, self.block_size)
        direct = (out is not None and out.dtype == dt and out.flags.c_contiguous
                  and self.axis == (self.codes.ndim - 1,) and padded == self.shape)
        dest = out.reshape(rows.shape) if direct else np.empty(rows.shape, dt)
        e8m0 = (self.tensor_scale is None and not isinstance(self.format.scale, ElementFormat)
                and (self.format.scale.bias, self.format.scale.nan_code) == E8M0_SCALE)
        dispatch.dequantize_rows(rows, format_params(self.format.element), self.scale_rows() if e8m0 else None,
                                 self.block_factors, dest)
        if direct:
            return out
        result = from_blocks(dest, padded, self.shape, self.axis, self.block_size)
        if out is None:
            return np.ascontiguousarray(result)
        out[...] = result
        return out
