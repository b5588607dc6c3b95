"""Kernels whose compilation dominates a first call compile once per kind of call, not per literal or index type.

The calls run in a fresh interpreter with an empty numba cache: a kernel loaded from the cache compiles
nothing, and the helpers it calls would show no signature at all."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _signatures_after(calls: str, kernel: str, cache: Path) -> int:
    """How many signatures `kernel` (module.name under mxemu.kernels) has after `calls`, compiled afresh."""
    module, name = kernel.split(".")
    script = textwrap.dedent(f"""
        import numpy as np
        import mxemu as mx
        from mxemu.kernels import {module}
        x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    """) + textwrap.dedent(calls) + f"\nprint(len({module}.{name}.signatures))\n"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return int(run.stdout.split()[-1])


def test_slice_and_scale_compiles_its_block_body_once(tmp_path):
    calls = """
        mx.convert(mx.quantize(x, "mxint8"), "mxint4", method="slice_and_scale")
        mx.convert(mx.quantize(x, "mxfp8_e4m3"), "mxfp4_e2m1", method="slice_and_scale")
    """
    assert _signatures_after(calls, "convert.slice_block", tmp_path) == 1


def test_float32_rounding_of_products_compiles_once_for_both_signs(tmp_path):
    calls = """
        q = mx.quantize(x, "mxfp4_e2m1")
        qt = mx.quantize(x.T.copy(), "mxfp4_e2m1", axis=0)
        for model in ("exact", "block_exact_fp32", "fp32_sequential"):
            mx.matmul(q, qt, accumulation=model)
    """
    assert _signatures_after(calls, "dot.round_f32", tmp_path) == 1
