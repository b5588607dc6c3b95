"""Byte layouts of codes and MX blocks: exact round trips, hand-computed known answers, strict validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu.array import MXArray, pack_array, unpack_array
from mxemu.blocking import to_blocks
from mxemu.errors import FileFormatError, InputError
from mxemu.packing import (
    LAYOUTS,
    SCALE_LAYOUTS,
    pack_codes,
    pack_mx,
    packed_size,
    unpack_codes,
    unpack_mx,
)

PAIRS = [(layout, bits) for layout, widths in LAYOUTS.items() for bits in widths]
WIDTHS = range(2, 9)
SETTINGS = settings(max_examples=60, deadline=None)


def reference_pack(codes: list[int], bits: int, layout: str) -> bytes:
    """The layouts as docs/layouts.md defines them, one bit at a time (independent of mxemu.packing)."""
    if layout == "byte":
        return bytes(codes)
    if layout == "byte_msb":
        return bytes(c << (8 - bits) for c in codes)
    if layout == "nibble_hi_first":
        out = bytearray((len(codes) + 1) // 2)
        for i, c in enumerate(codes):
            out[i // 2] |= c << (4 if i % 2 == 0 else 0)
        return bytes(out)
    # bitstream_le and the two layouts that coincide with it (nibble_lo_first, fp6_4in3)
    out = bytearray((len(codes) * bits + 7) // 8)
    for i, c in enumerate(codes):
        for b in range(bits):
            pos = i * bits + b
            out[pos // 8] |= ((c >> b) & 1) << (pos % 8)
    return bytes(out)


@st.composite
def layout_and_codes(draw: st.DrawFn, max_len: int = 130) -> tuple[str, int, np.ndarray]:
    layout, bits = draw(st.sampled_from(PAIRS))
    codes = draw(st.lists(st.integers(0, (1 << bits) - 1), max_size=max_len))
    return layout, bits, np.array(codes, np.uint8)


def test_the_layouts_that_accept_each_width_2_to_8() -> None:
    accepting = {bits: sorted(name for name, widths in LAYOUTS.items() if bits in widths) for bits in WIDTHS}
    general = ["bitstream_le", "byte", "byte_msb"]
    assert accepting == {2: general, 3: general, 4: sorted([*general, "nibble_hi_first", "nibble_lo_first"]),
                         5: general, 6: sorted([*general, "fp6_4in3"]), 7: general, 8: general}


@SETTINGS
@given(layout_and_codes())
def test_unpack_of_pack_returns_the_codes_exactly(case: tuple[str, int, np.ndarray]) -> None:
    layout, bits, codes = case
    packed = pack_codes(codes, bits, layout)
    assert packed.dtype == np.uint8 and packed.size == packed_size(codes.size, bits, layout)
    out = unpack_codes(packed, bits, codes.size, layout)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, codes)


@pytest.mark.clause("ext.packing")
@SETTINGS
@given(layout_and_codes())
def test_pack_equals_the_bit_by_bit_definition(case: tuple[str, int, np.ndarray]) -> None:
    layout, bits, codes = case
    assert pack_codes(codes, bits, layout).tobytes() == reference_pack(codes.tolist(), bits, layout)


@pytest.mark.parametrize("layout, bits", PAIRS)
def test_round_trip_at_every_length_up_to_two_groups(layout: str, bits: int) -> None:
    rng = np.random.default_rng(bits)
    for n in range(0, 20):  # odd and even lengths, every remainder modulo the group size
        codes = rng.integers(0, 1 << bits, n).astype(np.uint8)
        np.testing.assert_array_equal(unpack_codes(pack_codes(codes, bits, layout), bits, n, layout), codes)


@SETTINGS
@given(st.sampled_from(PAIRS), st.integers(0, 40), st.randoms(use_true_random=False))
def test_pack_of_unpack_returns_valid_bytes_exactly(pair: tuple[str, int], n: int, rnd) -> None:
    layout, bits = pair
    codes = np.array([rnd.randrange(1 << bits) for _ in range(n)], np.uint8)
    data = pack_codes(codes, bits, layout)
    assert pack_codes(unpack_codes(data, bits, n, layout), bits, layout).tobytes() == data.tobytes()


@SETTINGS
@given(st.lists(st.integers(0, 15), max_size=50))
def test_nibble_lo_first_is_bitstream_le_at_4_bits(codes: list[int]) -> None:
    a = np.array(codes, np.uint8)
    assert pack_codes(a, 4, "nibble_lo_first").tobytes() == pack_codes(a, 4, "bitstream_le").tobytes()


@SETTINGS
@given(st.lists(st.integers(0, 63), max_size=50))
def test_fp6_4in3_is_bitstream_le_at_6_bits(codes: list[int]) -> None:
    a = np.array(codes, np.uint8)
    assert pack_codes(a, 6, "fp6_4in3").tobytes() == pack_codes(a, 6, "bitstream_le").tobytes()


def test_pack_accepts_any_shape_in_c_order() -> None:
    codes = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    assert pack_codes(codes, 4, "nibble_lo_first").tolist() == [0x21, 0x43, 0x65]
    assert pack_codes(codes.T, 4, "nibble_lo_first").tolist() == [0x41, 0x52, 0x63]


# Known answers, written by hand from the definitions in docs/layouts.md.
KNOWN = [
    # fp4 [1, 2, 3], element 2i low: byte0 = 1 | 2 << 4 = 0x21; byte1 = 3 | pad 0 << 4 = 0x03
    ([1, 2, 3], 4, "nibble_lo_first", [0x21, 0x03]),
    # element 2i high: byte0 = 1 << 4 | 2 = 0x12; byte1 = 3 << 4 | pad 0 = 0x30
    ([1, 2, 3], 4, "nibble_hi_first", [0x12, 0x30]),
    # int4 -1 (two's complement 0xF) then +1: 0xF | 0x1 << 4 = 0x1F
    ([0xF, 0x1], 4, "nibble_lo_first", [0x1F]),
    # fp6 [1, 2, 3, 4]: 24-bit word = 1 | 2 << 6 | 3 << 12 | 4 << 18 = 0x103081, little-endian 81 30 10
    ([1, 2, 3, 4], 6, "fp6_4in3", [0x81, 0x30, 0x10]),
    # fp6 [63, 0, 0, 63]: word = 0x3F | 0x3F << 18 = 0xFC003F -> 3F 00 FC
    ([63, 0, 0, 63], 6, "fp6_4in3", [0x3F, 0x00, 0xFC]),
    # fp6 [1, 2, 3, 4, 5]: 30 bits -> 4 bytes; fifth code at bits 24-29 = byte 3 low bits: 05
    ([1, 2, 3, 4, 5], 6, "fp6_4in3", [0x81, 0x30, 0x10, 0x05]),
    # fp6 as code << 2
    ([1, 63], 6, "byte_msb", [0x04, 0xFC]),
    # fp4 as code << 4
    ([1, 15], 4, "byte_msb", [0x10, 0xF0]),
    ([1, 63], 6, "byte", [0x01, 0x3F]),
    # 3-bit [1, 2, 3, 4, 5]: word = 1 | 2 << 3 | 3 << 6 | 4 << 9 | 5 << 12 = 0x58D1 -> D1 58 (15 bits, 1 pad bit)
    ([1, 2, 3, 4, 5], 3, "bitstream_le", [0xD1, 0x58]),
    # 2-bit [3, 0, 1, 2, 1]: byte0 = 3 | 0 << 2 | 1 << 4 | 2 << 6 = 0x93; byte1 = 1
    ([3, 0, 1, 2, 1], 2, "bitstream_le", [0x93, 0x01]),
    # 7-bit [0x7F, 1]: bits 0-6 = 1111111, bits 7-13 = 0000001 -> byte0 = 0x7F | 1 << 7 = 0xFF, byte1 = 0x00
    ([0x7F, 0x01], 7, "bitstream_le", [0xFF, 0x00]),
    # 5-bit [0x1F, 0x10]: bits 0-4 = 11111, bits 5-9 = 00001 (LSB first) -> byte0 = 0x1F | 0 << 5 = 0x1F,
    # byte1 bit 1 (global bit 9) = 1 -> 0x02
    ([0x1F, 0x10], 5, "bitstream_le", [0x1F, 0x02]),
    ([200, 7], 8, "bitstream_le", [200, 7]),
]


@pytest.mark.parametrize("codes, bits, layout, expected", KNOWN)
@pytest.mark.clause("ext.packing")
def test_known_answer(codes: list[int], bits: int, layout: str, expected: list[int]) -> None:
    assert pack_codes(np.array(codes, np.uint8), bits, layout).tolist() == expected
    assert unpack_codes(bytes(expected), bits, len(codes), layout).tolist() == codes


def test_unknown_layout_is_rejected_and_the_message_lists_the_accepted_ones() -> None:
    with pytest.raises(InputError, match=r"unknown packing layout 'nibble'.*byte, byte_msb, nibble_lo_first"):
        pack_codes(np.zeros(2, np.uint8), 4, "nibble")
    with pytest.raises(InputError, match="unknown packing layout"):
        unpack_codes(b"\0", 4, 2, "NIBBLE_LO_FIRST")


@pytest.mark.parametrize("layout, bits", [("nibble_lo_first", 3), ("nibble_hi_first", 8), ("fp6_4in3", 4),
                                          ("fp6_4in3", 8)])
def test_layout_refuses_a_width_it_does_not_hold(layout: str, bits: int) -> None:
    with pytest.raises(InputError, match=f"layout '{layout}' needs bits == "):
        pack_codes(np.zeros(4, np.uint8), bits, layout)
    with pytest.raises(InputError, match="needs bits =="):
        unpack_codes(b"\0\0\0", bits, 4, layout)


@pytest.mark.parametrize("bits", [0, 9, -1, 4.0, True])
def test_width_outside_1_to_8_is_rejected(bits: object) -> None:
    with pytest.raises(InputError, match=r"bits must be an integer in \[1, 8\]"):
        pack_codes(np.zeros(2, np.uint8), bits, "bitstream_le")


@pytest.mark.parametrize("layout, bits", PAIRS)
def test_a_code_wider_than_bits_is_rejected(layout: str, bits: int) -> None:
    if bits == 8:
        codes = np.array([0, 256], np.int64)
    else:
        codes = np.array([0, 1, 1 << bits], np.uint8)
    with pytest.raises(InputError, match=r"codes out of range .* first at flat index"):
        pack_codes(codes, bits, layout)


def test_negative_or_float_codes_are_rejected() -> None:
    with pytest.raises(InputError, match="out of range"):
        pack_codes(np.array([-1], np.int8), 4, "byte")
    with pytest.raises(InputError, match="integer array"):
        pack_codes(np.array([1.0]), 4, "byte")


@pytest.mark.parametrize("layout, bits", PAIRS)
def test_unpack_rejects_data_of_the_wrong_length(layout: str, bits: int) -> None:
    data = pack_codes(np.ones(9, np.uint8), bits, layout)
    with pytest.raises(FileFormatError, match="truncated"):
        unpack_codes(data[:-1], bits, 9, layout)
    with pytest.raises(FileFormatError, match="trailing bytes"):
        unpack_codes(np.append(data, np.uint8(0)), bits, 9, layout)


@pytest.mark.parametrize("layout, bits, count, data, what", [
    ("nibble_lo_first", 4, 3, [0x21, 0x13], "padding bits"),
    ("nibble_hi_first", 4, 3, [0x12, 0x31], "padding nibble"),
    ("fp6_4in3", 6, 1, [0x41], "padding bits"),
    ("bitstream_le", 3, 5, [0xD1, 0xD8], "padding bits"),
    ("byte", 4, 2, [0x01, 0x10], "above the largest 4-bit code"),
    ("byte_msb", 6, 2, [0x04, 0x01], "low 2 bit"),
])
def test_unpack_rejects_bits_the_layout_keeps_zero(layout: str, bits: int, count: int, data: list[int],
                                                   what: str) -> None:
    with pytest.raises(FileFormatError, match=what):
        unpack_codes(bytes(data), bits, count, layout)


def test_unpack_rejects_non_uint8_data_and_bad_counts() -> None:
    with pytest.raises(InputError, match="uint8"):
        unpack_codes(np.zeros(2, np.int16), 4, 4, "nibble_lo_first")
    with pytest.raises(InputError, match="count"):
        unpack_codes(b"", 4, -1, "nibble_lo_first")


# Blocks: scales separate or interleaved as records.

def test_interleaved_record_known_answer() -> None:
    codes = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.uint8)
    scales = np.array([127, 130], np.uint8)
    # record = scale byte, then the 4 fp4 codes of the block nibble_lo_first: 0x21 0x43 | 0x65 0x87
    assert pack_mx(codes, scales, 4, 4, "nibble_lo_first", "interleaved").tolist() == \
        [127, 0x21, 0x43, 130, 0x65, 0x87]
    # fp6 4in3: block [1, 2, 3, 4] -> 81 30 10 (see KNOWN), block [0]*4 -> 00 00 00
    fp6 = np.array([1, 2, 3, 4, 0, 0, 0, 0], np.uint8)
    assert pack_mx(fp6, scales, 4, 6, "fp6_4in3", "interleaved").tolist() == \
        [127, 0x81, 0x30, 0x10, 130, 0, 0, 0]
    elements, s = pack_mx(codes, scales, 4, 4, "nibble_hi_first", "separate")
    assert elements.tolist() == [0x12, 0x34, 0x56, 0x78] and s.tolist() == [127, 130]


@SETTINGS
@given(st.sampled_from(PAIRS), st.sampled_from(SCALE_LAYOUTS), st.integers(1, 40), st.integers(0, 6),
       st.randoms(use_true_random=False))
def test_unpack_mx_of_pack_mx_returns_rows_and_scales_exactly(pair: tuple[str, int], scale_layout: str, k: int,
                                                              n: int, rnd) -> None:
    layout, bits = pair
    if scale_layout == "interleaved" and layout not in ("byte", "byte_msb"):
        k = 8 // int(np.gcd(bits, 8)) * (1 + k % 5)  # a block size whose packed size is whole bytes
    codes = np.array([rnd.randrange(1 << bits) for _ in range(n * k)], np.uint8).reshape(n, k)
    scales = np.array([rnd.randrange(256) for _ in range(n)], np.uint8)
    packed = pack_mx(codes, scales, k, bits, layout, scale_layout)
    rows, s = unpack_mx(packed, n, k, bits, layout, scale_layout)
    np.testing.assert_array_equal(rows, codes)
    np.testing.assert_array_equal(s, scales)
    if scale_layout == "interleaved":
        record = 1 + packed_size(k, bits, layout)
        assert packed.size == n * record
        for i in range(n):  # record i is scale i then exactly what pack_codes makes of block i
            assert packed[i * record] == scales[i]
            assert packed[i * record + 1:(i + 1) * record].tobytes() == pack_codes(codes[i], bits, layout).tobytes()


def test_interleaved_refuses_blocks_that_end_inside_a_byte() -> None:
    with pytest.raises(InputError, match=r"whole bytes.*3 x 6 bits = 18 bits"):
        pack_mx(np.zeros(6, np.uint8), np.zeros(2, np.uint8), 3, 6, "fp6_4in3", "interleaved")
    packed, _ = pack_mx(np.zeros(6, np.uint8), np.zeros(2, np.uint8), 3, 6, "fp6_4in3", "separate")
    assert packed.size == 5  # 36 bits as one stream


def test_pack_mx_checks_block_counts_and_scale_dtype() -> None:
    with pytest.raises(InputError, match=r"2 scale\(s\) need 8 codes"):
        pack_mx(np.zeros(7, np.uint8), np.zeros(2, np.uint8), 4, 4, "byte")
    with pytest.raises(InputError, match="scales must be uint8"):
        pack_mx(np.zeros(8, np.uint8), np.zeros(2, np.int32), 4, 4, "byte")
    with pytest.raises(InputError, match=r"unknown scale layout 'inline'.*separate, interleaved"):
        pack_mx(np.zeros(8, np.uint8), np.zeros(2, np.uint8), 4, 4, "byte", "inline")
    with pytest.raises(FileFormatError, match="interleaved records of 3 bytes take 6 bytes, got 5"):
        unpack_mx(bytes(5), 2, 4, 4, "nibble_lo_first", "interleaved")
    with pytest.raises(FileFormatError, match="2 blocks need 2 scale bytes, got 1"):
        unpack_mx((bytes(4), bytes(1)), 2, 4, 4, "nibble_lo_first", "separate")


# MXArrays: block-row order of to_blocks, scales in scale_rows() order.

MX_FORMATS = mx.formats(kind="mx")


def test_pack_array_known_answer_for_a_column_blocked_array() -> None:
    # shape (2, 3) blocked along axis 0 in blocks of 32: three blocks (the columns), each padded with 30 zero codes
    codes = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    scales = np.array([[120, 121, 122]], np.uint8)
    q = MXArray(codes=codes, scales=scales, format=mx.get_format("mxfp4_e2m1"), policy=mx.get_policy(), axis=(0,))
    packed = pack_array(q, "nibble_lo_first", "interleaved")
    # record j: scale j, then column j's two codes in one byte (c0j | c1j << 4), then 15 padding bytes
    expected = []
    for j, s in enumerate([120, 121, 122]):
        expected += [s, codes[0, j] | codes[1, j] << 4] + [0] * 15
    assert packed.tolist() == expected
    r = unpack_array(packed, "mxfp4_e2m1", (2, 3), 0, None, "nibble_lo_first", "interleaved")
    np.testing.assert_array_equal(r.codes, codes)
    np.testing.assert_array_equal(r.scales, scales)


def _quantized(fmt: str, shape: tuple[int, ...], axis: int | tuple[int, int], seed: int) -> MXArray:
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 4
    return mx.quantize(x, fmt, axis=axis)


@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_unpack_array_of_pack_array_is_the_same_array_in_every_layout(fmt: str) -> None:
    bits = mx.get_format(fmt).element.bits
    for shape, axis in [((3, 70), -1), ((70, 3), 0), ((2, 33, 5), 1), ((40, 70), (0, 1))]:
        q = _quantized(fmt, shape, axis, seed=len(shape))
        rows, _ = to_blocks(q.codes, q.axis, q.block_size)
        for layout in (name for name, widths in LAYOUTS.items() if bits in widths):
            for scale_layout in SCALE_LAYOUTS:
                packed = pack_array(q, layout, scale_layout)
                if scale_layout == "separate":
                    assert packed[0].tobytes() == pack_codes(rows, bits, layout).tobytes()
                    assert packed[1].tobytes() == q.scale_rows().tobytes()
                r = unpack_array(packed, fmt, q.shape, q.axis, q.policy, layout, scale_layout)
                assert r.format == q.format and r.policy == q.policy and r.axis == q.axis
                np.testing.assert_array_equal(r.codes, q.codes)
                np.testing.assert_array_equal(r.scales, q.scales)
                np.testing.assert_array_equal(r.dequantize(), q.dequantize())


def test_unpack_array_rejects_a_nonzero_padding_lane() -> None:
    q = _quantized("mxint8", (5,), -1, seed=0)
    elements, scales = pack_array(q)
    elements = elements.copy()
    elements[7] = 1  # lane 7 of the only block lies beyond the 5 real elements
    with pytest.raises(FileFormatError, match="padding lane"):
        unpack_array((elements, scales), "mxint8", (5,))


def test_pack_array_rejects_what_is_not_a_consistent_mxarray() -> None:
    with pytest.raises(InputError, match="expected an MXArray"):
        pack_array(np.zeros(4, np.uint8))
    q = _quantized("mxfp4_e2m1", (3, 70), -1, seed=1)
    # An MXArray whose parts do not fit is refused when it is built, before anything can pack it.
    with pytest.raises(InputError, match=r"scales have shape \(3, 2\).*need \(3, 3\)"):
        MXArray(codes=q.codes, scales=q.scales[:, :2], format=q.format, policy=q.policy, axis=q.axis)
    with pytest.raises(InputError, match="codes out of range for 4-bit"):
        MXArray(codes=q.codes | 0x10, scales=q.scales, format=q.format, policy=q.policy, axis=q.axis)
    with pytest.raises(InputError, match="needs bits == 6"):
        pack_array(q, "fp6_4in3")
