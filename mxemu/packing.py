"""Named byte layouts of element codes and scales: pack/unpack codes and rows of MX blocks, bytes only."""

from __future__ import annotations

import math

import numpy as np

from mxemu.errors import FileFormatError, InputError

# Layout name -> the element widths it accepts. docs/layouts.md draws each one.
LAYOUTS: dict[str, tuple[int, ...]] = {
    "byte": tuple(range(1, 9)),             # one code per byte, in the low `bits` bits
    "byte_msb": tuple(range(1, 9)),         # one code per byte, in the high `bits` bits (code << (8 - bits))
    "nibble_lo_first": (4,),                # element 2i in the low nibble (torchao, tt-llk) == bitstream_le, 4 bits
    "nibble_hi_first": (4,),                # element 2i in the high nibble
    "fp6_4in3": (6,),                       # 4 elements in 3 bytes, little-endian == bitstream_le, 6 bits
    "bitstream_le": tuple(range(1, 9)),     # element i at bit offset i * bits, LSB-first, little-endian
}
SCALE_LAYOUTS: tuple[str, ...] = ("separate", "interleaved")
# Layouts that are `bitstream_le` at one width: the same bytes, so they share its code.
BITSTREAM_ALIASES: dict[str, int] = {"nibble_lo_first": 4, "fp6_4in3": 6}


def check_layout(layout: object, bits: object, unpacked: bool = False) -> int:
    """Validate a layout name and a code width it takes; returns the width as an int.

    `unpacked`: None (no packing) is accepted too, as by `mxemu.cuda.quantize`; the width is still checked.
    """
    if layout is None and unpacked:
        layout = "byte"
    elif not isinstance(layout, str) or layout not in LAYOUTS:
        raise InputError(f"unknown packing layout {layout!r}; accepted: {', '.join(LAYOUTS)}"
                         + (" (or None: unpacked)" if unpacked else ""))
    if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or not 1 <= bits <= 8:
        raise InputError(f"bits must be an integer in [1, 8], got {bits!r}")
    if int(bits) not in LAYOUTS[layout]:
        widths = LAYOUTS[layout]
        accepted = f"bits == {widths[0]}" if len(widths) == 1 else f"bits in [{widths[0]}, {widths[-1]}]"
        fits = [name for name, w in LAYOUTS.items() if bits in w]
        raise InputError(f"layout {layout!r} needs {accepted}, got {bits}-bit codes; layouts for {bits} bits: "
                         f"{', '.join(fits)}")
    return int(bits)


def check_scale_layout(scale_layout: object) -> str:
    """Validate a scale layout name: the scales apart from the codes, or each block's scale byte before them."""
    if not isinstance(scale_layout, str) or scale_layout not in SCALE_LAYOUTS:
        raise InputError(f"unknown scale layout {scale_layout!r}; accepted: {', '.join(SCALE_LAYOUTS)}")
    return scale_layout


def _check_count(count: object, what: str = "count") -> int:
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 0:
        raise InputError(f"{what} must be a non-negative integer, got {count!r}")
    return int(count)


def _codes_u8(codes: object, bits: int) -> np.ndarray:
    """Codes as a flat C-order uint8 array; `InputError` unless integers in [0, 2^bits)."""
    a = np.asarray(codes)
    if a.dtype.kind not in "ui":
        raise InputError(f"codes must be an integer array (uint8), got dtype {a.dtype}")
    flat = a.reshape(-1)
    # a reduction or two in the usual case; the indexes of bad codes only for the message
    if flat.size and (int(flat.max()) >= 1 << bits or (a.dtype.kind == "i" and int(flat.min()) < 0)):
        bad = np.flatnonzero((flat < 0) | (flat >= (1 << bits)))
        i = int(bad[0])
        raise InputError(f"codes out of range for {bits}-bit elements: {bad.size} code(s) outside "
                         f"[0, {(1 << bits) - 1}], first at flat index {i} (value {int(flat[i])})")
    return np.ascontiguousarray(flat, dtype=np.uint8)


def _data_u8(data: object) -> np.ndarray:
    """Packed data (uint8 array or bytes-like) as a flat uint8 array."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, np.uint8)
    a = np.asarray(data)
    if a.dtype != np.uint8:
        raise InputError(f"packed data must be uint8 (or bytes), got dtype {a.dtype}")
    return a.reshape(-1)


def packed_size(count: int, bits: int, layout: str) -> int:
    """Bytes that `count` codes of `bits` bits take in `layout` (bit layouts round up to whole bytes).

    >>> packed_size(3, 4, "nibble_lo_first"), packed_size(5, 6, "fp6_4in3"), packed_size(5, 6, "byte")
    (2, 4, 5)
    """
    bits = check_layout(layout, bits)
    count = _check_count(count)
    if layout in ("byte", "byte_msb"):
        return count
    return -(-count * bits // 8)


def _group(bits: int) -> tuple[int, int, np.dtype]:
    """(elements, bytes, word) of the smallest whole-byte group of a bit stream: lcm(bits, 8) bits, built
    as one little-endian word of the narrowest unsigned type that holds them (one byte for widths 1, 2,
    4 and 8)."""
    g = 8 // math.gcd(bits, 8)
    nb = g * bits // 8
    return g, nb, np.dtype(np.uint8 if nb == 1 else np.uint32 if nb <= 4 else np.uint64).newbyteorder("<")


def _bitstream_pack(c: np.ndarray, bits: int) -> np.ndarray:
    # Groups of g elements fill exactly nb <= 7 bytes: each group's word, its low nb bytes kept.
    g, nb, word = _group(bits)
    n = c.size
    groups = (c if n % g == 0 else np.concatenate([c, np.zeros(g - n % g, np.uint8)])).reshape(-1, g)
    words = groups[:, 0].astype(word)
    for j in range(1, g):  # over the <= 8 lanes of a group, not over elements
        words |= groups[:, j].astype(word) << word.type(j * bits)
    out = words.view(np.uint8).reshape(-1, word.itemsize)[:, :nb].reshape(-1)
    return np.ascontiguousarray(out[: -(-n * bits // 8)])


def _bitstream_unpack(d: np.ndarray, bits: int, count: int) -> np.ndarray:
    g, nb, word = _group(bits)
    ngroups = -(-count // g)
    flat = np.zeros(ngroups * nb, np.uint8)
    flat[: d.size] = d
    if nb == word.itemsize:
        buf = flat.reshape(ngroups, nb)
    else:
        buf = np.zeros((ngroups, word.itemsize), np.uint8)
        buf[:, :nb] = flat.reshape(ngroups, nb)
    words = buf.view(word).reshape(-1)
    if ngroups and int(words[-1]) >> (count * bits - (ngroups - 1) * g * bits):
        raise FileFormatError(f"padding bits after the last of {count} {bits}-bit codes are not zero")
    mask = word.type((1 << bits) - 1)
    lanes = np.empty((ngroups, g), np.uint8)
    for j in range(g):  # over the <= 8 lanes of a group, not over elements
        lanes[:, j] = (words >> word.type(j * bits)) & mask
    return np.ascontiguousarray(lanes.reshape(-1)[:count])


def pack_codes(codes: np.ndarray, bits: int, layout: str = "byte") -> np.ndarray:
    """Pack element codes (any shape, read in C order) into a flat uint8 array in a named layout.

    Layouts (docs/layouts.md draws each): "byte" one code per byte in the low bits; "byte_msb" one
    code per byte as code << (8 - bits); "nibble_lo_first" / "nibble_hi_first" two 4-bit codes per
    byte, element 2i in the low / high nibble; "fp6_4in3" four 6-bit codes in 3 bytes; "bitstream_le"
    any width, element i at bit offset i * bits, least significant bit first. "nibble_lo_first" and
    "fp6_4in3" are "bitstream_le" at 4 and 6 bits (the same bytes). A stream that ends inside a byte
    is padded with zero bits. Raises `InputError` for an unknown layout, a width the layout does not
    take, or a code outside [0, 2^bits).

    >>> pack_codes(np.array([1, 2, 3], np.uint8), 4, "nibble_lo_first").tolist()
    [33, 3]
    >>> [hex(b) for b in pack_codes(np.array([1, 2, 3, 4], np.uint8), 6, "fp6_4in3")]
    ['0x81', '0x30', '0x10']
    """
    bits = check_layout(layout, bits)
    c = _codes_u8(codes, bits)
    if layout == "byte":
        return c.copy()
    if layout == "byte_msb":
        return (c << np.uint8(8 - bits)).astype(np.uint8)
    if layout == "nibble_hi_first":
        pairs = np.zeros(-(-c.size // 2) * 2, np.uint8)
        pairs[: c.size] = c
        return ((pairs[0::2] << np.uint8(4)) | pairs[1::2]).astype(np.uint8)
    return _bitstream_pack(c, bits)  # bitstream_le and its aliases nibble_lo_first, fp6_4in3


def unpack_codes(data: np.ndarray | bytes, bits: int, count: int, layout: str = "byte") -> np.ndarray:
    """Inverse of `pack_codes`: `count` codes (flat uint8) from packed bytes.

    Raises `InputError` for bad arguments and `FileFormatError` when the data cannot be the packing
    of `count` codes: a wrong length, or bits set that the layout keeps zero (padding bits, the bits
    above a code in "byte", below it in "byte_msb"). So unpack accepts exactly what pack produces.

    >>> unpack_codes(bytes([0x21, 0x03]), 4, 3, "nibble_lo_first").tolist()
    [1, 2, 3]
    """
    bits = check_layout(layout, bits)
    count = _check_count(count)
    d = _data_u8(data)
    want = packed_size(count, bits, layout)
    if d.size != want:
        raise FileFormatError(f"{count} {bits}-bit codes in layout {layout!r} take {want} bytes, "
                              f"got {d.size} ({'truncated' if d.size < want else 'trailing bytes'})")
    if layout == "byte":
        bad = np.flatnonzero(d >> np.uint8(bits)) if bits < 8 else d[:0]
        if bad.size:
            raise FileFormatError(f"byte {int(bad[0])} holds {int(d[bad[0]]):#04x}, above the largest "
                                  f"{bits}-bit code {(1 << bits) - 1:#04x} ({bad.size} such byte(s))")
        return d.copy()
    if layout == "byte_msb":
        low = np.uint8((1 << (8 - bits)) - 1)
        bad = np.flatnonzero(d & low)
        if bad.size:
            raise FileFormatError(f"byte {int(bad[0])} holds {int(d[bad[0]]):#04x}: the low {8 - bits} bit(s) "
                                  f"of a byte_msb code must be zero ({bad.size} such byte(s))")
        return (d >> np.uint8(8 - bits)).astype(np.uint8)
    if layout == "nibble_hi_first":
        out = np.empty(d.size * 2, np.uint8)
        out[0::2] = d >> np.uint8(4)
        out[1::2] = d & np.uint8(0x0F)
        if count % 2 and out[count]:
            raise FileFormatError(f"padding nibble after the last of {count} 4-bit codes is not zero")
        return np.ascontiguousarray(out[:count])
    return _bitstream_unpack(d, bits, count)


def _check_mx_args(block_size: object, bits: object, layout: object, scale_layout: object) -> tuple[int, int]:
    bits = check_layout(layout, bits)
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or block_size < 1:
        raise InputError(f"block_size must be a positive integer, got {block_size!r}")
    check_scale_layout(scale_layout)
    if scale_layout == "interleaved" and layout not in ("byte", "byte_msb") and block_size * bits % 8:
        raise InputError(f"scale_layout 'interleaved' needs each block's packed elements to fill whole bytes; "
                         f"{block_size} x {bits} bits = {block_size * bits} bits is not a multiple of 8 "
                         f"in layout {layout!r}")
    return int(block_size), bits


def pack_mx(codes: np.ndarray, scales: np.ndarray, block_size: int, bits: int, layout: str = "byte",
            scale_layout: str = "separate") -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Pack blocks: `codes` holds n_blocks rows of `block_size` codes (any shape, C order), `scales` n_blocks bytes.

    "separate" returns (the rows packed as one stream in `layout`, the scales as uint8);
    "interleaved" returns one uint8 array of n_blocks records, each the block's scale byte followed by
    its packed elements. A record must end on a byte boundary so that block i starts at byte
    i * (1 + block_size * bits / 8) and the next scale byte is not shared with elements; so
    "interleaved" needs block_size * bits to be a multiple of 8 (always true for the byte layouts).
    For an MXArray, rows are `mxemu.blocking.to_blocks(codes, axis, block_size)` (blocked axes moved last,
    padded with code 0, 2-D tiles as rows of block_size^2) and scales `MXArray.scale_rows()`:
    see `mxemu.array.pack_array`.

    >>> pack_mx(np.array([1, 2, 3, 4], np.uint8), np.array([127, 126], np.uint8), 2, 4,
    ...         "nibble_lo_first", "interleaved").tolist()
    [127, 33, 126, 67]
    """
    k, bits = _check_mx_args(block_size, bits, layout, scale_layout)
    c = _codes_u8(codes, bits)
    s = np.asarray(scales)
    if s.dtype != np.uint8:
        raise InputError(f"scales must be uint8 codes, got dtype {s.dtype}")
    s = np.ascontiguousarray(s.reshape(-1))
    if c.size != s.size * k:
        raise InputError(f"{s.size} scale(s) need {s.size * k} codes ({s.size} blocks of {k}), got {c.size}")
    if scale_layout == "separate":
        return pack_codes(c, bits, layout), s.copy()
    # Each block fills whole bytes, so the packed stream splits into one run of bytes per block.
    body = pack_codes(c, bits, layout).reshape(s.size, packed_size(k, bits, layout))
    return np.ascontiguousarray(np.concatenate([s[:, None], body], axis=1).reshape(-1))


def unpack_mx(data: np.ndarray | bytes | tuple[np.ndarray, np.ndarray], n_blocks: int, block_size: int,
              bits: int, layout: str = "byte", scale_layout: str = "separate") -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `pack_mx`: (codes as (n_blocks, block_size) uint8 rows, scales as (n_blocks,) uint8).

    For "separate", `data` is the pair (packed elements, scales). Raises `FileFormatError` when the
    bytes cannot be what `pack_mx` wrote for these arguments (see `unpack_codes`).

    >>> rows, scales = unpack_mx(bytes([127, 33, 126, 67]), 2, 2, 4, "nibble_lo_first", "interleaved")
    >>> rows.tolist(), scales.tolist()
    ([[1, 2], [3, 4]], [127, 126])
    """
    k, bits = _check_mx_args(block_size, bits, layout, scale_layout)
    n = _check_count(n_blocks, "n_blocks")
    if scale_layout == "separate":
        if not isinstance(data, tuple) or len(data) != 2:
            raise InputError("scale_layout 'separate' unpacks a pair (packed elements, scales)")
        elements, s = _data_u8(data[0]), _data_u8(data[1])
        if s.size != n:
            raise FileFormatError(f"{n} blocks need {n} scale bytes, got {s.size}")
        return unpack_codes(elements, bits, n * k, layout).reshape(n, k), s.copy()
    d = _data_u8(data)
    record = 1 + packed_size(k, bits, layout)
    if d.size != n * record:
        raise FileFormatError(f"{n} interleaved records of {record} bytes take {n * record} bytes, got {d.size}")
    recs = d.reshape(n, record)
    codes = unpack_codes(np.ascontiguousarray(recs[:, 1:]).reshape(-1), bits, n * k, layout)
    return codes.reshape(n, k), np.ascontiguousarray(recs[:, 0])
