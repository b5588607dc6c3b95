"""torch-tensor API of the Triton kernels: quantize, dequantize and fake-quantize, with argument checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mxemu import validate
from mxemu.blocking import block_geometry, normalize_axes
from mxemu.cuda import constants
from mxemu.errors import BackendError, InputError, PolicyError
from mxemu.kernels.abi import (
    INPUT_LAYOUTS,
    MIN_SCALE_ENCODING,
    NONFINITE,
    ROUNDING,
    SR_BITS,
    SUBNORMAL_INPUTS,
    ZERO_BLOCK_SCALE,
    format_params,
    policy_params,
)
from mxemu.packing import LAYOUTS, check_layout, check_scale_layout
from mxemu.policy import Policy, get_policy
from mxemu.spec import MXFormat, formats, get_format

IN_KINDS = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}
DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}
# Lanes per program: 2048 on a GPU (a few KiB per program); the interpreter's cost is per program,
# so there one program takes 2^15 lanes.
GPU_LANES_PER_PROGRAM = 2048
INTERPRETER_LANES_PER_PROGRAM = 1 << 15


def interpreter_mode() -> bool:
    """Whether the Triton kernels were built for the CPU interpreter (TRITON_INTERPRET=1 when first imported).

    >>> isinstance(interpreter_mode(), bool)
    True
    """
    try:
        from triton.runtime.interpreter import InterpretedFunction
    except ImportError:
        return False
    return isinstance(_kernels().mx_block_kernel, InterpretedFunction)


def _kernels():
    try:
        from mxemu.cuda import kernels
    except ImportError as exc:
        raise BackendError(f"the Triton backend needs the triton package ({exc}); "
                           "from the mxemu checkout: python -m pip install -e '.[cuda]' (Triton: Linux only)") from None
    return kernels


def check_device(t: torch.Tensor, what: str = "x") -> None:
    """Raise `BackendError` unless the Triton kernels can run on t's device (CUDA, or CPU under the interpreter).

    >>> import torch
    >>> device = "cuda" if torch.cuda.is_available() else "cpu"  # CPU: under TRITON_INTERPRET=1
    >>> check_device(torch.zeros(32, device=device))  # returns None: the kernels can run there
    """
    if t.device.type == "cuda":
        return
    if t.device.type == "cpu" and interpreter_mode():
        return
    raise BackendError(f"{what} is on {t.device}; the Triton kernels run on CUDA tensors, or on CPU tensors "
                       "when TRITON_INTERPRET=1 is set before mxemu.cuda's kernels are imported")


def _check_input(x: object, what: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in IN_KINDS:
        raise InputError(f"{what} has dtype {x.dtype}; the Triton kernels take float32, bfloat16 and float16 "
                         "(use backend='numba' on a CPU tensor for float64)")
    validate.check_nonempty(tuple(x.shape))
    check_device(x, what)
    return x.contiguous()


def covers(f: MXFormat) -> bool:
    """Whether the Triton kernels implement block format f: one level, E8M0 scale."""
    return not f.two_level and f.scale.name == "e8m0"


def triton_formats() -> list[str]:
    """The registered block formats the Triton kernels implement: `mxemu.formats(kind="mx")` with the E8M0 scale.

    >>> "mxfp4_e2m1" in triton_formats() and "nvfp4" not in triton_formats()
    True
    """
    return [n for n in formats(kind="mx") if covers(get_format(n))]


def _mx_format(fmt: object) -> MXFormat:
    f = validate.mx_format(fmt)
    if not covers(f):
        raise InputError(f"{f.name} has a non-E8M0 or per-tensor scale; the Triton kernels cover the E8M0 MX "
                         "formats (use backend='numba')")
    return f


@dataclass(frozen=True)
class _Geometry:
    """The input as a contiguous (A, N1, MID, N2, B) array with K1 x K2 blocks, and the scales' shape."""

    dims: tuple[int, ...]
    k1: int
    k2: int
    scale_shape: tuple[int, ...]

    @property
    def nblocks(self) -> int:
        a, n1, mid, n2, b = self.dims
        return a * -(-n1 // self.k1) * mid * -(-n2 // self.k2) * b

    def args(self) -> tuple[int, ...]:
        _, n1, mid, n2, b = self.dims
        return (self.nblocks, -(-n1 // self.k1), mid, -(-n2 // self.k2), b, n1, n2,
                n1 * mid * n2 * b, mid * n2 * b, n2 * b, b)


def _geometry(shape: tuple[int, ...], axes: tuple[int, ...], k: int) -> _Geometry:
    ax = sorted(axes)
    prod = lambda dims: math.prod(dims) if dims else 1
    if len(ax) == 1:
        (n,) = ax
        dims = (prod(shape[:n]), 1, 1, shape[n], prod(shape[n + 1:]))
        k1 = 1
    else:
        p, r = ax
        dims = (prod(shape[:p]), shape[p], prod(shape[p + 1:r]), shape[r], prod(shape[r + 1:]))
        k1 = k
    return _Geometry(dims, k1, k, block_geometry(shape, axes, k)[1])


def _random_source(x: torch.Tensor, pol: Policy, seed: int | None, random_bits: object
                   ) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(RBITS mode, seed words int32[2], random integers int64 of x's shape) for the kernel."""
    dummy = torch.zeros(2, dtype=torch.int32, device=x.device)
    if not validate.draws_random_bits(pol, random_bits):
        return 0, dummy, dummy.long()
    if random_bits is not None:
        r = torch.as_tensor(random_bits)
        integer = not (r.dtype.is_floating_point or r.dtype.is_complex or r.dtype == torch.bool)
        validate.check_random_bits(r.dtype, integer, tuple(r.shape), tuple(x.shape),
                                   lambda: (int(r.min()), int(r.max())), pol.sr_bits)
        return 2, dummy, r.to(device=x.device, dtype=torch.int64).contiguous()
    seed = validate.check_seed(seed)
    words = [(seed >> sh) & 0xFFFFFFFF for sh in (0, 32)]
    words = torch.tensor([w - (1 << 32) if w >= 1 << 31 else w for w in words], dtype=torch.int32, device=x.device)
    return 1, words, dummy.long()


_TABLES: dict[tuple[bytes, str], torch.Tensor] = {}


def _device_table(table, device: torch.device) -> torch.Tensor:
    """A 256-entry int32 table on `device`, copied there once per distinct table."""
    key = (table.tobytes(), str(device))
    if key not in _TABLES:
        _TABLES[key] = torch.from_numpy(table).to(device)
    return _TABLES[key]


def _output_constants(dtype_name: str) -> dict[str, int]:
    F, P = constants.OUTPUT_TUPLES[dtype_name], constants.OUTPUT_POLICIES[dtype_name]
    c = constants.lane_constants(F, P)
    keys = ("BITS", "M", "EMIN", "EMAX", "KMAX", "SIGNBIT", "ZC0", "ZC1", "MAXC0", "MAXC1", "OVFI0", "OVFI1")
    out = {f"O_{k}": c[k] for k in keys}
    for s in (0, 1):
        out[f"O_NAN{s}"] = c[f"NANC{s}"]
        out[f"O_INF{s}"] = c[f"INFC{s}"]
    return out


def _check_nan_policy(x: torch.Tensor, f: MXFormat, pol: Policy) -> None:
    """The numba path's check: NaN into an element format without NaN under nan_to_nonan='error'."""
    if pol.nonfinite in ("ignore_nan", "finite_amax"):
        validate.check_nan_input(lambda: bool(torch.isnan(x).any()), f.element, pol)


def triton_policy(pol: Policy) -> Policy:
    """`pol` with the rules the Triton kernels do not implement (zero_sign fp32_quotient, fake_int_zero
    signed: microxcaling's; int_emax one and the float32 scale values: Brevitas's and Quark's) set to the ocp
    values; the rest of a preset such as microxcaling is what the device self-check and its tests compare."""
    ocp = Policy()
    changes = {f: getattr(ocp, f) for f in ("zero_sign", "fake_int_zero", "int_emax", "scale_value")
               if getattr(pol, f) != getattr(ocp, f) and (f, getattr(pol, f)) != ("zero_sign", "positive")}
    return pol.replace(**changes) if changes else pol


def _check_zero_sign_policy(pol: Policy) -> None:
    """`PolicyError` for the sign-of-zero rules the Triton kernels do not implement (the numba path does)."""
    if pol.zero_sign == "fp32_quotient" or pol.fake_int_zero != "positive":
        raise PolicyError(f"mxemu.cuda does not implement zero_sign={pol.zero_sign!r} with "
                          f"fake_int_zero={pol.fake_int_zero!r}; accepted: zero_sign keep or positive with "
                          "fake_int_zero positive (use mxemu.fake_quantize on CPU tensors for this policy)")
    _check_peer_scale_policy(pol)


def _check_peer_scale_policy(pol: Policy) -> None:
    """`PolicyError` for the peers' scale rules the Triton kernels do not implement (int_emax one, the float32
    scale values of Brevitas and Quark; the numba path does)."""
    if pol.int_emax != "zero" or pol.scale_value != "e8m0":
        raise PolicyError(f"mxemu.cuda does not implement int_emax={pol.int_emax!r} with "
                          f"scale_value={pol.scale_value!r}; accepted: int_emax zero with scale_value e8m0 "
                          "(use mxemu.fake_quantize on CPU tensors for this policy)")


def _check_packing(layout: object, scale_layout: object, f: MXFormat, lanes: int, unpacked: bool) -> None:
    """`InputError` unless `layout` (None, where `unpacked`: unpacked codes) and `scale_layout` are
    `mxemu.packing` names that take f's element width and whose blocks of `lanes` codes fill whole bytes."""
    check_scale_layout(scale_layout)
    bits = check_layout(layout, f.element.bits, unpacked)
    if layout is None:
        if scale_layout != "separate":
            raise InputError(f"scale_layout {scale_layout!r} needs packed codes: give a layout "
                             f"({', '.join(LAYOUTS)})")
        return
    if lanes * bits % 8:
        raise InputError(f"packed output needs each block's codes to fill whole bytes; {lanes} x {bits} bits "
                         f"of {f.name} do not (quantize unpacked and use mxemu.packing)")


def _tiles_reversed(axes: tuple[int, ...]) -> bool:
    """Whether 2-D tiles were given as (later axis, earlier axis): to_blocks then transposes each tile."""
    return len(axes) == 2 and axes[0] > axes[1]


def _launch(x: object, fmt: object, axis: object, policy: object, seed: int | None, random_bits: object,
            mode: int, layout: object = None, scale_layout: object = "separate") -> tuple[torch.Tensor, ...]:
    """Run mx_block_kernel. mode 0: (codes, scales); 1: (values,); 2: pack_array's output as a tuple."""
    x = _check_input(x)
    f = _mx_format(fmt)
    pol = get_policy(policy)
    axes = normalize_axes(axis, x.dim())
    geo = _geometry(tuple(x.shape), axes, f.block_size)
    _check_packing(layout, scale_layout, f, geo.k1 * geo.k2, unpacked=True)
    _check_nan_policy(x, f, pol)
    _check_zero_sign_policy(pol)
    F, P = format_params(f.element), policy_params(pol)
    name = DTYPE_NAMES[x.dtype]
    sc_inf, sc_inf_exp = constants.special_scales(F, P, INPUT_LAYOUTS[name][0])
    rbits_mode, seed_words, rbits = _random_source(x, pol, seed, random_bits)
    dev = x.device
    thr = _device_table(constants.scale_thresholds(F, P), dev)
    dec = _device_table(constants.decode_table(F), dev)
    interleaved = scale_layout == "interleaved"
    pack = constants.packing_constants(layout, f.element.bits, interleaved, _tiles_reversed(axes))
    codes, scales = _code_outputs(x, geo, mode, pack)
    fake = mode == 1
    out = torch.empty_like(x) if fake else codes
    xin = x.view(torch.int32) if name == "float32" else x.view(torch.int16) if name == "bfloat16" else x
    oview = out.view(torch.int32 if name == "float32" else torch.int16) if fake else out
    bb = _blocks_per_program(geo)
    grid = (_cdiv(geo.nblocks, bb),)
    _kernels().mx_block_kernel[grid](
        xin, codes, scales, oview, rbits, seed_words, thr, dec, *geo.args(),
        MODE=mode, IN_KIND=IN_KINDS[x.dtype], RBITS=rbits_mode, BB=bb, K1=geo.k1, K2=geo.k2,
        NONFINITE=P[NONFINITE], SUBNORMAL=P[SUBNORMAL_INPUTS], ZERO_BLOCK_SCALE=P[ZERO_BLOCK_SCALE],
        SC_INF=sc_inf, SC_INF_EXP=sc_inf_exp, MIN_SCALE=P[MIN_SCALE_ENCODING], NSC=constants.nan_scale_code(F),
        ROUNDING=P[ROUNDING], SR_BITS=P[SR_BITS],
        **constants.lane_constants(F, P), **_output_constants(name), **pack)
    if fake:
        return (out,)
    return (codes,) if interleaved else (codes, scales)


def _code_outputs(x: torch.Tensor, geo: _Geometry, mode: int, pack: dict[str, int]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel's code and scale buffers: codes of x's shape and scales of the scale shape, or for
    mode 2 the packed bytes (one record per block, scale byte first if interleaved) and the scale rows."""
    if mode != 2:
        return (torch.empty(x.shape, dtype=torch.uint8, device=x.device),
                torch.empty(geo.scale_shape, dtype=torch.uint8, device=x.device))
    record = _packed_block_bytes(geo, pack) + pack["INTERLEAVED"]
    packed = torch.empty(geo.nblocks * record, dtype=torch.uint8, device=x.device)
    # Interleaved records hold the scales; the kernel then gets a one-byte placeholder it never writes.
    return packed, torch.empty(1 if pack["INTERLEAVED"] else geo.nblocks, dtype=torch.uint8, device=x.device)


def _packed_block_bytes(geo: _Geometry, pack: dict[str, int]) -> int:
    """Bytes of one block's packed codes: its lanes in groups of G codes, NB bytes a group."""
    return geo.k1 * geo.k2 // pack["G"] * pack["NB"]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _blocks_per_program(geo: _Geometry) -> int:
    lanes = INTERPRETER_LANES_PER_PROGRAM if interpreter_mode() else GPU_LANES_PER_PROGRAM
    return max(1, lanes // (geo.k1 * geo.k2))


def quantize(x: torch.Tensor, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
             policy: str | Policy | None = None, seed: int | None = None,
             random_bits: torch.Tensor | None = None, layout: str | None = None,
             scale_layout: str = "separate") -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
    """(codes, scales) of x in an MX format: uint8 element codes of x's shape and uint8 E8M0 scale codes.

    The same bytes as `mxemu.quantize(...).codes` / `.scales` for the same data, policy and seed
    (blocks of `block_size` along `axis`; two axes give square 2-D tiles). x: a float32, bfloat16 or
    float16 tensor on a CUDA device (or on the CPU under TRITON_INTERPRET=1).

    With a `layout` of `mxemu.packing.LAYOUTS` ("byte", "byte_msb", "nibble_lo_first",
    "nibble_hi_first", "fp6_4in3", "bitstream_le"; docs/layouts.md), the kernel writes the bytes of
    `mxemu.array.pack_array(mxemu.quantize(...), layout, scale_layout)` instead: blocks as rows in
    `to_blocks` order (blocked axes moved last in the order given, 2-D tiles as rows of 32 x 32,
    padding lanes as code 0). scale_layout "separate" returns (packed elements, scales in row order),
    both flat uint8; "interleaved" returns one flat uint8 tensor of per-block records, scale byte
    first. Raises `InputError` for an unknown layout or one that does not take the format's
    element width (fp6_4in3 needs 6 bits, the nibble layouts 4). `dequantize_packed` reads the
    packed output back into values.

    >>> import torch
    >>> x = torch.tensor([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27)
    >>> codes, scales = quantize(x, "mxfp4_e2m1")
    >>> int(scales[0]), codes[:5].tolist()
    (127, [7, 6, 0, 2, 14])
    >>> packed, scales = quantize(x, "mxfp4_e2m1", layout="nibble_lo_first")
    >>> packed.shape, [hex(b) for b in packed[:3].tolist()]
    (torch.Size([16]), ['0x67', '0x20', '0xe'])
    """
    out = _launch(x, fmt, axis, policy, seed, random_bits, 0 if layout is None else 2, layout, scale_layout)
    return out if len(out) == 2 else out[0]


def fake_quantize(x: torch.Tensor, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
                  policy: str | Policy | None = None, seed: int | None = None,
                  random_bits: torch.Tensor | None = None) -> torch.Tensor:
    """quantize + dequantize in one pass, in x's dtype: the bits of `mxemu.fake_quantize` on the same data.

    >>> import torch
    >>> fake_quantize(torch.tensor([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27), "mxfp4")[:5].tolist()
    [6.0, 4.0, 0.0, 1.0, -4.0]
    """
    (out,) = _launch(x, fmt, axis, policy, seed, random_bits, mode=1)
    return out


def _check_code_tensor(t: object, what: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.dtype != torch.uint8:
        raise InputError(f"{what} must be a uint8 torch.Tensor, got "
                         f"{t.dtype if isinstance(t, torch.Tensor) else type(t).__name__}")
    check_device(t, what)
    return t


def _check_out_dtype(dtype: object) -> None:
    if dtype not in IN_KINDS:
        raise InputError(f"dtype {dtype} is not accepted; accepted: float32, bfloat16, float16")


def _unpacking_constants(layout: str | None, bits: int, interleaved: bool, tiles_reversed: bool) -> dict[str, int]:
    """constexprs of mx_dequantize_kernel's code source: unpacked codes (layout None) or a packed layout."""
    return {**constants.packing_constants(layout, bits, interleaved, tiles_reversed),
            "PACKED": int(layout is not None), "CODE_MASK": (1 << bits) - 1}


def _run_dequantize(codes: torch.Tensor, scales: torch.Tensor, f: MXFormat, shape: tuple[int, ...],
                    geo: _Geometry, dtype: torch.dtype, unpacking: dict[str, int]) -> torch.Tensor:
    """Launch mx_dequantize_kernel: values of `shape` in dtype from checked code and scale buffers."""
    name = DTYPE_NAMES[dtype]
    out = torch.empty(shape, dtype=dtype, device=codes.device)
    dec = _device_table(constants.decode_table(format_params(f.element)), codes.device)
    bb = _blocks_per_program(geo)
    _kernels().mx_dequantize_kernel[(_cdiv(geo.nblocks, bb),)](
        codes.contiguous(), scales.contiguous(), out.view(torch.int32 if name == "float32" else torch.int16), dec,
        *geo.args(), OUT_KIND=IN_KINDS[dtype], BB=bb, K1=geo.k1, K2=geo.k2, **_output_constants(name), **unpacking)
    return out


def dequantize(codes: torch.Tensor, scales: torch.Tensor, fmt: str | MXFormat, axis: int | tuple[int, int] = -1,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Values of element codes at their blocks' E8M0 scales in dtype (float32, bfloat16 or float16).

    The bits of `mxemu.MXArray.dequantize(dtype)` for the same codes and scales: the exact
    product rounded once (RNE, Inf beyond the output type's range, as the numba path and an IEEE cast do).
    For the packed output of `quantize(..., layout=...)` use `dequantize_packed`.

    >>> import torch
    >>> codes, scales = quantize(torch.tensor([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27), "mxfp4_e2m1")
    >>> dequantize(codes, scales, "mxfp4_e2m1")[:5].tolist()
    [6.0, 4.0, 0.0, 1.0, -4.0]
    """
    f = _mx_format(fmt)
    _check_code_tensor(codes, "codes")
    _check_code_tensor(scales, "scales")
    _check_out_dtype(dtype)
    validate.check_nonempty(tuple(codes.shape), "dequantize")
    axes = normalize_axes(axis, codes.dim())
    geo = _geometry(tuple(codes.shape), axes, f.block_size)
    if tuple(scales.shape) != geo.scale_shape:
        raise InputError(f"scales has shape {tuple(scales.shape)}; codes of shape {tuple(codes.shape)} blocked "
                         f"along {axes} need {geo.scale_shape}")
    if scales.device != codes.device:
        raise InputError(f"codes are on {codes.device} but scales on {scales.device}")
    validate.check_codes_range(0, int(codes.max()), f.element)
    return _run_dequantize(codes, scales, f, tuple(codes.shape), geo, dtype,
                           _unpacking_constants(None, f.element.bits, False, False))


def _check_shape(shape: object) -> tuple[int, ...]:
    shape = validate.check_shape(shape)
    validate.check_nonempty(shape, "dequantize")
    return shape


def _packed_parts(packed: object, scale_layout: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(packed elements or records, scales or None) of what `quantize(..., layout=...)` returns."""
    if scale_layout == "separate":
        if not isinstance(packed, (tuple, list)) or len(packed) != 2:
            raise InputError(f"scale_layout 'separate' takes the pair (packed elements, scales) that "
                             f"quantize(..., layout=...) returns, got {type(packed).__name__}")
        elements = _check_code_tensor(packed[0], "packed elements")
        scales = _check_code_tensor(packed[1], "scales")
        if scales.device != elements.device:
            raise InputError(f"packed elements are on {elements.device} but scales on {scales.device}")
        return elements, scales
    if not isinstance(packed, torch.Tensor):
        raise InputError(f"scale_layout 'interleaved' takes the one uint8 tensor of records that "
                         f"quantize(..., layout=..., scale_layout='interleaved') returns, got {type(packed).__name__}")
    return _check_code_tensor(packed, "packed records"), None


def _check_packed_sizes(elements: torch.Tensor, scales: torch.Tensor | None, f: MXFormat, shape: tuple[int, ...],
                        axes: tuple[int, ...], geo: _Geometry, layout: str, pack: dict[str, int]) -> None:
    """`InputError` unless the buffers hold exactly the bytes `pack_array` writes for this array."""
    lanes = geo.k1 * geo.k2
    body = _packed_block_bytes(geo, pack)
    what = f"shape {shape} of {f.name} blocked along {axes} is {geo.nblocks} block(s) of {lanes} codes"
    if scales is None:
        need = geo.nblocks * (1 + body)
        if elements.numel() != need:
            raise InputError(f"{what}: {geo.nblocks} interleaved record(s) of 1 scale byte + {body} bytes in layout "
                             f"{layout!r} take {need} bytes, got {elements.numel()}")
        return
    need = geo.nblocks * body
    if elements.numel() != need:
        raise InputError(f"{what}: layout {layout!r} packs them into {need} bytes ({body} a block), "
                         f"got {elements.numel()}")
    if scales.numel() != geo.nblocks:
        raise InputError(f"{what}: they need {geo.nblocks} scale bytes (one a block), got {scales.numel()}")


def dequantize_packed(packed: torch.Tensor | tuple[torch.Tensor, torch.Tensor], fmt: str | MXFormat,
                      shape: tuple[int, ...], axis: int | tuple[int, int] = -1,
                      dtype: torch.dtype = torch.float32, layout: str = "byte",
                      scale_layout: str = "separate") -> torch.Tensor:
    """Values of x's `shape` in dtype from the packed output of `quantize(x, fmt, axis, layout=..., scale_layout=...)`.

    The kernel reads each block's record and unpacks its codes in registers: the bits of
    `mxemu.array.unpack_array` (same arguments, on a numpy copy) followed by
    `MXArray.dequantize(dtype)`. `packed` is what quantize returned: the pair (packed
    elements, scales in row order) for scale_layout "separate", one tensor of records (scale byte
    first) for "interleaved"; uint8 tensors on a CUDA device (or on the CPU under TRITON_INTERPRET=1).
    `shape` and `axis` are x's. Raises `InputError` for an unknown layout or scale layout, a layout
    that does not take the format's element width, buffers of the wrong size (the message says how
    many bytes the shape, format and layout take), and wrong dtypes or devices. Unlike unpack_array
    it does not check the bits the layout keeps zero (padding bits and lanes): they are ignored.

    >>> import torch
    >>> x = torch.tensor([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 30)
    >>> records = quantize(x, "mxfp4_e2m1", layout="nibble_lo_first", scale_layout="interleaved")
    >>> records.numel()  # two blocks: a scale byte and 16 bytes of nibbles each
    34
    >>> y = dequantize_packed(records, "mxfp4_e2m1", x.shape, layout="nibble_lo_first", scale_layout="interleaved")
    >>> y.shape, y[:5].tolist()
    (torch.Size([35]), [6.0, 4.0, 0.0, 1.0, -4.0])
    """
    f = _mx_format(fmt)
    shape = _check_shape(shape)
    axes = normalize_axes(axis, len(shape))
    geo = _geometry(shape, axes, f.block_size)
    if layout is None:
        raise InputError(f"dequantize_packed needs a layout ({', '.join(LAYOUTS)}); "
                         "for unpacked codes use dequantize")
    _check_packing(layout, scale_layout, f, geo.k1 * geo.k2, unpacked=False)
    _check_out_dtype(dtype)
    elements, scales = _packed_parts(packed, scale_layout)
    interleaved = scales is None
    unpacking = _unpacking_constants(layout, f.element.bits, interleaved, _tiles_reversed(axes))
    _check_packed_sizes(elements, scales, f, shape, axes, geo, layout, unpacking)
    # Interleaved records hold the scales; the kernel then gets a one-byte placeholder it never reads.
    if interleaved:
        scales = torch.empty(1, dtype=torch.uint8, device=elements.device)
    return _run_dequantize(elements, scales, f, shape, geo, dtype, unpacking)
