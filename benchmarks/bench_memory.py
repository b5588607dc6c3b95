"""Peak memory of fake_quantize / quantize on a large array, each case in a fresh process.

    python benchmarks/bench_memory.py                 # 2^28 float32 elements (1 GiB in, 1 GiB out)
    python benchmarks/bench_memory.py --log2n 24      # smaller

The peak is the input's size plus the growth of the process's peak resident size (VmHWM, Linux
/proc/self/status, reset just before the call, the input already resident and the kernels compiled
on a small array first): input, output and every temporary. Target: at most 1.5 x input + output.
`--no-chunks` runs every case as one whole-array pass, for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CASES = {
    "fake_quantize float32 axis=-1": ("fake_quantize", "float32", "mxfp8_e4m3", "[-1]", "[16384, -1]"),
    "fake_quantize float32 axis=0": ("fake_quantize", "float32", "mxfp8_e4m3", "[0]", "[16384, -1]"),
    "fake_quantize float32 1-D, padded": ("fake_quantize", "float32", "mxfp4_e2m1", "[-1]", "[-1]"),
    "fake_quantize bfloat16 axis=-1": ("fake_quantize", "bfloat16", "mxfp8_e4m3", "[-1]", "[16384, -1]"),
    "fake_quantize float32 stochastic, seed": ("fake_quantize_sr", "float32", "mxfp4_e2m1", "[-1]", "[16384, -1]"),
    "quantize float32 axis=-1": ("quantize", "float32", "mxfp8_e4m3", "[-1]", "[16384, -1]"),
    "quantize float32 nvfp4, amax": ("quantize_nvfp4", "float32", "nvfp4", "[-1]", "[16384, -1]"),
    "encode float32": ("encode", "float32", "fp8_e4m3", "[-1]", "[16384, -1]"),
    "decode -> float32": ("decode", "float32", "fp8_e4m3", "[-1]", "[16384, -1]"),
    "dequantize -> float32 axis=0": ("dequantize", "float32", "mxfp8_e4m3", "[0]", "[16384, -1]"),
}

CHILD = """
import json, sys
import ml_dtypes, numpy as np
import mxemu as mx

fn, dtype, fmt, axis, shape, n, chunks = sys.argv[1:8]
if chunks == "off":
    mx.blocking.CHUNK_ELEMENTS = 1 << 62
n, axis, shape = int(n), json.loads(axis), tuple(json.loads(shape))
axis = axis[0] if len(axis) == 1 else tuple(axis)
dt = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
if len(shape) == 1:
    n -= 5  # a last block shorter than the block size
SR = mx.Policy(rounding="stochastic")
calls = {  # name -> (prepare the input from x, the measured call)
    "fake_quantize": (None, lambda a: mx.fake_quantize(a, fmt, axis)),
    "fake_quantize_sr": (None, lambda a: mx.fake_quantize(a, fmt, axis, policy=SR, seed=1)),
    "quantize": (None, lambda a: mx.quantize(a, fmt, axis)),
    "quantize_nvfp4": (None, lambda a: mx.quantize(a, fmt, axis, tensor_scale="amax")),
    "encode": (None, lambda a: mx.encode(a, fmt)),
    "decode": (lambda a: mx.encode(a, fmt), lambda c: mx.decode(c, fmt)),
    "dequantize": (lambda a: mx.quantize(a, fmt, axis), lambda q: q.dequantize()),
}
prepare, call = calls[fn]

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

def nbytes(a):
    return a.codes.nbytes + a.scales.nbytes if isinstance(a, mx.MXArray) else a.nbytes

small = np.linspace(-1, 1, 1 << 12, dtype=np.float32).astype(dt).reshape(1 << 6, -1)
small = small if len(shape) > 1 else small.reshape(-1)
call(prepare(small) if prepare else small)  # compile / load the kernels
x = np.empty(n, dt)
rng = np.random.default_rng(0)
for i in range(0, n, 1 << 24):
    x[i:i + (1 << 24)] = rng.standard_normal(min(1 << 24, n - i), np.float32).astype(dt)
x = x.reshape(shape)
if prepare:
    x = prepare(x)
base = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current resident size
    f.write("5")
out = call(x)
peak = status("VmHWM:") - base
print(json.dumps({"in": nbytes(x), "out": nbytes(out), "peak": peak}))
"""


def run(case: tuple[str, ...], log2n: int, chunks: bool) -> dict[str, int]:
    fn, dtype, fmt, axis, shape = case
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    argv = [sys.executable, "-c", CHILD, fn, dtype, fmt, axis, shape, str(1 << log2n), "on" if chunks else "off"]
    res = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if res.returncode:
        raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log2n", type=int, default=28, help="log2 of the element count (default 28)")
    parser.add_argument("--case", choices=list(CASES), action="append", help="run only these cases")
    parser.add_argument("--no-chunks", action="store_true", help="one whole-array pass (no chunking)")
    args = parser.parse_args()
    mib = 1 << 20
    print(f"{'case':40} {'in MiB':>8} {'out MiB':>8} {'peak MiB':>9} {'peak/(in+out)':>14} {'<= 1.5in+out':>13}")
    worst = 0.0
    for name in args.case or CASES:
        r = run(CASES[name], args.log2n, not args.no_chunks)
        peak = r["in"] + r["peak"]
        target = 1.5 * r["in"] + r["out"]
        worst = max(worst, peak / target)
        print(f"{name:40} {r['in'] / mib:8.0f} {r['out'] / mib:8.0f} {peak / mib:9.0f} "
              f"{peak / (r['in'] + r['out']):14.2f} {'yes' if peak <= target else 'NO':>13}", flush=True)
    return 0 if worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
