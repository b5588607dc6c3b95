"""The mxemu.torch entries that quantize (saturation_mask, the masked straight-through estimator,
slice_fake_quantize) refuse a block whose float32 scale no E8M0 code holds, as mxemu.quantize does; fake_quantize
with the identity estimator gives the peer's values for it."""

import numpy as np
import pytest
import torch

import mxemu.torch as mxt
from mxemu import oracle
from mxemu.errors import PolicyError


def _tiny_block() -> torch.Tensor:
    t = torch.ones(2, 32)
    t[1] = 2.0 ** -40  # Brevitas's scale fl32(1e-10) / 2^8: no E8M0 code
    return t


def test_saturation_mask_and_the_masked_estimator_refuse_the_block_quantize_refuses():
    t = _tiny_block()
    with pytest.raises(PolicyError, match=r"scale_value='fp32_min_val'.*scales index \(1, 0\)"):
        mxt.saturation_mask(t.numpy(), "mxfp8_e4m3", policy="brevitas")
    with pytest.raises(PolicyError, match="scale_value='fp32_min_val'"):
        mxt.fake_quantize(t.requires_grad_(), "mxfp8_e4m3", policy="brevitas", ste="masked")
    with pytest.raises(PolicyError, match="scale_value='fp32_min_val'"):
        mxt.slice_fake_quantize(t, "mxint8", "mxint4", policy="brevitas")


def test_the_identity_estimator_fake_quantizes_the_block_as_the_oracle_does():
    t = _tiny_block()
    got = mxt.fake_quantize(t, "mxfp8_e4m3", policy="brevitas").numpy()
    want = np.stack([oracle.fake_quantize_block(row, "mxfp8_e4m3", "brevitas") for row in t.numpy()])
    assert np.array_equal(got.view(np.uint32), want.astype(np.float32).view(np.uint32))
    assert got[1, 0] != np.float32(2.0 ** -40)  # the peer's scale m / 2^8, not a power of two


@pytest.mark.cuda
@pytest.mark.parametrize("preset", ["brevitas", "quark_floor"])
def test_the_triton_front_end_refuses_the_peer_scale_presets_before_any_block(preset):
    from mxemu import cuda

    with pytest.raises(PolicyError, match=r"mxemu\.cuda does not implement"):
        cuda.quantize(_tiny_block(), "mxfp8_e4m3", policy=preset)
