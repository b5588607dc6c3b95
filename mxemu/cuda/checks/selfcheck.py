"""GPU self-check: the Triton kernels against the numba kernels, exhaustively, and the FP8 casts against PTX.

Run on a machine with an NVIDIA GPU (refuses without one):

    python -m mxemu.cuda.checks.selfcheck            # everything, prints mismatch counts, exit 1 on any
    python -m mxemu.cuda.checks.selfcheck --quick    # smaller random part (2^24 per format)
    python -m mxemu.cuda.checks.selfcheck --parts ptx --presets ocp   # one part, one preset

1. Every bfloat16 bit pattern at every reachable E8M0 scale, for every MX format and policy
   preset: blocks led by each bfloat16 power of two 2^t (which fixes the scale) and filled with
   every bfloat16 value of magnitude <= 2^t, plus blocks of all 65536 patterns (NaN and Inf).
2. >= 2^28 random float32 elements per format (ocp preset; 2^24 for the other presets).
3. The element casts to fp8_e4m3 / fp8_e5m2 (RNE, saturating: the ocp policy) against the
   hardware's cvt.rn.satfinite.{e4m3,e5m2}x2.f32 over every float32 of a range around each
   format, as mismatch counts (finite and NaN inputs counted apart).
4. Packed quantize and dequantize: for every format and every layout of `mxemu.packing` that
   takes its width, 2^22 random float32 blocked along the last axis, a leading axis and 2-D tiles
   (both lane orders), the bytes against `pack_array` (separate and interleaved scales), and
   `dequantize_packed` of those bytes against the numba dequantize (float32, bfloat16 and float16
   outputs in turn), as mismatched bytes and values.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import zlib

import numpy as np
import torch
import triton
import triton.language as tl

import mxemu as mx
from mxemu.cuda.api import triton_formats, triton_policy
from mxemu.cuda.checks import diffcheck
from mxemu.errors import BackendError
from mxemu.packing import LAYOUTS
from mxemu.policy import PRESETS, get_policy

FORMATS = tuple(triton_formats())
CHUNK = 1 << 24
PACKED_N = 1 << 22
# Blockings of the packed part, each with the scale layout it is checked in and the dtype its
# packed dequantize writes.
PACKED_AXES = ((-1, "separate", torch.float32), (0, "interleaved", torch.bfloat16),
               ((1, 0), "separate", torch.float16), ((0, 1), "interleaved", torch.float32))
# PTX casts and the float32 exponent ranges swept for them: all float32 with a biased exponent in
# [lo, hi), both signs (from below the format's smallest subnormal to beyond its max normal).
PTX_CASTS = {"fp8_e4m3": ("cvt.rn.satfinite.e4m3x2.f32 $0, $1, $2;", 127 - 12, 127 + 10),
             "fp8_e5m2": ("cvt.rn.satfinite.e5m2x2.f32 $0, $1, $2;", 127 - 18, 127 + 17)}


def require_cuda() -> torch.device:
    """The CUDA device, or `BackendError` when there is none."""
    if not torch.cuda.is_available():
        raise BackendError("no CUDA device: the GPU self-check needs an NVIDIA GPU (the interpreter-mode "
                           "tests, python -m pytest tests/test_cuda_triton.py, run on the CPU)")
    return torch.device("cuda")


def bfloat16_blocks() -> torch.Tensor:
    """The bfloat16 inputs of part 1, as one float32 tensor of whole blocks of 32 (exact in bfloat16)."""
    pats = np.arange(1 << 16, dtype=np.uint32)
    vals = (pats << 16).view(np.float32)
    finite = vals[np.isfinite(vals)]
    mags = np.abs(finite)
    blocks = [vals]  # all patterns, NaN and Inf included, in bit order
    for t in range(-133, 128):
        lead = np.float32(2.0**t)
        chosen = finite[mags <= lead]
        n = -(-chosen.size // 31)
        lanes = np.zeros(n * 31, np.float32)
        lanes[: chosen.size] = chosen
        blocks.append(np.concatenate([np.full((n, 1), lead, np.float32), lanes.reshape(n, 31)], axis=1).reshape(-1))
    return torch.from_numpy(np.concatenate(blocks))


def exhaustive_bfloat16(dev: torch.device, presets: list[str]) -> int:
    x = bfloat16_blocks().to(torch.bfloat16).to(dev)
    total = 0
    for fmt in FORMATS:
        for preset in presets:
            m = diffcheck.mismatches(x, fmt, triton_policy(get_policy(preset)))
            total += m.total
            print(f"bf16 exhaustive  {fmt:11s} {preset:19s} {x.numel():>10d} elements  {m}", flush=True)
    return total


def random_float32(dev: torch.device, n_ocp: int, n_other: int, presets: list[str]) -> int:
    total = 0
    for fmt in FORMATS:
        for preset in presets:
            n = n_ocp if preset == "ocp" else n_other
            bad = 0
            for i in range(0, n, CHUNK):
                g = torch.Generator().manual_seed(zlib.crc32(f"{fmt}/{preset}/{i}".encode()))
                x = diffcheck.random_values(min(CHUNK, n - i), g).to(dev)
                bad += diffcheck.mismatches(x, fmt, triton_policy(get_policy(preset))).total
            total += bad
            print(f"fp32 random      {fmt:11s} {preset:19s} {n:>10d} elements  mismatches={bad}", flush=True)
    return total


@triton.jit
def cvt_kernel(x_ptr, out_ptr, n, ASM: tl.constexpr, BLOCK: tl.constexpr):
    """out[i] = low byte of the PTX conversion ASM of the float32 pair (x[i], x[i])."""
    o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = o < n
    x = tl.load(x_ptr + o, mask=m, other=0.0)
    r = tl.inline_asm_elementwise(ASM, "=h,r,r", [x, x], dtype=tl.int16, is_pure=True, pack=1)
    tl.store(out_ptr + o, (r & 0xFF).to(tl.uint8), mask=m)


def ptx_cast_mismatches(dev: torch.device) -> int:
    total = 0
    for el, (asm, lo, hi) in PTX_CASTS.items():
        bad_finite = count = 0
        for sign in (0, 1):
            for start in range(lo << 23, hi << 23, CHUNK):
                bits = np.arange(start, min(start + CHUNK, hi << 23), dtype=np.uint32) | np.uint32(sign << 31)
                x_np = bits.view(np.float32)
                x = torch.from_numpy(x_np).to(dev)
                out = torch.empty(x.numel(), dtype=torch.uint8, device=dev)
                cvt_kernel[(triton.cdiv(x.numel(), 1024),)](x, out, x.numel(), ASM=asm, BLOCK=1024)
                ref = mx.encode(x_np, el, policy="ocp")
                diff = out.cpu().numpy() != ref
                bad_finite += int(np.count_nonzero(diff))
                count += x_np.size
        # NaN and Inf inputs (sign both ways): PTX's NaN is one canonical code, the policy keeps the sign.
        specials = np.array([np.inf, -np.inf, np.nan, -np.nan], np.float32)
        x = torch.from_numpy(specials).to(dev)
        out = torch.empty(4, dtype=torch.uint8, device=dev)
        cvt_kernel[(1,)](x, out, 4, ASM=asm, BLOCK=1024)
        ref = mx.encode(specials, el, policy="ocp")
        bad_nan = int(np.count_nonzero(out.cpu().numpy() != ref))
        total += bad_finite
        print(f"PTX {asm.split()[0]:30s} {count:>11d} finite float32 inputs  mismatches={bad_finite}  "
              f"(Inf/NaN: {bad_nan} of 4 differ: PTX {out.cpu().tolist()} vs mxemu {ref.tolist()})", flush=True)
    return total


def packed_layouts(dev: torch.device) -> int:
    total = 0
    g = torch.Generator().manual_seed(zlib.crc32(b"packed"))
    x = diffcheck.random_values(PACKED_N, g).reshape(-1, 1024).to(dev)
    for fmt in FORMATS:
        bits = mx.get_format(fmt).element.bits
        for layout in (name for name, widths in LAYOUTS.items() if bits in widths):
            bad_bytes = sum(diffcheck.packed_mismatches(x, fmt, layout, scale_layout, "ocp", axis)
                            for axis, scale_layout, _ in PACKED_AXES)
            bad_values = sum(diffcheck.packed_dequantize_mismatches(x, fmt, layout, scale_layout, "ocp", axis, dtype)
                             for axis, scale_layout, dtype in PACKED_AXES)
            total += bad_bytes + bad_values
            print(f"packed           {fmt:11s} {layout:19s} {x.numel():>10d} elements x {len(PACKED_AXES)} blockings  "
                  f"mismatched bytes={bad_bytes}  dequantized values={bad_values}", flush=True)
    return total


def main(argv: list[str] | None = None) -> int:
    """Run the self-check; exit status 0 when every count is zero, 1 otherwise, 2 without a GPU."""
    ap = argparse.ArgumentParser(prog="python -m mxemu.cuda.checks.selfcheck", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2^24 random float32 per format instead of 2^28")
    ap.add_argument("--presets", default=",".join(PRESETS), help="comma-separated policy presets")
    ap.add_argument("--parts", default="bf16,random,ptx,packed",
                    help="comma-separated parts to run: bf16 (exhaustive), random (float32), ptx (fp8 casts), "
                         "packed (packed layouts, quantize and dequantize)")
    args = ap.parse_args(argv)
    try:
        dev = require_cuda()
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    presets = [p for p in args.presets.split(",") if p]
    print(f"mxemu GPU self-check on {torch.cuda.get_device_name(dev)}, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}", flush=True)
    t0 = time.perf_counter()
    parts = set(args.parts.split(","))
    bad = 0
    if "bf16" in parts:
        bad += exhaustive_bfloat16(dev, presets)
    if "random" in parts:
        bad += random_float32(dev, CHUNK if args.quick else 1 << 28, CHUNK, presets)
    if "ptx" in parts:
        bad += ptx_cast_mismatches(dev)
    if "packed" in parts:
        bad += packed_layouts(dev)
    print(f"total mismatches: {bad}  ({time.perf_counter() - t0:.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
