"""dMX: ladder blending, temperature annealing to a hard assignment, bit budget, and freezing to MXLinear."""

import doctest
import itertools
import math

import numpy as np
import pytest
import torch

import mxemu as mx
import mxemu.torch as mxt
from mxemu.errors import InputError
from mxemu.torch.recipes import dmx

LADDER = ["mxfp4_e2m1", "mxfp6_e2m3", "mxfp8_e4m3"]


def _fq(t, fmt):
    return torch.from_numpy(mx.fake_quantize(t.detach().numpy(), fmt, -1))


def _layer(offset, temperature=1.0, quantize_input=False, seed=0):
    torch.manual_seed(seed)
    layer = mxt.DMXLinear(64, 16, mxt.FormatLadder(LADDER), init_offset=offset, quantize_input=quantize_input,
                          temperature=temperature, dtype=torch.float64)
    return layer


def test_ladder_rejects_non_increasing_bits_and_non_mx_formats():
    with pytest.raises(InputError):
        mxt.FormatLadder(["mxfp8_e4m3", "mxfp4_e2m1"])
    with pytest.raises(InputError):
        mxt.FormatLadder(["mxfp6_e2m3", "mxfp6_e3m2"])
    with pytest.raises(InputError):
        mxt.FormatLadder(["fp4_e2m1", "mxfp8_e4m3"])
    with pytest.raises(InputError):
        mxt.FormatLadder(["mxfp4_e2m1"])


@pytest.mark.parametrize("theta, expected", [(0.0, (0, 0.0)), (0.49, (0, 0.0)), (0.5, (0, 1.0)), (1.2, (1, 0.0)),
                                             (1.6, (1, 1.0)), (2.0, (1, 1.0)), (2.7, (1, 1.0)), (-0.3, (0, 0.0))])
def test_zero_temperature_rounds_the_offset_half_up_to_a_rung(theta, expected):
    i, a = dmx.blend_weight(torch.tensor(theta), 2, 0.0)
    assert (i, a.item()) == expected


def test_soft_blend_is_sigmoid_of_the_fractional_offset():
    i, a = dmx.blend_weight(torch.tensor(1.3, dtype=torch.float64), 2, 0.25)
    assert i == 1
    assert a.item() == pytest.approx(1 / (1 + math.exp(-(0.3 - 0.5) / 0.25)), rel=1e-12)


def test_forward_is_the_blend_of_the_two_neighbouring_rungs():
    layer = _layer(0.7, temperature=0.3, quantize_input=True)
    x = torch.randn(5, 64, dtype=torch.float64)
    i, a = layer.blend()
    assert i == 0 and a.item() == pytest.approx(1 / (1 + math.exp(-(0.7 - 0.5) / 0.3)), rel=1e-12)
    wq = (1 - a) * _fq(layer.weight, LADDER[0]) + a * _fq(layer.weight, LADDER[1])
    xq = (1 - a) * _fq(x, LADDER[0]) + a * _fq(x, LADDER[1])
    expected = torch.nn.functional.linear(xq, wq, layer.bias)
    assert torch.equal(layer(x), expected)


def test_offset_gradient_is_the_rung_difference_times_the_sigmoid_slope():
    layer = _layer(1.4, temperature=0.2)
    x = torch.randn(3, 64, dtype=torch.float64)
    layer(x).sum().backward()
    t, T = 0.4, 0.2
    s = 1 / (1 + math.exp(-(t - 0.5) / T))
    diff = _fq(layer.weight, LADDER[2]) - _fq(layer.weight, LADDER[1])
    expected = float((torch.ones(3, 16, dtype=torch.float64).t() @ x * diff).sum()) * s * (1 - s) / T
    assert layer.offset.grad.item() == pytest.approx(expected, rel=1e-9)


def test_annealing_schedule_reaches_a_hard_assignment_equal_to_mxlinear():
    layer = _layer(1.62)
    x = torch.randn(4, 64, dtype=torch.float64)
    total = 50
    temps = [dmx.temperature_at(k, total, 1.0, 1e-3, 0.1) for k in range(total)]
    assert temps[0] == 1.0 and all(a > b for a, b in itertools.pairwise(temps[:45]))
    assert temps[44] > 0 and temps[45:] == [0.0] * 5
    alphas = []
    for T in temps:
        layer.temperature = T
        alphas.append(layer.blend()[1].item())
    assert all(b >= a for a, b in itertools.pairwise(alphas))  # monotone towards the upper rung
    assert 1 - alphas[44] < 1e-30 and alphas[-1] == 1.0
    ref = mxt.MXLinear.from_linear(torch.nn.Linear(64, 16, dtype=torch.float64), weight_format=LADDER[2])
    ref.weight, ref.bias = layer.weight, layer.bias
    assert torch.equal(layer(x), ref(x))


def test_expected_bits_weights_layers_by_parameter_count_and_budget_loss_is_one_sided():
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 96))
    layers = mxt.to_dmx(model, mxt.FormatLadder(LADDER))
    layers["0"].offset.data.fill_(0.0)  # 4 bits, 2048 weights
    layers["2"].offset.data.fill_(2.0)  # 8 bits, 3072 weights
    mxt.set_temperature(model, 0.0)
    assert mxt.expected_bits(model).item() == pytest.approx((2048 * 4 + 3072 * 8) / 5120)
    assert mxt.bit_budget_loss(model, 7.0, 2.0).item() == 0.0
    assert mxt.bit_budget_loss(model, 7.0, 2.0, two_sided=True).item() == pytest.approx(2.0 * 0.6**2)
    assert mxt.bit_budget_loss(model, 6.0, 2.0).item() == pytest.approx(2.0 * 0.4**2)


def test_budget_loss_gradient_pushes_offsets_down_when_over_budget():
    model = torch.nn.Sequential(torch.nn.Linear(64, 32))
    layer = mxt.to_dmx(model, mxt.FormatLadder(LADDER), init_offset=1.6)["0"]
    mxt.set_temperature(model, 0.5)
    opt = torch.optim.SGD([layer.offset], lr=0.5)
    start = mxt.expected_bits(model).item()
    for _ in range(20):
        opt.zero_grad()
        mxt.bit_budget_loss(model, 4.5, 1.0).backward()
        opt.step()
        mxt.clamp_offsets(model)
    assert layer.offset.item() < 1.6 and mxt.expected_bits(model).item() < start


def test_clamp_offsets_keeps_offsets_on_the_ladder():
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Linear(32, 32))
    layers = mxt.to_dmx(model, mxt.FormatLadder(LADDER))
    layers["0"].offset.data.fill_(-1.0)
    layers["1"].offset.data.fill_(9.0)
    mxt.clamp_offsets(model)
    assert (layers["0"].offset.item(), layers["1"].offset.item()) == (0.0, 2.0)


@pytest.mark.parametrize("quantize_input", [False, True])
def test_freeze_emits_the_format_map_and_keeps_the_hard_outputs(quantize_input):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    layers = mxt.to_dmx(model, mxt.FormatLadder(LADDER), quantize_input=quantize_input)
    layers["0"].offset.data.fill_(0.3)
    layers["2"].offset.data.fill_(1.5)
    mxt.set_temperature(model, 0.0)
    x = torch.rand(7, 64)
    before = model(x)
    weight = layers["0"].weight
    fmap = mxt.freeze(model)
    assert fmap == {"0": "mxfp4_e2m1", "2": "mxfp8_e4m3"}
    assert isinstance(model[0], mxt.MXLinear) and model[0].weight is weight
    assert model[0].input_format == (fmap["0"] if quantize_input else None)
    assert torch.equal(model(x), before)


def test_to_dmx_rejects_unknown_names_and_bad_offsets():
    model = torch.nn.Sequential(torch.nn.Linear(64, 32))
    with pytest.raises(InputError):
        mxt.to_dmx(model, mxt.FormatLadder(LADDER), names=["nope"])
    with pytest.raises(InputError):
        mxt.to_dmx(model, mxt.FormatLadder(LADDER), init_offset=3.5)
    with pytest.raises(InputError):
        dmx.temperature_at(10, 10)
    with pytest.raises(InputError):
        mxt.set_temperature(model, -1.0)


def test_docstring_examples_run():
    result = doctest.testmod(dmx, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_element_bits_of_the_ladder_come_from_the_format_definitions():
    assert mxt.FormatLadder(["mxint4", "mxint6", "mxint8"]).bits == [4, 6, 8]
    assert np.all(np.diff(mxt.FormatLadder(LADDER).bits) > 0)
