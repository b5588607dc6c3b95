"""Compile mxemu's numba kernels ahead of time (`mxemu warmup`), so that no later call waits for the compiler.

numba compiles a kernel the first time it meets a new combination of argument types and keeps the machine
code in its on-disk cache; every later process loads it from there in milliseconds. `warmup` makes the calls
that reach every kernel with the argument types the public functions pass: each input dtype, integer and
float element formats, the two-level NVFP4 path, both conversion methods and every accumulation model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import numpy as np


def _calls() -> list[tuple[str, Callable[[], object]]]:
    import mxemu as mx
    from mxemu.kernels.dispatch import saturated_rows

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 64)).astype(np.float32)
    inputs = {name: x.astype(name) for name in ("float32", "float64", "float16")}
    try:  # numpy has no bfloat16 of its own; where ml_dtypes is installed, mxemu takes its bfloat16 arrays
        import ml_dtypes

        inputs["bfloat16"] = x.astype(ml_dtypes.bfloat16)
    except ImportError:
        pass
    outputs = [np.dtype(d) for d in ("float32", "float64", "float16")] + [inputs[d].dtype for d in inputs
                                                                           if d == "bfloat16"]
    sr = mx.get_policy("ocp").replace(rounding="stochastic")
    calls: list[tuple[str, Callable[[], object]]] = []
    for dt, xi in inputs.items():
        calls += [
            (f"encode {dt}", lambda xi=xi: (mx.encode(xi, "fp8_e4m3"), mx.encode(xi, "int8"))),
            (f"quantize {dt}", lambda xi=xi: (mx.quantize(xi, "mxfp4_e2m1"), mx.quantize(xi, "mxint8"),
                                              mx.quantize(xi, "mxfp8_e4m3", policy="torchao_rceil"))),
            (f"fake_quantize {dt}", lambda xi=xi: (mx.fake_quantize(xi, "mxfp4_e2m1"),
                                                   mx.fake_quantize(xi, "mxint4"))),
            (f"nvfp4 {dt}", lambda xi=xi: mx.quantize(xi, "nvfp4").dequantize()),
            (f"stochastic rounding {dt}", lambda xi=xi: [(mx.quantize(xi, f, policy=sr, seed=0),
                                                          mx.fake_quantize(xi, f, policy=sr, seed=0))
                                                         for f in ("mxfp4_e2m1", "mxint8")]),
        ]
    q = mx.quantize(x, "mxfp4_e2m1")
    qt = mx.quantize(x.T.copy(), "mxfp4_e2m1", axis=0)
    calls += [
        ("decode", lambda: (mx.decode(mx.encode(x, "fp8_e4m3"), "fp8_e4m3"), mx.decode(mx.encode(x, "int8"), "int8"))),
        ("dequantize", lambda: [q.dequantize(dtype=d) for d in outputs]),
        ("2-D tiles", lambda: mx.quantize(x[:, :32].copy(), "mxfp4_e2m1", axis=(0, 1))),
        ("convert", lambda: (mx.convert(mx.quantize(x, "mxint8"), "mxint4", method="slice_and_scale"),
                             mx.convert(q, "mxfp8_e4m3", method="requantize"))),
        ("matmul", lambda: [mx.matmul(q, qt, accumulation=a) for a in
                            ("exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32", "truncated:16:24")]),
        ("dot", lambda: mx.dot(mx.quantize(x[0], "mxfp8_e4m3"), mx.quantize(x[1], "mxfp8_e4m3"))),
        # mxemu.torch's masked straight-through estimator compares float32 or float64 lanes with the bounds
        ("saturation mask", lambda: [saturated_rows(x.astype(d), np.ones(4), -np.ones(4))
                                     for d in ("float32", "float64")]),
    ]
    return calls


def warmup(progress: TextIO | None = None) -> float:
    """Make every kernel's first call now (compiled, or loaded from numba's cache); returns the seconds taken."""
    start = time.perf_counter()
    for name, call in _calls():
        t = time.perf_counter()
        call()
        if progress is not None:
            print(f"mxemu warmup: {name}: {time.perf_counter() - t:.1f} s", file=progress, flush=True)
    return time.perf_counter() - start
