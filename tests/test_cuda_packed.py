"""Packed quantize of the Triton kernels (mxemu.cuda.quantize(..., layout=...)): the bytes of mxemu.packing.

The oracle is `mxemu.packing.pack_array(mxemu.quantize(x), layout, scale_layout)` on the numpy copy
of the same data; packed outputs are compared byte for byte and unpacked back to the MXArray.
Without a GPU the kernels run under the Triton interpreter on small CPU tensors.
"""

import dataclasses
import os

import torch

GPU = torch.cuda.is_available()
if not GPU:
    # Must precede the first import of the kernels: Triton picks the interpreter at decoration time.
    os.environ["TRITON_INTERPRET"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mxemu as mx  # noqa: E402
from mxemu import cuda  # noqa: E402
from mxemu.cuda import api, diffcheck  # noqa: E402
from mxemu.errors import InputError  # noqa: E402
from mxemu.packing import LAYOUTS, pack_array, unpack_array  # noqa: E402

DEVICE = "cuda" if GPU else "cpu"
FORMATS = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1",
           "mxint8", "mxint7", "mxint6", "mxint5", "mxint4", "mxint3", "mxint2"]
# (shape, axis, dtype, scale layout): a padded last-axis tail, a leading axis (strided blocks),
# padded 2-D tiles, and tiles over axes listed in reverse (to_blocks transposes those tiles).
# Separate scales go with the blockings whose row order is not the scales' C order.
CASES = [
    ((3, 70), -1, torch.float32, "interleaved"),
    ((70, 3), 0, torch.bfloat16, "separate"),
    ((40, 36), (0, 1), torch.float16, "interleaved"),
    ((33, 2, 40), (2, 0), torch.float32, "separate"),
]


def _layouts(fmt: str) -> list[str]:
    bits = mx.get_format(fmt).element.bits
    return [name for name, widths in LAYOUTS.items() if bits in widths]


def _input(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Normal values over 2^-10 .. 2^10 (within float16's range, so blocks get distinct scales) with a NaN
    in the last element: a padded block with a NaN scale, whose padding lanes must still pack as code 0."""
    g = torch.Generator().manual_seed(seed)
    n = int(np.prod(shape))
    x = torch.randn(n, generator=g) * torch.exp2(torch.randint(-10, 10, (n,), generator=g).float())
    x[-1] = float("nan")
    return x.reshape(shape).to(dtype).to(DEVICE)


def _as_numpy(packed):
    if isinstance(packed, tuple):
        return tuple(t.cpu().numpy() for t in packed)
    return packed.cpu().numpy()


def _same(got, ref) -> bool:
    if isinstance(ref, tuple):
        return len(got) == 2 and all(np.array_equal(g, r) for g, r in zip(got, ref, strict=True))
    return np.array_equal(got, ref)


@pytest.mark.parametrize("fmt", FORMATS)
def test_packed_quantize_is_byte_equal_to_pack_array_and_unpacks_to_the_numba_array(fmt):
    for i, (shape, axis, dtype, scale_layout) in enumerate(CASES):
        x = _input(shape, dtype, i)
        q = mx.quantize(diffcheck.to_numpy(x), fmt, axis)
        for layout in _layouts(fmt):
            got = _as_numpy(cuda.quantize(x, fmt, axis, layout=layout, scale_layout=scale_layout))
            assert _same(got, pack_array(q, layout, scale_layout)), (layout, shape, axis, dtype)
            r = unpack_array(got, fmt, shape, axis, layout=layout, scale_layout=scale_layout)
            assert np.array_equal(r.codes, q.codes) and np.array_equal(r.scales, q.scales)


def test_packed_quantize_over_many_programs_with_a_partial_last_one(monkeypatch):
    # Two blocks (or one tile) per program: block rows and records of every program but the first,
    # and a last program whose second block lies beyond the array (masked).
    monkeypatch.setattr(api, "INTERPRETER_LANES_PER_PROGRAM", 64)
    monkeypatch.setattr(api, "GPU_LANES_PER_PROGRAM", 64)
    for i, (shape, axis, dtype, scale_layout) in enumerate(CASES):
        x = _input(shape, dtype, 20 + i)
        for fmt, layout in (("mxfp4_e2m1", "nibble_hi_first"), ("mxfp6_e2m3", "fp6_4in3")):
            assert diffcheck.packed_mismatches(x, fmt, layout, scale_layout, axis=axis) == 0, (fmt, shape, axis)


def test_packed_quantize_with_seeded_stochastic_rounding_and_another_preset():
    x = _input((4, 64), torch.bfloat16, 9)
    pol = mx.get_policy("torchao").replace(rounding="stochastic")
    assert diffcheck.packed_mismatches(x, "mxfp4_e2m1", "nibble_lo_first", policy=pol, seed=7) == 0
    assert diffcheck.packed_mismatches(x, "mxfp6_e3m2", "fp6_4in3", "interleaved", "microxcaling", axis=0) == 0


def test_bad_layouts_raise_typed_errors_that_name_what_is_accepted():
    x = torch.ones(32, device=DEVICE)
    with pytest.raises(InputError, match=r"unknown packing layout 'nibble'.*nibble_lo_first"):
        cuda.quantize(x, "mxfp4_e2m1", layout="nibble")
    with pytest.raises(InputError, match=r"'fp6_4in3' does not take the 4-bit.*4 bits: byte, byte_msb, "
                                         r"nibble_lo_first, nibble_hi_first, bitstream_le"):
        cuda.quantize(x, "mxfp4_e2m1", layout="fp6_4in3")
    with pytest.raises(InputError, match="'nibble_hi_first' does not take the 8-bit elements of mxfp8_e4m3"):
        cuda.quantize(x, "mxfp8_e4m3", layout="nibble_hi_first")
    with pytest.raises(InputError, match="unknown scale layout 'after'; accepted: separate, interleaved"):
        cuda.quantize(x, "mxfp4_e2m1", layout="byte", scale_layout="after")
    with pytest.raises(InputError, match="'interleaved' needs packed codes: give a layout"):
        cuda.quantize(x, "mxfp4_e2m1", scale_layout="interleaved")
    odd = dataclasses.replace(mx.get_format("mxfp6_e2m3"), name="fp6_blocks_of_3", block_size=3)
    with pytest.raises(InputError, match="whole bytes; 3 x 6 bits"):
        cuda.quantize(x, odd, layout="fp6_4in3")


def _mutated(monkeypatch, change):
    real = api.constants.packing_constants

    def mutated(*args):
        return {**real(*args), **change}

    monkeypatch.setattr(api.constants, "packing_constants", mutated)


def test_harness_reports_mismatches_when_the_nibble_order_is_swapped(monkeypatch):
    x = _input((2, 64), torch.float32, 3)
    assert diffcheck.packed_mismatches(x, "mxfp4_e2m1", "nibble_lo_first") == 0
    _mutated(monkeypatch, {"SHIFT0": 4, "SHIFT_STEP": -4})  # nibble_hi_first's shifts
    assert diffcheck.packed_mismatches(x, "mxfp4_e2m1", "nibble_lo_first") > 0


def test_harness_reports_mismatches_when_reversed_tiles_keep_the_row_major_lane_order(monkeypatch):
    x = _input((40, 36), torch.float32, 4)
    assert diffcheck.packed_mismatches(x, "mxfp8_e4m3", "byte", axis=(1, 0)) == 0
    _mutated(monkeypatch, {"TILE_T": 0})
    assert diffcheck.packed_mismatches(x, "mxfp8_e4m3", "byte", axis=(1, 0)) > 0



def test_selfcheck_packed_part_runs_and_counts_zero_on_a_small_input(monkeypatch, capsys):
    from mxemu.cuda import selfcheck

    monkeypatch.setattr(selfcheck, "FORMATS", ("mxint8",))
    monkeypatch.setattr(selfcheck, "PACKED_N", 1024)
    assert selfcheck.packed_layouts(torch.device(DEVICE)) == 0
    assert capsys.readouterr().out.count("mismatched bytes=0") == len(_layouts("mxint8"))
