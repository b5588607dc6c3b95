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
    real = ops._rows
    monkeypatch.setattr(ops, "_rows", lambda *a: calls.append(a[0].size) or real(*a))
    monkeypatch.setattr(mx.blocking, "CHUNK_ELEMENTS", 130)
    q = mx.quantize(x, fmt, axis, **kwargs)
    f = mx.fake_quantize(x, fmt, axis, **kwargs)
    assert len(calls) > 2 and max(calls) <= 130 * 32  # it really went in chunks (a 2-D tile row may need k x k)
    assert _bits(q.codes) == _bits(whole_q.codes) and _bits(q.scales) == _bits(whole_q.scales)
    assert q.axis == whole_q.axis and q.shape == whole_q.shape
    assert f.dtype == whole_f.dtype and _bits(f) == _bits(whole_f)


@pytest.mark.parametrize(("shape", "axis", "fmt"), CASES)
def test_chunks_cover_every_element_once_and_cut_no_block(shape, axis, fmt):
    k = mx.get_format(fmt).block_size
    axes = mx.blocking.normalize_axes(axis, len(shape))
    seen = np.zeros(shape, np.int64)
    for ix in mx.blocking._chunks(shape, axes, k, 100):
        seen[ix] += 1
        assert seen[ix].size <= max(100, k * k)
        for d, s in enumerate(ix):
            if d in axes:
                assert s.start % k == 0 and (s.stop % k == 0 or s.stop == shape[d])
    assert (seen == 1).all()


@pytest.mark.parametrize(("shape", "axis", "fmt"), CASES)
def test_flat_runs_are_the_c_order_positions_of_each_chunk(shape, axis, fmt):
    k = mx.get_format(fmt).block_size
    axes = mx.blocking.normalize_axes(axis, len(shape))
    positions = np.arange(math.prod(shape)).reshape(shape)
    for ix in mx.blocking._chunks(shape, axes, k, 100):
        starts, run = mx.blocking.flat_runs(shape, ix)
        want = positions[ix].reshape(-1)
        assert (starts[:, None] + np.arange(run)).reshape(-1).tolist() == want.tolist()


def _chunked(monkeypatch, call):
    """call() with chunks of at most 130 elements, after checking it really went in more than two chunks."""
    sizes = []
    real = ops.block_chunks
    monkeypatch.setattr(ops, "block_chunks", lambda *a: sizes.append(len(real(*a))) or real(*a))
    monkeypatch.setattr(mx.blocking, "CHUNK_ELEMENTS", 130)
    out = call()
    monkeypatch.undo()
    assert max(sizes) > 2
    return out


@pytest.mark.parametrize(("shape", "axis", "fmt"), CASES)
def test_chunked_nvfp4_equals_the_whole_array_pass(monkeypatch, shape, axis, fmt):
    x = _data(shape).astype(np.float64)
    for ts in (None, "amax", 0.75):
        whole = mx.quantize(x, "nvfp4", axis, tensor_scale=ts)
        q = _chunked(monkeypatch, lambda ts=ts: mx.quantize(x, "nvfp4", axis, tensor_scale=ts))
        assert _bits(q.codes) == _bits(whole.codes) and _bits(q.scales) == _bits(whole.scales)
        assert q.tensor_scale == whole.tensor_scale


@pytest.mark.parametrize(("shape", "axis", "fmt"), CASES)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_chunked_dequantize_equals_the_whole_array_pass(monkeypatch, shape, axis, fmt, dtype):
    q = mx.quantize(_data(shape), fmt, axis)
    whole = q.dequantize(dtype)
    sizes = []
    real = mx.array.block_chunks
    monkeypatch.setattr(mx.array, "block_chunks", lambda *a: sizes.append(len(real(*a))) or real(*a))
    monkeypatch.setattr(mx.blocking, "CHUNK_ELEMENTS", 130)
    got = q.dequantize(dtype)
    assert max(sizes) > 2
    assert got.dtype == whole.dtype and _bits(got) == _bits(whole)


@pytest.mark.parametrize("shape", [(1000,), (7, 300), (5, 70, 9)])
@pytest.mark.parametrize("variant", ["plain", "scale_exp", "seed", "random_bits", "big_endian"])
def test_chunked_encode_and_decode_equal_the_whole_array_pass(monkeypatch, shape, variant):
    x = _data(shape)
    kwargs: dict = {}
    if variant == "scale_exp":
        kwargs = {"scale_exp": np.arange(shape[-1]) % 7 - 3}
    elif variant == "seed":
        kwargs = {"policy": SR, "seed": 5}
    elif variant == "random_bits":
        kwargs = {"policy": SR, "random_bits": np.random.default_rng(2).integers(0, 256, shape)}
    elif variant == "big_endian":
        x = x.astype(">f4")
    whole = mx.encode(x, "fp6_e2m3", **kwargs)
    codes = _chunked(monkeypatch, lambda: mx.encode(x, "fp6_e2m3", **kwargs))
    assert _bits(codes) == _bits(whole)
    scale = kwargs.get("scale_exp", 0)
    want = mx.decode(codes, "fp6_e2m3", scale_exp=scale, dtype=ml_dtypes.bfloat16)
    got = _chunked(monkeypatch, lambda: mx.decode(codes.astype(">i2"), "fp6_e2m3", scale_exp=scale,
                                                  dtype=ml_dtypes.bfloat16))
    assert _bits(got) == _bits(want)


def test_zero_dimensional_encode_and_decode_keep_their_shape():
    code = mx.encode(np.array(1.5, np.float32), "fp8_e4m3", policy=SR, seed=1)
    assert code.shape == () and mx.decode(code, "fp8_e4m3").shape == ()
