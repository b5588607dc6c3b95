"""Packed quantize and dequantize of the Triton kernels (mxemu.cuda.quantize(..., layout=...),
mxemu.cuda.dequantize_packed): the bytes of mxemu.packing.

The oracle of quantize is `mxemu.array.pack_array(mxemu.quantize(x), layout, scale_layout)` on the
numpy copy of the same data; packed outputs are compared byte for byte and unpacked back to the
MXArray. The oracle of dequantize_packed is that MXArray's `dequantize(dtype)` (the array
`unpack_array` rebuilds from those bytes), compared bit for bit. Without a GPU the kernels run
under the Triton interpreter on small CPU tensors.
"""

import dataclasses
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
from mxemu.array import pack_array, unpack_array  # noqa: E402
from mxemu.cuda import api  # noqa: E402
from mxemu.cuda.checks import diffcheck  # noqa: E402
from mxemu.errors import BackendError, InputError  # noqa: E402
from mxemu.packing import LAYOUTS  # noqa: E402

DEVICE = "cuda" if GPU else "cpu"
FORMATS = api.triton_formats()
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
    # and a last program whose second block lies beyond the array (masked), written and read back.
    monkeypatch.setattr(api, "INTERPRETER_LANES_PER_PROGRAM", 64)
    monkeypatch.setattr(api, "GPU_LANES_PER_PROGRAM", 64)
    for i, (shape, axis, dtype, scale_layout) in enumerate(CASES):
        x = _input(shape, dtype, 20 + i)
        for fmt, layout in (("mxfp4_e2m1", "nibble_hi_first"), ("mxfp6_e2m3", "fp6_4in3")):
            assert diffcheck.packed_mismatches(x, fmt, layout, scale_layout, axis=axis) == 0, (fmt, shape, axis)
            assert diffcheck.packed_dequantize_mismatches(x, fmt, layout, scale_layout, axis=axis) == 0, (fmt, shape)


def test_packed_quantize_with_seeded_stochastic_rounding_and_another_preset():
    x = _input((4, 64), torch.bfloat16, 9)
    pol = mx.get_policy("torchao").replace(rounding="stochastic")
    assert diffcheck.packed_mismatches(x, "mxfp4_e2m1", "nibble_lo_first", policy=pol, seed=7) == 0
    pol = api.triton_policy(mx.get_policy("microxcaling"))
    assert diffcheck.packed_mismatches(x, "mxfp6_e3m2", "fp6_4in3", "interleaved", pol, axis=0) == 0


def test_bad_layouts_raise_typed_errors_that_name_what_is_accepted():
    x = torch.ones(32, device=DEVICE)
    with pytest.raises(InputError, match=r"unknown packing layout 'nibble'.*nibble_lo_first"):
        cuda.quantize(x, "mxfp4_e2m1", layout="nibble")
    with pytest.raises(InputError, match=r"'fp6_4in3' needs bits == 6, got 4-bit codes; layouts for 4 bits: byte, "
                                         r"byte_msb, nibble_lo_first, nibble_hi_first, bitstream_le"):
        cuda.quantize(x, "mxfp4_e2m1", layout="fp6_4in3")
    with pytest.raises(InputError, match="'nibble_hi_first' needs bits == 4, got 8-bit codes"):
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


def _to_device(packed):
    if isinstance(packed, tuple):
        return tuple(torch.from_numpy(p).to(DEVICE) for p in packed)
    return torch.from_numpy(packed).to(DEVICE)


def _value_bits(values) -> np.ndarray:
    a = diffcheck.to_numpy(values) if isinstance(values, torch.Tensor) else values
    return a.view(np.int32 if a.dtype.itemsize == 4 else np.int16)


OUT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
NUMPY_DTYPES = {t: diffcheck.to_numpy(torch.empty(0, dtype=t)).dtype for t in OUT_DTYPES}


@pytest.mark.parametrize("fmt", FORMATS)
def test_packed_dequantize_is_bit_equal_to_the_numba_dequantize_of_the_unpacked_array(fmt):
    # Every layout taking the width x both scale layouts x every blocking; the output dtype turns
    # with the (blocking, scale layout) pair, so each layout is read into all three dtypes.
    for i, (shape, axis, dtype, _) in enumerate(CASES):
        q = mx.quantize(diffcheck.to_numpy(_input(shape, dtype, i)), fmt, axis)
        for j, scale_layout in enumerate(("separate", "interleaved")):
            out_dtype = OUT_DTYPES[(i + j) % len(OUT_DTYPES)]
            ref = _value_bits(q.dequantize(NUMPY_DTYPES[out_dtype]))
            for layout in _layouts(fmt):
                packed = _to_device(pack_array(q, layout, scale_layout))
                got = cuda.dequantize_packed(packed, fmt, shape, axis, out_dtype, layout, scale_layout)
                assert got.dtype == out_dtype and tuple(got.shape) == shape
                assert np.array_equal(_value_bits(got), ref), (layout, scale_layout, shape, axis, out_dtype)


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
    from mxemu.cuda.checks import selfcheck

    monkeypatch.setattr(selfcheck, "FORMATS", ("mxint8",))
    monkeypatch.setattr(selfcheck, "PACKED_N", 1024)
    assert selfcheck.packed_layouts(torch.device(DEVICE)) == 0
    assert capsys.readouterr().out.count("mismatched bytes=0  dequantized values=0") == len(_layouts("mxint8"))


def test_packed_quantize_then_packed_dequantize_on_the_device_gives_the_numba_values():
    for i, (shape, axis, dtype, scale_layout) in enumerate(CASES):
        x = _input(shape, dtype, 30 + i)
        for fmt, layout in (("mxfp4_e2m1", "nibble_lo_first"), ("mxfp6_e3m2", "bitstream_le"), ("mxint8", "byte")):
            packed = cuda.quantize(x, fmt, axis, layout=layout, scale_layout=scale_layout)
            y = cuda.dequantize_packed(packed, fmt, x.shape, axis, dtype, layout, scale_layout)
            ref = mx.quantize(diffcheck.to_numpy(x), fmt, axis).dequantize(NUMPY_DTYPES[dtype])
            assert np.array_equal(_value_bits(y), _value_bits(ref)), (fmt, layout, shape, axis)


def test_packed_dequantize_raises_typed_errors_that_say_what_is_accepted():
    x = torch.ones(3, 70, device=DEVICE)
    packed, scales = cuda.quantize(x, "mxfp4_e2m1", layout="nibble_lo_first")
    records = cuda.quantize(x, "mxfp4_e2m1", layout="nibble_lo_first", scale_layout="interleaved")

    def deq(data, layout="nibble_lo_first", scale_layout="separate", fmt="mxfp4_e2m1", shape=(3, 70), **kw):
        return cuda.dequantize_packed(data, fmt, shape, layout=layout, scale_layout=scale_layout, **kw)

    with pytest.raises(InputError, match=r"9 block\(s\) of 32 codes: layout 'nibble_lo_first' packs them into "
                                         r"144 bytes \(16 a block\), got 143"):
        deq((packed[:-1], scales))
    with pytest.raises(InputError, match=r"9 interleaved record\(s\) of 1 scale byte \+ 16 bytes in layout "
                                         r"'nibble_lo_first' take 153 bytes, got 144"):
        deq(packed, scale_layout="interleaved")
    with pytest.raises(InputError, match=r"need 9 scale bytes \(one a block\), got 8"):
        deq((packed, scales[:8]))
    with pytest.raises(InputError, match=r"shape \(3, 71\) of mxfp4_e2m1 .*'byte' packs them into 288 bytes"):
        deq((packed, scales), layout="byte", shape=(3, 71))
    with pytest.raises(InputError, match=r"unknown packing layout 'nibble'; accepted: byte, byte_msb"):
        deq((packed, scales), layout="nibble")
    with pytest.raises(InputError, match=r"needs a layout .*; for unpacked codes use dequantize"):
        deq((packed, scales), layout=None)
    with pytest.raises(InputError, match=r"'fp6_4in3' needs bits == 6, got 4-bit codes; "
                                         r"layouts for 4 bits: byte, byte_msb, nibble_lo_first"):
        deq((packed, scales), layout="fp6_4in3")
    with pytest.raises(InputError, match="unknown scale layout 'after'; accepted: separate, interleaved"):
        deq((packed, scales), scale_layout="after")
    with pytest.raises(InputError, match=r"'separate' takes the pair \(packed elements, scales\)"):
        deq(records)
    with pytest.raises(InputError, match=r"'interleaved' takes the one uint8 tensor of records"):
        deq((packed, scales), scale_layout="interleaved")
    with pytest.raises(InputError, match=r"packed elements must be a uint8 torch\.Tensor, got torch\.int32"):
        deq((packed.int(), scales))
    with pytest.raises(InputError, match=r"scales must be a uint8 torch\.Tensor, got ndarray"):
        deq((packed, scales.cpu().numpy()))
    with pytest.raises(InputError, match=r"dtype torch\.float64 is not accepted; accepted: float32, bfloat16, float16"):
        deq((packed, scales), dtype=torch.float64)
    with pytest.raises(InputError, match="shape must be a non-empty tuple of non-negative ints"):
        deq((packed, scales), shape=(3, -70))
    with pytest.raises(InputError, match=r"cannot dequantize an empty array \(shape \(0, 70\)\)"):
        deq((packed, scales), shape=(0, 70))
    with pytest.raises(InputError, match="nvfp4 has a non-E8M0 or per-tensor scale; the Triton kernels cover"):
        deq((packed, scales), fmt="nvfp4")
    with pytest.raises(BackendError, match="packed elements is on meta; the Triton kernels run on CUDA tensors"):
        deq((packed.to("meta"), scales))


def test_packed_dequantize_refuses_elements_and_scales_on_two_devices(monkeypatch):
    x = torch.ones(32, device=DEVICE)
    packed, scales = cuda.quantize(x, "mxint8", layout="byte")
    # Any second device will do: let it past the per-tensor device check to reach the pairing check.
    monkeypatch.setattr(api, "check_device", lambda t, what="x": None)
    with pytest.raises(InputError, match=f"packed elements are on {packed.device} but scales on meta"):
        cuda.dequantize_packed((packed, scales.to("meta")), "mxint8", (32,))


def _mutated_unpacking(monkeypatch, change):
    real = api._unpacking_constants

    def mutated(layout, *args):
        consts = real(layout, *args)
        return {**consts, **change} if layout is not None else consts

    monkeypatch.setattr(api, "_unpacking_constants", mutated)


def test_harness_reports_mismatches_when_packed_dequantize_reads_the_nibbles_swapped(monkeypatch):
    x = _input((2, 64), torch.float32, 5)
    assert diffcheck.packed_dequantize_mismatches(x, "mxfp4_e2m1", "nibble_lo_first") == 0
    _mutated_unpacking(monkeypatch, {"SHIFT0": 4, "SHIFT_STEP": -4})  # nibble_hi_first's shifts
    assert diffcheck.packed_dequantize_mismatches(x, "mxfp4_e2m1", "nibble_lo_first") > 0


def test_harness_reports_mismatches_when_packed_dequantize_masks_one_bit_too_few(monkeypatch):
    x = _input((2, 64), torch.float32, 6)
    assert diffcheck.packed_dequantize_mismatches(x, "mxfp6_e2m3", "fp6_4in3", "interleaved") == 0
    _mutated_unpacking(monkeypatch, {"CODE_MASK": 0x1F})
    assert diffcheck.packed_dequantize_mismatches(x, "mxfp6_e2m3", "fp6_4in3", "interleaved") > 0


def test_harness_reports_mismatches_when_packed_dequantize_reads_reversed_tiles_row_major(monkeypatch):
    x = _input((40, 36), torch.bfloat16, 7)
    assert diffcheck.packed_dequantize_mismatches(x, "mxfp8_e4m3", "byte", axis=(1, 0)) == 0
    _mutated_unpacking(monkeypatch, {"TILE_T": 0})
    assert diffcheck.packed_dequantize_mismatches(x, "mxfp8_e4m3", "byte", axis=(1, 0)) > 0
