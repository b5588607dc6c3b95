"""Large inputs are quantized in chunks that cut no block: the bytes equal those of one whole-array pass."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

import mxemu as mx
from mxemu import ops

SR = mx.Policy(rounding="stochastic", sr_bits=8)
CASES = [  # shape, axis, format
    ((1000,), -1, "mxfp8_e4m3"),
    ((7, 300), -1, "mxfp4_e2m1"),
    ((300, 7), 0, "mxint8"),
    ((5, 70, 9), 1, "mxfp6_e3m2"),
    ((70, 66), (0, 1), "mxfp4_e2m1"),
    ((3, 40, 70), (2, 1), "mxint8"),
]


def _data(shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(math.prod(shape))
    x = (rng.standard_normal(shape) * 2.0 ** rng.integers(-10, 10, shape)).astype(np.float32)
    x.reshape(-1)[::97] = np.nan
    return x


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


@pytest.mark.parametrize(("shape", "axis", "fmt"), CASES)
@pytest.mark.parametrize("variant", ["float32", "bfloat16", "big_endian", "strided", "seed", "random_bits"])
def test_chunked_quantize_and_fake_quantize_equal_the_whole_array_pass(monkeypatch, shape, axis, fmt, variant):
    x = _data(shape)
    kwargs = {}
    if variant == "bfloat16":
        x = x.astype(ml_dtypes.bfloat16)
    elif variant == "big_endian":
        x = x.astype(">f4")
    elif variant == "strided":
        x = np.repeat(x, 2, axis=0)[::2]
    elif variant == "seed":
        kwargs = {"policy": SR, "seed": 99}
    elif variant == "random_bits":
        kwargs = {"policy": SR, "random_bits": np.random.default_rng(1).integers(0, 256, shape)}
    whole_q = mx.quantize(x, fmt, axis, **kwargs)
    whole_f = mx.fake_quantize(x, fmt, axis, **kwargs)
    calls = []
    real = ops._prepare
    monkeypatch.setattr(ops, "_prepare", lambda *a: calls.append(a[0].size) or real(*a))
    monkeypatch.setattr(ops, "CHUNK_ELEMENTS", 130)
    q = mx.quantize(x, fmt, axis, **kwargs)
    f = mx.fake_quantize(x, fmt, axis, **kwargs)
    assert len(calls) > 2 and max(calls) <= 130 * 32  # it really went in chunks (a 2-D tile row may need k x k)
    assert _bits(q.codes) == _bits(whole_q.codes) and _bits(q.scales) == _bits(whole_q.scales)
    assert q.axis == whole_q.axis and q.shape == whole_q.shape
    assert f.dtype == whole_f.dtype and _bits(f) == _bits(whole_f)


@pytest.mark.parametrize(("shape", "axis", "fmt"), CASES)
def test_chunks_cover_every_element_once_and_cut_no_block(shape, axis, fmt):
    k = mx.get_format(fmt).block_size
    axes = mx.array.normalize_axes(axis, len(shape))
    seen = np.zeros(shape, np.int64)
    for ix in ops._chunks(shape, axes, k, 100):
        seen[ix] += 1
        assert seen[ix].size <= max(100, k * k)
        for d, s in enumerate(ix):
            if d in axes:
                assert s.start % k == 0 and (s.stop % k == 0 or s.stop == shape[d])
    assert (seen == 1).all()
