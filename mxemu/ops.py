"""numpy-level API: element encode/decode and block quantize/dequantize/fake-quantize."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator

import numpy as np

from mxemu.array import MXArray, from_blocks, normalize_axes, output_dtype, scale_array, to_blocks
from mxemu.errors import InputError, PolicyError
from mxemu.kernels import block as kb
from mxemu.kernels import dispatch, nvfp4
from mxemu.kernels.dispatch import serial_if_small, to_dtype
from mxemu.kernels.params import INPUT_LAYOUTS, INT_VIEW, format_params, policy_params
from mxemu.packing import block_geometry
from mxemu.policy import Policy, get_policy
from mxemu.spec import ElementFormat, MXFormat, get_format

MAX_SCALE_EXP = 512


def _float_array(x: object, what: str = "x") -> np.ndarray:
    """x if it is a float16/bfloat16/float32/float64 numpy array (a numpy scalar as a 0-d array), else InputError."""
    if isinstance(x, np.generic):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        raise InputError(f"{what} must be a numpy array of float16, bfloat16, float32 or float64; got "
                         f"{type(x).__name__} (wrap it, e.g. np.asarray({what}, dtype=np.float32))")
    if x.dtype.name not in INPUT_LAYOUTS:
        raise InputError(f"{what} has dtype {x.dtype}; accepted: float16, bfloat16 (ml_dtypes), float32, float64")
    return x


def _float_input(x: object, what: str = "x") -> np.ndarray:
    """x as a native-endian, C-contiguous float16/bfloat16/float32/float64 array (a view when it can)."""
    x = _float_array(x, what)
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    # np.ascontiguousarray would turn a 0-d array into a 1-d one; keep the shape.
    return x if x.flags.c_contiguous else x.copy(order="C")


def _element_format(fmt: object) -> ElementFormat:
    f = get_format(fmt)
    if not isinstance(f, ElementFormat):
        raise InputError(f"{f.name!r} is not an element format; element formats: "
                         f"{', '.join(n for n in _names(ElementFormat))}")
    return f


def _mx_format(fmt: object) -> MXFormat:
    f = get_format(fmt)
    if not isinstance(f, MXFormat):
        raise InputError(f"{f.name!r} is not an MX block format; MX formats: {', '.join(_names(MXFormat))}")
    return f


def _names(kind: type) -> list[str]:
    from mxemu.spec import REGISTRY

    return [n for n in REGISTRY.names() if isinstance(REGISTRY.get(n), kind)]


def _check_nan_policy(x: np.ndarray, element: ElementFormat, policy: Policy) -> None:
    with np.errstate(invalid="ignore"):  # ml_dtypes' bfloat16 isnan warns on NaN inputs
        has_nan = policy.nan_to_nonan == "error" and not element.has_nan and bool(np.isnan(x).any())
    if has_nan:
        raise InputError(f"input holds NaN and {element.name} has no NaN encoding "
                         f"(policy nan_to_nonan='error'; choose zero, signed_zero or flipped_zero)")


def _random_bits(x: np.ndarray, policy: Policy, seed: int | None, random_bits: object) -> np.ndarray:
    """The stochastic-rounding integers for every element of x in C order (empty if not stochastic)."""
    if policy.rounding != "stochastic":
        if random_bits is not None:
            raise PolicyError("random_bits given but policy.rounding is not 'stochastic'")
        return np.empty(0, np.uint32)
    limit = 1 << policy.sr_bits
    if random_bits is not None:
        r = np.asarray(random_bits)
        if r.dtype.kind not in "ui":
            raise InputError(f"random_bits must be an integer array, got dtype {r.dtype}")
        if r.shape != x.shape:
            raise InputError(f"random_bits has shape {r.shape}; it must match the input's shape {x.shape}")
        if r.size and (r.min() < 0 or r.max() >= limit):
            raise InputError(f"random_bits must lie in [0, 2^{policy.sr_bits}) for sr_bits={policy.sr_bits}")
        return np.ascontiguousarray(r, dtype=np.uint32)
    if seed is None:
        seed = secrets.randbits(64)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= int(seed) < 1 << 64:
        raise InputError(f"seed must be an integer in [0, 2^64), got {seed!r}")
    out = np.empty(x.size, np.uint32)
    kb.philox_bits(np.uint64(seed).astype(np.int64), x.size, 32 - policy.sr_bits, out)
    return out.reshape(x.shape)


def _scale_exp(scale_exp: object, shape: tuple[int, ...]) -> np.ndarray:
    s = np.asarray(scale_exp)
    if s.dtype.kind not in "ui" or (s.dtype == np.uint64 and s.size and s.max() > MAX_SCALE_EXP):
        raise InputError(f"scale_exp must be an integer or integer array, got {scale_exp!r}")
    if s.size and (s.min() < -MAX_SCALE_EXP or s.max() > MAX_SCALE_EXP):
        raise InputError(f"scale_exp must lie in [-{MAX_SCALE_EXP}, {MAX_SCALE_EXP}]")
    if s.ndim == 0:
        return s.astype(np.int64).reshape(1)
    try:
        return np.ascontiguousarray(np.broadcast_to(s, shape), dtype=np.int64).reshape(-1)
    except ValueError:
        raise InputError(f"scale_exp of shape {s.shape} does not broadcast to {shape}") from None


def encode(x: np.ndarray, fmt: str | ElementFormat, *, scale_exp: int | np.ndarray = 0,
           policy: str | Policy | None = None, seed: int | None = None,
           random_bits: np.ndarray | None = None) -> np.ndarray:
    """Element codes (uint8, x's shape) of x * 2^-scale_exp, rounded once by the policy.

    >>> import numpy as np
    >>> encode(np.array([1.0, 7.0, -0.25], np.float32), "fp4_e2m1")
    array([2, 7, 8], dtype=uint8)
    """
    element = _element_format(fmt)
    pol = get_policy(policy)
    x = _float_input(x)
    _check_nan_policy(x, element, pol)
    s = _scale_exp(scale_exp, x.shape)
    rbits = _random_bits(x, pol, seed, random_bits).reshape(-1)
    ebits, mbits = INPUT_LAYOUTS[x.dtype.name]
    out = np.empty(x.size, np.uint8)
    dispatch.encode_elements(x.reshape(-1).view(INT_VIEW[x.dtype.name]), ebits, mbits, s,
                       format_params(element), policy_params(pol), rbits, out)
    return out.reshape(x.shape)


def _codes(codes: object, element: ElementFormat) -> np.ndarray:
    if isinstance(codes, np.generic):
        codes = np.asarray(codes)
    if not isinstance(codes, np.ndarray) or codes.dtype.kind not in "ui":
        raise InputError(f"codes must be an integer numpy array, got {type(codes).__name__}"
                         + (f" of dtype {codes.dtype}" if isinstance(codes, np.ndarray) else ""))
    if codes.size and (codes.min() < 0 or codes.max() >= element.num_codes):
        raise InputError(f"codes of {element.name} lie in [0, {element.num_codes}); got values outside")
    return np.asarray(codes, dtype=np.uint8, order="C")


def decode(codes: np.ndarray, fmt: str | ElementFormat, *, scale_exp: int | np.ndarray = 0,
           dtype: object = np.float32) -> np.ndarray:
    """Values of element codes times 2^scale_exp: exact in float64, RNE into narrower dtypes.

    >>> import numpy as np
    >>> decode(np.array([2, 7, 8], np.uint8), "fp4_e2m1")
    array([ 1.,  6., -0.], dtype=float32)
    """
    element = _element_format(fmt)
    c = _codes(codes, element)
    dt = output_dtype(dtype)
    s = _scale_exp(scale_exp, c.shape)
    out = np.empty(c.size, np.float64)
    with serial_if_small(c.size):
        kb.decode_elements(c.reshape(-1), format_params(element), s, out)
    return to_dtype(out.reshape(c.shape), dt)


def _prepare(x: object, fmt: object, axis: object, policy: object, seed: object, random_bits: object):
    f = _mx_format(fmt)
    pol = get_policy(policy)
    x = _float_input(x)
    axes = normalize_axes(axis, x.ndim)
    if x.size == 0:
        raise InputError(f"cannot quantize an empty array (shape {x.shape})")
    if pol.nonfinite in ("ignore_nan", "finite_amax"):
        _check_nan_policy(x, f.element, pol)
    k = f.block_size
    rbits = _random_bits(x, pol, seed, random_bits)
    rows, padded = to_blocks(x.view(INT_VIEW[x.dtype.name]), axes, k)
    rrows = to_blocks(rbits, axes, k)[0] if rbits.size else np.empty((0, 0), np.uint32)
    return f, pol, x, axes, k, rows, padded, rrows


CHUNK_ELEMENTS = 1 << 22  # elements quantized per kernel call: bounds every temporary to a few x 16 MiB


def _chunks(shape: tuple[int, ...], axes: tuple[int, ...], k: int, limit: int,
            dim: int = 0) -> Iterator[tuple[slice, ...]]:
    """Index tuples of sub-arrays of at most about `limit` elements that cover `shape` and cut no block:
    along a blocked axis a cut falls on a multiple of k, so every block lies wholly in one sub-array."""
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


def _scale_index(index: tuple[slice, ...], axes: tuple[int, ...], k: int) -> tuple[slice, ...]:
    """The scales of the blocks of the sub-array x[index] (its cuts along blocked axes are multiples of k)."""
    return tuple(slice(s.start // k, -(-s.stop // k)) if d in axes else s for d, s in enumerate(index))


def _chunked(x: object, fmt: object, axis: object, policy: object, seed: object, random_bits: object):
    """(format, policy, x, axes, sub-array indexes, random bits) when x is large enough to go in chunks, else None.

    Large inputs are converted (byte order, contiguity) one chunk at a time, so no temporary is of
    x's size; only stochastic rounding keeps one uint32 random integer per element (the Philox
    stream is indexed by the element's position in the whole array)."""
    f = _mx_format(fmt)
    pol = get_policy(policy)
    x = _float_array(x)
    axes = normalize_axes(axis, x.ndim)
    if x.size <= CHUNK_ELEMENTS or f.tensor_scale:
        return None
    rbits = _random_bits(x, pol, seed, random_bits)
    index = list(_chunks(x.shape, axes, f.block_size, CHUNK_ELEMENTS))
    return f, pol, x, axes, index, rbits if rbits.size else None


def quantize(x: np.ndarray, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
             policy: str | Policy | None = None, seed: int | None = None,
             random_bits: np.ndarray | None = None, tensor_scale: float | str | None = None) -> MXArray:
    """Quantize x into an MX format: blocks of `block_size` along `axis` (two axes: square 2-D tiles).

    A last block shorter than `block_size` is padded with +0 lanes, which change neither the
    scale nor any real element's code; the padding is not stored. `tensor_scale` applies to
    formats with a per-tensor scale (NVFP4): None for one level, "amax" for fl32(amax / 2688),
    or a positive float32 value.

    >>> import numpy as np
    >>> q = quantize(np.array([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27, np.float32), "mxfp4_e2m1")
    >>> int(q.scales[0]), q.codes[:5].tolist()
    (127, [7, 6, 0, 2, 14])
    """
    if _mx_format(fmt).tensor_scale:
        return _quantize_two_level(x, _mx_format(fmt), axis, get_policy(policy), tensor_scale)
    if tensor_scale is not None:
        raise InputError(f"{_mx_format(fmt).name} has no per-tensor scale; tensor_scale applies to NVFP4")
    big = _chunked(x, fmt, axis, policy, seed, random_bits)
    if big is not None:
        f, pol, x, axes, index, rbits = big
        codes = np.empty(x.shape, np.uint8)
        scales = np.empty(block_geometry(x.shape, axes, f.block_size)[1], np.uint8)
        for ix in index:
            part = _quantize(x[ix], f, axes, pol, None, None if rbits is None else rbits[ix])
            codes[ix] = part.codes
            scales[_scale_index(ix, axes, f.block_size)] = part.scales
        return MXArray(codes=codes, scales=scales, format=f, policy=pol, axis=axes)
    return _quantize(x, fmt, axis, policy, seed, random_bits)


def _quantize(x: object, fmt: object, axis: object, policy: object, seed: object, random_bits: object) -> MXArray:
    """`quantize` of an E8M0-scaled format in one pass over the whole array."""
    f, pol, x, axes, k, rows, padded, rrows = _prepare(x, fmt, axis, policy, seed, random_bits)
    ebits, mbits = INPUT_LAYOUTS[x.dtype.name]
    codes = np.empty(rows.shape, np.uint8)
    scales = np.empty(rows.shape[0], np.uint8)
    dispatch.quantize_rows(rows, ebits, mbits, format_params(f.element), policy_params(pol), rrows, codes, scales)
    return MXArray(codes=np.ascontiguousarray(from_blocks(codes, padded, x.shape, axes, k)),
                   scales=np.ascontiguousarray(scale_array(scales, padded, axes, k)),
                   format=f, policy=pol, axis=axes)


NVFP4_TENSOR_DIVISOR = np.float32(6.0 * 448.0)


def _quantize_two_level(x: object, f: MXFormat, axis: object, pol: Policy, tensor_scale: object) -> MXArray:
    """NVFP4: float32 block scales in E4M3 under an optional FP32 tensor scale (kernels/nvfp4.py)."""
    if pol.rounding == "stochastic":
        raise PolicyError(f"{f.name} quantization supports the deterministic rounding modes only")
    x = _float_input(x)
    axes = normalize_axes(axis, x.ndim)
    if x.size == 0:
        raise InputError(f"cannot quantize an empty array (shape {x.shape})")
    x32 = x.astype(np.float32)  # NVFP4 is defined in float32 arithmetic; float64 input rounds here
    if tensor_scale is None:
        ts = None
    elif isinstance(tensor_scale, str) and tensor_scale == "amax":
        # fl32(amax / (6 * 448)) over the finite values (torchao per_tensor_amax_to_scale); an all-zero
        # tensor takes 1, as Transformer Engine does.
        finite = np.abs(x32[np.isfinite(x32)])
        ts = np.float32(finite.max() / NVFP4_TENSOR_DIVISOR) if finite.size else np.float32(0)
        ts = ts if ts > 0 else np.float32(1.0)
    elif isinstance(tensor_scale, (float, int, np.floating)) and not isinstance(tensor_scale, bool):
        ts = np.float32(tensor_scale)
    else:
        raise InputError(f"tensor_scale must be None, 'amax' or a positive number, got {tensor_scale!r}")
    if ts is not None and not (np.isfinite(ts) and ts > 0):
        raise InputError(f"the tensor scale must be a positive finite float32, got {ts!r}")
    k = f.block_size
    rows, padded = to_blocks(x32, axes, k)
    codes = np.empty(rows.shape, np.uint8)
    scales = np.empty(rows.shape[0], np.uint8)
    nvfp4.quantize_nvfp4_blocks(rows, np.float32(1.0 if ts is None else ts), ts is not None,
                                format_params(f.element), format_params(f.scale), policy_params(pol),
                                policy_params(Policy()), codes, scales)
    return MXArray(codes=np.ascontiguousarray(from_blocks(codes, padded, x.shape, axes, k)),
                   scales=np.ascontiguousarray(scale_array(scales, padded, axes, k)),
                   format=f, policy=pol, axis=axes, tensor_scale=None if ts is None else float(ts))


def fake_quantize(x: np.ndarray, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
                  policy: str | Policy | None = None, seed: int | None = None,
                  random_bits: np.ndarray | None = None) -> np.ndarray:
    """quantize + dequantize in one pass, in x's dtype; the same bits as `quantize(...).dequantize(x.dtype)`.

    >>> import numpy as np
    >>> fake_quantize(np.array([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27, np.float32), "mxfp4")[:5]
    array([ 6.,  4.,  0.,  1., -4.], dtype=float32)
    """
    if _mx_format(fmt).tensor_scale:
        x = _float_input(x)
        return quantize(x, fmt, axis, policy, seed, random_bits).dequantize(x.dtype)
    big = _chunked(x, fmt, axis, policy, seed, random_bits)
    if big is not None:
        f, pol, x, axes, index, rbits = big
        out = np.empty(x.shape, x.dtype.newbyteorder("="))
        for ix in index:
            out[ix] = _fake_quantize(x[ix], f, axes, pol, None, None if rbits is None else rbits[ix])
        return out
    return _fake_quantize(x, fmt, axis, policy, seed, random_bits)


def _fake_quantize(x: object, fmt: object, axis: object, policy: object, seed: object,
                   random_bits: object) -> np.ndarray:
    """`fake_quantize` of an E8M0-scaled format in one pass over the whole array."""
    f, pol, x, axes, k, rows, padded, rrows = _prepare(x, fmt, axis, policy, seed, random_bits)
    ebits, mbits = INPUT_LAYOUTS[x.dtype.name]
    out = np.empty(rows.shape, x.dtype)
    dispatch.fake_quantize_rows(rows, ebits, mbits, format_params(f.element), policy_params(pol), rrows, out)
    return np.ascontiguousarray(from_blocks(out, padded, x.shape, axes, k))


def dequantize(q: MXArray, dtype: object = np.float32) -> np.ndarray:
    """Values of an MXArray: exact in float64; float32 exact unless beyond its range; RNE into narrower types.

    >>> import numpy as np
    >>> q = quantize(np.array([1.0, -3.0, 0.3, 6.0] * 8, np.float32), "mxfp4_e2m1")
    >>> dequantize(q)[:4]
    array([ 1. , -3. ,  0.5,  6. ], dtype=float32)
    """
    if not isinstance(q, MXArray):
        raise InputError(f"dequantize takes an MXArray, got {type(q).__name__}")
    return q.dequantize(dtype)
