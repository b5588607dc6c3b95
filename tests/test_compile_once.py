"""Kernels whose compilation dominates a first call compile once per kind of call, not per literal or index type.

The calls run in a fresh interpreter with an empty numba cache: a kernel loaded from the cache compiles
nothing, and the helpers it calls would show no signature at all."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _signatures_after(calls: str, kernels: tuple[str, ...], cache: Path) -> dict[str, int]:
    """How many signatures each kernel (module.name under mxemu.kernels) has after `calls`, compiled afresh."""
    modules = sorted({k.split(".")[0] for k in kernels})
    script = textwrap.dedent(f"""
        import numpy as np
        import mxemu as mx
        from mxemu.kernels import {", ".join(modules)}
        x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    """) + textwrap.dedent(calls) + "".join(f"\nprint(len({k}.signatures))" for k in kernels) + "\n"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(zip(kernels, map(int, run.stdout.split()[-len(kernels):]), strict=True))


def test_slice_and_scale_compiles_its_kernel_and_the_encoder_once_for_integer_and_float_pairs(tmp_path):
    calls = """
        mx.convert(mx.quantize(x, "mxint8"), "mxint4", method="slice_and_scale")
        mx.convert(mx.quantize(x, "mxfp8_e4m3"), "mxfp4_e2m1", method="slice_and_scale")
    """
    kernels = ("convert.slice_blocks", "convert.split_code", "convert.encode_element")
    assert _signatures_after(calls, kernels, tmp_path) == dict.fromkeys(kernels, 1)


def test_products_share_the_conversion_encoder_and_compile_each_kernel_once(tmp_path):
    # float32 rounding of products once for both signs; matmul and the batched dot (pairs) one kernel;
    # the encoder and the code splitter compiled by the conversion are the ones the products call.
    calls = """
        mx.convert(mx.quantize(x, "mxint8"), "mxint4", method="slice_and_scale")
        q = mx.quantize(x, "mxfp4_e2m1")
        qt = mx.quantize(x.T.copy(), "mxfp4_e2m1", axis=0)
        for model in ("exact", "block_exact_fp32", "fp32_sequential"):
            mx.matmul(q, qt, accumulation=model)
            mx.dot(q, q, accumulation=model)
        mx.matmul(mx.quantize(x, "mxint8"), mx.quantize(x.T.copy(), "mxfp8_e4m3", axis=0))
    """
    kernels = ("dot.round_f32", "dot.matmul_block_models", "dot.matmul_sequential", "dot.element_tables",
               "convert.encode_element", "convert.split_code")
    assert _signatures_after(calls, kernels, tmp_path) == dict.fromkeys(kernels, 1)
