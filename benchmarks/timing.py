"""Shared timing helpers of the benchmarks: the median of repeated runs, and a competing OpenMP workload."""

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

# A torch process multiplying 512x512 matrices in a loop on torch's default thread count (every core):
# the state of a training job whose intra-op pool is busy while mxemu runs.
_MATMULS = """
import torch
a = torch.randn(512, 512)
print("busy", torch.get_num_threads(), flush=True)
while True:
    a = torch.tanh(a @ a)
"""


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls of fn, after one warm-up call (numba compiles on a cold cache)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_median_seconds(variants: list[tuple[Callable[[], object], Callable[[], object]]],
                               repeat: int) -> list[float]:
    """Median wall time of `repeat` calls of each (setup, fn) variant, taken in turn (setup untimed before each
    call), so that a change in the machine's load during the measurement weighs on every variant alike."""
    for setup, fn in variants:
        setup()
        fn()
    times: list[list[float]] = [[] for _ in variants]
    for _ in range(repeat):
        for (setup, fn), own in zip(variants, times, strict=True):
            setup()
            t0 = time.perf_counter()
            fn()
            own.append(time.perf_counter() - t0)
    return [statistics.median(own) for own in times]


@contextlib.contextmanager
def busy_machine(enabled: bool = True) -> Iterator[str]:
    """Run torch matmuls on every core in another process inside the block; yields a line saying so."""
    if not enabled:
        yield "quiet (no competing workload started by the benchmark)"
        return
    proc = subprocess.Popen([sys.executable, "-c", _MATMULS], stdout=subprocess.PIPE, text=True)
    try:
        threads = proc.stdout.readline().split()[1]
        time.sleep(1.0)  # let its thread pool spin up
        yield f"busy: a torch process doing 512x512 matmuls on {threads} threads"
    finally:
        proc.terminate()
        proc.wait()
