"""numpy-level API: element encode/decode and block quantize/dequantize/fake-quantize."""

from __future__ import annotations

import numpy as np

from mxemu import validate
from mxemu.array import MXArray, output_dtype
from mxemu.blocking import (
    block_chunks,
    block_geometry,
    flat_runs,
    from_blocks,
    normalize_axes,
    scale_array,
    scale_index,
    to_blocks,
)
from mxemu.destination import check_out
from mxemu.errors import InputError, PolicyError
from mxemu.kernels import block as kb
from mxemu.kernels import dispatch, nvfp4
from mxemu.kernels.abi import INPUT_LAYOUTS, INT_VIEW, format_params, policy_params
from mxemu.kernels.dispatch import Stream, to_dtype
from mxemu.kernels.scale import E8M0_SCALE, scale_params
from mxemu.kernels.threads import region
from mxemu.policy import Policy, get_policy
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat

MAX_SCALE_EXP = 512


def _plain_array(x: object, what: str) -> object:
    """x as a plain ndarray when it is an ndarray subclass whose values are its buffer (np.memmap); InputError
    for np.matrix (its operators and shapes differ) and masked arrays (their mask would be dropped)."""
    if isinstance(x, (np.matrix, np.ma.MaskedArray)):
        raise InputError(f"{what} is a {type(x).__name__}; accepted: a plain numpy array (np.asarray({what}), "
                         f"with masked values filled first)")
    return x.view(np.ndarray) if isinstance(x, np.ndarray) else x


def _float_array(x: object, what: str = "x") -> np.ndarray:
    """x if it is a float16/bfloat16/float32/float64 numpy array (a numpy scalar as a 0-d array), else InputError."""
    if isinstance(x, np.generic):
        x = np.asarray(x)
    x = _plain_array(x, what)
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


def _has_nan(x: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):  # ml_dtypes' bfloat16 isnan warns on NaN inputs
        return bool(np.isnan(x).any())


def _check_nan_policy(x: np.ndarray, element: ElementFormat, policy: Policy) -> None:
    validate.check_nan_input(lambda: _has_nan(x), element, policy)


def _random_source(shape: tuple[int, ...], policy: Policy, seed: object,
                   random_bits: object) -> int | np.ndarray | None:
    """What stochastic rounding draws from: the checked `random_bits` array (x's shape), or a 64-bit seed
    (a fresh one when seed is None); None when the policy does not round stochastically."""
    if not validate.draws_random_bits(policy, random_bits):
        return None
    if random_bits is not None:
        r = np.asarray(random_bits)
        validate.check_random_bits(r.dtype, r.dtype.kind in "ui", r.shape, shape,
                                   lambda: (int(r.min()), int(r.max())), policy.sr_bits)
        return r
    return validate.check_seed(seed)


def _random_bits(source: int | np.ndarray | None, policy: Policy, shape: tuple[int, ...],
                 index: tuple[slice, ...]) -> np.ndarray:
    """The stochastic-rounding integers of the sub-array x[index] in C order (empty if not stochastic).

    From a seed, element i of x (C order) draws Philox4x32-10(seed, i) >> (32 - sr_bits), so a part
    draws exactly what the whole array would give it."""
    if source is None:
        return np.empty(0, np.uint32)
    if isinstance(source, np.ndarray):
        return np.ascontiguousarray(source[index], dtype=np.uint32).reshape(-1)
    starts, run = flat_runs(shape, index)
    out = np.empty(starts.size * run, np.uint32)
    with region(out.size):
        kb.philox_bits(np.uint64(source).astype(np.int64), starts, run, 32 - policy.sr_bits, out)
    return out


def _block_random(source: int | np.ndarray | None, policy: Policy, shape: tuple[int, ...],
                  index: tuple[slice, ...], axes: tuple[int, ...], k: int) -> tuple[np.ndarray, Stream | None]:
    """(random integers, stream) for the blocks of the sub-array x[index]. A seed becomes a stream (seed, first
    position) that the kernels draw from themselves when the blocks, as rows, are x's positions in order (blocks
    along a whole last axis, no padding, one run of positions); otherwise the integers come as an array."""
    if isinstance(source, int) and axes == (len(shape) - 1,) and shape[-1] % k == 0:
        starts, run = flat_runs(shape, index)
        if (np.diff(starts) == run).all():
            return np.empty(0, np.uint32), (source, int(starts[0]))
    return _random_bits(source, policy, shape, index), None


def _scale_exp(scale_exp: object, shape: tuple[int, ...]) -> np.ndarray:
    s = np.asarray(scale_exp)
    if s.dtype.kind not in "ui" or (s.dtype == np.uint64 and s.size and s.max() > MAX_SCALE_EXP):
        raise InputError(f"scale_exp must be an integer or integer array, got {scale_exp!r}")
    if s.size and (s.min() < -MAX_SCALE_EXP or s.max() > MAX_SCALE_EXP):
        raise InputError(f"scale_exp must lie in [-{MAX_SCALE_EXP}, {MAX_SCALE_EXP}]")
    if s.ndim == 0:
        return s
    try:
        return np.broadcast_to(s, shape)
    except ValueError:
        raise InputError(f"scale_exp of shape {s.shape} does not broadcast to {shape}") from None


def _scale_exp_part(s: np.ndarray, index: tuple[slice, ...]) -> np.ndarray:
    """The int64 scale exponents of the sub-array x[index] in C order (one value if they are all one)."""
    return s.astype(np.int64).reshape(1) if s.ndim == 0 else np.ascontiguousarray(s[index], np.int64).reshape(-1)


def encode(x: np.ndarray, fmt: str | ElementFormat, *, scale_exp: int | np.ndarray = 0,
           policy: str | Policy | None = None, seed: int | None = None,
           random_bits: np.ndarray | None = None) -> np.ndarray:
    """Element codes (uint8, x's shape) of x * 2^-scale_exp, rounded once by the policy.

    >>> import numpy as np
    >>> encode(np.array([1.0, 7.0, -0.25], np.float32), "fp4_e2m1")
    array([2, 7, 8], dtype=uint8)
    """
    element = validate.element_format(fmt)
    pol = get_policy(policy)
    x = _float_array(x)
    s = _scale_exp(scale_exp, x.shape)
    source = _random_source(x.shape, pol, seed, random_bits)
    out = np.empty(x.shape, np.uint8)
    for ix in block_chunks(x.shape):
        part = _float_input(x[ix])
        _check_nan_policy(part, element, pol)
        ebits, mbits = INPUT_LAYOUTS[part.dtype.name]
        codes = np.empty(part.size, np.uint8)
        dispatch.encode_elements(part.reshape(-1).view(INT_VIEW[part.dtype.name]), ebits, mbits,
                                 _scale_exp_part(s, ix), format_params(element), policy_params(pol),
                                 _random_bits(source, pol, x.shape, ix), codes)
        out[ix] = codes.reshape(part.shape)
    return out


def _codes(codes: object, element: ElementFormat) -> np.ndarray:
    if isinstance(codes, np.generic):
        codes = np.asarray(codes)
    codes = _plain_array(codes, "codes")
    if not isinstance(codes, np.ndarray) or codes.dtype.kind not in "ui":
        raise InputError(f"codes must be an integer numpy array, got {type(codes).__name__}"
                         + (f" of dtype {codes.dtype}" if isinstance(codes, np.ndarray) else ""))
    if codes.size:
        validate.check_codes_range(int(codes.min()), int(codes.max()), element)
    return codes


def decode(codes: np.ndarray, fmt: str | ElementFormat, *, scale_exp: int | np.ndarray = 0,
           dtype: object = np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """Values of element codes times 2^scale_exp: exact in float64, RNE into narrower dtypes.

    `out`: an array of codes' shape and `dtype` (C-contiguous, native, not overlapping codes) to
    write the values into; it is returned.

    >>> import numpy as np
    >>> decode(np.array([2, 7, 8], np.uint8), "fp4_e2m1")
    array([ 1.,  6., -0.], dtype=float32)
    """
    element = validate.element_format(fmt)
    c = _codes(codes, element)
    want = output_dtype(dtype)
    dt = want.newbyteorder("=")
    s = _scale_exp(scale_exp, c.shape)
    out = np.empty(c.shape, want) if out is None else check_out(out, c.shape, dt, {"codes": c})
    for ix in block_chunks(c.shape):
        part = np.asarray(c[ix], dtype=np.uint8, order="C")  # keeps a 0-d array 0-d
        dest = out[(*ix, ...)]  # a view, also of a 0-d array (out[()] would be a scalar copy)
        direct = out.dtype == np.float64 and dest.flags.c_contiguous  # the kernel writes native float64 values
        values = dest.reshape(-1) if direct else np.empty(part.size, np.float64)
        with region(part.size):
            kb.decode_elements(part.reshape(-1), format_params(element), _scale_exp_part(s, ix), values)
        if not direct:
            out[ix] = to_dtype(values.reshape(part.shape), dt)
    return out


def _check_block_input(x: object, fmt: object, axis: object, policy: object
                       ) -> tuple[MXFormat, Policy, np.ndarray, tuple[int, ...]]:
    """(format, policy, x, blocked axes) after checking the arguments every block operation takes."""
    f = validate.mx_format(fmt)
    pol = get_policy(policy)
    x = _float_array(x)
    axes = normalize_axes(axis, x.ndim)
    validate.check_nonempty(x.shape)
    if f.two_level:
        _check_two_level_policy(f, pol)
    else:
        _check_scale_policy(f.scale, pol)
    return f, pol, x, axes


# Policy fields the two-level recipe fixes (kernels/nvfp4.py): its scale is rounded from a float32 quotient,
# and its elements are clamped before they are encoded.
_TWO_LEVEL_FIXED = ("scale_rule", "log2", "descale", "min_scale_encoding", "scale_overflow", "zero_block_scale",
                    "subnormal_inputs", "overflow", "int_range", "int_emax", "scale_value")


def _check_two_level_policy(f: MXFormat, pol: Policy) -> None:
    """PolicyError for a policy asking what the two-level recipe does not do."""
    default = Policy()
    changed = [k for k in _TWO_LEVEL_FIXED if getattr(pol, k) != getattr(default, k)]
    if changed:
        raise PolicyError(f"{f.name} scales by the two-level (NVFP4) recipe, which fixes "
                          f"{', '.join(f'{k}={getattr(default, k)!r}' for k in changed)}; the policy asks "
                          f"{', '.join(f'{k}={getattr(pol, k)!r}' for k in changed)}")
    if pol.rounding == "stochastic":
        raise PolicyError(f"{f.name} quantization supports the deterministic rounding modes only")
    if pol.nonfinite == "inf_as_exponent":
        raise PolicyError(f"{f.name}: nonfinite='inf_as_exponent' reads float bits and applies to exponent-only "
                          f"scales; accepted: nan_scale, propagate, ignore_nan, finite_amax")


def _check_scale_policy(scale: ScaleFormat, pol: Policy) -> None:
    """PolicyError for the E8M0-specific policy fields when the scale is another exponent-only format."""
    if scale_params(scale) == E8M0_SCALE:
        return
    if pol.min_scale_encoding != "exact":
        raise PolicyError(f"min_scale_encoding={pol.min_scale_encoding!r} models peers' E8M0 code 0x00; scale "
                          f"{scale.name!r} accepts 'exact' only")
    if pol.zero_block_scale > scale.nan_code:
        raise PolicyError(f"zero_block_scale={pol.zero_block_scale} is not a code of scale {scale.name!r}; "
                          f"accepted: an integer in [0, {scale.nan_code}]")
    if pol.scale_value != "e8m0":
        raise PolicyError(f"scale_value={pol.scale_value!r} models peers' float32 stand-in for an E8M0 scale; "
                          f"scale {scale.name!r} accepts 'e8m0' only (its own value)")


def _rows(x: np.ndarray, f: MXFormat, axes: tuple[int, ...], pol: Policy,
          rbits: np.ndarray) -> tuple[np.ndarray, tuple[int, ...], np.ndarray]:
    """The blocks of the sub-array x as rows of integer bit patterns, the padded shape, and the random bits
    as rows; large arrays come here one chunk at a time, so each conversion (byte order, contiguity,
    padding) is of chunk size."""
    x = _float_input(x)
    if pol.nonfinite in ("ignore_nan", "finite_amax"):
        _check_nan_policy(x, f.element, pol)
    rows, padded = to_blocks(x.view(INT_VIEW[x.dtype.name]), axes, f.block_size)
    rrows = to_blocks(rbits.reshape(x.shape), axes, f.block_size)[0] if rbits.size else np.empty((0, 0), np.uint32)
    return rows, padded, rrows


def quantize(x: np.ndarray, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
             policy: str | Policy | None = None, seed: int | None = None,
             random_bits: np.ndarray | None = None, tensor_scale: float | str | None = None) -> MXArray:
    """Quantize x into an MX format: blocks of `block_size` along `axis` (two axes: square 2-D tiles).

    A last block shorter than `block_size` is padded with +0 lanes, which change neither the
    scale nor any real element's code; the padding is not stored. `tensor_scale` applies to
    formats with a per-tensor scale (NVFP4): None for one level, "amax" for fl32(amax / (element max *
    scale max)), 2688 for NVFP4, or a positive float32 value. Large arrays are quantized in chunks that cut
    no block, with the same bits as one pass.

    >>> import numpy as np
    >>> q = quantize(np.array([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27, np.float32), "mxfp4_e2m1")
    >>> int(q.scales[0]), q.codes[:5].tolist()
    (127, [7, 6, 0, 2, 14])
    """
    f, pol, x, axes = _check_block_input(x, fmt, axis, policy)
    k = f.block_size
    ts = None
    if f.tensor_scale:
        ts = _tensor_scale(x, tensor_scale, f)
    elif tensor_scale is not None:
        raise InputError(f"{f.name} has no per-tensor scale; tensor_scale applies to two-level formats (NVFP4)")
    source = _random_source(x.shape, pol, seed, random_bits)  # None for two-level formats: no stochastic rounding
    index = block_chunks(x.shape, axes, k)
    codes = np.empty(x.shape, np.uint8)
    scales = np.empty(block_geometry(x.shape, axes, k)[1], np.uint8)
    for ix in index:
        if f.two_level:
            c, s = _quantize_two_level(x[ix], f, axes, pol, ts)
        else:
            c, s = _quantize(x[ix], f, axes, pol, *_block_random(source, pol, x.shape, ix, axes, k),
                             origin=tuple(i.start for i in scale_index(ix, axes, k)))
        if len(index) == 1:
            codes, scales = c, s
        else:
            codes[ix] = c
            scales[scale_index(ix, axes, k)] = s
    return MXArray(codes=codes, scales=scales, format=f, policy=pol, axis=axes,
                   tensor_scale=None if ts is None else float(ts))


def _quantize(x: np.ndarray, f: MXFormat, axes: tuple[int, ...], pol: Policy, rbits: np.ndarray,
              stream: Stream | None = None, origin: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Codes and exponent-only scales of x in one pass (stochastic rounding from rbits or stream); origin: the
    index of x's first block among the scales of the whole array."""
    rows, padded, rrows = _rows(x, f, axes, pol, rbits)
    ebits, mbits = INPUT_LAYOUTS[x.dtype.name]
    if pol.scale_value != "e8m0":
        _refuse_scales_without_code(x, rows, ebits, mbits, f, axes, pol, padded, origin)
    codes = np.empty(rows.shape, np.uint8)
    scales = np.empty(rows.shape[0], np.uint8)
    dispatch.quantize_rows(rows, ebits, mbits, format_params(f.element), policy_params(pol), rrows, codes, scales,
                           scale_params(f.scale), stream)
    return (np.ascontiguousarray(from_blocks(codes, padded, x.shape, axes, f.block_size)),
            np.ascontiguousarray(scale_array(scales, padded, axes, f.block_size)))


def _refuse_scales_without_code(x: np.ndarray, rows: np.ndarray, ebits: int, mbits: int, f: MXFormat,
                                axes: tuple[int, ...], pol: Policy, padded: tuple[int, ...],
                                origin: tuple[int, ...]) -> None:
    """PolicyError naming the first block of x (rows: its blocks) whose float32 scale under the policy's
    scale_value no scale code holds (kernels/block.py `fp32_scales_without_code`): such a block has no MX form,
    and storing the clamped code would silently give values other than the peer's (docs/policies.md)."""
    orphans = np.empty(rows.shape[0], np.float64)
    with region(rows.size):
        kb.fp32_scales_without_code(rows, ebits, mbits, format_params(f.element), policy_params(pol),
                                    scale_params(f.scale), orphans)
    grid = scale_array(orphans, padded, axes, f.block_size)
    found = np.argwhere(grid)
    if not found.size:
        return
    where = tuple(int(i) for i in found[0])
    block = x[tuple(slice(i * f.block_size, (i + 1) * f.block_size) if d in axes else i
                    for d, i in enumerate(where))].astype(np.float64)
    amax = float(np.abs(block[np.isfinite(block)]).max())
    start = origin + (0,) * (len(where) - len(origin))  # a chunk's index leaves its trailing axes whole
    index = tuple(o + i for o, i in zip(start, where, strict=True))
    raise PolicyError(
        f"quantize into {f.name} under scale_value={pol.scale_value!r}: the block at scales index {index} (amax "
        f"{amax!r}) has the float32 scale {float(grid[where])!r}, which no {f.scale.name} code holds with the "
        f"elements encoded at it, so the block has no MX form ({found.shape[0]} of the {rows.shape[0]} blocks "
        f"quantized together have none); accepted: blocks whose float32 scale is a power of two in "
        f"{f.scale.name}'s range, fake_quantize under this policy for the peer's values, or a policy with "
        f"scale_value='e8m0' to store the clamped scale")


def _tensor_scale(x: np.ndarray, tensor_scale: object, f: MXFormat) -> np.float32 | None:
    """The per-tensor scale of a two-level format named by `tensor_scale` (None: one level)."""
    if tensor_scale is None:
        return None
    if isinstance(tensor_scale, str) and tensor_scale == "amax":
        # fl32(amax / (elem_max * scale_max)), 6 * 448 for NVFP4, over the finite values (torchao
        # per_tensor_amax_to_scale); an all-zero tensor takes 1, as Transformer Engine does. NVFP4 is defined
        # in float32 arithmetic: amax is that of the input rounded to float32.
        amax = np.float32(0)
        for ix in block_chunks(x.shape):
            part = np.abs(x[ix].astype(np.float32))
            part[~np.isfinite(part)] = 0
            amax = max(amax, part.max())
        ts = np.float32(amax / np.float32(f.element.max_normal * f.scale.max_normal))
        ts = ts if ts > 0 else np.float32(1.0)
    elif isinstance(tensor_scale, (float, int, np.floating)) and not isinstance(tensor_scale, bool):
        ts = np.float32(tensor_scale)
    else:
        raise InputError(f"tensor_scale must be None, 'amax' or a positive number, got {tensor_scale!r}")
    if not (np.isfinite(ts) and ts > 0):
        raise InputError(f"the tensor scale must be a positive finite float32, got {ts!r}")
    return ts


def _quantize_two_level(x: np.ndarray, f: MXFormat, axes: tuple[int, ...], pol: Policy,
                        ts: np.float32 | None) -> tuple[np.ndarray, np.ndarray]:
    """Element codes and element-format block scales of x under an optional FP32 tensor scale (kernels/nvfp4.py)."""
    x32 = x.astype(np.float32)  # NVFP4 is defined in float32 arithmetic; float64 input rounds here
    if pol.nonfinite in ("ignore_nan", "finite_amax"):
        _check_nan_policy(x32, f.element, pol)
    k = f.block_size
    rows, padded = to_blocks(x32, axes, k)
    codes = np.empty(rows.shape, np.uint8)
    scales = np.empty(rows.shape[0], np.uint8)
    with region(rows.size):
        nvfp4.quantize_nvfp4_blocks(rows, np.float32(1.0 if ts is None else ts), ts is not None,
                                    format_params(f.element), format_params(f.scale), policy_params(pol),
                                    policy_params(Policy()), codes, scales)
    return (np.ascontiguousarray(from_blocks(codes, padded, x.shape, axes, k)),
            np.ascontiguousarray(scale_array(scales, padded, axes, k)))


def fake_quantize(x: np.ndarray, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
                  policy: str | Policy | None = None, seed: int | None = None,
                  random_bits: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """quantize + dequantize in one pass, in x's dtype; the same bits as `quantize(...).dequantize(x.dtype)`.

    `out`: an array of x's shape and dtype (C-contiguous, native) to write the result into, with no
    allocation for it; it is returned. It may be x itself (in place), and may not otherwise overlap x.

    >>> import numpy as np
    >>> fake_quantize(np.array([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27, np.float32), "mxfp4")[:5]
    array([ 6.,  4.,  0.,  1., -4.], dtype=float32)
    """
    f, pol, x, axes = _check_block_input(x, fmt, axis, policy)
    dt = x.dtype.newbyteorder("=")
    if out is not None:
        out = check_out(out, x.shape, dt, {"x": x}, in_place="x")
    if f.two_level:
        values = quantize(x, f, axis, pol, seed, random_bits).dequantize(dt)
        if out is None:
            return values
        out[...] = values
        return out
    source = _random_source(x.shape, pol, seed, random_bits)
    index = block_chunks(x.shape, axes, f.block_size)
    if out is None and len(index) == 1:
        return _fake_quantize(x, f, axes, pol, *_block_random(source, pol, x.shape, index[0], axes, f.block_size))
    result = np.empty(x.shape, dt) if out is None else out
    for ix in index:
        _fake_quantize(x[ix], f, axes, pol, *_block_random(source, pol, x.shape, ix, axes, f.block_size), result[ix])
    return result


def _fake_quantize(x: np.ndarray, f: MXFormat, axes: tuple[int, ...], pol: Policy, rbits: np.ndarray,
                   stream: Stream | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """`fake_quantize` of a format with an exponent-only scale in one pass over x, into out when given
    (stochastic rounding from rbits or stream).

    Blocks along a contiguous last axis that need no padding are out's own memory seen as rows, so
    the kernels write there directly; otherwise the rows are a copy and the result is copied in.
    """
    rows, padded, rrows = _rows(x, f, axes, pol, rbits)
    ebits, mbits = INPUT_LAYOUTS[x.dtype.name]
    direct = (out is not None and out.flags.c_contiguous and axes == (x.ndim - 1,) and padded == x.shape)
    dest = out.reshape(rows.shape) if direct else np.empty(rows.shape, x.dtype.newbyteorder("="))
    dispatch.fake_quantize_rows(rows, ebits, mbits, format_params(f.element), policy_params(pol), rrows, dest,
                                scale_params(f.scale), stream)
    if direct:
        return out
    result = from_blocks(dest, padded, x.shape, axes, f.block_size)
    if out is None:
        return np.ascontiguousarray(result)
    out[...] = result
    return out


def dequantize(q: MXArray, dtype: object = np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """Values of an MXArray: exact in float64; float32 exact unless beyond its range; RNE into narrower types.

    `out`: an array of q's shape and `dtype` (C-contiguous, native, not overlapping q's codes or
    scales) to write the values into; it is returned.

    >>> import numpy as np
    >>> q = quantize(np.array([1.0, -3.0, 0.3, 6.0] * 8, np.float32), "mxfp4_e2m1")
    >>> dequantize(q)[:4]
    array([ 1. , -3. ,  0.5,  6. ], dtype=float32)
    """
    if not isinstance(q, MXArray):
        raise InputError(f"dequantize takes an MXArray, got {type(q).__name__}")
    return q.dequantize(dtype, out=out)
