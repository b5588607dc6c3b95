"""MF-QAT: the per-step format recipe, and anchor checkpoints loaded at a runtime format by Slice-and-Scale."""

import hashlib
import struct

import numpy as np
import pytest
import torch
from safetensors import safe_open

import mxemu as mx
import mxemu.torch as mxt
from mxemu.conversion import convert
from mxemu.torch.nn import decode_config


def _bits(t):
    return t.detach().contiguous().view(torch.int32).numpy()


def _model(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.BatchNorm1d(48), torch.nn.ReLU(),
                                torch.nn.Linear(48, 10))
    model.train()
    model(torch.randn(8, 64))  # moves the BatchNorm running statistics and its int64 counter
    mxt.quantize_model(model, "mxint8")
    return model.eval()


def test_sample_rule_is_deterministic_per_seed_and_step():
    formats = ["mxint8", "mxint6", "mxint4", "mxint2"]
    a, b = mxt.MFQATRecipe(formats, seed=7), mxt.MFQATRecipe(formats, seed=7)
    draws = [a.formats_for_step(s) for s in range(200)]
    assert [b.formats_for_step(s) for s in reversed(range(200))][::-1] == draws  # order-free: resumable
    assert all(len(d) == 1 and d[0][1] == 1.0 for d in draws)
    assert {d[0][0] for d in draws} == set(formats)
    other = [mxt.MFQATRecipe(formats, seed=8).formats_for_step(s) for s in range(200)]
    assert other != draws


def test_sample_rule_weights_are_probabilities():
    recipe = mxt.MFQATRecipe(["mxint8", "mxint4", "mxint2"], weights=[0.0, 3.0, 0.0], seed=1)
    assert all(recipe.formats_for_step(s) == [("mxint4", 1.0)] for s in range(50))


def test_sum_rule_gives_every_format_with_its_weight():
    recipe = mxt.MFQATRecipe(["mxfp8_e4m3", "mxfp6_e2m3", "mxfp4_e2m1"], rule="sum", weights=[1, 0.5, 0.25])
    assert recipe.formats_for_step(0) == recipe.formats_for_step(99) == \
        [("mxfp8_e4m3", 1.0), ("mxfp6_e2m3", 0.5), ("mxfp4_e2m1", 0.25)]
    assert mxt.MFQATRecipe(["mxint8", "mxint4"], rule="sum").formats_for_step(3) == [("mxint8", 1.0), ("mxint4", 1.0)]


def test_recipe_loss_sums_the_weighted_losses_of_each_format():
    model = _model()
    x = torch.randn(4, 64)
    recipe = mxt.MFQATRecipe(["mxint8", "mxint4"], rule="sum", weights=[1.0, 0.5])
    total = recipe.loss(model, 0, lambda: model(x).square().mean())
    with mxt.use_format(model, "mxint8"):
        l8 = model(x).square().mean()
    with mxt.use_format(model, "mxint4"):
        l4 = model(x).square().mean()
    assert total.item() == (l8 * 1.0 + l4 * 0.5).item()
    assert all(m.weight_format == "mxint8" for m in mxt.mx_layers(model))
    total.backward()
    assert model[0].weight.grad is not None
    sampled = mxt.MFQATRecipe(["mxint8", "mxint4"], seed=3)
    fmt = sampled.formats_for_step(5)[0][0]
    with mxt.use_format(model, fmt):
        expected = model(x).sum()
    assert sampled.loss(model, 5, lambda: model(x).sum()).item() == expected.item()


@pytest.mark.parametrize("kwargs, message", [
    ({"formats": []}, "non-empty"),
    ({"formats": "mxint8"}, "non-empty"),
    ({"formats": ["mxint8", "mxint8"]}, "twice"),
    ({"formats": ["int8"]}, "MX block format"),
    ({"formats": ["mxint8"], "rule": "mean"}, "rule"),
    ({"formats": ["mxint8", "mxint4"], "weights": [1.0]}, "weights"),
    ({"formats": ["mxint8", "mxint4"], "weights": [0.0, 0.0]}, "weights"),
    ({"formats": ["mxint8", "mxint4"], "weights": [1.0, -1.0]}, "weights"),
    ({"formats": ["mxint8"], "seed": -1}, "seed"),
])
def test_recipe_arguments_are_validated(kwargs, message):
    with pytest.raises(mx.InputError, match=message):
        mxt.MFQATRecipe(**kwargs)
    with pytest.raises(mx.InputError, match="step"):
        mxt.MFQATRecipe(["mxint8"]).formats_for_step(-1)


@pytest.mark.parametrize("anchor, runtime", [
    ("mxint8", None), ("mxint8", "mxint8"), ("mxint8", "mxint6"), ("mxint8", "mxint4"), ("mxint8", "mxint2"),
    ("mxfp8_e4m3", None), ("mxfp8_e4m3", "mxfp4_e2m1"),
])
def test_anchor_round_trip_loads_slice_and_scale_weights(tmp_path, anchor, runtime):
    trained = _model(0)
    path = mxt.save_anchor(trained, tmp_path / "anchor.safetensors", fmt=anchor)
    model = _model(1)
    params = list(model.parameters())
    arrays = mxt.load_anchor(model, path, runtime_format=runtime)
    target = runtime or anchor
    assert sorted(arrays) == ["0.weight", "3.weight"]
    assert all(p is q for p, q in zip(model.parameters(), params, strict=True))
    for key in arrays:
        q = mx.quantize(trained.state_dict()[key].numpy(), anchor)
        expected = q if target == anchor else convert(q, target, method="slice_and_scale")
        assert arrays[key].format.name == target
        np.testing.assert_array_equal(arrays[key].codes, expected.codes)
        np.testing.assert_array_equal(arrays[key].scales, expected.scales)
        np.testing.assert_array_equal(_bits(model.state_dict()[key]), expected.dequantize(np.float32).view(np.int32))
    for key, value in trained.state_dict().items():
        if key not in arrays:
            loaded = model.state_dict()[key]
            if not key.endswith("_extra_state"):
                assert torch.equal(loaded, value), key
            else:  # the layer's settings, at the runtime format
                assert decode_config(loaded) == {**decode_config(value), "weight_format": target}, key
    assert all(m.weight_format == target for m in mxt.mx_layers(model))
    # Fake-quantizing the loaded weights in the runtime format leaves them as they are: the model runs
    # exactly the sliced anchor weights.
    for m in mxt.mx_layers(model):
        np.testing.assert_array_equal(_bits(m.quantized_weight()), _bits(m.weight))


def test_anchor_of_a_plain_model_loads_into_a_plain_model(tmp_path):
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Linear(40, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    path = mxt.save_anchor(plain, tmp_path / "a.safetensors", fmt="mxfp8_e4m3", policy="torchao")
    torch.manual_seed(1)
    other = torch.nn.Sequential(torch.nn.Linear(40, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    mxt.load_anchor(other, path)
    expected = mx.fake_quantize(plain[2].weight.detach().numpy(), "mxfp8_e4m3", policy="torchao")
    np.testing.assert_array_equal(_bits(other[2].weight), expected.view(np.int32))
    assert torch.equal(other[0].bias, plain[0].bias)


def test_corrupt_anchor_files_raise_file_format_error(tmp_path):
    path = mxt.save_anchor(_model(), tmp_path / "anchor.safetensors")
    raw = path.read_bytes()
    assert b'"format":"mxint8"' in raw[8:8 + struct.unpack("<Q", raw[:8])[0]]  # in the JSON header
    model = _model(1)
    cases = {
        "truncated": raw[: len(raw) - 10],
        "flipped data byte": raw[:-1] + bytes([raw[-1] ^ 1]),
        "edited metadata": raw.replace(b'"format":"mxint8"', b'"format":"mxint7"'),
        "garbage": b"not a safetensors file at all",
    }
    assert cases["edited metadata"] != raw
    for what, data in cases.items():
        bad = tmp_path / f"bad_{what.replace(' ', '_')}.safetensors"
        bad.write_bytes(data)
        with pytest.raises(mx.FileFormatError):
            mxt.load_anchor(model, bad)
    codes = tmp_path / "codes.safetensors"
    mx.save(mx.quantize(np.ones((4, 64), np.float32), "mxint8"), codes)
    with pytest.raises(mx.FileFormatError, match="not an anchor"):
        mxt.load_anchor(model, codes)


def test_an_anchor_missing_a_scales_tensor_raises_file_format_error(tmp_path):
    from safetensors.torch import load_file, save_file

    from mxemu.torch import qat

    path = mxt.save_anchor(_model(), tmp_path / "anchor.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(path)
    del tensors["0.weight::scales"]  # consistent checksums, but an incomplete quantized tensor
    meta["tensors_sha256"] = qat._canonical({k: qat._sha(t) for k, t in tensors.items()})
    body = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    meta["metadata_sha256"] = hashlib.sha256(qat._canonical(body).encode()).hexdigest()
    save_file(tensors, tmp_path / "edited.safetensors", metadata=meta)
    with pytest.raises(mx.FileFormatError, match="do not match the quantized names"):
        mxt.load_anchor(_model(1), tmp_path / "edited.safetensors")


def test_mismatched_models_raise_file_format_error(tmp_path):
    path = mxt.save_anchor(_model(), tmp_path / "anchor.safetensors")
    wider = torch.nn.Sequential(mxt.MXLinear(64, 50), torch.nn.BatchNorm1d(50), torch.nn.ReLU(),
                                mxt.MXLinear(50, 10))
    with pytest.raises(mx.FileFormatError, match="does not match"):
        mxt.load_anchor(wider, path)
    renamed = torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.BatchNorm1d(48))
    with pytest.raises(mx.FileFormatError, match="does not match the model"):
        mxt.load_anchor(renamed, path)
    half = _model(1).to(torch.bfloat16)  # another float dtype is not a mismatch: the anchor serves any
    mxt.load_anchor(half, path)
    assert half[0].weight.dtype == torch.bfloat16
    counter = _model(1)
    counter[1].num_batches_tracked = torch.zeros((), dtype=torch.int32)  # an integer tensor must match exactly
    with pytest.raises(mx.FileFormatError, match="int32"):
        mxt.load_anchor(counter, path)


def test_anchor_arguments_are_validated(tmp_path):
    model = _model()
    with pytest.raises(mx.InputError, match="anchor format"):
        mxt.save_anchor(model, tmp_path / "a.safetensors", fmt="mxint4")
    with pytest.raises(mx.InputError, match=r"\.safetensors"):
        mxt.save_anchor(model, tmp_path / "a.npz")
    path = mxt.save_anchor(model, tmp_path / "a.safetensors")
    with pytest.raises(mx.InputError, match="MX block format"):
        mxt.load_anchor(model, path, runtime_format="int4")
    with pytest.raises(mx.MXError):
        mxt.load_anchor(model, path, runtime_format="mxfp4_e2m1")  # no Slice-and-Scale from MXINT8 to MXFP4


@pytest.mark.parametrize("anchor, fmt", [("mxint8", "mxint6"), ("mxint8", "mxint4"), ("mxint8", "mxint2"),
                                         ("mxfp8_e4m3", "mxfp6_e2m3"), ("mxfp8_e4m3", "mxfp4_e2m1")])
def test_slice_fake_quantize_is_the_sliced_anchor_and_a_cast_of_the_anchor_values(anchor, fmt):
    rng = np.random.default_rng(11)
    w = rng.standard_normal((16, 96)).astype(np.float32) * rng.uniform(0.01, 4, (16, 1)).astype(np.float32)
    out = mxt.slice_fake_quantize(torch.from_numpy(w), anchor, fmt)
    sliced = convert(mx.quantize(w, anchor), fmt, "slice_and_scale").dequantize(np.float32)
    np.testing.assert_array_equal(_bits(out), sliced.view(np.int32))
    # METHODS.md §1.4: with RNE, Slice-and-Scale of an OCP anchor = an OCP cast of the anchor's values
    recast = mx.fake_quantize(mx.fake_quantize(w, anchor), fmt)
    np.testing.assert_array_equal(_bits(out), recast.view(np.int32))
    assert not np.array_equal(sliced, mx.fake_quantize(w, fmt))  # double rounding: not the direct cast


def test_slice_fake_quantize_gradients_identity_and_masked():
    # every block has X = 1: MXINT8 holds k/64 up to 127/64 = 1.984, MXINT4 k/4 up to 1.75
    w = torch.zeros(2, 32)
    w[0, :4] = torch.tensor([1.9, 1.8, 1.7, 0.5])  # anchor 1.90625, 1.796875 (beyond 1.75), 1.703125, 0.5
    w[1, :2] = torch.tensor([1.99, 0.25])  # saturates already in the anchor
    w.requires_grad_()
    mxt.slice_fake_quantize(w, "mxint8", "mxint4").sum().backward()
    assert w.grad.eq(1).all()
    w.grad = None
    mxt.slice_fake_quantize(w, "mxint8", "mxint4", ste="masked").sum().backward()
    saturated = w.detach() > 1.75
    assert saturated.sum() == 3 and w.grad[saturated].eq(0).all() and w.grad[~saturated].eq(1).all()
    with pytest.raises(mx.InputError, match="slice_and_scale is not defined"):
        mxt.slice_fake_quantize(w, "mxint8", "mxfp4_e2m1")


def test_slice_aware_training_sees_the_weights_the_anchor_loads_at_each_format(tmp_path):
    model = _model(3)
    recipe = mxt.MFQATRecipe(["mxint8", "mxint6", "mxint4", "mxint2"], rule="sum", slice_aware=True)
    x = torch.randn(4, 64)
    seen = {}

    def compute_loss():
        layer = mxt.mx_layers(model)[0]
        assert layer.weight_anchor == "mxint8"
        seen[layer.weight_format] = [m.quantized_weight().detach().clone() for m in mxt.mx_layers(model)]
        return model(x).sum()

    recipe.loss(model, 0, compute_loss).backward()
    assert all(m.weight_anchor is None for m in mxt.mx_layers(model))  # restored after the step
    path = mxt.save_anchor(model, tmp_path / "anchor.safetensors", fmt="mxint8")
    for fmt, weights in seen.items():
        served = _model(4)
        mxt.load_anchor(served, path, runtime_format=fmt)
        for m, w in zip(mxt.mx_layers(served), weights, strict=True):
            np.testing.assert_array_equal(_bits(m.weight), _bits(w))


@pytest.mark.parametrize("kwargs, message", [
    ({"formats": ["mxint8", "mxfp4_e2m1"], "slice_aware": True}, "slice_and_scale is not defined"),
    ({"formats": ["mxint4"], "slice_aware": True, "anchor": "mxint6"}, "anchor must be one of"),
    ({"formats": ["mxint4"], "slice_aware": 1}, "slice_aware"),
])
def test_slice_aware_recipe_arguments_are_validated(kwargs, message):
    with pytest.raises(mx.InputError, match=message):
        mxt.MFQATRecipe(**kwargs)
