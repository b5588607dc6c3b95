"""GPU throughput of the Triton kernels: fake-quantize, quantize and dequantize of 2^28 elements, beside a copy.

    python benchmarks/bench_gpu.py [--log2n 28] [--repeat 20]

GB/s counts bytes read and written: fake-quantize reads and writes n elements of the input dtype;
quantize reads n elements and writes n code bytes and n / 32 scale bytes (packed: n * bits / 8
code bytes, as the layout stores them, and n / 32 scale bytes); packed dequantize reads those
n * bits / 8 + n / 32 bytes and writes n elements of the dtype; the device-to-device
copy (the bandwidth bound) reads and writes n elements. torchao's Triton MXFP8 casts
(triton_to_mxfp8_dim0 / dim1, bfloat16 only) run beside them when torchao is installed. Prints the
device name and date; refuses without a CUDA device.
"""

from __future__ import annotations

import argparse
import datetime
import sys

import torch

import mxemu as mx
from mxemu import cuda
from mxemu.cuda.checks.selfcheck import require_cuda
from mxemu.errors import BackendError

FORMATS = ("mxfp8_e4m3", "mxfp4_e2m1", "mxint8")
# Packed quantize: (format, layout), the sub-byte layouts.
PACKED = (("mxfp4_e2m1", "nibble_lo_first"), ("mxfp6_e2m3", "fp6_4in3"))


def gpu_seconds(fn, repeat: int) -> float:
    """Median seconds of fn over `repeat` runs timed with CUDA events, after a warm-up (compilation)."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def row(name: str, dtype: torch.dtype, nbytes: int, seconds: float, copy_gbs: float | None) -> float:
    gbs = nbytes / seconds / 1e9
    frac = f"{100 * gbs / copy_gbs:5.1f}% of copy" if copy_gbs else ""
    print(f"{name:52s} {str(dtype).removeprefix('torch.'):9s} {seconds * 1e3:9.3f} ms {gbs:9.1f} GB/s  {frac}")
    return gbs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log2n", type=int, default=28)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    try:
        dev = require_cuda()
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = 1 << args.log2n
    print(f"{torch.cuda.get_device_name(dev)}  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}  "
          f"n = 2^{args.log2n}  torch {torch.__version__}")
    for dtype in (torch.bfloat16, torch.float32):
        x = torch.randn(n // 1024, 1024, device=dev).to(dtype)
        size = x.element_size()
        copy_gbs = row("device-to-device copy", dtype, 2 * n * size, gpu_seconds(lambda x=x: x.clone(), args.repeat),
                       None)
        for fmt in FORMATS:
            row(f"mxemu fake_quantize {fmt}", dtype, 2 * n * size,
                gpu_seconds(lambda x=x, f=fmt: cuda.fake_quantize(x, f), args.repeat), copy_gbs)
            row(f"mxemu quantize {fmt}", dtype, n * size + n + n // 32,
                gpu_seconds(lambda x=x, f=fmt: cuda.quantize(x, f), args.repeat), copy_gbs)
            row(f"mxemu fake_quantize {fmt} axis=0", dtype, 2 * n * size,
                gpu_seconds(lambda x=x, f=fmt: cuda.fake_quantize(x, f, axis=0), args.repeat), copy_gbs)
        for fmt, layout in PACKED:
            packed_bytes = n * mx.get_format(fmt).element.bits // 8 + n // 32
            row(f"mxemu quantize {fmt} {layout}", dtype, n * size + packed_bytes,
                gpu_seconds(lambda x=x, f=fmt, lay=layout: cuda.quantize(x, f, layout=lay), args.repeat), copy_gbs)
            packed = cuda.quantize(x, fmt, layout=layout)
            row(f"mxemu dequantize_packed {fmt} {layout}", dtype, packed_bytes + n * size,
                gpu_seconds(lambda p=packed, f=fmt, lay=layout, x=x, dt=dtype:
                            cuda.dequantize_packed(p, f, x.shape, dtype=dt, layout=lay), args.repeat), copy_gbs)
        if dtype == torch.bfloat16:
            try:
                from torchao.prototype.mx_formats.kernels import triton_to_mxfp8_dim0, triton_to_mxfp8_dim1
            except ImportError as exc:
                print(f"torchao Triton MX casts not available ({exc})")
                continue
            for name, fn in (("dim0", triton_to_mxfp8_dim0), ("dim1", triton_to_mxfp8_dim1)):
                row(f"torchao triton_to_mxfp8_{name} rceil", dtype, n * size + n + n // 32,
                    gpu_seconds(lambda x=x, fn=fn: fn(x, 32, "rceil"), args.repeat), copy_gbs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
