"""Random valid formats, registered from TOML, quantize exactly as the oracle says, or are refused by name.

Every example writes a format file (a random element, a random scale, a random block size, with or without
a tensor scale), registers it, and checks encode, decode, quantize, dequantize and fake_quantize under a
random policy against the exact-rational oracle; two-level formats (an element-format block scale) against
the float32 recipe written out below with numpy and the oracle's element encoder. Layouts beyond the
kernels' limits must be refused by `register_formats` with a SpecError naming the limit. The formats are
removed again after each example (`unregister_formats`), so none leaks into other tests.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu import oracle
from mxemu.policy import CHOICES, Policy

_NAMES = itertools.count()
TRIED: Counter[str] = Counter()
DTYPES = (np.float32, np.float16, ml_dtypes.bfloat16, np.float64)
# Policy fields the two-level recipe fixes: a two-level example keeps their defaults.
TWO_LEVEL_FIXED = ("scale_rule", "log2", "descale", "min_scale_encoding", "scale_overflow", "zero_block_scale",
                   "subnormal_inputs", "overflow", "int_range", "int_emax", "scale_value")


@st.composite
def element_tables(draw: st.DrawFn) -> dict:
    """An element table of the format file: float e1..e5 x m0..m5 with a bias near the IEEE one, or int2..int8."""
    if draw(st.booleans()):
        bits = draw(st.integers(2, 8))
        return {"kind": "int", "bits": bits, "fraction_bits": draw(st.integers(0, bits - 1))}
    e, m = draw(st.integers(1, 5)), draw(st.integers(0, 5))
    specials = [s for s in ("none", "nan_only", "ieee") if not ((m == 0 and s != "none") or (s == "ieee" and e < 2))]
    return {"kind": "float", "exponent_bits": e, "mantissa_bits": m,
            "bias": (1 << (e - 1)) - 1 + draw(st.integers(-2, 2)), "specials": draw(st.sampled_from(specials))}


@st.composite
def format_files(draw: st.DrawFn) -> tuple[str, dict]:
    """(TOML text, description) of one element format and one MX format over it."""
    n = next(_NAMES)
    element = draw(element_tables())
    lines = [f"[element.rf_el{n}]", 'clause = "random"',
             *(f"{k} = {v!r}".replace("'", '"') for k, v in element.items())]
    two_level = draw(st.integers(0, 3)) == 0
    if two_level:
        scale_name = draw(st.sampled_from(["fp8_e4m3", "fp8_e5m2"]))
        scale = {"kind": "element", "name": scale_name}
    else:
        w = draw(st.integers(2, 8))
        bias = draw(st.integers(0, (1 << w) - 2))
        scale = {"kind": "scale", "exponent_bits": w, "bias": bias}
        scale_name = "e8m0" if (w, bias) == (8, 127) and draw(st.booleans()) else f"rf_sc{n}"
        if scale_name != "e8m0":
            lines += [f"[scale.{scale_name}]", 'clause = "random"', f"exponent_bits = {w}", f"bias = {bias}"]
    block = draw(st.integers(1, 64))
    tensor_scale = two_level and draw(st.booleans())
    lines += [f"[mx.rf_mx{n}]", 'clause = "random"', f'element = "rf_el{n}"', f'scale = "{scale_name}"',
              f"block_size = {block}", f"tensor_scale = {'true' if tensor_scale else 'false'}"]
    return "\n".join(lines) + "\n", {"n": n, "element": element, "scale": scale, "block": block,
                                     "two_level": two_level, "tensor_scale": tensor_scale}


def _within_limits(element: dict) -> str | None:
    """The limit a layout breaks ("uint8", "2^64"), or None: the independent statement of mxemu's format limits."""
    if element["kind"] == "int":
        return None
    e, m, bias = element["exponent_bits"], element["mantissa_bits"], element["bias"]
    if 1 + e + m > 8:
        return "uint8"
    top = (1 << e) - 1 - (element["specials"] == "ieee")
    if not (1 - bias - m >= -64 and top - bias <= 64):
        return "2^64"
    return None


@st.composite
def policies(draw: st.DrawFn, two_level: bool, e8m0: bool, scale_nan: int) -> Policy:
    fields = {}
    for field, choices in CHOICES.items():
        if two_level and field in TWO_LEVEL_FIXED:
            continue
        options = [c for c in choices if not (two_level and c in ("stochastic", "inf_as_exponent"))]
        if field == "min_scale_encoding" and not e8m0:
            options = ["exact"]
        if field == "scale_value":  # the peers' float32 scales: tests/test_peer_scale_policy.py, every format
            options = ["e8m0"]
        fields[field] = draw(st.sampled_from(options))
    if not two_level:
        fields["zero_block_scale"] = draw(st.sampled_from(sorted({0, 1, scale_nan})))
    fields["sr_bits"] = draw(st.integers(1, 32))
    return Policy(**fields)


@st.composite
def inputs(draw: st.DrawFn, block: int) -> np.ndarray:
    """A (rows, columns) array of one input dtype: wide-range normals, exact zeros and non-finite values."""
    dtype = draw(st.sampled_from(DTYPES))
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 2 * block))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols)) * np.exp2(rng.integers(-30, 30, (rows, 1)))
    special = rng.random(x.shape)
    x[special < 0.05] = 0.0
    if draw(st.booleans()):
        x[(special > 0.98)] = np.inf
        x[(special > 0.96) & (special <= 0.98)] = np.nan
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def _oracle_blocks(x: np.ndarray, f: mx.MXFormat, policy: Policy, rbits: np.ndarray | None):
    """(codes, scale codes) by oracle.quantize_block over the blocks of each row (last axis)."""
    k = f.block_size
    codes = np.zeros(x.shape, np.uint8)
    scales = np.zeros((x.shape[0], -(-x.shape[1] // k)), np.uint8)
    for r in range(x.shape[0]):
        for b in range(scales.shape[1]):
            lanes = slice(b * k, (b + 1) * k)
            draws = None if rbits is None else rbits[r, lanes]
            codes[r, lanes], scales[r, b] = oracle.quantize_block(x[r, lanes], f, policy, random_bits=draws)
    return codes, scales


def _two_level_reference(x: np.ndarray, f: mx.MXFormat, policy: Policy, ts: float | None):
    """The two-level recipe (kernels/nvfp4.py's docstring) in numpy float32, rounding by the oracle's encoder."""
    f32 = np.float32
    elem_max, scale_min, scale_max = f32(f.element.max_normal), f32(f.scale.min_normal), f32(f.scale.max_normal)
    k = f.block_size
    x = x.astype(f32)
    codes = np.zeros(x.shape, np.uint8)
    scales = np.zeros((x.shape[0], -(-x.shape[1] // k)), np.uint8)
    nan_fill = oracle.encode_value(math.nan, f.element) if f.element.has_nan else 0
    for r in range(x.shape[0]):
        for b in range(scales.shape[1]):
            lanes = slice(b * k, (b + 1) * k)
            v = x[r, lanes]
            has_nan, has_inf = bool(np.isnan(v).any()), bool(np.isinf(v).any())
            rule = policy.nonfinite
            if (has_nan and rule in ("nan_scale", "propagate")) or (has_inf and rule == "nan_scale"):
                scales[r, b] = oracle.encode_value(math.nan, f.scale)  # the canonical NaN
                codes[r, lanes] = nan_fill
                continue
            finite = np.abs(v[np.isfinite(v)])
            amax = f32(np.inf) if has_inf and rule in ("propagate", "ignore_nan") else f32(finite.max(initial=0))
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                c = f32(amax / elem_max)
                if ts is not None:
                    c = f32(c / f32(ts))
            c = min(max(c, scale_min), scale_max) if not np.isnan(c) else scale_min
            s_code = oracle.encode_value(float(c), f.scale)
            s = f32(oracle.decode_value(s_code, f.scale))
            inv = f32(f32(1) / s) if ts is None else f32(f32(f32(1) / f32(ts)) / s)
            scales[r, b] = s_code
            with np.errstate(over="ignore", invalid="ignore"):
                q = np.clip((v * inv).astype(f32), -elem_max, elem_max)
            codes[r, lanes] = [oracle.encode_value(float(t), f.element, 0, policy) for t in q]
    return scales, codes


def _same(got: np.ndarray, want: np.ndarray) -> None:
    """Exact equality with NaN where NaN is expected and the sign of zeros."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    np.testing.assert_array_equal(got, want)
    number = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[number]), np.signbit(want[number]))


def check_random_format(tmp: Path, text: str, desc: dict, data: st.DataObject) -> None:
    """Register one random format file and hold every operation to its independent reference."""
    limit = _within_limits(desc["element"])
    path = tmp / f"rf{desc['n']}.toml"
    path.write_text(text)
    if limit is not None:
        with pytest.raises(mx.SpecError, match=r"\(codes are uint8\)" if limit == "uint8" else r"2\^-64, 2\^64"):
            mx.register_formats(path)
        TRIED["refused"] += 1
        return
    names = mx.register_formats(path)
    try:
        f = mx.get_format(f"rf_mx{desc['n']}")
        e8m0 = not f.two_level and (f.scale.bias, f.scale.nan_code) == (127, 255)
        scale_nan = oracle.encode_value(math.nan, f.scale) if f.two_level else f.scale.nan_code
        policy = data.draw(policies(f.two_level, e8m0, scale_nan))
        x = data.draw(inputs(f.block_size))
        TRIED["formats"] += 1
        _check_elements(x, f.element, policy, data)
        nan_error = (policy.nan_to_nonan == "error" and not f.element.has_nan and bool(np.isnan(x).any())
                     and policy.nonfinite in ("ignore_nan", "finite_amax"))
        if nan_error:
            with pytest.raises(mx.InputError, match="nan_to_nonan='error'"):
                mx.quantize(x, f, policy=policy)
            TRIED["cases"] += 1
            return
        if f.two_level:
            ts = data.draw(st.sampled_from([None, 0.25, 3.0])) if f.tensor_scale else None
            q = mx.quantize(x, f, policy=policy, tensor_scale=ts)
            want_scales, want_codes = _two_level_reference(x, f, policy, ts)
            factors = np.array([oracle.decode_value(int(s), f.scale) for s in q.scales.ravel()], np.float64)
            want_values = (oracle.decode_array(q.codes, f.element)
                           * np.repeat(factors.reshape(q.scales.shape), f.block_size, axis=1)[:, :x.shape[1]]
                           * (1.0 if ts is None else float(np.float32(ts))))
        else:
            rbits = None
            if policy.rounding == "stochastic":
                rbits = np.random.default_rng(desc["n"]).integers(0, 1 << policy.sr_bits, x.shape, dtype=np.uint64)
            q = mx.quantize(x, f, policy=policy, random_bits=rbits)
            want_codes, want_scales = _oracle_blocks(x, f, policy, rbits)
            want_values = np.concatenate([
                oracle.dequantize_block(q.codes[r, b * f.block_size:(b + 1) * f.block_size], int(s), f)
                for r in range(x.shape[0]) for b, s in enumerate(q.scales[r])]).reshape(x.shape)
            fake = mx.fake_quantize(x, f, policy=policy, random_bits=rbits)
            want_fake = want_values
            if f.element.is_int and policy.fake_int_zero != "positive":
                # fake-quantized zeros of integer elements carry the input's sign (sign(x) * round(|x|) peers):
                # the same numbers as the dequantized codes, signs from the oracle's fake-quantize
                np.testing.assert_array_equal(fake.astype(np.float64), q.dequantize(x.dtype).astype(np.float64))
                k = f.block_size
                want_fake = None if rbits is not None else np.concatenate([  # the oracle's draws are not rbits
                    oracle.fake_quantize_block(x[r, b:b + k], f, policy)
                    for r in range(x.shape[0]) for b in range(0, x.shape[1], k)]).reshape(x.shape)
            else:
                _same(fake, q.dequantize(x.dtype))
            if want_fake is not None and x.dtype != ml_dtypes.bfloat16:  # numpy's casts round once (RNE, to Inf)
                with np.errstate(over="ignore"):
                    _same(fake, want_fake.astype(x.dtype))
        meaningful = np.repeat(want_scales != scale_nan, f.block_size, axis=1)[:, :x.shape[1]]
        np.testing.assert_array_equal(q.scales, want_scales)
        np.testing.assert_array_equal(np.where(meaningful, q.codes, 0), np.where(meaningful, want_codes, 0))
        _same(q.dequantize(np.float64), want_values)
        TRIED["cases"] += 1
    finally:
        mx.unregister_formats(names)


def _check_elements(x: np.ndarray, element: mx.ElementFormat, policy: Policy, data: st.DataObject) -> None:
    """encode and decode of the element format against the oracle at a random element scale."""
    scale_exp = data.draw(st.integers(-20, 20))
    if policy.nan_to_nonan == "error" and not element.has_nan and np.isnan(x).any():
        with pytest.raises(mx.InputError, match="nan_to_nonan='error'"):
            mx.encode(x, element, scale_exp=scale_exp, policy=policy, seed=1)
        return
    rbits = None
    if policy.rounding == "stochastic":
        rbits = np.random.default_rng(scale_exp + 99).integers(0, 1 << policy.sr_bits, x.shape, dtype=np.uint64)
    codes = mx.encode(x, element, scale_exp=scale_exp, policy=policy, random_bits=rbits)
    np.testing.assert_array_equal(codes, oracle.encode_array(x, element, scale_exp, policy, random_bits=rbits))
    every = np.arange(element.num_codes, dtype=np.uint8)
    _same(mx.decode(every, element, scale_exp=scale_exp, dtype=np.float64),
          oracle.decode_array(every, element, scale_exp))


SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                           HealthCheck.data_too_large]}


@settings(max_examples=200, **SETTINGS)
@given(spec=format_files(), data=st.data())
def test_random_registered_formats_equal_the_oracle(tmp_path: Path, spec: tuple[str, dict], data: st.DataObject):
    check_random_format(tmp_path, *spec, data)


@pytest.mark.slow
@settings(max_examples=5000, **SETTINGS)
@given(spec=format_files(), data=st.data())
def test_random_registered_formats_equal_the_oracle_long(tmp_path: Path, spec: tuple[str, dict],
                                                         data: st.DataObject):
    check_random_format(tmp_path, *spec, data)


def test_no_random_format_outlives_its_example():
    assert not [n for n in mx.formats() if n.startswith("rf_")]


def teardown_module() -> None:
    print(f"\nrandom formats: {dict(TRIED)}")
