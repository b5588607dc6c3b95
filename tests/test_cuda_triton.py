"""The Triton kernels (mxemu.cuda) hold the bytes of the numba kernels: codes, scales and values.

Without a GPU the kernels run under the Triton interpreter on small CPU tensors; with one, the
same checks run on CUDA tensors at large sizes. The numba path (mx.quantize / mx.fake_quantize /
MXArray.dequantize) is the oracle; `mxemu.cuda.checks.diffcheck.mismatches` counts differing bytes.
"""

import os

import torch

GPU = torch.cuda.is_available()
if not GPU:
    # Must precede the first import of the kernels: Triton picks the interpreter at decoration time.
    os.environ["TRITON_INTERPRET"] = "1"

import needs  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

needs.module("triton", needs.INSTALL_TRITON)  # absent: skipped with the install command (CI: a failure)

import mxemu as mx  # noqa: E402
from mxemu import cuda  # noqa: E402
from mxemu.cuda import api  # noqa: E402
from mxemu.cuda.checks import diffcheck  # noqa: E402
from mxemu.errors import BackendError, InputError, PolicyError  # noqa: E402
from mxemu.kernels.abi import ROUNDING, RTZ, format_params, policy_params  # noqa: E402
from mxemu.policy import CHOICES, PRESETS  # noqa: E402

DEVICE = "cuda" if GPU else "cpu"
RANDOM_N = (1 << 22) if GPU else 1024
FORMATS = api.triton_formats()
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
# One format per kind of element encoding: IEEE-style specials, NaN only, no specials, integer.
FIELD_FORMATS = ["mxfp8_e5m2", "mxfp8_e4m3", "mxfp6_e2m3", "mxint4"]


def _input(fmt: str, seed: int, dtype: torch.dtype = torch.float32, n: int = RANDOM_N) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.cat([torch.from_numpy(diffcheck.special_values(fmt)), diffcheck.random_values(n, g)])
    return x.to(dtype).to(DEVICE)


def _zero(m: diffcheck.Mismatches) -> None:
    assert m.total == 0, m


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_and_preset_is_byte_equal_to_numba_on_special_and_random_blocks(fmt, preset):
    for i, dtype in enumerate(DTYPES):
        x = _input(fmt, i, dtype)
        _zero(diffcheck.mismatches(x, fmt, api.triton_policy(PRESETS[preset])))


def _field_values():
    """Every policy field value apart from the ocp preset's, then the scale-rule combinations no preset holds."""
    ocp = PRESETS["ocp"]
    for field, values in CHOICES.items():
        for v in values:
            # values the device refuses are tested as refusals (tests/test_zero_sign_policy.py)
            refused = api.triton_policy(ocp.replace(**{field: v})) == ocp
            if v != getattr(ocp, field) and not (field == "nan_to_nonan" and v == "error") and not refused:
                yield pytest.param({field: v}, id=f"{field}-{v}")
    yield pytest.param({"zero_block_scale": 200}, id="zero_block_scale-200")
    yield pytest.param({"rounding": "stochastic", "sr_bits": 8}, id="sr_bits-8")
    yield pytest.param({"scale_rule": "ceil", "log2": "fp32"}, id="ceil-log2_fp32")
    yield pytest.param({"scale_rule": "rceil", "log2": "fp32", "descale": "fp32_recip"}, id="rceil-log2_fp32-recip")
    yield pytest.param({"scale_rule": "rceil", "log2": "fp32", "descale": "exact"}, id="rceil-log2_fp32-exact")
    yield pytest.param({"scale_rule": "even", "scale_overflow": "nan", "nonfinite": "inf_as_exponent"},
                       id="even-scale_overflow_nan-inf_as_exponent")


@pytest.mark.parametrize("changes", list(_field_values()))
def test_every_policy_field_value_is_byte_equal_to_numba(changes):
    pol = PRESETS["ocp"].replace(**changes)
    for fmt in FIELD_FORMATS:
        x = _input(fmt, 7, torch.float32 if fmt != "mxint4" else torch.bfloat16, 256)
        _zero(diffcheck.mismatches(x, fmt, pol, seed=12345))


@pytest.mark.parametrize("sr_bits", [1, 13, 32])
def test_stochastic_rounding_draws_the_numba_philox_bits_and_takes_explicit_random_bits(sr_bits):
    pol = mx.get_policy("ocp").replace(rounding="stochastic", sr_bits=sr_bits)
    x = _input("mxfp4_e2m1", 3, torch.float32, 512)
    for seed in (0, 2**63 + 12345, 2**64 - 1):
        _zero(diffcheck.mismatches(x, "mxfp4_e2m1", pol, seed=seed))
    g = torch.Generator().manual_seed(sr_bits)
    bits = torch.randint(0, 1 << sr_bits, x.shape, generator=g, dtype=torch.int64).to(DEVICE)
    _zero(diffcheck.mismatches(x, "mxint8", pol, random_bits=bits))


def test_seeded_stochastic_rounding_differs_between_seeds():
    pol = mx.get_policy("ocp").replace(rounding="stochastic")
    x = _input("mxfp4_e2m1", 4, torch.float32, 1024)
    a, _ = cuda.quantize(x, "mxfp4_e2m1", policy=pol, seed=1)
    b, _ = cuda.quantize(x, "mxfp4_e2m1", policy=pol, seed=2)
    assert not torch.equal(a, b)


@pytest.mark.parametrize(("shape", "axis"), [
    ((70, 3), 0),             # blocks down a leading axis: strided lanes, a padded last block
    ((3, 45, 5), 1),          # a middle axis
    ((2, 5, 33), -1),         # the last axis with padding
    ((40, 36), (0, 1)),       # 32x32 tiles, padded both ways
    ((3, 33, 2, 40), (3, 1)), # tiles over non-adjacent axes, listed in reverse
])
def test_blocks_along_any_axis_and_square_tiles_are_byte_equal_to_numba(shape, axis):
    g = torch.Generator().manual_seed(sum(shape))
    n = int(np.prod(shape))
    x = diffcheck.random_values(n + (-n % 32), g)[:n].reshape(shape)
    x[tuple(0 for _ in shape)] = float("nan") if len(shape) == 2 else 0.0
    for dtype in DTYPES:
        for fmt, preset in (("mxfp8_e4m3", "torchao"), ("mxint8", "gfloat")):
            _zero(diffcheck.mismatches(x.to(dtype).to(DEVICE), fmt, preset, axis))
    pol = mx.get_policy("ocp").replace(rounding="stochastic")
    _zero(diffcheck.mismatches(x.to(DEVICE), "mxfp6_e3m2", pol, axis, seed=99))


def test_inputs_spanning_many_programs_are_byte_equal_to_numba():
    # A multiple of 96 (whole rows of 3, whole random blocks of 32) beyond two programs.
    n = 96 * ((api.INTERPRETER_LANES_PER_PROGRAM if not GPU else 1 << 24) // 48 + 1)
    x = diffcheck.random_values(n, torch.Generator().manual_seed(5)).reshape(-1, 3).to(DEVICE)
    _zero(diffcheck.mismatches(x, "mxfp8_e4m3", "ocp", axis=0))


def test_harness_reports_mismatches_when_the_kernel_gets_another_rounding_mode(monkeypatch):
    # The Triton path reads the policy through api.policy_params; rewriting its rounding slot
    # (RNE -> RTZ) alters only the kernel's constexpr, while the numba oracle keeps RNE.
    x = _input("mxfp8_e4m3", 11, torch.float32, 256)
    assert diffcheck.mismatches(x, "mxfp8_e4m3", "ocp").total == 0
    real = api.policy_params

    def rtz(pol):
        p = list(real(pol))
        p[ROUNDING] = RTZ
        return tuple(p)

    monkeypatch.setattr(api, "policy_params", rtz)
    m = diffcheck.mismatches(x, "mxfp8_e4m3", "ocp")
    assert m.codes > 0 and m.fake_quantize > 0
    assert m.dequantize == 0  # dequantize takes no rounding mode from the policy


def test_harness_reports_mismatches_when_a_scale_threshold_moves(monkeypatch):
    x = _input("mxint8", 12, torch.float32, 256)
    real = api.constants.scale_thresholds

    def shifted(F, P):
        t = real(F, P).copy()
        t[1:] = np.minimum(t[1:].astype(np.int64) + (1 << 23), 0x7FFFFFFF).astype(np.int32)
        return t

    monkeypatch.setattr(api.constants, "scale_thresholds", shifted)
    assert diffcheck.mismatches(x, "mxint8", "ocp").scales > 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_scale_thresholds_agree_with_the_numba_scale_code_on_both_sides_of_each_step(fmt):
    # The table is built by bisection on scale.scale_code; reading it back at T[c] - 1 and T[c]
    # through quantize (one block per probe) checks the step positions independently.
    from mxemu.cuda import constants

    for preset in ("ocp", "torchao_rceil", "microxcaling", "transformer_engine", "torchao_even"):
        pol = mx.get_policy(preset)
        F, P = format_params(mx.get_format(fmt).element), policy_params(pol)
        t = constants.scale_thresholds(F, P)
        steps = np.unique(t[(t > 1) & (t < constants.NO_THRESHOLD)])
        probes = np.concatenate([steps - 1, steps]).astype(np.int32).view(np.float32)
        rows = np.zeros((probes.size, 32), np.float32)
        rows[:, 0] = probes
        q = mx.quantize(rows, fmt, policy=pol)
        expect = np.searchsorted(t[1:], probes.view(np.int32), side="right")
        assert np.array_equal(q.scales[:, 0], expect)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_dequantize_of_every_code_at_extreme_scales_is_byte_equal_to_numba(fmt, dtype):
    el = mx.get_format(fmt).element
    scales = np.array([0, 1, 2, 100, 127, 200, 254, 255], np.uint8)
    codes = np.resize(np.arange(el.num_codes, dtype=np.uint8), 32 * 8 * 2).reshape(8, 64)
    q = mx.MXArray(codes=codes, scales=np.repeat(scales[:, None], 2, axis=1), format=mx.get_format(fmt),
                   policy=mx.get_policy("ocp"), axis=(1,))
    out = cuda.dequantize(torch.from_numpy(codes).to(DEVICE), torch.from_numpy(np.ascontiguousarray(q.scales))
                          .to(DEVICE), fmt, -1, dtype)
    ref = q.dequantize(diffcheck.to_numpy(torch.empty(0, dtype=dtype)).dtype)
    assert np.array_equal(_bits(diffcheck.to_numpy(out)), _bits(ref))


def _bits(a):
    return a.view(np.int32 if a.dtype.itemsize == 4 else np.int16)


def test_a_cpu_tensor_without_the_interpreter_is_refused(monkeypatch):
    monkeypatch.setattr(api, "interpreter_mode", lambda: False)
    with pytest.raises(BackendError, match="TRITON_INTERPRET"):
        cuda.quantize(torch.ones(32), "mxfp8_e4m3")


def test_bad_arguments_raise_typed_errors():
    x = torch.ones(32, device=DEVICE)
    with pytest.raises(InputError, match="float64"):
        cuda.quantize(x.double(), "mxfp8_e4m3")
    with pytest.raises(InputError, match="per-tensor"):
        cuda.quantize(x, "nvfp4")
    with pytest.raises(InputError, match="empty"):
        cuda.fake_quantize(x[:0], "mxfp8_e4m3")
    with pytest.raises(PolicyError, match="random_bits"):
        cuda.quantize(x, "mxfp8_e4m3", random_bits=torch.zeros(32, dtype=torch.int64))
    pol = mx.get_policy("ocp").replace(rounding="stochastic", sr_bits=4)
    with pytest.raises(InputError, match=r"\[0, 2\^4\)"):
        cuda.quantize(x, "mxfp8_e4m3", policy=pol, random_bits=torch.full((32,), 16))
    with pytest.raises(InputError, match="seed"):
        cuda.quantize(x, "mxfp8_e4m3", policy=pol, seed=-1)
    with pytest.raises(InputError, match="scales has shape"):
        cuda.dequantize(torch.zeros(64, dtype=torch.uint8, device=DEVICE),
                        torch.zeros(1, dtype=torch.uint8, device=DEVICE), "mxfp4_e2m1")
    nan = torch.full((32,), float("nan"), device=DEVICE)
    with pytest.raises(InputError, match="no NaN encoding"):
        cuda.quantize(nan, "mxfp4_e2m1", policy=mx.get_policy("ocp").replace(nonfinite="finite_amax",
                                                                                nan_to_nonan="error"))


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and torch.equal(a.cpu().view(diffcheck.BIT_VIEWS[a.dtype]),
                                              b.cpu().view(diffcheck.BIT_VIEWS[b.dtype]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_fake_quantize_triton_backend_has_the_numba_backend_bits_and_gradient(dtype):
    import mxemu.torch as mxt

    x = _input("mxfp6_e2m3", 21, dtype, 256).reshape(-1, 32).cpu()
    pol = mx.get_policy("torchao").replace(rounding="stochastic")
    ref = mxt.fake_quantize(x, "mxfp6_e2m3", 0, pol, seed=5, backend="numba")
    t = x.clone().to(DEVICE).requires_grad_(True)
    y = mxt.fake_quantize(t, "mxfp6_e2m3", 0, pol, ste="masked", seed=5, backend="triton")
    assert _same_bits(y, ref)
    y.float().sum().backward()
    mask = mxt.saturation_mask(diffcheck.to_numpy(x), "mxfp6_e2m3", 0, pol, seed=5)
    assert torch.equal(t.grad.cpu() == 0, torch.from_numpy(mask))


def test_auto_backend_picks_numba_for_cpu_tensors_and_triton_for_cuda_tensors(monkeypatch):
    from mxemu.torch import functional

    assert functional.resolve_backend(torch.ones(2), "auto") == "numba"
    assert functional.resolve_backend(torch.ones(2), "triton") == "triton"
    if GPU:
        assert functional.resolve_backend(torch.ones(2, device="cuda"), "auto") == "triton"
    with pytest.raises(InputError, match="backend must be one of"):
        functional.resolve_backend(torch.ones(2), "cuda")
    monkeypatch.setattr(api, "interpreter_mode", lambda: False)
    with pytest.raises(BackendError, match="TRITON_INTERPRET"):
        functional.resolve_backend(torch.ones(2), "triton")


def test_mxlinear_triton_backend_has_the_numba_backend_output_and_gradients():
    from mxemu.torch import MXLinear

    torch.manual_seed(0)
    opts = dict(weight_format="mxint4", input_format="mxfp8_e4m3", grad_format="mxfp8_e5m2")
    ref = MXLinear(64, 8, backend="numba", **opts)
    tri = MXLinear(64, 8, backend="triton", **opts).to(DEVICE)
    tri.load_state_dict(ref.state_dict())
    assert _same_bits(tri.quantized_weight(), ref.quantized_weight())
    x = torch.randn(4, 64)
    if GPU:  # cuBLAS and the CPU GEMM round differently; the quantized operands are compared above
        return
    xr, xt = x.clone().requires_grad_(True), x.clone().to(DEVICE).requires_grad_(True)
    yr, yt = ref(xr), tri(xt)
    assert torch.equal(yr, yt.cpu())
    yr.square().sum().backward()
    yt.square().sum().backward()
    assert torch.equal(xr.grad, xt.grad.cpu()) and torch.equal(ref.weight.grad, tri.weight.grad.cpu())
    with pytest.raises(InputError, match="backend"):
        MXLinear(64, 8, backend="gpu")


@pytest.mark.skipif(GPU, reason="the examples pass CPU tensors, which need the interpreter")
@pytest.mark.parametrize("module", [api, diffcheck])
def test_docstring_examples_run(module):
    import doctest

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_gpu_scripts_refuse_without_a_cuda_device(monkeypatch, capsys):
    from mxemu.cuda.checks import selfcheck

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert selfcheck.main([]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_selfcheck_bfloat16_blocks_hold_every_bfloat16_pattern():
    from mxemu.cuda.checks import selfcheck

    bits = selfcheck.bfloat16_blocks().numpy().view(np.uint32)
    assert bits.size % 32 == 0 and not (bits & 0xFFFF).any()
    assert np.unique(bits >> 16).size == 1 << 16


def test_every_constexpr_branch_of_the_kernels_compiles_to_ptx_for_sm90():
    # The interpreter accepts code the compiler rejects (e.g. non-constexpr globals); this runs the
    # real compiler, ptxas included, in a process without TRITON_INTERPRET. No GPU is needed.
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "mxemu.cuda.checks.compilecheck"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compiled 23 kernel variants for sm_90" in done.stdout
