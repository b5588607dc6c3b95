"""The fast kernels' stochastic rounding, float16 inputs and dequantize give the same bytes as the general kernels.

Stochastic rounding in the fast kernels draws its random integers itself (Philox4x32-10 by flat element
index); the general kernels read them from an array. The array here comes from `dispatch.stream_bits`,
itself held equal to the exact oracle's generator (`mxemu.oracle.random_ints`), and the public API is
checked end to end against `random_bits=` arrays built by the oracle.
"""

from __future__ import annotations

import functools

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fast_path import MX_FORMATS, POLICIES, _edge_blocks, _Spy, _wide_float32_blocks, spy_block_kernels

import mxemu as mx
from mxemu import oracle
from mxemu.kernels import block as kb
from mxemu.kernels import dispatch, fast
from mxemu.kernels.abi import format_params, policy_params

NO_RBITS = np.empty((0, 0), np.uint32)
LAYOUTS = {np.dtype(np.float32): (8, 23), np.dtype(ml_dtypes.bfloat16): (8, 7), np.dtype(np.float16): (5, 10)}
INT_VIEWS = {4: np.int32, 2: np.int16}
_OCP = mx.get_policy("ocp")
STOCHASTIC = {
    "ocp_sr32": _OCP.replace(rounding="stochastic"),
    "ocp_sr8": _OCP.replace(rounding="stochastic", sr_bits=8),
    "ocp_sr1": _OCP.replace(rounding="stochastic", sr_bits=1),
    "ml_dtypes_sr13": mx.get_policy("ml_dtypes").replace(rounding="stochastic", sr_bits=13),  # IEEE overflow
    "gfloat_sr24": mx.get_policy("gfloat").replace(rounding="stochastic", sr_bits=24),  # full integer range
    "torchao_rceil_sr": mx.get_policy("torchao_rceil").replace(rounding="stochastic"),
}
STREAM = (0x0123456789ABCDEF, 1000)


def _params(fmt: str, policy: mx.Policy) -> tuple[tuple, tuple]:
    return format_params(mx.get_format(fmt).element), policy_params(policy)


def _assert_fast_equals_general(x: np.ndarray, fmt: str, policy: mx.Policy, stream=STREAM) -> None:
    """Codes, scales and fake-quantized bits of the fast path (random integers drawn in the kernel) equal the
    general kernels' (random integers from `stream_bits`); x: blocks of 32 as rows, float32/bfloat16/float16."""
    ebits, mbits = LAYOUTS[x.dtype]
    rows = x.view(INT_VIEWS[x.itemsize])
    F, P = _params(fmt, policy)
    assert dispatch.uses_fast_path(rows, ebits, mbits, F, P, NO_RBITS, stream)
    rbits = dispatch.stream_bits(stream, P, *rows.shape) if policy.rounding == "stochastic" else NO_RBITS
    codes = [np.empty(rows.shape, np.uint8) for _ in range(2)]
    scales = [np.empty(rows.shape[0], np.uint8) for _ in range(2)]
    kb.quantize_blocks(rows, ebits, mbits, F, P, rbits, codes[0], scales[0])
    dispatch.quantize_rows(rows, ebits, mbits, F, P, NO_RBITS, codes[1], scales[1], stream=stream)
    np.testing.assert_array_equal(scales[1], scales[0], err_msg=f"scales {fmt} {policy}")
    np.testing.assert_array_equal(codes[1], codes[0], err_msg=f"codes {fmt} {policy}")
    values = np.empty(rows.shape, np.float64)
    kb.fake_quantize_blocks(rows, ebits, mbits, F, P, rbits, values)
    out = np.empty(rows.shape, x.dtype)
    dispatch.fake_quantize_rows(rows, ebits, mbits, F, P, NO_RBITS, out, stream=stream)
    np.testing.assert_array_equal(out.view(rows.dtype), dispatch.to_dtype(values, x.dtype).view(rows.dtype),
                                  err_msg=f"{x.dtype} {fmt} {policy}")


@functools.cache
def _all_16bit_blocks(dtype: np.dtype) -> np.ndarray:
    """All 2^16 bit patterns of a 16-bit float type, in order and shuffled, as blocks of 32."""
    every = np.arange(1 << 16, dtype=np.uint16)
    shuffled = np.random.default_rng(1).permutation(every)
    return np.concatenate([every, shuffled]).view(dtype).reshape(-1, 32)


def _f16_edge_blocks(fmt: str) -> np.ndarray:
    """test_fast_path's edge blocks rounded to float16, and the float16 edges: subnormals, 65504, Inf, NaN."""
    with np.errstate(over="ignore"):
        rows = _edge_blocks(fmt).view(np.float32).astype(np.float16)
    sub = np.arange(1, 33, dtype=np.uint16).view(np.float16)
    top = np.array([65504, -65504, 65472, 2.0 ** -14, -(2.0 ** -24)] + [1.0] * 27, np.float16)
    return np.concatenate([rows, sub[None], top[None], (sub * np.float16(3))[None]])


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_path_equals_general_path_on_every_float16_pattern(fmt, policy):
    _assert_fast_equals_general(_all_16bit_blocks(np.dtype(np.float16)), fmt, POLICIES[policy])


@pytest.mark.parametrize("policy", ["ocp", "ml_dtypes", "gfloat", "ocp_rup", "ocp_rdn", "gfloat_rto", "torchao"])
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_path_equals_general_path_on_float16_edge_blocks(fmt, policy):
    _assert_fast_equals_general(_f16_edge_blocks(fmt), fmt, POLICIES[policy])


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16])
@pytest.mark.parametrize("policy", STOCHASTIC)
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_stochastic_fast_path_equals_general_path_on_every_16bit_pattern(fmt, policy, dtype):
    _assert_fast_equals_general(_all_16bit_blocks(np.dtype(dtype)), fmt, STOCHASTIC[policy])


@pytest.mark.parametrize("policy", ["ocp_sr32", "ocp_sr8", "ml_dtypes_sr13"])
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_stochastic_fast_path_equals_general_path_on_a_million_random_float32(fmt, policy):
    rows = _wide_float32_blocks(1 << 15, seed=MX_FORMATS.index(fmt)).view(np.float32)
    _assert_fast_equals_general(rows, fmt, STOCHASTIC[policy], stream=(2**64 - 1, 2**40))


@pytest.mark.parametrize("policy", STOCHASTIC)
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_stochastic_fast_path_equals_general_path_on_edge_blocks(fmt, policy):
    rows = _edge_blocks(fmt).view(np.float32)
    _assert_fast_equals_general(rows, fmt, STOCHASTIC[policy])
    _assert_fast_equals_general(_f16_edge_blocks(fmt), fmt, STOCHASTIC[policy])


def test_stream_bits_and_the_kernels_philox_are_the_oracles_generator():
    idx = np.concatenate([np.arange(4096, dtype=np.uint64), np.uint64(2**32 - 2048) + np.arange(4096, dtype=np.uint64),
                          np.uint64(2**63) + np.arange(64, dtype=np.uint64)])
    seed = 0xFEDCBA9876543210
    expect = oracle.random_ints(seed, idx, 32)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    got = [int(fast.philox_word0(k0, k1, i)) for i in idx]
    np.testing.assert_array_equal(got, expect)
    bits = dispatch.stream_bits((seed, 2**32 - 2048), policy_params(STOCHASTIC["ocp_sr8"]), 128, 32)
    np.testing.assert_array_equal(bits.reshape(-1), oracle.random_ints(seed, idx[4096:8192], 8))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), rows=st.integers(1, 40), blocks=st.integers(1, 5),
       sr_bits=st.integers(1, 32), fmt=st.sampled_from(MX_FORMATS),
       dtype=st.sampled_from([np.float32, ml_dtypes.bfloat16, np.float16]))
def test_public_stochastic_quantize_draws_the_oracles_integers_by_flat_index(seed, rows, blocks, sr_bits, fmt, dtype):
    # The fast path's in-kernel draws against the general path fed the oracle's integers (random_bits=).
    rng = np.random.default_rng(seed % 1000)
    x = (rng.standard_normal((rows, 32 * blocks)) * np.exp2(rng.integers(-12, 12, (rows, 1)))).astype(dtype)
    policy = _OCP.replace(rounding="stochastic", sr_bits=sr_bits)
    rbits = oracle.random_ints(seed, np.arange(x.size), sr_bits).reshape(x.shape)
    q = mx.quantize(x, fmt, policy=policy, seed=seed)
    ref = mx.quantize(x, fmt, policy=policy, random_bits=rbits)
    np.testing.assert_array_equal(q.codes, ref.codes)
    np.testing.assert_array_equal(q.scales, ref.scales)
    y = mx.fake_quantize(x, fmt, policy=policy, seed=seed)
    np.testing.assert_array_equal(y.view(np.uint8), mx.fake_quantize(x, fmt, policy=policy,
                                                                     random_bits=rbits).view(np.uint8))


def test_comparison_detects_a_fast_kernel_drawing_the_wrong_random_integers():
    # The harness can fail: the fast kernel one counter off the general kernel's integers.
    rows = _all_16bit_blocks(np.dtype(ml_dtypes.bfloat16)).view(np.int16)
    F, P = _params("mxfp4_e2m1", STOCHASTIC["ocp_sr32"])
    rbits = dispatch.stream_bits(STREAM, P, *rows.shape)
    general = np.empty(rows.shape, np.uint8)
    kb.quantize_blocks(rows, 8, 7, F, P, rbits, general, np.empty(rows.shape[0], np.uint8))
    ours = np.empty(rows.shape, np.uint8)
    dispatch.quantize_rows(rows, 8, 7, F, P, NO_RBITS, ours, np.empty(rows.shape[0], np.uint8),
                           stream=(STREAM[0], STREAM[1] + 1))
    assert (ours != general).any()


# Dequantize: every code of the format under scales across the E8M0 range, into every output type.
SCALE_CODES = [0, 1, 2, 20, 100, 126, 127, 128, 200, 240, 250, 253, 254, 255]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "float64"])
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_dequantize_equals_general_dequantize_for_every_code_and_scale(fmt, dtype):
    element = mx.get_format(fmt).element
    F = format_params(element)
    codes = np.resize(np.arange(element.num_codes, dtype=np.uint8), (len(SCALE_CODES), 256))
    scales = np.array(SCALE_CODES, np.uint8)
    factors = np.where(scales == 255, np.nan, np.ldexp(1.0, scales.astype(np.int64) - 127))
    out_dtype = np.dtype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
    ours = np.empty(codes.shape, out_dtype)
    dispatch.dequantize_rows(codes, F, scales, lambda: factors, ours)
    general = np.empty(codes.shape, out_dtype)
    dispatch._dequantize_general(codes, factors, F, general)
    view = {8: np.uint64, 4: np.uint32, 2: np.uint16}[out_dtype.itemsize]
    np.testing.assert_array_equal(ours.view(view), general.view(view))
    # A second opinion on the values: the oracle's exact values times the scale, cast by numpy / ml_dtypes (RNE).
    exact = oracle.decode_array(np.arange(element.num_codes, dtype=np.uint8), element).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        expect = (exact[codes] * factors[:, None]).astype(out_dtype)
    np.testing.assert_array_equal(ours.astype(np.float64), expect.astype(np.float64))


def test_dequantize_comparison_detects_a_wrong_scale():
    F = format_params(mx.get_format("fp8_e4m3"))
    codes = np.arange(256, dtype=np.uint8).reshape(8, 32)
    scales = np.full(8, 127, np.uint8)
    ours, general = np.empty(codes.shape, np.float32), np.empty(codes.shape, np.float32)
    dispatch.dequantize_rows(codes, F, scales + 1, lambda: None, ours)
    dispatch._dequantize_general(codes, np.ones(8), F, general)
    assert (ours.view(np.uint32) != general.view(np.uint32)).any()


@pytest.fixture
def spies(monkeypatch):
    out = spy_block_kernels(monkeypatch, _Spy)
    for module, fns in ((fast, ("dequantize_kernel", "dequantize_kernel64")),
                        (kb, ("quantize_blocks", "fake_quantize_blocks", "dequantize_blocks", "philox_bits"))):
        for fn in fns:
            spy = _Spy(getattr(module, fn))
            monkeypatch.setattr(module, fn, spy)
            out[fn] = spy
    return out


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float16])
def test_stochastic_rounding_from_a_seed_runs_the_fast_kernels_with_no_random_array(spies, dtype):
    x = np.random.default_rng(0).standard_normal((64, 96)).astype(dtype)
    policy = _OCP.replace(rounding="stochastic")
    q = mx.quantize(x, "mxfp4_e2m1", policy=policy, seed=3)
    y = mx.fake_quantize(x, "mxint8", policy=policy, seed=3)
    assert spies["quantize_kernel"].calls == 1 and spies["fake_quantize_kernel"].calls == 1
    assert spies["quantize_blocks"].calls == spies["fake_quantize_blocks"].calls == spies["philox_bits"].calls == 0
    assert q.codes.shape == x.shape and y.dtype == x.dtype


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float16, np.float64])
def test_dequantize_runs_the_fast_kernels_for_every_output_type(spies, dtype):
    q = mx.quantize(np.random.default_rng(0).standard_normal((64, 96)).astype(np.float32), "mxfp6_e2m3")
    y = q.dequantize(dtype)
    fast_calls = spies["dequantize_kernel"].calls + spies["dequantize_kernel64"].calls
    assert fast_calls == 1 and spies["dequantize_blocks"].calls == 0 and y.dtype == dtype


@pytest.mark.parametrize("case", ["random_bits", "axis0", "padded", "nvfp4"])
def test_calls_the_fast_kernels_do_not_claim_run_the_general_kernels(spies, case):
    x = np.random.default_rng(0).standard_normal((40, 80)).astype(np.float32)
    policy = _OCP.replace(rounding="stochastic")
    if case == "random_bits":  # random integers given as an array: the general kernels read them
        mx.fake_quantize(x, "mxint8", policy=policy, random_bits=np.zeros(x.shape, np.uint32))
    elif case == "axis0":  # blocks across rows: their lanes are not flat positions in order
        mx.fake_quantize(x, "mxint8", axis=0, policy=policy, seed=1)
    elif case == "padded":  # 80 = 2 * 32 + 16: padded blocks
        mx.fake_quantize(x, "mxint8", policy=policy, seed=1)
    else:  # a two-level scale: no E8M0 codes to dequantize by
        mx.quantize(x[:, :64], "nvfp4").dequantize()
        assert spies["dequantize_blocks"].calls == 1 and spies["dequantize_kernel"].calls == 0
        return
    assert spies["fake_quantize_blocks"].calls == 1 and spies["fake_quantize_kernel"].calls == 0


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float64])
def test_public_dequantize_matches_the_general_kernel_through_padding_axes_and_out(axis, dtype):
    x = _wide_float32_blocks(45 * 3, seed=4).view(np.float32).reshape(45, 96)
    x[~np.isfinite(x)] = 1.0
    q = mx.quantize(x, "mxfp8_e5m2", axis=axis)
    rows = np.ascontiguousarray(np.moveaxis(q.codes, axis, -1))
    rows = np.pad(rows, ((0, 0), (0, -rows.shape[1] % 32))).reshape(-1, 32)
    expect = np.empty(rows.shape, dtype)
    dispatch._dequantize_general(rows, q.block_factors(), format_params(q.format.element), expect)
    expect = np.moveaxis(expect.reshape(np.moveaxis(q.codes, axis, -1).shape[0], -1)[:, :q.codes.shape[axis]], -1, axis)
    out = np.empty(x.shape, dtype)
    assert q.dequantize(dtype, out=out) is out
    np.testing.assert_array_equal(out.view(np.uint8), np.ascontiguousarray(expect).view(np.uint8))


@pytest.mark.parametrize("policy", ["ocp", "ml_dtypes", "ml_dtypes_rtz", "rna_positive_zero", "ml_dtypes_rup",
                                    "ocp_rdn", "gfloat_rto"])
@pytest.mark.parametrize("fmt", sorted({mx.get_format(n).element.name for n in MX_FORMATS}))
def test_fast_encode_equals_general_encode_on_every_float16_pattern_at_any_scale(fmt, policy):
    x = np.arange(1 << 16, dtype=np.uint16).view(np.int16)
    F, P = format_params(mx.get_format(fmt)), policy_params(POLICIES[policy])
    assert fast.encode_supported(5, 10, x.dtype, F, P, 0, False)
    for s in (-512, -130, -127, -40, -24, -3, 0, 5, 16, 100, 127, 300, 512):
        scale = np.array([s], np.int64)
        general, ours = np.empty(x.size, np.uint8), np.empty(x.size, np.uint8)
        kb.encode_elements(x, 5, 10, scale, F, P, NO_RBITS.reshape(-1), general)
        dispatch.encode_elements(x, 5, 10, scale, F, P, NO_RBITS.reshape(-1), ours)
        np.testing.assert_array_equal(ours, general, err_msg=f"{fmt} {policy} scale 2^{s}")
