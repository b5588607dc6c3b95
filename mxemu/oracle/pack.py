"""The bytes of one packed block by each layout's definition (docs/layouts.md), scale separate or interleaved."""

from __future__ import annotations

import numpy as np

from mxemu.errors import InputError, UnknownNameError

__all__ = ["PACK_LAYOUT_WIDTHS", "pack_block"]

# Element widths each layout takes (docs/layouts.md); the packer's table (mxemu.packing.LAYOUTS) is held to it.
PACK_LAYOUT_WIDTHS = {"byte": tuple(range(1, 9)), "byte_msb": tuple(range(1, 9)), "nibble_lo_first": (4,),
                      "nibble_hi_first": (4,), "fp6_4in3": (6,), "bitstream_le": tuple(range(1, 9))}
SCALE_LAYOUTS = ("separate", "interleaved")


def pack_block(codes: np.ndarray, scale: int, bits: int, layout: str, scale_layout: str = "separate") -> np.ndarray:
    """The bytes of one block of `bits`-bit element codes: `byte` one code per byte, `byte_msb` shifted to the
    top, `nibble_hi_first` element 2i in the high nibble, and the little-endian bit stream (element i at bit
    i * bits, the last byte zero-padded) for `bitstream_le`, `nibble_lo_first`, `fp6_4in3`; scale layout
    `interleaved` puts the scale byte in front of them, `separate` leaves it out.

    >>> pack_block(np.arange(32) % 16, 0x7F, 4, "nibble_lo_first", "interleaved")[:3].tolist()
    [127, 16, 50]
    """
    if layout not in PACK_LAYOUT_WIDTHS:
        raise UnknownNameError(f"unknown packing layout {layout!r}; accepted: {', '.join(PACK_LAYOUT_WIDTHS)}")
    if scale_layout not in SCALE_LAYOUTS:
        raise UnknownNameError(f"unknown scale layout {scale_layout!r}; accepted: {', '.join(SCALE_LAYOUTS)}")
    if bits not in PACK_LAYOUT_WIDTHS[layout]:
        widths = PACK_LAYOUT_WIDTHS[layout]
        raise InputError(f"layout {layout} does not take {bits!r}-bit codes; accepted widths: "
                         f"{', '.join(map(str, widths))}")
    c = [int(v) for v in np.asarray(codes).ravel()]
    if any(not 0 <= v < 1 << bits for v in c) or not 0 <= int(scale) <= 0xFF:
        raise InputError(f"codes must lie in 0..{(1 << bits) - 1} and the scale in 0..255 for {bits}-bit codes")
    if scale_layout == "interleaved" and layout not in ("byte", "byte_msb") and len(c) * bits % 8:
        raise InputError(f"interleaved records need packed elements that fill whole bytes; {len(c)} x {bits} bits "
                         f"in {layout} do not (accepted: a multiple of 8 bits, or a byte layout)")
    if layout == "byte":
        out = c
    elif layout == "byte_msb":
        out = [v << (8 - bits) for v in c]
    elif layout == "nibble_hi_first":
        pairs = c + [0] * (len(c) % 2)
        out = [(pairs[2 * j] << 4) | pairs[2 * j + 1] for j in range(len(pairs) // 2)]
    else:
        word = sum(v << (i * bits) for i, v in enumerate(c))
        out = list(word.to_bytes((len(c) * bits + 7) // 8, "little"))
    if scale_layout == "interleaved":
        out = [int(scale), *out]
    return np.array(out, np.uint8)
