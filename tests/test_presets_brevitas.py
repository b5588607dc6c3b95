"""The `brevitas` preset is Brevitas 0.13.4's MX quantizers bit for bit: fake-quantized values and scales of
the MXFloat8e4m3 / MXInt8 weight and activation quantizers, and their fp6 / fp4 minifloat variants, on random,
boundary and tiny blocks; `identify` names the preset."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from needs import module

import mxemu as mx

torch = module("torch", 'python -m pip install "mxemu[torch]"')
module("brevitas", 'python -m pip install "brevitas==0.13.4"')

from brevitas.nn import QuantIdentity, QuantLinear  # noqa: E402
from brevitas.quant.float_base import Fp4e2m1Mixin, Fp6e2m3Mixin, Fp6e3m2Mixin  # noqa: E402
from brevitas.quant.mx_quant_ocp import (  # noqa: E402
    MXFloat8e4m3Act,
    MXFloat8e4m3Weight,
    MXInt8Act,
    MXInt8Weight,
)

from mxemu.testing import identify  # noqa: E402

F32 = np.float32


# Brevitas's minifloat variants: its e4m3 quantizers with the element mixins it ships (quant/float_base.py).
class MXFp6e3m2Act(Fp6e3m2Mixin, MXFloat8e4m3Act):
    pass


class MXFp6e2m3Act(Fp6e2m3Mixin, MXFloat8e4m3Act):
    pass


class MXFp4e2m1Act(Fp4e2m1Mixin, MXFloat8e4m3Act):
    pass


class MXFp4e2m1Weight(Fp4e2m1Mixin, MXFloat8e4m3Weight):
    pass


ACTS = {"mxfp8_e4m3": MXFloat8e4m3Act, "mxfp6_e3m2": MXFp6e3m2Act, "mxfp6_e2m3": MXFp6e2m3Act,
        "mxfp4_e2m1": MXFp4e2m1Act, "mxint8": MXInt8Act}
WEIGHTS = {"mxfp8_e4m3": MXFloat8e4m3Weight, "mxfp4_e2m1": MXFp4e2m1Weight, "mxint8": MXInt8Weight}
_MODULES: dict[str, object] = {}


def _act(fmt: str):
    if fmt not in _MODULES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _MODULES[fmt] = QuantIdentity(act_quant=ACTS[fmt], return_quant_tensor=True, group_dim=-1).eval()
    return _MODULES[fmt]


def brevitas_act(x: np.ndarray, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """(fake-quantized values, per-lane scales) of Brevitas's activation quantizer on the (N, 32) blocks x."""
    with torch.no_grad():
        r = _act(fmt)(torch.from_numpy(np.ascontiguousarray(x, F32)))
    return r.value.numpy(), np.broadcast_to(r.scale.numpy(), x.shape)


def _bits(y: np.ndarray) -> np.ndarray:
    y = np.array(y, F32)
    y[np.isnan(y)] = np.nan  # Brevitas's NaN payloads are torch's; NaN lanes compare as NaN
    return y.view(np.uint32)


def _assert_same(x: np.ndarray, fmt: str) -> None:
    got, scales = brevitas_act(x, fmt)
    with np.errstate(all="ignore"):
        want = mx.fake_quantize(x, fmt, policy="brevitas")
    np.testing.assert_array_equal(_bits(got), _bits(want))
    # Where Brevitas's scale is a power of two (amax >= 2^-33), it is mxemu's E8M0 scale. Brevitas's integer
    # scale is per integer step (2^-6 of mxemu's element unit).
    # quantize refuses the blocks with 0 < amax < 2^-33, which have no E8M0 scale (test_peer_scale_refusal.py).
    amax = np.abs(x.astype(np.float64)).max(axis=1)
    stored = ~((amax > 0) & (amax < 2.0 ** -33))
    if not stored.any():
        return
    q = mx.quantize(x[stored], fmt, policy="brevitas")
    step = 2.0 ** (-6 if fmt == "mxint8" else 0)
    expect = np.exp2(q.scales.astype(np.float64) - 127) * step
    ordinary = (amax[stored] >= 2.0 ** -33) & np.isfinite(amax[stored]) & (q.scales[:, 0] != 255)
    np.testing.assert_array_equal(scales[stored][ordinary, 0].astype(np.float64), expect[ordinary, 0])


def _random_blocks(seed: int, n: int = 512) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 32)) * np.exp2(rng.integers(-155, 129, (n, 1)))
    x[rng.random((n, 32)) < 0.1] = 0
    with np.errstate(over="ignore"):
        return x.astype(F32)


def _boundary_blocks() -> np.ndarray:
    """Blocks whose amax sits on, just below and just above each power of two the scale rule can meet,
    including 2^-33 (where Brevitas's scaling_min_val takes over) and the float32 maximum."""
    rows = []
    for k in [*range(-149, -120), *range(-40, -28), -1, 0, 1, 7, 8, *range(120, 128)]:
        for v in (F32(2.0 ** k), np.nextafter(F32(2.0 ** k), F32(0)), np.nextafter(F32(2.0 ** k), F32(np.inf))):
            row = np.array([v, -v / 3, v / 7, -2.0 ** -149, -0.0] + [v / 2 ** j for j in range(27)], F32)
            rows.append(row)
    rows.append(np.full(32, np.finfo(F32).max, F32))
    rows.append(np.array([F32(1e-10)] + [0] * 31, F32))
    return np.stack(rows)


@pytest.mark.parametrize("fmt", list(ACTS))
def test_activation_quantizer_equals_the_preset_on_random_blocks(fmt):
    _assert_same(_random_blocks(1), fmt)


@pytest.mark.parametrize("fmt", list(ACTS))
def test_activation_quantizer_equals_the_preset_on_boundary_blocks(fmt):
    _assert_same(_boundary_blocks(), fmt)


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxint8"])
def test_activation_quantizer_makes_a_block_with_inf_or_nan_all_nan_as_the_preset(fmt):
    x = _random_blocks(2, 4)
    x[0, 3], x[1, 5], x[2, 0] = np.inf, np.nan, -np.inf
    _assert_same(x, fmt)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(list(ACTS)), top=st.integers(-160, 128),
       lanes=st.lists(st.floats(-2, 2, width=32), min_size=32, max_size=32))
def test_activation_quantizer_equals_the_preset_on_tiny_to_huge_blocks(fmt, top, lanes):
    with np.errstate(over="ignore"):
        x = (np.array(lanes, np.float64) * 2.0 ** top).astype(F32).reshape(1, 32)
    _assert_same(x, fmt)


@pytest.mark.parametrize("fmt", list(WEIGHTS))
def test_weight_quantizer_equals_the_preset(fmt):
    w = np.concatenate([_random_blocks(3, 64), _boundary_blocks()[:64]]).reshape(-1, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = QuantLinear(64, w.shape[0], bias=False, weight_quant=WEIGHTS[fmt])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        got = layer.quant_weight().value.numpy()
    with np.errstate(all="ignore"):
        want = mx.fake_quantize(w, fmt, policy="brevitas")
    np.testing.assert_array_equal(_bits(got), _bits(want))


def test_the_ocp_preset_is_not_brevitas_on_tiny_blocks():
    """The comparison can fail: Brevitas's tiny-block scale is no E8M0 value."""
    x = _boundary_blocks()
    got, _ = brevitas_act(x, "mxfp8_e4m3")
    assert (_bits(got) != _bits(mx.fake_quantize(x, "mxfp8_e4m3", policy="ocp"))).any()


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxint8"])
def test_identify_names_the_brevitas_preset(fmt):
    def fn(t):
        with torch.no_grad():
            return _act(fmt)(t).value

    # Brevitas's NaN lanes carry torch's NaN bits (x / Inf, 0 * Inf), so NaN compares as any NaN.
    found = identify(fn, fmt, "fake_quantize", tensor="torch", batched=True, verify_blocks=1024, comparison="nan_any")
    assert found.status == "preset" and "brevitas" in found.presets, str(found)
