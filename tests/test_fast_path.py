"""The fast kernels (mxemu/kernels/fast.py) give the same bytes as the general kernels (block.py).

Every comparison is bit for bit: element codes, E8M0 scales and the fake-quantized values' bits.
"""

from __future__ import annotations

import functools
import itertools
import threading

import ml_dtypes
import numpy as np
import pytest

import mxemu as mx
from mxemu.kernels import block as kb
from mxemu.kernels import dispatch, fast, threads
from mxemu.kernels.abi import format_params, policy_params

MX_FORMATS = mx.formats(kind="mx")
_OCP = mx.get_policy("ocp")
_ML = mx.get_policy("ml_dtypes")
POLICIES = {
    "ocp": _OCP,
    "torchao": mx.get_policy("torchao"),  # Inf lanes as 2^128, code-0 blocks encoded at 2^-126
    "torchao_ceil": mx.get_policy("torchao_ceil"),
    "torchao_even": mx.get_policy("torchao_even"),
    "torchao_rceil": mx.get_policy("torchao_rceil"),  # float32 division, code-0 blocks encoded at 1
    # rna, float32 log2, NaN on scale overflow (its sign-of-zero fields run the general kernels only)
    "microxcaling": mx.get_policy("microxcaling").replace(zero_sign="keep", fake_int_zero="positive"),
    "transformer_engine": mx.get_policy("transformer_engine"),
    "gfloat": mx.get_policy("gfloat"),  # Inf amax propagates, full integer range
    "ml_dtypes": _ML,  # IEEE overflow, NaN -> zero of the opposite sign
    "ml_dtypes_rtz": _ML.replace(rounding="rtz"),  # IEEE overflow toward zero stops at max
    "ocp_rtz": _OCP.replace(rounding="rtz"),
    "rna_positive_zero": _OCP.replace(rounding="rna", zero_sign="positive"),
    "ceil_fp32_finite_amax": _OCP.replace(scale_rule="ceil", log2="fp32", nonfinite="finite_amax"),
    "rceil_recip_nan_zero_blocks": _OCP.replace(scale_rule="rceil", descale="fp32_recip", zero_block_scale=255),
    "min_normal_zero_block_127": _OCP.replace(min_scale_encoding="min_normal", zero_block_scale=127),
    # Directed and to-odd rounding, saturating and with IEEE overflow (Inf for one sign only).
    "ocp_rup": _OCP.replace(rounding="rup"),
    "ocp_rdn": _OCP.replace(rounding="rdn"),
    "ocp_rto": _OCP.replace(rounding="rto"),
    "ml_dtypes_rup": _ML.replace(rounding="rup"),
    "ml_dtypes_rdn": _ML.replace(rounding="rdn"),
    "gfloat_rto": mx.get_policy("gfloat").replace(rounding="rto"),
}
NO_RBITS = np.empty((0, 0), np.uint32)
NO_KEY = (np.uint64(0), np.uint64(0), np.uint64(0))  # the Philox key and counter, unused by deterministic modes
F32_LAYOUT, BF16_LAYOUT = (8, 23), (8, 7)


def _params(fmt: str, policy: mx.Policy) -> tuple[tuple, tuple]:
    return format_params(mx.get_format(fmt).element), policy_params(policy)


def _assert_fast_codes_equal_general(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, where: str) -> None:
    """The rows take the fast path, and its codes and scales equal the general kernels'."""
    assert dispatch.uses_fast_path(rows, ebits, mbits, F, P, NO_RBITS)
    codes = [np.empty(rows.shape, np.uint8) for _ in range(2)]
    scales = [np.empty(rows.shape[0], np.uint8) for _ in range(2)]
    kb.quantize_blocks(rows, ebits, mbits, F, P, NO_RBITS, codes[0], scales[0])
    dispatch.quantize_rows(rows, ebits, mbits, F, P, NO_RBITS, codes[1], scales[1])
    np.testing.assert_array_equal(scales[1], scales[0], err_msg=f"scales {where}")
    np.testing.assert_array_equal(codes[1], codes[0], err_msg=f"codes {where}")


def _assert_fast_equals_general(rows: np.ndarray, fmt: str, policy: mx.Policy) -> None:
    """Codes, scales and fake-quantized bits (in the input's type) of both paths are equal; the general
    path's fake-quantized values are its float64 values rounded once into that type."""
    ebits, mbits = F32_LAYOUT if rows.dtype == np.int32 else BF16_LAYOUT
    F, P = _params(fmt, policy)
    _assert_fast_codes_equal_general(rows, ebits, mbits, F, P, f"{fmt} {policy}")
    values = np.empty(rows.shape, np.float64)
    kb.fake_quantize_blocks(rows, ebits, mbits, F, P, NO_RBITS, values)
    dtype = np.dtype(np.float32) if rows.dtype == np.int32 else np.dtype(ml_dtypes.bfloat16)
    out = np.empty(rows.shape, dtype)
    dispatch.fake_quantize_rows(rows, ebits, mbits, F, P, NO_RBITS, out)
    np.testing.assert_array_equal(out.view(rows.dtype), dispatch.to_dtype(values, dtype).view(rows.dtype),
                                  err_msg=f"{dtype} {fmt} {policy}")


def _slow_blocks(rows: np.ndarray, fmt: str, policy: mx.Policy) -> int:
    """How many blocks the fast kernel leaves to the general kernels."""
    F, P = _params(fmt, policy)
    slow = np.empty(rows.shape[0], np.bool_)
    G = fast.lane_params(F, P, rows.dtype == np.int16)
    kernel, lookup = fast.block_kernel("quantize", G), fast.scale_lookup(F, P, G, False)
    kernel(rows.reshape(-1), rows.shape[1], F, P, G, lookup, NO_KEY, np.empty(rows.size, np.uint8),
           np.empty(rows.shape[0], np.uint8), slow, 0, rows.shape[0])
    return int(slow.sum())


@functools.cache
def _all_bf16_blocks() -> np.ndarray:
    """All 2^16 bfloat16 bit patterns, in order and shuffled, as blocks of 32 (int16 rows)."""
    every = np.arange(1 << 16, dtype=np.uint16).view(np.int16)
    shuffled = np.random.default_rng(1).permutation(every)
    return np.concatenate([every, shuffled]).reshape(-1, 32)


def _wide_float32_blocks(n_blocks: int, seed: int) -> np.ndarray:
    """Random float32 bits: per block an exponent field in [1, 254], lanes up to 40 binades below it
    (down into the subnormals), random mantissas and signs, a few zeros, NaNs and Infs."""
    rng = np.random.default_rng(seed)
    top = rng.integers(1, 255, (n_blocks, 1))
    ef = np.clip(top - rng.integers(0, 41, (n_blocks, 32)), 0, 254)
    bits = (rng.integers(0, 2, (n_blocks, 32)) << 31) | (ef << 23) | rng.integers(0, 1 << 23, (n_blocks, 32))
    lanes = rng.random((n_blocks, 32))
    bits[lanes < 0.01] &= 1 << 31
    inf = (lanes > 0.9998) & (lanes <= 0.9999)
    bits[inf] = 0x7F800000 | (bits[inf] & (1 << 31))
    bits[lanes > 0.9999] = 0x7FC00000
    return bits.astype(np.uint32).view(np.int32)


def _f32(values) -> np.ndarray:
    return np.asarray(values, np.float64).astype(np.float32)


@functools.cache
def _edge_blocks(fmt: str) -> np.ndarray:
    """Blocks at the edges: amax one ulp below / at / above powers of two, exact ties of the element
    grid, zeros, float32-subnormal amax, amax near 2^127 and float32 max, NaN/Inf lanes."""
    rng = np.random.default_rng(7)
    element = mx.get_format(fmt).element
    blocks = []

    def block(lanes):
        lanes = _f32(lanes)
        b = np.zeros(32, np.float32)
        b[: lanes.size] = lanes[:32]
        blocks.append(b)

    fill = rng.random(31)
    for e in range(-149, 128):
        p = np.float32(2.0 ** e)
        for amax in (np.nextafter(p, np.float32(0)), p, np.nextafter(p, np.float32(np.inf))):
            block(np.concatenate([[amax], -amax * fill]))
    # Exact ties of the element grid at several scales: amax = max normal * 2^s, the other lanes
    # the midpoints between neighbouring element values (and beyond max normal) times 2^s.
    values = np.unique(np.abs(mx.decode(np.arange(element.num_codes, dtype=np.uint8), element.name,
                                        dtype=np.float64)))
    values = values[np.isfinite(values)]
    mids = np.concatenate([(values[:-1] + values[1:]) / 2, [values[-1] * 1.0625, values[-1] * 1.03125]])
    for s in (-127, -126, -120, -30, -1, 0, 1, 40, 120, 127 - element.emax):
        lanes = np.concatenate([[values[-1]], mids]) * 2.0 ** s
        if lanes.max() < np.finfo(np.float32).max:
            for start in range(0, lanes.size, 31):
                chunk = lanes[start:start + 31]
                block(np.concatenate([[values[-1] * 2.0 ** s], chunk * np.where(np.arange(chunk.size) % 2, -1, 1)]))
    # Odd multiples of powers of two below a power-of-two amax: ties at every precision.
    for e in (-120, -20, 0, 3, 60, 126):
        for t0 in (1, 16):
            block([2.0 ** e] + [(2 * j + 1) * 2.0 ** (e - t0 - j) for j in range(31)])
    # Zeros.
    block([0.0] * 32)
    block([-0.0] * 32)
    block([0.0, -0.0] * 16)
    # Float32-subnormal amax, and subnormal lanes under a normal amax.
    sub = rng.integers(1, 1 << 23, 32).astype(np.uint32).view(np.float32)
    block(sub)
    block(np.where(np.arange(32) % 2, -sub, sub))
    block([1.4e-45] + [0.0] * 31)
    block([2.0 ** (-126), *list(sub[:31])])
    block([2.0 ** (-100), *list(sub[:31])])
    # Near the top of float32.
    fmax = np.finfo(np.float32).max
    for amax in (fmax, 2.0 ** 127, np.nextafter(np.float32(2.0 ** 127), np.float32(0)), 1.5 * 2.0 ** 127):
        block(np.concatenate([[amax], -amax * fill]))
        block([amax, -amax] + [amax * 2.0 ** -k for k in range(1, 31)])
    # NaN and Inf lanes.
    block([np.nan, 1.0, -3.0])
    block([-np.inf, 1.0, -3.0])
    block([np.inf, np.nan, 2.0 ** -130])
    return np.stack(blocks).view(np.int32)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_path_equals_general_path_on_every_bfloat16_pattern(fmt, policy):
    rows = _all_bf16_blocks()
    _assert_fast_equals_general(rows, fmt, POLICIES[policy])
    # The same values as float32 inputs.
    _assert_fast_equals_general((rows.astype(np.int32) << 16).astype(np.int32), fmt, POLICIES[policy])


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_path_equals_general_path_on_edge_blocks(fmt, policy):
    rows = _edge_blocks(fmt)
    _assert_fast_equals_general(rows, fmt, POLICIES[policy])
    bf16 = rows.view(np.float32).astype(ml_dtypes.bfloat16).view(np.int16)
    _assert_fast_equals_general(bf16, fmt, POLICIES[policy])


@pytest.mark.parametrize("policy", ["ocp", "microxcaling", "ml_dtypes", "torchao_rceil", "ocp_rup", "ml_dtypes_rdn",
                                    "gfloat_rto"])
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_path_equals_general_path_on_a_million_random_float32(fmt, policy):
    rows = _wide_float32_blocks(1 << 15, seed=MX_FORMATS.index(fmt))
    _assert_fast_equals_general(rows, fmt, POLICIES[policy])


def _amax_probes(lookup: np.ndarray, frac: int, rng: np.random.Generator) -> np.ndarray:
    """Nonnegative amax bits in every binade: its ends, the scale lookup's step and its neighbours, random
    points; zero and a few subnormals (the binade the lookup leaves to the scale functions)."""
    probes = [0, 1, 2, (1 << frac) - 1, 1 << (frac - 1)]
    for f in range(1, lookup.shape[1] - 1):
        lo = f << frac
        step = int(lookup[fast.LOOKUP_STEP, f])
        probes += [lo, lo + (1 << frac) - 1, *(lo + int(r) for r in rng.integers(0, 1 << frac, 3))]
        if lo < step < lo + (1 << frac):
            probes += [step - 1, step, step + 1]
    return np.unique(np.array(probes, np.int64))


@pytest.mark.parametrize("layout", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("policy", POLICIES)
def test_every_block_scale_read_from_the_lookup_is_the_scale_rules_code(policy, layout):
    # A block [amax, -amax/3, amax/7, 0] per probe: the fast kernels' scale (one comparison in the lookup)
    # against the general kernels' (scale.scale_code on amax's fields). bfloat16: every amax.
    ebits, mbits, view = {"float32": (8, 23, np.int32), "bfloat16": (8, 7, np.int16),
                          "float64": (11, 52, np.int64)}[layout]
    rng = np.random.default_rng(len(policy))
    for fmt in MX_FORMATS:
        F, P = _params(fmt, POLICIES[policy])
        G = fast.lane_params(F, P, layout == "bfloat16")
        lookup = fast.scale_lookup(F, P, G, layout == "float64")
        if layout == "bfloat16":
            amax = np.arange(0x7F80, dtype=np.int16).view(ml_dtypes.bfloat16).astype(np.float64)
        else:
            amax = _amax_probes(lookup, mbits, rng).view(np.float64 if layout == "float64" else None)
            if layout == "float32":
                amax = amax.astype(np.uint32).view(np.float32).astype(np.float64)
        rows = np.stack([amax, -amax / 3, amax / 7, 0 * amax], axis=1)
        dtype = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}[layout]
        rows = rows.astype(dtype).view(view)
        _assert_fast_codes_equal_general(rows, ebits, mbits, F, P, f"{fmt} {policy} {layout}")


def test_the_scale_lookup_defers_only_zero_subnormal_and_nonfinite_binades_under_the_spec_rules():
    # Under floor, ceil and even rules every normal binade holds at most two codes, so the lookup answers
    # it; a lookup that deferred everywhere would pass the test above and be slow. (rceil divides amax in
    # float32: float64 amax beyond float32's range jumps to the largest code, a binade the lookup defers.)
    cases = [(p, w) for p in ("ocp", "torchao_ceil", "torchao_even") for w in (False, True)]
    for (policy, wide), fmt in itertools.product([*cases, ("torchao_rceil", False)], MX_FORMATS):
        F, P = _params(fmt, POLICIES[policy])
        steps = fast.scale_lookup(F, P, fast.lane_params(F, P, False), wide)[fast.LOOKUP_STEP]
        deferred = np.flatnonzero(steps == fast.LOOKUP_ASK)
        assert deferred.tolist() == [0, steps.size - 1], (policy, fmt, wide)


@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_kernels_take_nearly_every_block_of_ordinary_data(fmt):
    # Not vacuous: the blocks compared above mostly ran the fast lane loop, not the fallback.
    rows = _wide_float32_blocks(1 << 12, seed=3)
    assert _slow_blocks(rows, fmt, _OCP) < 0.15 * rows.shape[0]
    assert _slow_blocks(_all_bf16_blocks(), fmt, _OCP) < 0.25 * 4096
    normal = np.random.default_rng(0).standard_normal((256, 32)).astype(np.float32).view(np.int32)
    assert _slow_blocks(normal, fmt, _OCP) == 0


def test_comparison_detects_a_fast_kernel_with_the_wrong_rounding():
    # The harness can fail: lane parameters for rna against a general kernel run with rne differ on ties.
    rows = _edge_blocks("mxfp4_e2m1")
    F, P = _params("mxfp4_e2m1", _OCP)
    wrong = fast.lane_params(F, policy_params(_OCP.replace(rounding="rna")), False)
    codes = np.empty(rows.size, np.uint8)
    slow = np.empty(rows.shape[0], np.bool_)
    lookup = fast.scale_lookup(F, P, wrong, False)
    fast.block_kernel("quantize", wrong)(rows.reshape(-1), 32, F, P, wrong, lookup, NO_KEY, codes,
                                         np.empty(rows.shape[0], np.uint8), slow, 0, rows.shape[0])
    general = np.empty(rows.shape, np.uint8)
    kb.quantize_blocks(rows, 8, 23, F, P, NO_RBITS, general, np.empty(rows.shape[0], np.uint8))
    assert (codes.reshape(rows.shape)[~slow] != general[~slow]).any()


class _Spy:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def spy_block_kernels(monkeypatch, make_spy) -> dict:
    """{"quantize_kernel": spy, "fake_quantize_kernel": spy}: spies on whichever fast block kernel
    `fast.block_kernel` hands out for each operation."""
    out = {f"{op}_kernel": make_spy(None) for op in ("quantize", "fake_quantize")}
    choose = fast.block_kernel

    def spied(op, G):
        out[f"{op}_kernel"].fn = choose(op, G)
        return out[f"{op}_kernel"]

    monkeypatch.setattr(fast, "block_kernel", spied)
    return out


@pytest.fixture
def spies(monkeypatch):
    out = spy_block_kernels(monkeypatch, _Spy)
    for fn in ("quantize_blocks", "fake_quantize_blocks"):
        out[fn] = _Spy(getattr(kb, fn))
        monkeypatch.setattr(kb, fn, out[fn])
    return out


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16])
@pytest.mark.parametrize("policy", ["ocp", "torchao", "torchao_ceil", "torchao_even", "torchao_rceil"])
def test_quantize_and_fake_quantize_run_the_fast_kernels_for_the_common_case(spies, dtype, policy):
    x = np.random.default_rng(0).standard_normal((64, 96)).astype(dtype)
    q = mx.quantize(x, "mxfp8_e4m3", policy=policy)
    y = mx.fake_quantize(x, "mxfp4_e2m1", policy=policy)
    assert spies["quantize_kernel"].calls == 1 and spies["fake_quantize_kernel"].calls == 1
    assert spies["quantize_blocks"].calls == 0 and spies["fake_quantize_blocks"].calls == 0
    assert q.codes.shape == x.shape and y.dtype == x.dtype


@pytest.mark.parametrize("case", ["random_bits", "flush"])
def test_calls_outside_the_fast_kernels_run_the_general_kernels(spies, case):
    x = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    policy = {"random_bits": _OCP.replace(rounding="stochastic"),
              "flush": _OCP.replace(subnormal_inputs="flush")}[case]
    rbits = np.ones(x.shape, np.uint32) if case == "random_bits" else None
    mx.fake_quantize(x, "mxint8", policy=policy, random_bits=rbits)
    assert spies["fake_quantize_blocks"].calls == 1
    assert spies["fake_quantize_kernel"].calls == 0


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxfp6_e2m3", "mxint4"])
def test_public_fake_quantize_matches_the_general_kernels_through_padding_and_axes(fmt):
    # 45 rows blocked along axis 0: padding lanes and moved axes around the fast kernels.
    x = _wide_float32_blocks(45 * 3, seed=11).view(np.float32).reshape(45, 96)
    F, P = _params(fmt, _OCP)
    rows = np.pad(x.T, ((0, 0), (0, 19))).view(np.int32).reshape(-1, 32)
    general = np.empty(rows.shape, np.float32)
    kb.fake_quantize_blocks(rows, 8, 23, F, P, NO_RBITS, general)
    expect = general.reshape(96, 64)[:, :45].T
    got = mx.fake_quantize(x, fmt, axis=0)
    np.testing.assert_array_equal(got.view(np.uint32), expect.view(np.uint32))


ELEMENT_FORMATS = [mx.get_format(n).element.name for n in MX_FORMATS]


@pytest.mark.parametrize("policy", ["ocp", "ml_dtypes", "ml_dtypes_rtz", "rna_positive_zero", "ml_dtypes_rup",
                                    "ocp_rdn", "gfloat_rto"])
@pytest.mark.parametrize("fmt", ELEMENT_FORMATS)
def test_fast_encode_equals_general_encode_at_any_scale(fmt, policy):
    # Every bfloat16 pattern, and float32 patterns strided over the whole space plus random ones,
    # at scale exponents from -512 to 512 (the floats' lower end leaves the fast kernel).
    rng = np.random.default_rng(5)
    f32 = np.concatenate([np.arange(0, 1 << 32, 65537, dtype=np.uint64),
                          rng.integers(0, 1 << 32, 1 << 16, dtype=np.uint64)]).astype(np.uint32).view(np.int32)
    bf16 = np.arange(1 << 16, dtype=np.uint16).view(np.int16)
    F, P = format_params(mx.get_format(fmt)), policy_params(POLICIES[policy])
    for s in (-512, -130, -127, -23, -22, -3, 0, 5, 100, 127, 300, 512):
        for x, (ebits, mbits) in ((f32, F32_LAYOUT), (bf16, BF16_LAYOUT)):
            scale = np.array([s], np.int64)
            general, ours = np.empty(x.size, np.uint8), np.empty(x.size, np.uint8)
            kb.encode_elements(x, ebits, mbits, scale, F, P, NO_RBITS.reshape(-1), general)
            dispatch.encode_elements(x, ebits, mbits, scale, F, P, NO_RBITS.reshape(-1), ours)
            np.testing.assert_array_equal(ours, general, err_msg=f"{fmt} {policy} scale 2^{s}")


def test_encode_runs_the_fast_kernel_for_one_scale_and_the_general_one_otherwise(monkeypatch):
    spies = {}
    for module, fn in ((dispatch.fast, "encode_kernel"), (dispatch.kb, "encode_elements")):
        spies[fn] = _Spy(getattr(module, fn))
        monkeypatch.setattr(module, fn, spies[fn])
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32).view(np.int32)
    F, P = format_params(mx.get_format("fp8_e4m3")), policy_params(_OCP)
    out = np.empty(x.size, np.uint8)
    dispatch.encode_elements(x, 8, 23, np.zeros(1, np.int64), F, P, NO_RBITS.reshape(-1), out)
    assert (spies["encode_kernel"].calls, spies["encode_elements"].calls) == (1, 0)
    dispatch.encode_elements(x, 8, 23, np.zeros(x.size, np.int64), F, P, NO_RBITS.reshape(-1), out)
    assert (spies["encode_kernel"].calls, spies["encode_elements"].calls) == (1, 1)


def test_a_small_call_is_one_task_on_the_calling_thread_and_a_large_one_covers_each_block_once(monkeypatch):
    seen = []
    choose = fast.block_kernel

    def spied(op, G):
        def spy(*args):
            seen.append((threading.get_ident(), args[-2], args[-1]))
            return choose(op, G)(*args)

        return spy

    monkeypatch.setattr(fast, "block_kernel", spied)
    task = threads.FAST_TASK_ELEMENTS
    x = np.random.default_rng(0).standard_normal(3 * task + 32).astype(np.float32)
    small = mx.fake_quantize(x[:task], "mxfp4_e2m1")
    assert seen == [(threading.get_ident(), 0, task // 32)]
    seen.clear()
    large = mx.fake_quantize(x, "mxfp4_e2m1")
    b = task // 32  # blocks per task
    assert sorted((lo, hi) for _, lo, hi in seen) == [(0, b), (b, 2 * b), (2 * b, 3 * b), (3 * b, 3 * b + 1)]
    np.testing.assert_array_equal(small, large[:task])
