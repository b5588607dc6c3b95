"""MicroMix: calibration statistics, the threshold split (proportions, alignment, outliers last), and the
segment-by-segment mixed-format GEMM against operands quantized independently."""

import doctest
import math

import numpy as np
import pytest
import torch

import mxemu as mx
import mxemu.torch as mxt
from mxemu.errors import InputError
from mxemu.torch.recipes import micromix
from mxemu.torch.recipes.micromix import ChannelStats


def test_threshold_constants_are_those_of_the_two_code_branches():
    c4, c6 = micromix.thresholds("iclr")
    assert c4 == pytest.approx(2 / 254 * 8 / 6) and c6 == pytest.approx(8 / 254 * 32 / 28)
    c4, c6 = micromix.thresholds("main", lam=2.0)
    assert c4 == pytest.approx(2 * 448 / 6 / 1024) and c6 == pytest.approx(2 * 448 / 28 / 64)
    with pytest.raises(InputError):
        micromix.thresholds("paper")


def test_calibrator_collects_max_of_batch_means_and_threshold_counts():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(96, 8))
    batches = [torch.randn(3, 5, 96) * torch.linspace(0.1, 4, 96), torch.randn(7, 96)]
    with mxt.MicroMixCalibrator(model) as cal:
        for b in batches:
            model(b)
    st = cal.stats["0"]
    rows = [np.abs(b.reshape(-1, 96).numpy().astype(np.float64)) for b in batches]
    assert np.array_equal(st.importance, np.maximum(rows[0].mean(0), rows[1].mean(0)))
    assert st.count == (15 + 7) * 96
    for variant in ("iclr", "main"):
        c4, c6 = micromix.thresholds(variant)
        below4 = sum(int(sum(v < c4 * r.max() for v in r)) for rs in rows for r in rs)
        below6 = sum(int(sum(v < c6 * r.max() for v in r)) for rs in rows for r in rs)
        assert (st.below4[variant], st.below6[variant]) == (below4, below6)
    model(batches[1])  # hooks removed on exit
    assert st.count == cal.stats["0"].count


def _stats(c, r4, r6, rng):
    n = 1000 * c
    imp = rng.permutation(np.arange(c, dtype=np.float64))
    b4 = round(r4 * n)
    return ChannelStats(imp, n, {"main": b4, "iclr": b4}, {"main": b4 + round(r6 * n), "iclr": b4 + round(r6 * n)})


@pytest.mark.parametrize("c, r4, r6, align", [(256, 0.7, 0.2, 32), (256, 0.7, 0.2, 64), (200, 0.5, 0.45, 32),
                                              (128, 0.0, 0.0, 32), (128, 1.0, 0.0, 32), (64, 0.05, 0.9, 32)])
def test_split_proportions_round_up_to_the_alignment_and_cover_every_channel(c, r4, r6, align):
    rng = np.random.default_rng(c)
    st = _stats(c, r4, r6, rng)
    plan = mxt.micromix_split(st, "main", align=align)
    r8 = 1 - r4 - r6
    p8 = min(math.ceil(round(c * r8, 9) / align) * align, c)
    p6 = min(math.ceil(round(c * r6, 9) / align) * align, c - p8)
    assert (plan.p8, plan.p6, plan.p4) == (p8, p6, c - p8 - p6)
    assert plan.p8 % align == 0 and (plan.p6 % align == 0 or plan.p6 == c - plan.p8)
    assert sorted(plan.perm.tolist()) == list(range(c))


def test_split_puts_the_most_important_channels_in_mxfp8_and_the_least_in_mxfp4():
    rng = np.random.default_rng(3)
    st = _stats(128, 0.5, 0.25, rng)
    plan = mxt.micromix_split(st, "main", align=32)
    fmts = plan.channel_formats()
    order = np.argsort(st.importance)
    assert [fmts[c] for c in order[-plan.p8:]] == ["mxfp8_e4m3"] * plan.p8
    assert [fmts[c] for c in order[:plan.p4]] == ["mxfp4_e2m1"] * plan.p4
    assert min(st.importance[[c for c in range(128) if fmts[c] == "mxfp8_e4m3"]]) > \
        max(st.importance[[c for c in range(128) if fmts[c] != "mxfp8_e4m3"]])
    assert plan.average_bits == pytest.approx((plan.p4 * 4 + plan.p6 * 6 + plan.p8 * 8) / 128)


def test_random_plan_keeps_the_segment_sizes():
    plan = mxt.micromix_split(_stats(128, 0.5, 0.25, np.random.default_rng(0)), "main", align=32)
    rnd = mxt.random_plan(plan, seed=5)
    assert (rnd.p4, rnd.p6, rnd.p8) == (plan.p4, plan.p6, plan.p8) and not np.array_equal(rnd.perm, plan.perm)


def _oracle_fq(a, plan):
    """Fake-quantize a's last axis segment by segment in permuted order, with mx.fake_quantize."""
    ap = a[..., plan.perm]
    parts = [mx.fake_quantize(np.ascontiguousarray(ap[..., s:e]), f, -1) for f, s, e in plan.segments]
    return np.concatenate(parts, axis=-1)


def _mixed_layer(rng, c=128, out=16, **options):
    st = _stats(c, 0.5, 0.25, rng)
    plan = mxt.micromix_split(st, "main", align=32)
    lin = torch.nn.Linear(c, out, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(rng.standard_normal((out, c)).astype(np.float32)))
    return mxt.MicroMixLinear.from_linear(lin, plan, **options), plan


@pytest.mark.parametrize("accumulation", [None, "exact"])
def test_weight_segments_are_quantized_in_their_channel_format(accumulation):
    rng = np.random.default_rng(1)
    layer, plan = _mixed_layer(rng, accumulation=accumulation)
    # one-hot probes: each output is a single product Q(W)[o, c]·1, so the layer returns Q(W) exactly
    eye = torch.eye(128)[torch.as_tensor(plan.perm)]
    got = layer(eye).detach().numpy()
    assert np.array_equal(got.T, _oracle_fq(layer.weight.detach().numpy(), plan))


def test_input_segments_are_quantized_in_their_channel_format():
    rng = np.random.default_rng(2)
    st = _stats(128, 0.3, 0.4, rng)
    plan = mxt.micromix_split(st, "main", align=32)
    lin = torch.nn.Linear(128, 128, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(128)[torch.as_tensor(plan.perm)])
    layer = mxt.MicroMixLinear.from_linear(lin, plan)
    x = rng.standard_normal((6, 128)).astype(np.float32) * np.linspace(0.01, 30, 128, dtype=np.float32)
    assert np.array_equal(layer(torch.from_numpy(x)).detach().numpy(), _oracle_fq(x, plan))


def test_exact_accumulation_is_the_exactly_summed_segment_products():
    rng = np.random.default_rng(4)
    layer, plan = _mixed_layer(rng, out=4, accumulation="exact")
    x = rng.standard_normal((3, 128)).astype(np.float32)
    xq, wq = _oracle_fq(x, plan), _oracle_fq(layer.weight.detach().numpy(), plan)
    expected = np.zeros((3, 4), np.float32)
    for _, s, e in plan.segments:
        seg = [[math.fsum(float(a) * float(b) for a, b in zip(xq[i, s:e], wq[o, s:e], strict=True))
                for o in range(4)] for i in range(3)]
        expected += np.array(seg, np.float32)
    assert np.array_equal(layer(torch.from_numpy(x)).numpy(), expected)


def test_mixed_layer_trains_through_the_straight_through_estimator():
    layer, plan = _mixed_layer(np.random.default_rng(5))
    x = torch.randn(4, 128, requires_grad=True)
    layer(x).sum().backward()
    wq = torch.ones(4, 16) @ torch.from_numpy(_oracle_fq(layer.weight.detach().numpy(), plan))
    expected = torch.empty(4, 128)
    expected[:, torch.as_tensor(plan.perm)] = wq  # dL/dx = 1·Q(W), scattered back to the original channels
    assert layer.weight.grad.shape == (16, 128) and torch.equal(x.grad, expected)


def test_apply_micromix_swaps_layers_sharing_parameters_and_rejects_bad_plans():
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    w = model[0].weight
    mxt.apply_micromix(model, {"0": mxt.MicroMixPlan(np.arange(64), 32, 0, 32)})
    assert isinstance(model[0], mxt.MicroMixLinear) and model[0].weight is w
    with pytest.raises(InputError):
        mxt.apply_micromix(model, {"1": mxt.MicroMixPlan(np.arange(64), 64, 0, 0)})
    with pytest.raises(InputError):
        mxt.MicroMixPlan(np.arange(64), 32, 0, 16)
    with pytest.raises(InputError):
        mxt.MicroMixPlan(np.array([0, 0, 1]), 3, 0, 0)
    with pytest.raises(InputError):
        mxt.micromix_split(_stats(64, 0.5, 0.2, np.random.default_rng(0)), align=0)


def test_docstring_examples_run():
    result = doctest.testmod(micromix, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
