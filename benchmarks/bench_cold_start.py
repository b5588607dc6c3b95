"""Cold start: seconds of each line of the README's "Use" snippet, and of a command, with an empty kernel cache.

Each measurement runs in a fresh process whose numba cache folder (NUMBA_CACHE_DIR) is a new empty
directory, so every kernel the line needs is compiled there; a second run with the same folder gives the
warm time. Wall seconds depend on the machine's load; CPU seconds (of the process and, for a command,
every process it starts) barely do, since compiling is single-threaded work. Run on a quiet machine:

    python benchmarks/bench_cold_start.py                 # the snippet, line by line, cold then warm
    python benchmarks/bench_cold_start.py --command "mxemu golden gen --suite all --format all --level L0 --out OUT"
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import resource
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

# Per line: wall seconds, CPU seconds of the process (all threads: numba compiles in the calling thread,
# so CPU seconds measure compilation almost independently of other load) and the kernels numba compiled.
_TIMER = """
import resource, time
from numba.core import event

class Count(event.Listener):
    n = 0
    def on_start(self, ev):
        d = ev.data.get("dispatcher")
        Count.n += getattr(getattr(d, "py_func", None), "__module__", "").startswith("mxemu.")
    def on_end(self, ev):
        pass

event.register("numba:compile", Count())

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

for name, line in {lines!r}:
    t, c, n = time.perf_counter(), cpu(), Count.n
    exec(line)
    print(name, f"{{time.perf_counter() - t:.3f}}", f"{{cpu() - c:.3f}}", Count.n - n, flush=True)
"""


def _env(cache: str) -> dict[str, str]:
    return {**os.environ, "NUMBA_CACHE_DIR": cache}


def snippet(cache: str) -> dict[str, tuple[float, float, int]]:
    """(wall s, CPU s, kernels compiled) per snippet line in one fresh process using `cache`."""
    out = subprocess.run([sys.executable, "-c", _TIMER.format(lines=SNIPPET)], env=_env(cache), check=True,
                         capture_output=True, text=True).stdout
    rows = (line.split() for line in out.splitlines())
    return {name: (float(wall), float(cpu), int(n)) for name, wall, cpu, n in rows}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _adopt_descendants() -> None:
    """Become the Linux child subreaper, so that worker processes (a forkserver and its children) whose
    parent exits are reparented here and their CPU seconds reach RUSAGE_CHILDREN once reaped."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap() -> None:
    """Wait for every adopted descendant."""
    with contextlib.suppress(ChildProcessError):
        while True:
            os.wait()


def command(cmd: str, cache: str) -> tuple[float, float]:
    """(wall s, CPU s of it and its worker processes) of `cmd` in a fresh process using `cache` (OUT in
    cmd: a new temporary folder)."""
    with tempfile.TemporaryDirectory() as out:
        t, c = time.perf_counter(), _children_cpu()
        subprocess.run(shlex.split(cmd.replace("OUT", os.path.join(out, "set"))), env=_env(cache), check=True,
                       capture_output=True)
        _reap()
        return time.perf_counter() - t, _children_cpu() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--command", help="time this command instead of the snippet (OUT: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        if args.command:
            _adopt_descendants()
            (cold, cold_cpu), (warm, warm_cpu) = command(args.command, cache), command(args.command, cache)
            print("| command | cold wall s | cold CPU s | warm wall s | warm CPU s |")
            print(f"| `{args.command}` | {cold:.1f} | {cold_cpu:.1f} | {warm:.1f} | {warm_cpu:.1f} |")
            return
        cold, warm = snippet(cache), snippet(cache)
    print("| line | cold wall s | cold CPU s | kernels compiled | warm wall s | warm CPU s |")
    for name, _ in SNIPPET:
        (w, c, n), (ww, wc, _) = cold[name], warm[name]
        print(f"| {name} | {w:.1f} | {c:.1f} | {n} | {ww:.2f} | {wc:.2f} |")
    total = [sum(v[i] for v in cold.values()) for i in range(3)]
    print(f"| snippet total | {total[0]:.1f} | {total[1]:.1f} | {total[2]} | {sum(v[0] for v in warm.values()):.2f} "
          f"| {sum(v[1] for v in warm.values()):.2f} |")


if __name__ == "__main__":
    main()
