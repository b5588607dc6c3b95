"""Benchmark: MX matmul (512x512 by 512x512) under the exact models next to dequantize + numpy float32."""

from __future__ import annotations

import argparse

import numpy as np
from timing import median_seconds

import mxemu as mx
from mxemu.products import matmul


def main() -> None:
    """Print median times and ratios to dequantize + numpy float32 matmul for each operand format."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n = args.size
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n)).astype(np.float32)
    y = rng.standard_normal((n, n)).astype(np.float32)
    print(f"matmul {n}x{n} @ {n}x{n}, median of {args.repeat} runs")
    print(f"{'format':<12} {'method':<28} {'ms':>9} {'x numpy':>8}")
    for fmt in ("mxfp8_e4m3", "mxfp4_e2m1"):
        A = mx.quantize(x, fmt, axis=1)
        B = mx.quantize(y, fmt, axis=0)
        base = median_seconds(lambda A=A, B=B: A.dequantize(np.float32) @ B.dequantize(np.float32), args.repeat)
        a32, b32 = A.dequantize(np.float32), B.dequantize(np.float32)
        rows = [("dequantize + numpy float32", base),
                ("numpy float32 only", median_seconds(lambda a32=a32, b32=b32: a32 @ b32, args.repeat))]
        for model in ("block_exact_fp32", "exact"):
            rows.append((model, median_seconds(lambda A=A, B=B, m=model: matmul(A, B, m), args.repeat)))
        for name, t in rows:
            print(f"{fmt:<12} {name:<28} {t * 1e3:9.2f} {t / base:8.1f}")


if __name__ == "__main__":
    main()
