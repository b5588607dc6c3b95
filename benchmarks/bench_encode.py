"""Encode every float32 bit pattern into each element format: time, SHA-256 digest, ml_dtypes check.

For each element format, mx.encode(x, fmt, policy=--policy) runs over all 2^32 float32 inputs in
chunks of 2^--chunk-log2 (in bit-pattern order); the SHA-256 of the concatenated uint8 codes is the
format's digest. For the formats ml_dtypes 0.6 has (fp8_e4m3, fp8_e5m2, fp6_e3m2, fp6_e2m3, fp4_e2m1)
the codes under the `ml_dtypes` preset are compared with x.astype(<ml_dtypes type>).view(np.uint8)
over the whole space (0 mismatches expected; mismatches are reported by input class). Last, the
encode throughput float32 -> fp8_e4m3 and -> fp4_e2m1 on a random array, next to np.copyto of the
same array, measured in the same run (medians).

    python benchmarks/bench_encode.py            # the whole 2^32 space (several minutes)
    python benchmarks/bench_encode.py --quick    # 16 chunks of 2^22 spread over the space
"""

from __future__ import annotations

import argparse
import hashlib
import time

import ml_dtypes
import numba
import numpy as np
from timing import median_seconds

import mxemu as mx

FORMATS = ["fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1",
           "int8", "int7", "int6", "int5", "int4", "int3", "int2"]
ML_DTYPES = {"fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2,
             "fp6_e3m2": ml_dtypes.float6_e3m2fn, "fp6_e2m3": ml_dtypes.float6_e2m3fn,
             "fp4_e2m1": ml_dtypes.float4_e2m1fn}


def chunks(chunk_log2: int, quick: bool):
    """(start, count) of the chunks of the float32 bit space to visit, in order."""
    if quick:
        return [(i << 28, 1 << 22) for i in range(16)]
    size = 1 << chunk_log2
    return [(start, size) for start in range(0, 1 << 32, size)]


def input_classes(x: np.ndarray, element: mx.ElementFormat) -> dict[str, int]:
    """Counts of NaN, Inf, zero, float32-subnormal, beyond-max-normal and other inputs."""
    a = np.abs(x.astype(np.float64))
    classes = {"nan": np.isnan(x), "inf": np.isinf(x), "zero": a == 0,
               "subnormal": (a > 0) & (a < 2.0 ** -126), "beyond max": np.isfinite(a) & (a > element.max_normal)}
    rest = ~np.logical_or.reduce(list(classes.values()))
    return {k: int(v.sum()) for k, v in {**classes, "other": rest}.items() if v.any()}




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 2^26-input sample of the space, shorter timing runs")
    ap.add_argument("--policy", default="ocp", help="policy of the digests (default ocp)")
    ap.add_argument("--formats", nargs="*", default=FORMATS)
    ap.add_argument("--chunk-log2", type=int, default=26)
    args = ap.parse_args()
    plan = chunks(args.chunk_log2, args.quick)
    total = sum(n for _, n in plan)
    buf = np.empty(max(n for _, n in plan), np.uint32)
    base = np.arange(buf.size, dtype=np.uint32)
    print(f"mxemu {mx.__version__}, numba {numba.__version__} ({numba.get_num_threads()} threads), "
          f"ml_dtypes {ml_dtypes.__version__}; {total} float32 inputs"
          f"{' (sample: 16 chunks of 2^22)' if args.quick else ' (all 2^32)'}, policy {args.policy}\n")
    head = f"{'format':<10}{'encode s':>9}{'Melem/s':>9}  {'sha256 of codes':<64}  ml_dtypes mismatches"
    print(head)
    print("-" * len(head))
    for fmt in args.formats:
        element = mx.get_format(fmt)
        digest = hashlib.sha256()
        t_encode = 0.0
        compare = fmt in ML_DTYPES
        mismatches: dict[str, int] = {}
        for start, n in plan:
            np.add(base[:n], np.uint32(start), out=buf[:n])
            x = buf[:n].view(np.float32)
            t0 = time.perf_counter()
            codes = mx.encode(x, fmt, policy=args.policy)
            t_encode += time.perf_counter() - t0
            digest.update(codes.tobytes())
            if compare:
                ours = codes if args.policy == "ml_dtypes" else mx.encode(x, fmt, policy="ml_dtypes")
                with np.errstate(invalid="ignore"):
                    theirs = x.astype(ML_DTYPES[fmt]).view(np.uint8)
                bad = ours != theirs
                if bad.any():
                    for k, v in input_classes(x[bad], element).items():
                        mismatches[k] = mismatches.get(k, 0) + v
        by_class = ", ".join(f"{k} {v}" for k, v in mismatches.items())
        verdict = "-" if not compare else (f"{sum(mismatches.values())} ({by_class})" if mismatches else "0")
        print(f"{fmt:<10}{t_encode:9.1f}{total / t_encode / 1e6:9.0f}  {digest.hexdigest()}  {verdict}", flush=True)

    n = 1 << (22 if args.quick else 24)
    repeat = 3 if args.quick else 7
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * np.exp2(rng.integers(-10, 11, n))).astype(np.float32)
    y = np.empty_like(x)
    t_copy = median_seconds(lambda: np.copyto(y, x), repeat)
    print(f"\nthroughput on a random float32 array of {n} elements (median of {repeat} runs):")
    print(f"  np.copyto (float32 -> float32)   {n / t_copy / 1e6:8.0f} Melem/s")
    for fmt in ("fp8_e4m3", "fp4_e2m1"):
        t = median_seconds(lambda fmt=fmt: mx.encode(x, fmt, policy=args.policy), repeat)
        print(f"  mx.encode float32 -> {fmt:<9}  {n / t / 1e6:8.0f} Melem/s  ({t_copy / t:.2f} x copyto)")


if __name__ == "__main__":
    main()
