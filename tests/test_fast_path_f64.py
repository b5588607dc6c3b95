"""The fast kernels give float64 input the same bytes as the general kernels and the exact oracle.

A float64 lane is rounded once from its exact value (int64 lanes, no float32 step), and fake-quantize writes
float64. The data reach where a float32 step would go wrong: values between float32 grid points (just off
the element grid's ties), below float32's range, beyond it (E8M0 scales that saturate), and float64
subnormals.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_fast_path import MX_FORMATS, POLICIES, _edge_blocks, spy_block_kernels
from test_fast_path_more import STOCHASTIC

import mxemu as mx
from mxemu import oracle
from mxemu.kernels import block as kb
from mxemu.kernels import dispatch, fast
from mxemu.kernels.abi import format_params, policy_params

F64 = (11, 52)
NO_RBITS = np.empty((0, 0), np.uint32)
NO_KEY = (np.uint64(0), np.uint64(0), np.uint64(0))
STREAM = (0x0123456789ABCDEF, 1000)
EVERY_POLICY = {**POLICIES, **STOCHASTIC}
SIGN = np.int64(-(1 << 63))


def _params(fmt: str, policy: mx.Policy) -> tuple[tuple, tuple]:
    return format_params(mx.get_format(fmt).element), policy_params(policy)


def _general(rows: np.ndarray, fmt: str, policy: mx.Policy, stream=STREAM):
    """(codes, scales, fake-quantized float64 values) of the general kernels on int64 rows."""
    F, P = _params(fmt, policy)
    rbits = dispatch.stream_bits(stream, P, *rows.shape) if policy.rounding == "stochastic" else NO_RBITS
    codes, scales = np.empty(rows.shape, np.uint8), np.empty(rows.shape[0], np.uint8)
    kb.quantize_blocks(rows, *F64, F, P, rbits, codes, scales)
    values = np.empty(rows.shape, np.float64)
    kb.fake_quantize_blocks(rows, *F64, F, P, rbits, values)
    return codes, scales, values


def _assert_fast_equals_general(x: np.ndarray, fmt: str, policy: mx.Policy, stream=STREAM) -> None:
    """Codes, scales and fake-quantized float64 bits of the fast path equal the general kernels'; x: float64
    blocks of 32 as rows."""
    rows = x.view(np.int64)
    F, P = _params(fmt, policy)
    assert dispatch.uses_fast_path(rows, *F64, F, P, NO_RBITS, stream)
    codes, scales, values = _general(rows, fmt, policy, stream)
    ours_codes, ours_scales = np.empty(rows.shape, np.uint8), np.empty(rows.shape[0], np.uint8)
    dispatch.quantize_rows(rows, *F64, F, P, NO_RBITS, ours_codes, ours_scales, stream=stream)
    np.testing.assert_array_equal(ours_scales, scales, err_msg=f"scales {fmt} {policy}")
    np.testing.assert_array_equal(ours_codes, codes, err_msg=f"codes {fmt} {policy}")
    out = np.empty(rows.shape, np.float64)
    dispatch.fake_quantize_rows(rows, *F64, F, P, NO_RBITS, out, stream=stream)
    np.testing.assert_array_equal(out.view(np.int64), values.view(np.int64), err_msg=f"values {fmt} {policy}")


def _wide_float64_blocks(n_blocks: int, seed: int) -> np.ndarray:
    """Random float64 blocks: per block an exponent field around the E8M0 range (2^-170 .. 2^150) or anywhere
    in [0, 2046], lanes up to 60 binades below it (into float64's subnormals), random 52-bit fractions, a
    quarter of them float32 ties give or take one float64 ulp; a few zeros, NaNs and Infs."""
    rng = np.random.default_rng(seed)
    near = rng.random((n_blocks, 1)) < 0.75
    top = np.where(near, rng.integers(1023 - 170, 1023 + 151, (n_blocks, 1)), rng.integers(0, 2047, (n_blocks, 1)))
    ef = np.clip(top - rng.integers(0, 61, (n_blocks, 32)), 0, 2046)
    frac = rng.integers(0, 1 << 52, (n_blocks, 32), dtype=np.int64)
    tie = (frac & ~np.int64((1 << 29) - 1)) + (1 << 28) + rng.integers(-1, 2, (n_blocks, 32))
    lanes = rng.random((n_blocks, 32))
    frac = np.where(lanes < 0.25, tie, frac)
    bits = (rng.integers(0, 2, (n_blocks, 32), dtype=np.int64) << 63) | (ef << 52) | frac
    bits[(lanes > 0.3) & (lanes < 0.31)] &= SIGN
    inf = (lanes > 0.9998) & (lanes <= 0.9999)
    bits[inf] = np.int64(0x7FF0000000000000) | (bits[inf] & SIGN)
    bits[lanes > 0.9999] = 0x7FF8000000000000
    return bits.view(np.float64)


@functools.cache
def _f64_edge_blocks(fmt: str) -> np.ndarray:
    """test_fast_path's float32 edge blocks (exact in float64), and float64's own edges: element-grid ties one
    float64 ulp off (a float32 step would round them onto the tie), amax at and next to every power of two
    of float64, subnormal, huge and tiny-beside-huge blocks, NaN and Inf lanes."""
    element = mx.get_format(fmt).element
    blocks = [_edge_blocks(fmt).view(np.float32).astype(np.float64)]

    def add(lanes):
        b = np.zeros(32)
        lanes = np.asarray(lanes, np.float64)[:32]
        b[: lanes.size] = lanes
        blocks.append(b[None])

    values = np.unique(np.abs(mx.decode(np.arange(element.num_codes, dtype=np.uint8), element.name, dtype=np.float64)))
    values = values[np.isfinite(values)]
    mids = np.concatenate([(values[:-1] + values[1:]) / 2, [values[-1] * 1.0625]])
    off = np.concatenate([np.nextafter(mids, 0), np.nextafter(mids, np.inf)])
    for s in (-127, -126, -120, -30, -1, 0, 1, 40, 120, 127 - element.emax):
        lanes = off * 2.0 ** s
        for start in range(0, lanes.size, 31):
            chunk = lanes[start:start + 31]
            add(np.concatenate([[values[-1] * 2.0 ** s], chunk * np.where(np.arange(chunk.size) % 2, -1, 1)]))
    fill = np.random.default_rng(11).random(31)
    for e in range(-1074, 1024, 3):
        p = 2.0 ** e
        for amax in (np.nextafter(p, 0), p, np.nextafter(p, np.inf)):
            add(np.concatenate([[amax], -amax * fill]))
    tiny, huge = 5e-324, np.finfo(np.float64).max
    add(np.arange(1, 33) * tiny)
    add([2.0 ** -1022, *(np.arange(1, 32) * -tiny)])
    add([huge, -huge, 1e300, -1e200, 1.0, 2.0 ** -149, tiny])
    add([2.0 ** -149 * 1.5, 2.0 ** -150, -(2.0 ** -150) * (1 + 2.0 ** -52), 2.0 ** -160])
    add([np.nan, 1.0, -3.0])
    add([-np.inf, 1e-300, 2.0])
    return np.concatenate(blocks)


@pytest.mark.parametrize("policy", EVERY_POLICY)
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_path_equals_general_path_on_float64_edge_blocks(fmt, policy):
    _assert_fast_equals_general(_f64_edge_blocks(fmt), fmt, EVERY_POLICY[policy])


@pytest.mark.parametrize("policy", EVERY_POLICY)
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_path_equals_general_path_on_random_wide_float64(fmt, policy):
    _assert_fast_equals_general(_wide_float64_blocks(1 << 10, seed=MX_FORMATS.index(fmt)), fmt, EVERY_POLICY[policy])


@pytest.mark.parametrize("policy", ["ocp", "microxcaling", "torchao_rceil", "ml_dtypes_rdn", "gfloat_rto", "ocp_sr32"])
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_path_equals_general_path_on_a_million_wide_float64(fmt, policy):
    rows = _wide_float64_blocks(1 << 15, seed=100 + MX_FORMATS.index(fmt))
    _assert_fast_equals_general(rows, fmt, EVERY_POLICY[policy], stream=(2**64 - 1, 2**40))


def _slow_blocks(rows: np.ndarray, fmt: str, policy: mx.Policy) -> np.ndarray:
    """Which blocks the fast kernel leaves to the general kernels."""
    F, P = _params(fmt, policy)
    slow = np.empty(rows.shape[0], np.bool_)
    G = fast.lane_params(F, P, False)
    kernel, lookup = fast.block_kernel("quantize", G), fast.scale_lookup(F, P, G, True)
    kernel(rows.view(np.int64).reshape(-1), 32, F, P, G, lookup, NO_KEY, np.empty(rows.size, np.uint8),
           np.empty(rows.shape[0], np.uint8), slow, 0, rows.shape[0])
    return slow


@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_the_float64_lane_loop_takes_every_finite_block_with_a_finite_scale(fmt):
    # Not vacuous: the comparisons above ran the lane loop, not the fallback. With float64 fields the loop
    # takes subnormal and huge blocks too; only NaN/Inf lanes, and for integers a saturated scale, leave it.
    rows = _wide_float64_blocks(1 << 12, seed=3)
    slow = _slow_blocks(rows, fmt, POLICIES["ocp"])
    finite = np.isfinite(rows).all(axis=1)
    in_range = np.abs(rows).max(axis=1) < 2.0 ** 127
    assert not slow[finite & in_range].any()
    assert slow[~finite].all()
    normal = np.random.default_rng(0).standard_normal((256, 32))
    assert not _slow_blocks(normal, fmt, POLICIES["ocp"]).any()


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxfp4_e2m1", "mxint8"])
def test_comparison_detects_a_float32_step_before_rounding(fmt):
    # The data can fail a double-rounding kernel: the fast path fed the inputs rounded to float32 first
    # gives other codes than the float64 general kernels on the near-tie edge blocks.
    x = _f64_edge_blocks(fmt)
    x = x[np.isfinite(x).all(axis=1) & (np.abs(x).max(axis=1) < 2.0 ** 120)]
    F, P = _params(fmt, POLICIES["ocp"])
    codes, _, _ = _general(x.view(np.int64), fmt, POLICIES["ocp"])
    ours = np.empty(x.shape, np.uint8)
    dispatch.quantize_rows(x.astype(np.float32).view(np.int32), 8, 23, F, P, NO_RBITS, ours,
                           np.empty(x.shape[0], np.uint8))
    assert (ours != codes).any()


def test_comparison_detects_a_float64_lane_loop_with_the_wrong_rounding():
    rows = _f64_edge_blocks("mxfp4_e2m1").view(np.int64)
    F, P = _params("mxfp4_e2m1", POLICIES["ocp"])
    wrong = fast.lane_params(F, policy_params(POLICIES["ocp"].replace(rounding="rna")), False)
    codes, slow = np.empty(rows.size, np.uint8), np.empty(rows.shape[0], np.bool_)
    lookup = fast.scale_lookup(F, P, wrong, True)
    fast.block_kernel("quantize", wrong)(rows.reshape(-1), 32, F, P, wrong, lookup, NO_KEY, codes,
                                         np.empty(rows.shape[0], np.uint8), slow, 0, rows.shape[0])
    general, _, _ = _general(rows, "mxfp4_e2m1", POLICIES["ocp"])
    assert (codes.reshape(rows.shape)[~slow] != general[~slow]).any()


def _assert_matches_oracle(x: np.ndarray, fmt: str, policy: mx.Policy, seed: int = 5) -> None:
    """Public quantize / fake_quantize of float64 rows against the exact oracle, block by block (stochastic
    rounding: the oracle's Philox draws at each lane's flat index)."""
    stochastic = policy.rounding == "stochastic"
    q = mx.quantize(x, fmt, policy=policy, seed=seed if stochastic else None)
    y = mx.fake_quantize(x, fmt, policy=policy, seed=seed if stochastic else None)
    assert y.dtype == np.float64
    for b, row in enumerate(x):
        lanes = np.arange(b * 32, (b + 1) * 32)
        codes, scale = oracle.quantize_block(row, fmt, policy, seed=seed if stochastic else None,
                                             indices=lanes if stochastic else None)
        assert int(q.scales[b, 0]) == scale, (fmt, b, row)
        np.testing.assert_array_equal(q.codes[b], codes, err_msg=f"{fmt} block {b}")
        want = (oracle.dequantize_block(codes, scale, fmt) if stochastic
                else oracle.fake_quantize_block(row, fmt, policy))
        np.testing.assert_array_equal(y[b], want, err_msg=f"{fmt} block {b}")
        assert (np.signbit(y[b]) == np.signbit(want))[~np.isnan(want)].all()


@pytest.mark.parametrize("policy", ["ocp", "ml_dtypes_rup", "gfloat_rto", "ocp_sr8"])
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_float64_fast_path_equals_the_exact_oracle(fmt, policy):
    rng = np.random.default_rng(MX_FORMATS.index(fmt))
    edges = _f64_edge_blocks(fmt)
    x = np.concatenate([edges[rng.choice(edges.shape[0], 48, replace=False)], _wide_float64_blocks(48, seed=9)])
    _assert_matches_oracle(x, fmt, EVERY_POLICY[policy])


@settings(max_examples=40, deadline=None)
@given(fmt=st.sampled_from(MX_FORMATS), policy=st.sampled_from(["ocp", "ml_dtypes", "ocp_rdn", "ocp_sr32"]),
       x=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.just(32)),
                    elements=st.floats(width=64, allow_nan=True, allow_infinity=True)))
def test_public_float64_quantize_equals_the_oracle_on_any_float64(fmt, policy, x):
    _assert_matches_oracle(x, fmt, EVERY_POLICY[policy])


class _Spy:
    def __init__(self, fn):
        self.fn, self.rows = fn, []

    def __call__(self, *args):
        self.rows.append(args[0].shape[0] if args[0].ndim == 2 else None)
        return self.fn(*args)


@pytest.fixture
def spies(monkeypatch):
    out = spy_block_kernels(monkeypatch, _Spy)
    for fn in ("quantize_blocks", "fake_quantize_blocks"):
        out[fn] = _Spy(getattr(kb, fn))
        monkeypatch.setattr(kb, fn, out[fn])
    return out


@pytest.mark.parametrize("policy", ["ocp", "ml_dtypes_rdn", "ocp_sr32"])
def test_float64_quantize_and_fake_quantize_run_the_fast_kernels(spies, policy):
    x = np.random.default_rng(0).standard_normal((64, 96))
    x[5, 40] = np.nan  # one block with a NaN lane: the general kernels take that block alone
    q = mx.quantize(x, "mxfp8_e4m3", policy=EVERY_POLICY[policy], seed=1)
    y = mx.fake_quantize(x, "mxint8", policy=EVERY_POLICY[policy], seed=1)
    assert len(spies["quantize_kernel"].rows) == 1 and len(spies["fake_quantize_kernel"].rows) == 1
    assert spies["quantize_blocks"].rows == [1] and spies["fake_quantize_blocks"].rows == [1]
    assert q.codes.shape == x.shape and y.dtype == np.float64


def test_float64_encode_stays_on_the_general_kernel_and_rounds_once():
    # encode_kernel reads float32-wide lanes only; float64 element encode stays on the general kernel.
    assert not fast.encode_supported(*F64, np.dtype(np.int64), *_params("mxfp8_e4m3", POLICIES["ocp"]), 0, False)
    x = np.array([1.0 + 2.0 ** -40, 2.0 ** -1074, 1e300])
    np.testing.assert_array_equal(mx.encode(x, "fp8_e4m3"), oracle.encode_array(x, mx.get_format("fp8_e4m3")))
