"""Benchmark: batched MX dot products (N row pairs of K elements) per accumulation model, in block pairs per second."""

from __future__ import annotations

import argparse

import numpy as np
from timing import median_seconds

import mxemu as mx

MODELS = ("exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32", "truncated:16:24", "fixed_point:16:40:rne",
          "fixed_point:16:40:rdn:s23.8:rdn", "fixed_point:16:40:rne:scaled", "float_acc:23:8:exponent:24:rdn:rdn:rtz")


def main() -> None:
    """Print the median time of one batched dot per model and format pair, and block pairs per second."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1 << 16)
    parser.add_argument("--blocks", type=int, default=2, help="blocks per row (K = 32 * blocks)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.rows, 32 * args.blocks)
    pairs = args.rows * args.blocks
    print(f"dot of {args.rows} row pairs x {shape[1]} elements ({pairs} block pairs), median of {args.repeat} runs")
    print(f"{'A x B':<24} {'accumulation':<34} {'ms':>9} {'Mblock pairs/s':>15}")
    for fa, fb in (("mxfp8_e4m3", "mxfp8_e4m3"), ("mxfp8_e5m2", "mxfp8_e5m2"), ("mxfp4_e2m1", "mxint8")):
        a = mx.quantize(rng.standard_normal(shape).astype(np.float32), fa, axis=1)
        b = mx.quantize(rng.standard_normal(shape).astype(np.float32), fb, axis=1)
        for model in MODELS:
            t = median_seconds(lambda a=a, b=b, m=model: mx.dot(a, b, m), args.repeat)
            print(f"{fa + ' x ' + fb:<24} {model:<34} {t * 1e3:9.1f} {pairs / t / 1e6:15.2f}")


if __name__ == "__main__":
    main()
