"""Compiles the Triton kernels' constexpr variants to PTX for an NVIDIA target, without a GPU.

The interpreter-mode tests run the kernels' arithmetic on the CPU; this check runs the Triton
compiler itself (front end, type checks, LLVM, ptxas) over variants that together take every
constexpr branch, so a kernel that only the interpreter accepts fails here. It needs the kernels
imported without TRITON_INTERPRET:

    python -m mxemu.cuda.checks.compilecheck            # sm_90, prints one line per variant
"""

from __future__ import annotations

import sys
import time

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

import mxemu as mx
from mxemu.cuda import api, constants, kernels
from mxemu.cuda.checks import selfcheck
from mxemu.kernels.abi import (
    MIN_SCALE_ENCODING,
    NONFINITE,
    ROUNDING,
    SR_BITS,
    SUBNORMAL_INPUTS,
    ZERO_BLOCK_SCALE,
    format_params,
    policy_params,
)

POINTERS = {"x_ptr": ("*i32", "*i16", "*fp16"), "out_ptr": ("*i32", "*i16", "*i16"), "codes_ptr": "*u8",
            "scales_ptr": "*u8", "rbits_ptr": "*i64", "seed_ptr": "*i32", "thr_ptr": "*i32", "dec_ptr": "*i32"}
DTYPES = ("float32", "bfloat16", "float16")
# (format, policy changes, MODE, IN_KIND, RBITS, K1): together every rounding mode, non-finite rule,
# subnormal mode, min-scale encoding, input kind, random source, element kind and block shape.
BLOCK_VARIANTS = (
    ("mxfp8_e4m3", {}, 0, 0, 0, 1),
    ("mxint8", {"rounding": "stochastic", "nonfinite": "propagate", "subnormal_inputs": "flush_block",
                "min_scale_encoding": "min_normal"}, 1, 1, 1, 1),
    ("mxfp8_e5m2", {"rounding": "stochastic", "nonfinite": "ignore_nan", "subnormal_inputs": "flush",
                    "min_scale_encoding": "one", "overflow": "ieee"}, 1, 2, 2, 1),
    ("mxfp4_e2m1", {"rounding": "rna", "nonfinite": "finite_amax"}, 0, 1, 0, 32),
    ("mxfp6_e3m2", {"rounding": "rtz", "nonfinite": "inf_as_exponent"}, 1, 0, 0, 1),
    ("mxint4", {"rounding": "rup"}, 0, 2, 0, 32),
    ("mxfp6_e2m3", {"rounding": "rdn", "overflow": "ieee"}, 1, 1, 0, 1),
    ("mxfp8_e4m3", {"rounding": "rto"}, 1, 0, 0, 1),
)
# Packed quantize (MODE 2): (format, layout, interleaved scales, K1, tile axes reversed): groups of
# 1, 2, 4 and 8 codes, a power-of-two and a padded byte count per group, both scale layouts and
# both tile lane orders.
PACKED_VARIANTS = (
    ("mxfp4_e2m1", "nibble_lo_first", False, 1, False),
    ("mxfp4_e2m1", "nibble_hi_first", True, 32, True),
    ("mxfp6_e2m3", "fp6_4in3", False, 1, False),
    ("mxint5", "bitstream_le", True, 32, False),
    ("mxfp8_e4m3", "byte_msb", True, 1, False),
)


def _compile(fn, pointers: dict[str, str], consts: dict[str, int], target: GPUTarget) -> int:
    names = fn.arg_names
    sig = {n: pointers.get(n, "constexpr" if n in consts else "i64") for n in names}
    src = ASTSource(fn=fn, signature=sig, constexprs={(names.index(k),): v for k, v in consts.items()})
    return len(triton.compile(src, target=target).asm["ptx"])


def block_variant(fmt: str, changes: dict, mode: int, in_kind: int, rbits: int, k1: int,
                  target: GPUTarget, packing: dict[str, int] | None = None) -> int:
    """PTX size of one variant of `mx_block_kernel` (packing: the constexprs of a packed layout)."""
    pol = mx.get_policy("ocp").replace(**changes)
    el = mx.get_format(fmt).element
    F, P = format_params(el), policy_params(pol)
    if packing is None:
        packing = constants.packing_constants(None, el.bits, False, False)
    consts = dict(MODE=mode, IN_KIND=in_kind, RBITS=rbits, BB=64 if k1 == 1 else 2, K1=k1, K2=32,
                  NONFINITE=P[NONFINITE], SUBNORMAL=P[SUBNORMAL_INPUTS], ZERO_BLOCK_SCALE=P[ZERO_BLOCK_SCALE],
                  SC_INF=254, SC_INF_EXP=254, MIN_SCALE=P[MIN_SCALE_ENCODING], NSC=constants.nan_scale_code(F),
                  ROUNDING=P[ROUNDING], SR_BITS=P[SR_BITS],
                  **constants.lane_constants(F, P), **api._output_constants(DTYPES[in_kind]), **packing)
    ptrs = {k: v if isinstance(v, str) else v[in_kind] for k, v in POINTERS.items()}
    return _compile(kernels.mx_block_kernel, ptrs, consts, target)


def dequantize_variant(kind: int, packed: tuple[str, str, bool, bool] | None, k1: int = 1,
                       target: GPUTarget | None = None) -> int:
    """PTX size of one variant of `mx_dequantize_kernel` for output dtype DTYPES[kind]; packed:
    (format, layout, interleaved scales, tile axes reversed), None for unpacked codes."""
    if packed is None:
        unpacking = api._unpacking_constants(None, 8, False, False)
    else:
        fmt, layout, interleaved, reversed_tiles = packed
        unpacking = api._unpacking_constants(layout, mx.get_format(fmt).element.bits, interleaved, reversed_tiles)
    consts = dict(OUT_KIND=kind, BB=64 if k1 == 1 else 2, K1=k1, K2=32, **api._output_constants(DTYPES[kind]),
                  **unpacking)
    ptrs = {"codes_ptr": "*u8", "scales_ptr": "*u8", "out_ptr": POINTERS["out_ptr"][kind], "dec_ptr": "*i32"}
    return _compile(kernels.mx_dequantize_kernel, ptrs, consts, target)


def run(target: GPUTarget) -> int:
    """Compile every variant (block kernel, unpacked and packed dequantize kernel, the PTX cast kernel)."""
    n = 0
    for v in BLOCK_VARIANTS:
        t0 = time.perf_counter()
        size = block_variant(*v, target=target)
        print(f"mx_block_kernel {v[0]:11s} {v[1]} MODE={v[2]} IN_KIND={v[3]} RBITS={v[4]} K1={v[5]}: "
              f"{size} bytes of PTX ({time.perf_counter() - t0:.1f} s)", flush=True)
        n += 1
    for fmt, layout, interleaved, k1, reversed_tiles in PACKED_VARIANTS:
        packing = constants.packing_constants(layout, mx.get_format(fmt).element.bits, interleaved, reversed_tiles)
        size = block_variant(fmt, {}, 2, 1, 0, k1, target, packing)
        print(f"mx_block_kernel {fmt:11s} packed {layout} interleaved={interleaved} K1={k1} "
              f"TILE_T={int(reversed_tiles)}: {size} bytes of PTX", flush=True)
        n += 1
    for kind, name in enumerate(DTYPES):
        print(f"mx_dequantize_kernel {name}: {dequantize_variant(kind, None, target=target)} bytes of PTX", flush=True)
        n += 1
    # Packed dequantize: the packed quantize variants, each read back into one output dtype.
    for i, (fmt, layout, interleaved, k1, reversed_tiles) in enumerate(PACKED_VARIANTS):
        kind = i % len(DTYPES)
        size = dequantize_variant(kind, (fmt, layout, interleaved, reversed_tiles), k1, target)
        print(f"mx_dequantize_kernel {DTYPES[kind]} packed {fmt} {layout} interleaved={interleaved} K1={k1} "
              f"TILE_T={int(reversed_tiles)}: {size} bytes of PTX", flush=True)
        n += 1
    for asm, _, _ in selfcheck.PTX_CASTS.values():
        size = _compile(selfcheck.cvt_kernel, {"x_ptr": "*fp32", "out_ptr": "*u8"},
                        {"ASM": asm, "BLOCK": 1024}, target)
        print(f"cvt_kernel {asm.split()[0]}: {size} bytes of PTX", flush=True)
        n += 1
    return n


if __name__ == "__main__":
    if api.interpreter_mode():
        sys.exit("error: unset TRITON_INTERPRET: the compile check needs the compiled kernels")
    print(f"compiled {run(GPUTarget('cuda', 90, 32))} kernel variants for sm_90")
