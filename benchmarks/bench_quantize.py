"""Throughput of MX quantize / fake-quantize on one array, next to memory copy and other tools.

In one run, on the same array (default 16M float32 elements, values spread over 2^-10..2^10;
--dtype bfloat16 for a bfloat16 array, whose fake-quantize returns bfloat16):
  mxemu fake_quantize and quantize (codes + scales) for every MX format;
  np.copyto of the array into a preallocated one (a memory-bandwidth bound);
  a hand-written numpy + ml_dtypes MX fake-quantize (floor scale from the exponent bits, divide,
  clamp and cast to the element dtype, multiply back);
  torchao's to_mx on the CPU (codes + scales) for the formats torchao supports.
The numpy + ml_dtypes columns apply to float32 arrays only.
Each time is the median of --repeat runs after a warm-up call. Prints Melem/s and the ratios
mxemu/torchao (quantize against to_mx) and mxemu/copyto.

--sweep times fake_quantize instead for every (format, rounding mode, input dtype) chosen, at sizes
2^12..2^26 (every second power by default), with mxemu's default thread count and with one thread,
next to np.copyto of the same size, and prints the ratios default/one-thread and fake_quantize/copyto.
--busy runs a torch process doing matmuls on every core during all the timings (a training job's
busy intra-op pool), so that threading that stalls shows.

    python benchmarks/bench_quantize.py            # 16M elements, 7 repeats
    python benchmarks/bench_quantize.py --quick    # 4M elements, 3 repeats
    python benchmarks/bench_quantize.py --dtype bfloat16
    python benchmarks/bench_quantize.py --sweep --busy --formats mxfp8_e4m3 --roundings rne stochastic
    python benchmarks/bench_quantize.py --paths --formats mxfp8_e4m3 mxfp4_e2m1 mxint8

--paths times, at sizes 2^20 and 2^24 (--log2n-list), the paths of the fast kernels beyond float32 / bfloat16
round-to-nearest (stochastic rounding, float16 and float64 input, dequantize into each output type, quantize
with its codes packed in the format's dense layout), each next to np.copyto of the same size in the same run,
and prints the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform

import ml_dtypes
import numba
import numpy as np
from timing import busy_machine, interleaved_median_seconds, median_seconds

import mxemu as mx

MX_FORMATS = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1",
              "mxint8", "mxint7", "mxint6", "mxint5", "mxint4", "mxint3", "mxint2"]
ROUNDINGS = ["rne", "rna", "rtz", "rup", "rdn", "rto", "stochastic"]
INPUT_DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16, "float16": np.float16, "float64": np.float64}
ML_DTYPES = {"fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2,
             "fp6_e3m2": ml_dtypes.float6_e3m2fn, "fp6_e2m3": ml_dtypes.float6_e2m3fn,
             "fp4_e2m1": ml_dtypes.float4_e2m1fn}




def numpy_fake_quantize(x: np.ndarray, fmt: str) -> np.ndarray:
    """MX fake-quantize in plain numpy + ml_dtypes: floor scale, divide, clamp + cast, multiply back."""
    element = mx.get_format(fmt).element
    blocks = x.reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1, keepdims=True)
    exp = ((amax.view(np.int32) >> 23) & 0xFF).astype(np.int32) - 127 - element.emax
    exp = np.clip(np.where(amax == 0, -127, exp), -127, 127)
    scale = np.ldexp(np.float32(1), exp).astype(np.float32)
    q = blocks / scale
    if element.is_int:
        unit = np.float32(2.0 ** element.mantissa_bits)
        # + 0 turns -0 into +0: an integer element has one zero.
        k = np.clip(np.rint(q * unit), -element.max_int, element.max_int) + np.float32(0)
        return ((k / unit) * scale).reshape(x.shape)
    top = np.float32(element.max_normal)
    q = np.clip(q, -top, top).astype(ML_DTYPES[element.name]).astype(np.float32)
    return (q * scale).reshape(x.shape)


def torchao_to_mx():
    """torchao's to_mx and its element dtypes by mxemu format name, or None if torchao is missing."""
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            import torch
            from torchao.prototype.mx_formats.constants import DTYPE_FP6_E2M3, DTYPE_FP6_E3M2
            from torchao.prototype.mx_formats.mx_tensor import to_mx
    except ImportError:
        return None
    dtypes = {"mxfp8_e4m3": torch.float8_e4m3fn, "mxfp8_e5m2": torch.float8_e5m2,
              "mxfp6_e3m2": DTYPE_FP6_E3M2, "mxfp6_e2m3": DTYPE_FP6_E2M3, "mxfp4_e2m1": torch.float4_e2m1fn_x2}
    return torch, to_mx, dtypes


def sweep(args: argparse.Namespace) -> None:
    """fake_quantize Melem/s with the default thread count and with one thread, against np.copyto, per size."""
    base = mx.get_policy(args.policy)
    rng = np.random.default_rng(0)
    sizes = range(args.min_log2n, args.max_log2n + 1, args.step)
    data = rng.standard_normal(1 << sizes[-1]) * np.exp2(rng.integers(-10, 11, 1 << sizes[-1]))
    print(f"{'format':<12}{'rounding':<11}{'dtype':<9}{'log2 n':>6}{'default':>9}{'1 thread':>9}"
          f"{'copyto':>8}{'def/1':>7}{'fq/copy':>8}")
    for dtype in args.dtypes:
        full = data.astype(INPUT_DTYPES[dtype])
        for fmt in args.formats:
            for rounding in args.roundings:
                policy = base.replace(rounding=rounding)
                for log2n in sizes:
                    n = 1 << log2n
                    x, out = full[:n], np.empty(n, full.dtype)
                    repeat = max(3, min(args.repeat or 25, (1 << 22) // n))
                    fq = lambda x=x, out=out, policy=policy, fmt=fmt: mx.fake_quantize(x, fmt, policy=policy,
                                                                                        seed=1, out=out)
                    t_default, t_one = interleaved_median_seconds(
                        [(lambda: mx.set_num_threads(None), fq), (lambda: mx.set_num_threads(1), fq)], repeat)
                    mx.set_num_threads(None)
                    t_copy = median_seconds(lambda x=x, out=out: np.copyto(out, x), repeat)
                    print(f"{fmt:<12}{rounding:<11}{dtype:<9}{log2n:>6}{n / t_default / 1e6:9.0f}"
                          f"{n / t_one / 1e6:9.0f}{n / t_copy / 1e6:8.0f}{t_one / t_default:7.2f}"
                          f"{t_copy / t_default:8.2f}", flush=True)
    print("\nMelem/s = million input elements per second (median of max(3, 2^22 / n) runs, capped by --repeat);"
          "\ndef/1 = default thread count speed / one-thread speed; fq/copy = fake_quantize speed / np.copyto speed"
          " (both into a preallocated array).")


# --paths: the paths of the fast kernels beyond float32/bfloat16 round-to-nearest, as (name, input dtype,
# rounding or None for dequantize, output dtype of dequantize); "quantize+pack" is quantize then
# MXArray.pack in the format's dense layout (PACKED_LAYOUTS).
PATHS = [("fake_quantize", "float32", "rne", None), ("fake_quantize", "float32", "stochastic", None),
         ("fake_quantize", "bfloat16", "stochastic", None), ("fake_quantize", "float16", "rne", None),
         ("fake_quantize", "float16", "stochastic", None), ("fake_quantize", "float64", "rne", None),
         ("quantize", "float32", "stochastic", None), ("dequantize", "float32", None, "float32"),
         ("dequantize", "float32", None, "bfloat16"), ("dequantize", "float32", None, "float16"),
         ("dequantize", "float32", None, "float64"), ("quantize", "float32", "rne", None),
         ("quantize+pack", "float32", "rne", None)]
PACKED_LAYOUTS = {4: "nibble_lo_first", 6: "fp6_4in3", 8: "byte"}  # other widths: bitstream_le


def paths(args: argparse.Namespace) -> None:
    """Melem/s of each of PATHS at each size, next to np.copyto of the same size and dtype in the same run."""
    base = mx.get_policy(args.policy)
    rng = np.random.default_rng(0)
    sizes = args.log2n_list
    data = rng.standard_normal(1 << max(sizes)) * np.exp2(rng.integers(-10, 11, 1 << max(sizes)))
    print(f"{'operation':<14}{'input':<9}{'rounding':<11}{'output':<9}{'format':<12}{'log2 n':>6}{'Melem/s':>9}"
          f"{'copyto':>8}{'ratio':>7}")
    for op, dtype, rounding, out_dtype in PATHS:
        full = data.astype(INPUT_DTYPES[dtype])
        policy = base.replace(rounding=rounding or base.rounding)
        for fmt in args.formats:
            for log2n in sizes:
                n = 1 << log2n
                x = full[:n]
                repeat = args.repeat or max(3, min(15, (1 << 26) // n))
                if op == "dequantize":
                    q = mx.quantize(x, fmt, policy=policy)
                    out = np.empty(n, INPUT_DTYPES[out_dtype])
                    fn = lambda q=q, out=out: q.dequantize(out.dtype, out=out)
                    copied = out  # the bytes written: the output's
                elif op == "quantize":
                    fn = lambda x=x, policy=policy, fmt=fmt: mx.quantize(x, fmt, policy=policy, seed=1)
                    copied = x
                elif op == "quantize+pack":
                    layout = PACKED_LAYOUTS.get(mx.get_format(fmt).element.bits, "bitstream_le")
                    fn = lambda x=x, policy=policy, fmt=fmt, layout=layout: mx.quantize(
                        x, fmt, policy=policy, seed=1).pack(layout)
                    copied = x
                else:
                    out = np.empty(n, x.dtype)
                    fn = lambda x=x, out=out, policy=policy, fmt=fmt: mx.fake_quantize(x, fmt, policy=policy,
                                                                                        seed=1, out=out)
                    copied = x
                t = median_seconds(fn, repeat)
                src, dst = np.ones(n, copied.dtype), np.empty(n, copied.dtype)
                t_copy = median_seconds(lambda src=src, dst=dst: np.copyto(dst, src), repeat)
                print(f"{op:<14}{dtype:<9}{rounding or '-':<11}{out_dtype or dtype:<9}{fmt:<12}{log2n:>6}"
                      f"{n / t / 1e6:9.0f}{n / t_copy / 1e6:8.0f}{t_copy / t:7.2f}", flush=True)
    print("\nMelem/s = million elements per second (median of the runs); copyto = np.copyto of an array of the same"
          "\nsize and dtype (the output's for dequantize) into a preallocated one, in the same run; ratio ="
          " speed / copyto speed.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="4M elements and 3 repeats")
    ap.add_argument("--log2n", type=int, default=None, help="array size 2^N (default 24, quick 22)")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per measurement (default 7, quick 3)")
    ap.add_argument("--formats", nargs="*", default=MX_FORMATS)
    ap.add_argument("--policy", default="ocp")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    ap.add_argument("--threads", type=int, default=None, help="mxemu and torch threads (default: all cores)")
    ap.add_argument("--busy", action="store_true", help="run torch matmuls on every core in another process")
    ap.add_argument("--sweep", action="store_true", help="fake_quantize by size, default vs one thread")
    ap.add_argument("--paths", action="store_true", help="stochastic, float16/float64 input and dequantize paths "
                    "against np.copyto, at the sizes --log2n-list")
    ap.add_argument("--log2n-list", type=int, nargs="*", default=[20, 24], help="--paths: log2 sizes")
    ap.add_argument("--roundings", nargs="*", default=ROUNDINGS, help="--sweep: rounding modes")
    ap.add_argument("--dtypes", nargs="*", default=list(INPUT_DTYPES), help="--sweep: input dtypes")
    ap.add_argument("--min-log2n", type=int, default=12)
    ap.add_argument("--max-log2n", type=int, default=26)
    ap.add_argument("--step", type=int, default=2, help="--sweep: log2 size step")
    args = ap.parse_args()
    if args.threads:
        mx.set_num_threads(args.threads)
    with busy_machine(args.busy) as load:
        print(f"mxemu {mx.__version__}, numpy {np.__version__}, numba {numba.__version__}, mxemu threads "
              f"{mx.get_num_threads()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
              f"{load}; load average {os.getloadavg()[0]:.1f}")
        if args.paths:
            paths(args)
        elif args.sweep:
            sweep(args)
        else:
            table(args)


def table(args: argparse.Namespace) -> None:
    """The per-format table: fake_quantize and quantize next to np.copyto, numpy + ml_dtypes and torchao."""
    n = 1 << (args.log2n or (22 if args.quick else 24))
    repeat = args.repeat or (3 if args.quick else 7)

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * np.exp2(rng.integers(-10, 11, n))).astype(np.float32)
    if args.dtype == "bfloat16":
        x = x.astype(ml_dtypes.bfloat16)
    f32 = x.dtype == np.float32
    y = np.empty_like(x)
    t_copy = median_seconds(lambda: np.copyto(y, x), repeat)
    t_alloc_copy = median_seconds(lambda: x.copy(), repeat)
    melem = lambda t: n / t / 1e6

    tao = torchao_to_mx()
    if tao is not None and args.threads:
        tao[0].set_num_threads(args.threads)
    print(f"ml_dtypes {ml_dtypes.__version__}, "
          f"torchao {'missing' if tao is None else __import__('torchao').__version__}")
    if tao is not None:
        print(f"torch {tao[0].__version__} ({tao[0].get_num_threads()} threads)")
    print(f"{args.dtype} array of {n} elements, policy {args.policy}, median of {repeat} runs\n")
    print(f"np.copyto into a preallocated array: {melem(t_copy):6.0f} Melem/s")
    print(f"x.copy() (allocates, as mxemu does): {melem(t_alloc_copy):6.0f} Melem/s\n")
    head = (f"{'format':<12}{'fake_quant':>11}{'quantize':>10}{'numpy+mld':>10}{'torchao':>9}"
            f"{'fq/copy':>9}{'q/copy':>8}{'q/torchao':>10}{'numpy==fq':>11}")
    print(head)
    print("-" * len(head))
    if tao is not None:
        _torch, to_mx, tao_dtypes = tao
        xt = _torch.from_numpy(x.view(np.int16 if not f32 else np.float32)).reshape(-1, 1024)
        if not f32:
            xt = xt.view(_torch.bfloat16)
    for fmt in args.formats:
        t_fq = median_seconds(lambda fmt=fmt: mx.fake_quantize(x, fmt, policy=args.policy), repeat)
        t_q = median_seconds(lambda fmt=fmt: mx.quantize(x, fmt, policy=args.policy), repeat)
        if f32:
            t_np = median_seconds(lambda fmt=fmt: numpy_fake_quantize(x, fmt), max(1, repeat // 2))
            same = np.array_equal(numpy_fake_quantize(x, fmt).view(np.uint32),
                                  mx.fake_quantize(x, fmt, policy=args.policy).view(np.uint32))
            np_cols = f"{melem(t_np):10.0f}", f"{'yes' if same else 'no':>11}"
        else:
            np_cols = f"{'-':>10}", f"{'-':>11}"
        t_tao = None
        if tao is not None and fmt in tao_dtypes:
            t_tao = median_seconds(lambda fmt=fmt: to_mx(xt, tao_dtypes[fmt], 32), repeat)
        tao_cols = (f"{melem(t_tao):9.0f}", f"{t_tao / t_q:10.2f}") if t_tao else (f"{'-':>9}", f"{'-':>10}")
        print(f"{fmt:<12}{melem(t_fq):11.0f}{melem(t_q):10.0f}{np_cols[0]}{tao_cols[0]}"
              f"{t_copy / t_fq:9.2f}{t_copy / t_q:8.2f}{tao_cols[1]}{np_cols[1]}")
    print("\nMelem/s = million input elements per second; fq/copy and q/copy = mxemu speed / np.copyto speed;"
          "\nq/torchao = mxemu quantize speed / torchao to_mx speed; numpy==fq: the numpy + ml_dtypes"
          " fake-quantize gives the same float32 bits as mxemu.")


if __name__ == "__main__":
    main()
