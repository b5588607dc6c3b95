"""out= on fake_quantize, decode and dequantize: the same bytes as a fresh result, no allocation, typed refusals."""

from __future__ import annotations

import tracemalloc

import ml_dtypes
import needs
import numpy as np
import pytest

import mxemu as mx

DTYPES = [np.float32, ml_dtypes.bfloat16, np.float16, np.float64]


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-8, 8, shape))
    return x.astype(dtype)


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(f"u{a.dtype.itemsize}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("shape", "axis"), [((8, 64), -1), ((64, 8), 0), ((5, 70), -1), ((64, 64), (0, 1)),
                                             ((3, 40, 32), 1)])
def test_fake_quantize_into_out_gives_the_bytes_of_a_fresh_result(dtype, shape, axis):
    x = _data(shape, dtype)
    for fmt, policy, seed in (("mxfp8_e4m3", "ocp", None), ("mxint4", "ocp", None),
                              ("mxfp4_e2m1", mx.get_policy("ocp").replace(rounding="stochastic"), 11)):
        out = np.full(shape, np.nan, dtype)
        got = mx.fake_quantize(x, fmt, axis, policy, seed=seed, out=out)
        assert got is out
        np.testing.assert_array_equal(_bits(out), _bits(mx.fake_quantize(x, fmt, axis, policy, seed=seed)))


def test_fake_quantize_into_out_for_a_two_level_format():
    x = _data((4, 64), np.float32)
    out = np.empty_like(x)
    assert mx.fake_quantize(x, "nvfp4", out=out) is out
    np.testing.assert_array_equal(_bits(out), _bits(mx.fake_quantize(x, "nvfp4")))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_fake_quantize_in_place_equals_the_out_of_place_result(dtype):
    x = _data((16, 96), dtype)
    x[3, 5] = np.inf  # a block the fast kernels leave to the general ones
    expected = mx.fake_quantize(x, "mxfp6_e3m2")
    y = x.copy()
    assert mx.fake_quantize(y, "mxfp6_e3m2", out=y) is y
    np.testing.assert_array_equal(_bits(y), _bits(expected))


def test_fake_quantize_into_out_allocates_nothing_of_the_arrays_size():
    x = _data(1 << 20, np.float32)
    out = np.empty_like(x)
    mx.fake_quantize(x, "mxfp8_e4m3", out=out)  # compiled and warm
    tracemalloc.start()
    try:
        mx.fake_quantize(x, "mxfp8_e4m3", out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the per-block flags (one byte per 32 elements) and small objects only: far below the 4 MiB result
    assert peak < x.nbytes // 16, peak
    tracemalloc.start()
    try:
        mx.fake_quantize(x, "mxfp8_e4m3")
        assert tracemalloc.get_traced_memory()[1] >= x.nbytes  # the measure sees an allocation of that size
    finally:
        tracemalloc.stop()


def test_chunked_fake_quantize_writes_into_out(monkeypatch):
    from mxemu import blocking

    monkeypatch.setattr(blocking, "CHUNK_ELEMENTS", 1024)
    x = _data((40, 96), np.float32)
    out = np.empty_like(x)
    mx.fake_quantize(x, "mxfp8_e5m2", out=out)
    monkeypatch.undo()
    np.testing.assert_array_equal(_bits(out), _bits(mx.fake_quantize(x, "mxfp8_e5m2")))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_decode_and_dequantize_into_out_give_the_bytes_of_a_fresh_result(dtype):
    dt = np.dtype(getattr(ml_dtypes, dtype) if dtype == "bfloat16" else dtype)
    x = _data((6, 64), np.float32)
    q = mx.quantize(x, "mxfp6_e2m3")
    out = np.full(x.shape, np.nan, dt)
    assert mx.dequantize(q, dt, out=out) is out
    np.testing.assert_array_equal(_bits(out), _bits(mx.dequantize(q, dt)))
    q0 = mx.quantize(x, "mxfp6_e2m3", axis=0)
    out0 = np.full(x.shape, np.nan, dt)
    assert q0.dequantize(dt, out=out0) is out0
    np.testing.assert_array_equal(_bits(out0), _bits(q0.dequantize(dt)))
    codes = mx.encode(x, "fp8_e4m3")
    out = np.full(x.shape, np.nan, dt)
    assert mx.decode(codes, "fp8_e4m3", scale_exp=3, dtype=dt, out=out) is out
    np.testing.assert_array_equal(_bits(out), _bits(mx.decode(codes, "fp8_e4m3", scale_exp=3, dtype=dt)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_decode_of_a_0d_array_writes_into_out(dtype):
    out = np.full((), np.nan, dtype)
    assert mx.decode(np.array(7, np.uint8), "fp4_e2m1", scale_exp=2, dtype=dtype, out=out) is out
    assert out == 24.0  # code 7 of fp4_e2m1 is 6.0, times 2^2


def _refusals():
    x = _data((4, 64), np.float32)
    big = np.zeros(4 * 64 + 1, np.float32)
    return x, [
        ([1.0] * 256, "out must be a numpy array, got list"),
        (np.empty((4, 32), np.float32), r"out has shape \(4, 32\); the result has shape \(4, 64\)"),
        (np.empty((4, 64), np.float64), "out has dtype float64; the result has dtype float32"),
        (np.empty((4, 64), ">f4"), "out has dtype >f4; the result has dtype float32"),
        (np.empty((64, 4), np.float32).T, "out must be C-contiguous"),
        (np.broadcast_to(np.float32(0), (4, 64)), "out must be C-contiguous"),
        (np.frombuffer(bytes(1024), np.float32).reshape(4, 64), "out is read-only"),
        (big[1:].reshape(4, 64), None),  # no overlap with x: accepted
    ], big


def test_fake_quantize_refuses_an_unusable_out_with_a_typed_error():
    x, cases, _ = _refusals()
    for out, message in cases:
        if message is None:
            mx.fake_quantize(x, "mxfp8_e4m3", out=out)
            continue
        with pytest.raises(mx.InputError, match=message):
            mx.fake_quantize(x, "mxfp8_e4m3", out=out)


def test_fake_quantize_refuses_an_out_that_overlaps_x_unless_it_is_x():
    buf = _data(4 * 64 + 32, np.float32)
    x = buf[:256].reshape(4, 64)
    before = buf.copy()
    with pytest.raises(mx.InputError, match=r"out overlaps x \(only out=x itself"):
        mx.fake_quantize(x, "mxfp8_e4m3", out=buf[32:].reshape(4, 64))
    np.testing.assert_array_equal(buf, before)  # refused before anything was written
    same_view = buf[:256].reshape(4, 64)
    assert mx.fake_quantize(x, "mxfp8_e4m3", out=same_view) is same_view


def test_decode_and_dequantize_refuse_an_out_overlapping_their_input():
    raw = np.zeros(1024, np.uint8)
    codes = raw[:256]
    with pytest.raises(mx.InputError, match="out overlaps codes"):
        mx.decode(codes, "fp8_e4m3", dtype=np.float32, out=raw.view(np.float32))
    q = mx.quantize(_data((2, 64), np.float32), "mxfp8_e4m3")
    with pytest.raises(mx.InputError, match="out has dtype float32; the result has dtype float64"):
        mx.dequantize(q, np.float64, out=np.empty((2, 64), np.float32))
    raw = np.zeros(256, np.uint8)
    raw[:128] = q.codes.reshape(-1)
    shared = mx.MXArray(codes=raw[:128].reshape(2, 64), scales=q.scales, format=q.format, policy=q.policy,
                        axis=q.axis)
    with pytest.raises(mx.InputError, match="out overlaps codes"):
        shared.dequantize(np.float16, out=raw.view(np.float16).reshape(2, 64))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "float64"])
def test_the_torch_wrapper_writes_into_out_and_refuses_it_under_autograd(dtype):
    torch = needs.module("torch", "python -m pip install torch==2.13.0 (the README says how to get the CPU build)")
    from mxemu.torch import fake_quantize

    t = torch.randn(8, 64).to(getattr(torch, dtype))
    out = torch.full_like(t, float("nan"))
    assert fake_quantize(t, "mxfp6_e3m2", out=out) is out
    assert torch.equal(out, fake_quantize(t, "mxfp6_e3m2"))
    y = t.clone()
    fake_quantize(y, "mxfp6_e3m2", out=y)  # in place
    assert torch.equal(y, out)
    with pytest.raises(mx.InputError, match="out= does not support autograd"):
        fake_quantize(t.clone().requires_grad_(), "mxfp6_e3m2", out=out)
    with torch.no_grad():
        fake_quantize(t.clone().requires_grad_(), "mxfp6_e3m2", out=out)
    with pytest.raises(mx.InputError, match="out must be a contiguous tensor of shape"):
        fake_quantize(t, "mxfp6_e3m2", out=out.T.contiguous().T)
    with pytest.raises(mx.InputError, match=r"out must be a torch\.Tensor"):
        fake_quantize(t, "mxfp6_e3m2", out=out.numpy() if dtype != "bfloat16" else [])
