"""The gfloat preset equals gfloat 0.5.2's MX block encoder (encode_block with an exact float64 amax)."""

import numpy as np
import pytest
from gfloat import RoundMode, compute_scale_amax, encode_block
from gfloat.formats import (
    format_info_mxfp4_e2m1,
    format_info_mxfp6_e2m3,
    format_info_mxfp6_e3m2,
    format_info_mxfp8_e4m3,
    format_info_mxfp8_e5m2,
    format_info_mxint8,
)

import mxemu as mx

BLOCK_FORMATS = {
    "mxfp8_e4m3": format_info_mxfp8_e4m3,
    "mxfp8_e5m2": format_info_mxfp8_e5m2,
    "mxfp6_e3m2": format_info_mxfp6_e3m2,
    "mxfp6_e2m3": format_info_mxfp6_e2m3,
    "mxfp4_e2m1": format_info_mxfp4_e2m1,
    "mxint8": format_info_mxint8,
}
ROUNDINGS = {"rne": RoundMode.TiesToEven, "rna": RoundMode.TiesToAway, "rtz": RoundMode.TowardZero,
             "rup": RoundMode.TowardPositive, "rdn": RoundMode.TowardNegative}


def gfloat_block(block: np.ndarray, fmt: str, rounding: str) -> list[int]:
    """[scale code, element codes...] of one block; the block is passed as float64 so log2 is exact."""
    fi = BLOCK_FORMATS[fmt]
    values = block.astype(np.float64)
    scale = compute_scale_amax(fi.etype.emax, values)
    with np.errstate(all="ignore"):
        return list(encode_block(fi, scale, values / scale, ROUNDINGS[rounding]))


def blocks(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((24, 32)) * np.exp2(rng.integers(-60, 60, (24, 1)))
    x[0] = 0.0
    x[1] *= 1e-40
    x[2, 3] = np.inf
    x[3, :] = np.array([6.5, 5.0, 3.5, 2.5, 0.75, 0.25, 7.75, 28.0, 30.0, 464.0, 61440.0, -1.999] + [1.0] * 20)
    x[4, :] = -x[3, :]
    x[5, 0] = np.nextafter(np.float32(2.0 ** 40), np.float32(0))
    return x.astype(np.float32)


@pytest.mark.parametrize("rounding", list(ROUNDINGS))
@pytest.mark.parametrize("fmt", list(BLOCK_FORMATS))
@pytest.mark.clause("ext.presets")
def test_preset_equals_gfloat_encode_block(fmt, rounding):
    x = blocks(1)
    policy = mx.get_policy("gfloat").replace(rounding=rounding)
    q = mx.quantize(x, fmt, policy=policy)
    for row in range(x.shape[0]):
        want = gfloat_block(x[row], fmt, rounding)
        assert [int(q.scales[row, 0]), *q.codes[row].tolist()] == want, f"block {row}"


@pytest.mark.clause("5.3.4")
def test_gfloat_preset_produces_the_full_int8_range():
    x = np.full((1, 32), -1.999, np.float32)
    x[0, 0] = 1.5
    assert mx.quantize(x, "mxint8", policy="gfloat").codes[0, 1] == 0x80
    assert mx.quantize(x, "mxint8", policy="ocp").codes[0, 1] == 0x81
