"""Cold start: seconds of each line of the README's "Use" snippet, and of a command, with an empty kernel cache.

Each measurement runs in a fresh process whose numba cache folder (NUMBA_CACHE_DIR) is a new empty
directory, so every kernel the line needs is compiled there; a second run with the same folder gives the
warm time. Run on a quiet machine:

    python benchmarks/bench_cold_start.py                 # the snippet, line by line, cold then warm
    python benchmarks/bench_cold_start.py --command "mxemu golden gen --suite all --format all --level L0 --out OUT"
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time

SNIPPET = [
    ("import", "import numpy as np; import mxemu as mx"),
    ("x", "x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)"),
    ("encode", 'codes = mx.encode(x, "fp8_e4m3")'),
    ("quantize", 'q = mx.quantize(x, "mxfp4_e2m1", axis=-1)'),
    ("dequantize", "y = q.dequantize()"),
    ("fake_quantize", 'y2 = mx.fake_quantize(x, "mxfp4_e2m1", policy="torchao_rceil")'),
    ("convert", 'q4 = mx.convert(mx.quantize(x, "mxint8"), "mxint4", method="slice_and_scale")'),
    ("matmul", 'z = mx.matmul(q, mx.quantize(x.T.copy(), "mxfp4_e2m1", axis=0), accumulation="exact")'),
]

_TIMER = """
import sys, time
for name, line in {lines!r}:
    t = time.perf_counter()
    exec(line)
    print(f"{{name}} {{time.perf_counter() - t:.2f}}", flush=True)
"""


def _env(cache: str) -> dict[str, str]:
    return {**os.environ, "NUMBA_CACHE_DIR": cache}


def snippet(cache: str) -> dict[str, float]:
    """Seconds per snippet line in one fresh process using `cache`."""
    out = subprocess.run([sys.executable, "-c", _TIMER.format(lines=SNIPPET)], env=_env(cache), check=True,
                         capture_output=True, text=True).stdout
    return {name: float(t) for name, t in (line.split() for line in out.splitlines())}


def command(cmd: str, cache: str) -> float:
    """Wall seconds of `cmd` in a fresh process using `cache` (OUT in cmd: a new temporary folder)."""
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run(shlex.split(cmd.replace("OUT", os.path.join(out, "set"))), env=_env(cache), check=True,
                       capture_output=True)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--command", help="time this command instead of the snippet (OUT: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        if args.command:
            cold, warm = command(args.command, cache), command(args.command, cache)
            print(f"| `{args.command}` | {cold:.1f} | {warm:.1f} |")
            return
        cold, warm = snippet(cache), snippet(cache)
    for name, _ in SNIPPET:
        print(f"| {name} | {cold[name]:.1f} | {warm[name]:.2f} |")
    print(f"| snippet total | {sum(cold.values()):.1f} | {sum(warm.values()):.2f} |")


if __name__ == "__main__":
    main()
