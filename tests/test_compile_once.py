"""Kernels whose compilation dominates a first call compile once per kind of call, not per literal or index type."""

import numpy as np

import mxemu as mx
from mxemu.kernels import convert as kc
from mxemu.kernels import dot as kd


def test_slice_and_scale_compiles_its_block_body_once():
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    mx.convert(mx.quantize(x, "mxint8"), "mxint4", method="slice_and_scale")
    mx.convert(mx.quantize(x, "mxfp8_e4m3"), "mxfp4_e2m1", method="slice_and_scale")
    assert len(kc.slice_block.signatures) == 1


def test_float32_rounding_of_products_compiles_once_for_both_signs():
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    q = mx.quantize(x, "mxfp4_e2m1")
    qt = mx.quantize(x.T.copy(), "mxfp4_e2m1", axis=0)
    for model in ("exact", "block_exact_fp32", "fp32_sequential"):
        mx.matmul(q, qt, accumulation=model)
    assert len(kd.round_f32.signatures) == 1
