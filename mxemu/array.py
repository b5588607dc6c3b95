"""MXArray (codes + scales + format + policy + blocking) and what is done to a whole one: dequantize, pack, save."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mxemu import validate
from mxemu.blocking import (
    block_chunks,
    block_geometry,
    from_blocks,
    normalize_axes,
    scale_array,
    scale_index,
    to_blocks,
)
from mxemu.destination import check_out
from mxemu.errors import FileFormatError, InputError, MXError
from mxemu.io import ArrayParts, read_parts, write_parts
from mxemu.kernels import block as kb
from mxemu.kernels import dispatch
from mxemu.kernels.abi import format_params
from mxemu.kernels.scale import E8M0_SCALE
from mxemu.kernels.threads import region
from mxemu.packing import pack_mx, unpack_mx
from mxemu.policy import Policy, get_policy
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
        _, want = block_geometry(self.codes.shape, axes, k)
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
        validate.check_tensor_scale(self.tensor_scale, f, "MXArray tensor_scale")

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
        return pack_array(self, layout, scale_layout)

    @classmethod
    def unpack(cls, packed: np.ndarray | bytes | tuple[np.ndarray, np.ndarray], fmt: str | MXFormat,
               shape: tuple[int, ...], axis: int | tuple[int, ...] = -1, policy: str | Policy | None = None,
               layout: str = "byte", scale_layout: str = "separate") -> MXArray:
        """Inverse of `pack`: rebuild an MXArray from packed bytes and the array's shape and blocking."""
        return unpack_array(packed, fmt, shape, axis, policy, layout, scale_layout)

    def save(self, path: str | os.PathLike, layout: str = "byte") -> Path:
        """Write to `.npz` or `.safetensors` (by extension) with format, policy and layout metadata, atomically."""
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


def check_array(q: object) -> MXArray:
    """`q` if it is a consistent MXArray (uint8 codes and scales, scales shaped for its blocks), else `InputError`.

    >>> import mxemu as mx
    >>> check_array(mx.quantize(np.ones(40, np.float32), "mxint8")).scales.shape
    (2,)
    """
    if not isinstance(q, MXArray):
        raise InputError(f"expected an MXArray, got {type(q).__name__}")
    validate.check_tensor_scale(q.tensor_scale, q.format, "MXArray tensor_scale")
    if q.codes.dtype != np.uint8 or q.scales.dtype != np.uint8:
        raise InputError(f"MXArray codes and scales must be uint8, got {q.codes.dtype} and {q.scales.dtype}")
    axes = normalize_axes(q.axis, q.codes.ndim)
    _, scale_shape = block_geometry(q.shape, axes, q.block_size)
    if q.scales.shape != scale_shape:
        raise InputError(f"MXArray scales have shape {q.scales.shape}; codes of shape {q.shape} blocked "
                         f"along axis {axes} by {q.block_size} need {scale_shape}")
    return q


def pack_array(q: MXArray, layout: str = "byte",
               scale_layout: str = "separate") -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """`pack_mx` of an MXArray's block rows (`to_blocks` order, padding lanes as code 0) and `scale_rows()`.

    The element width is `q.format.element.bits`; a 2-D-tiled array packs rows of block_size^2 codes.
    Rebuild the array with `unpack_array(packed, q.format, q.shape, q.axis, q.policy, layout, scale_layout)`.

    >>> import mxemu as mx
    >>> q = mx.quantize(np.array([6.0, -1.0, 0.5], np.float32), "mxfp4_e2m1")
    >>> packed = pack_array(q, "nibble_lo_first", "interleaved")
    >>> packed.size, [hex(b) for b in packed[:3]]
    (17, ['0x7f', '0xa7', '0x1'])
    """
    q = check_array(q)
    rows, _ = to_blocks(q.codes, tuple(q.axis), q.block_size)
    return pack_mx(rows, q.scale_rows(), rows.shape[1], q.format.element.bits, layout, scale_layout)


def unpack_array(packed: np.ndarray | bytes | tuple[np.ndarray, np.ndarray], fmt: str | MXFormat,
                 shape: tuple[int, ...], axis: int | tuple[int, ...] = -1, policy: str | Policy | None = None,
                 layout: str = "byte", scale_layout: str = "separate",
                 tensor_scale: float | None = None) -> MXArray:
    """Inverse of `pack_array`: the MXArray of `fmt`, `shape`, `axis`, `policy` whose packing is `packed`.

    `tensor_scale` is the second-level scale of a format that has one (NVFP4), which the packing
    does not hold; None for one level.

    Raises `FileFormatError` if the bytes cannot be a packing of such an array (wrong length, set
    padding bits, or a padding lane whose code is not 0).

    >>> import mxemu as mx
    >>> q = mx.quantize(np.array([6.0, -1.0, 0.5], np.float32), "mxfp4_e2m1")
    >>> r = unpack_array(pack_array(q, "nibble_hi_first"), "mxfp4_e2m1", (3,), layout="nibble_hi_first")
    >>> r.codes.tolist(), r.scales.tolist()
    ([7, 10, 1], [127])
    """
    f = validate.mx_format(fmt)
    validate.check_tensor_scale(tensor_scale, f)
    shape = validate.check_shape(shape)
    axes = normalize_axes(axis, len(shape))
    pol = get_policy(policy)
    k = f.block_size
    padded, _ = block_geometry(shape, axes, k)
    row = k ** len(axes)
    n_blocks = math.prod(padded) // row
    rows, srows = unpack_mx(packed, n_blocks, row, f.element.bits, layout, scale_layout)
    codes = np.ascontiguousarray(from_blocks(rows, padded, shape, axes, k))
    if not np.array_equal(to_blocks(codes, axes, k)[0], rows):
        raise FileFormatError("a padding lane (beyond the array's shape) holds a nonzero code")
    scales = np.ascontiguousarray(scale_array(srows, padded, axes, k))
    return MXArray(codes=codes, scales=scales, format=f, policy=pol, axis=axes,
                   tensor_scale=None if tensor_scale is None else float(tensor_scale))


def save(q: MXArray, path: str | os.PathLike, layout: str = "byte") -> Path:
    """Write `q` to `path` (.npz or .safetensors by extension), atomically; returns the path.

    The file holds two uint8 tensors, `codes` (the element codes in C order of `q.shape`, packed in
    `layout`; the byte layouts keep the array's shape, the others are 1-D) and `scales` (shape of
    `q.scales`), and string metadata: format name and definition, policy, axis, shape, block size,
    layout, library and schema versions, SHA-256 of each tensor and of the metadata
    (docs/layouts.md, "File schema"; `mxemu.io.write_parts`). Nothing is pickled.

    >>> import tempfile, pathlib, mxemu as mx
    >>> q = mx.quantize(np.linspace(-1, 1, 40, dtype=np.float32), "mxfp4_e2m1")
    >>> p = save(q, pathlib.Path(tempfile.mkdtemp()) / "w.safetensors", layout="nibble_lo_first")
    >>> bool((load(p).codes == q.codes).all())
    True
    """
    q = check_array(q)
    return write_parts(ArrayParts(q.codes, q.scales, q.format, q.policy, q.axis, q.tensor_scale), path, layout)


def load(path: str | os.PathLike) -> MXArray:
    """Read an MXArray written by `save`; every field is checked, and anything wrong raises
    `FileFormatError` naming the file and the problem (truncation, corruption, unknown format or
    policy value, inconsistent shapes, codes out of range). Objects are never unpickled.

    >>> import tempfile, pathlib, mxemu as mx
    >>> q = mx.quantize(np.linspace(-1, 1, 40, dtype=np.float32), "mxint8", axis=0)
    >>> r = load(save(q, pathlib.Path(tempfile.mkdtemp()) / "w.npz"))
    >>> r.format.name, r.axis, r.shape, bool((r.scales == q.scales).all())
    ('mxint8', (0,), (40,), True)
    """
    p = read_parts(path)
    try:
        return MXArray(codes=p.codes, scales=p.scales, format=p.format, policy=p.policy, axis=p.axis,
                       tensor_scale=p.tensor_scale)
    except MXError as exc:
        raise FileFormatError(f"{Path(path)}: {exc}") from None
