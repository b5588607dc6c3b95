"""TetraJet: the six GEMM operands quantized as configured (checked against mx.fake_quantize of each operand
computed independently), Q-EMA, the ramping optimizer and periods, and the oscillation statistics."""

import doctest

import numpy as np
import pytest
import torch

import mxemu as mx
import mxemu.torch as mxt
from mxemu.errors import InputError
from mxemu.torch.recipes import tetrajet
from mxemu.torch.recipes.tetrajet import backward_seeds, ema_quantize, ramping_periods

FMT = "mxfp4_e2m1"
E2M1_GRID = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def _fq(a, axis, policy, seed=None):
    return torch.from_numpy(mx.fake_quantize(np.ascontiguousarray(a), FMT, axis, policy, seed=seed))


def _run(config, seed=7, calls=0):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    layer = mxt.TetraJetLinear(64, 32, config, seed=seed)
    layer.calls = calls
    x = torch.from_numpy(rng.standard_normal((40, 64)).astype(np.float32)).requires_grad_()
    g = torch.from_numpy(rng.standard_normal((40, 32)).astype(np.float32))
    y = layer(x)
    gx, gw, gb = torch.autograd.grad(y, (x, layer.weight, layer.bias), g)
    return layer, x.detach().numpy(), g.numpy(), y, gx, gw, gb


@pytest.mark.parametrize("config", [mxt.TetraJetConfig.tetrajet(), mxt.TetraJetConfig.microscaling()],
                         ids=["tetrajet", "microscaling"])
def test_forward_is_the_product_of_the_independently_quantized_operands(config):
    layer, x, _, y, *_ = _run(config)
    xq = _fq(x, -1, config.forward_policy)
    wq = _fq(layer.weight.detach().numpy(), -1, config.forward_policy)
    assert torch.equal(y, xq @ wq.t() + layer.bias)


@pytest.mark.parametrize("config", [mxt.TetraJetConfig.tetrajet(), mxt.TetraJetConfig.microscaling()],
                         ids=["tetrajet", "microscaling"])
def test_backward_gemm_operands_are_quantized_as_configured(config):
    layer, x, g, _, gx, gw, gb = _run(config, calls=3)
    s3, s4, s5, s6 = backward_seeds(layer.seed, 3)
    fwd, bwd = config.forward_policy, config.backward_policy
    w = layer.weight.detach().numpy()
    # double quantization: the backward re-quantizes the forward-quantized W and X (32x1 blocks)
    w_src = _fq(w, -1, fwd).numpy() if config.double_quant else w
    x_src = _fq(x, -1, fwd).numpy() if config.double_quant else x
    assert torch.equal(gx, _fq(g, -1, bwd, s3) @ _fq(w_src, 0, bwd, s4))
    assert torch.equal(gw, _fq(g, 0, bwd, s5).t() @ _fq(x_src, 0, bwd, s6))
    assert torch.equal(gb, torch.from_numpy(g).sum(0))
    # the test can fail: unquantized backward operands give other gradients
    assert not torch.equal(gx, torch.from_numpy(g) @ _fq(w, -1, fwd))
    assert layer.calls == 4


def test_stochastic_rounding_draws_new_bits_every_call_and_rne_does_not():
    gx = [_run(mxt.TetraJetConfig.tetrajet(), calls=c)[4] for c in (0, 1)]
    assert not torch.equal(gx[0], gx[1])
    gx = [_run(mxt.TetraJetConfig.microscaling(), calls=c)[4] for c in (0, 1)]
    assert torch.equal(gx[0], gx[1])


def test_truncation_free_scale_never_clips_a_block_maximum():
    x = torch.tensor([[7.0] + [0.1] * 31])
    ocp = mxt.TetraJetLinear(32, 1, mxt.TetraJetConfig.microscaling())
    tj = mxt.TetraJetLinear(32, 1, mxt.TetraJetConfig.tetrajet())
    for layer in (ocp, tj):
        with torch.no_grad():
            layer.weight.copy_(torch.eye(32)[:1])
            layer.bias.zero_()
    assert ocp(x).item() == 6.0  # floor scale 2^0: 7 saturates to 6
    assert tj(x).item() == 8.0  # ceil scale 2^1: 7/2 = 3.5 rounds to 4


def test_no_gradient_graph_leaves_the_call_counter_alone():
    layer = mxt.TetraJetLinear(32, 4)
    with torch.no_grad():
        layer(torch.randn(2, 3, 32))
    assert layer.calls == 0 and layer(torch.randn(2, 3, 32)).shape == (2, 3, 4) and layer.calls == 1


def _grid_neighbours(w, scale):
    grid = np.concatenate([-E2M1_GRID[::-1], E2M1_GRID]) * scale
    w = min(max(w, grid[0]), grid[-1])  # the OCP floor scale lets |w| exceed 6·scale: it saturates
    lo = grid[grid <= w].max()
    hi = grid[grid >= w].min()
    return lo, hi


def test_ema_quantize_rounds_towards_the_ema_within_the_current_weights_grid():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 64)).astype(np.float32)
    ema = (w + rng.standard_normal(w.shape).astype(np.float32) * 0.3).astype(np.float32)
    pol = mx.get_policy("ocp")
    got = ema_quantize(torch.from_numpy(w), torch.from_numpy(ema), FMT, pol).numpy()
    scales = mx.quantize(w, FMT, -1, pol).scales.astype(np.int64) - 127
    for r in range(4):
        for c in range(64):
            lo, hi = _grid_neighbours(float(w[r, c]), 2.0 ** scales[r, c // 32])
            expected = lo if abs(ema[r, c] - lo) <= abs(ema[r, c] - hi) else hi
            assert got[r, c] == expected, (r, c)
    assert not np.array_equal(got, mx.fake_quantize(w, FMT, -1, pol))


def test_qema_update_rule_and_start():
    model = torch.nn.Sequential(mxt.TetraJetLinear(32, 8))
    layer = model[0]
    q = mxt.QEMA(model, beta=0.9, start_after=3)
    ema = layer.weight.detach().clone().double()
    for k in range(4):
        with torch.no_grad():
            layer.weight.add_(torch.randn_like(layer.weight))
        q.update()
        ema = 0.9 * ema + 0.1 * layer.weight.detach().double()
        assert torch.allclose(layer.ema_weight.double(), ema, rtol=1e-6, atol=1e-7)
        assert layer.use_ema == (k >= 2)
    pol = layer.config.forward_policy
    assert torch.equal(layer.quantized_weight(), ema_quantize(layer.weight, layer.ema_weight, FMT, pol))
    with pytest.raises(InputError):
        mxt.QEMA(model, beta=1.0)


def test_ramping_periods_formula():
    r = torch.tensor([0.0, 15.99, 16.0, 31.9, 32.0, 100.0])
    assert ramping_periods(r, 16.0, 5, 64).tolist() == [1, 1, 6, 6, 11, 31]
    assert ramping_periods(r, 16.0, 3, 8).tolist() == [1, 1, 4, 4, 7, 8]


def test_ramping_adamw_with_unit_periods_is_adamw():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5, 7, dtype=torch.float64))
    b = torch.nn.Parameter(a.detach().clone())
    oa = mxt.RampingAdamW([a], lr=0.01, weight_decay=0.1)
    ob = torch.optim.AdamW([b], lr=0.01, weight_decay=0.1)
    for _ in range(6):
        g = torch.randn(5, 7, dtype=torch.float64)
        a.grad, b.grad = g.clone(), g.clone()
        oa.step()
        ob.step()
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)  # float64: only the operation order differs


def test_ramping_adamw_accumulates_for_the_period_then_steps_with_the_mean_gradient_times_period():
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = mxt.RampingAdamW([p], lr=0.1, eps=0.0)
    opt.set_period(p, torch.tensor([1.0, 3.0], dtype=torch.float64))
    grads = [torch.tensor([1.0, 2.0]), torch.tensor([1.0, -1.0]), torch.tensor([1.0, 5.0])]
    for k, g in enumerate(grads):
        p.grad = g.double()
        opt.step()
        if k < 2:
            assert p[1].item() == 0.0  # element 1 only accumulates
    assert p[0].item() == pytest.approx(-0.3)  # three Adam steps of a constant gradient: lr each
    assert p[1].item() == pytest.approx(-0.1 * 3)  # one step of mean gradient 2 (sign), step size x3
    with pytest.raises(InputError):
        opt.set_period(p, torch.tensor([0.0, 1.0], dtype=torch.float64))


def test_oscillation_tracker_sums_weight_and_quantized_weight_changes():
    model = torch.nn.Sequential(mxt.TetraJetLinear(32, 1, mxt.TetraJetConfig.microscaling()))
    layer = model[0]
    base = np.array([6.0] + [1.24] * 31, np.float32)  # scale 1: 1.24 rounds to 1.0, 1.26 to 1.5
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(base[None]))
    tr = mxt.OscillationTracker(model)
    for v in (1.26, 1.24, 1.26, 1.24):
        with torch.no_grad():
            layer.weight[0, 1:] = v
        tr.record()
    r = tr.ratios()["0"][0]
    assert r[0].item() == 0.0  # never moved
    assert r[1].item() == pytest.approx(4 * 0.5 / (4 * 0.02), rel=1e-4)  # 25: oscillating
    assert tr.oscillating_fraction(16.0) == pytest.approx(31 / 32)
    assert tr.reversals["0"][0].tolist() == [0] + [3] * 31  # up, down, up, down: three reversals
    assert tr.reversing_fraction(3) == pytest.approx(31 / 32) and tr.reversing_fraction(4) == 0.0
    n_lo = np.linalg.norm(mx.fake_quantize(base, FMT))  # Q with the 1.0 codes
    n_hi = np.linalg.norm(mx.fake_quantize(np.array([6.0] + [1.26] * 31, np.float32), FMT))  # the 1.5 codes
    d = np.sqrt(31 * 0.25)
    assert tr.rate_of_change() == pytest.approx((d / n_lo + d / n_hi) / 2, rel=1e-6)


def test_qramping_calibration_restores_model_and_optimizer_and_sets_periods():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    mxt.to_tetrajet(model)
    opt = mxt.RampingAdamW(model.parameters(), lr=0.05)
    x, y = torch.randn(64, 32), torch.randint(0, 4, (64,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    m_before = opt.state[model[0].weight]["m"].clone()
    ramp = mxt.QRamping(model, opt, window=5, n_max=8)
    ramp.calibrate(step)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(opt.state[model[0].weight]["m"], m_before)
    for name, layer in tetrajet.tetrajet_layers(model).items():
        period = opt.state[layer.weight]["period"]
        assert torch.equal(period, ramp.periods[name]) and period.min() >= 1 and period.max() <= 8


def test_to_tetrajet_rejects_unknown_names():
    with pytest.raises(InputError):
        mxt.to_tetrajet(torch.nn.Sequential(torch.nn.Linear(32, 4)), names=["x"])
    with pytest.raises(InputError):
        mxt.TetraJetLinear(32, 4, config="tetrajet")


def test_docstring_examples_run():
    result = doctest.testmod(tetrajet, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
