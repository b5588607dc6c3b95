"""The pack suite: element packing layouts, with the scale byte separate or interleaved, gated on mxemu.oracle."""

from __future__ import annotations

import numpy as np

from mxemu.golden.suites.tables import BLOCK, PACK_DATA, PACK_LAYOUTS, PACK_SCALE_LAYOUTS, TAG_IDS, Table, layout
from mxemu.golden.suites.values import stream
from mxemu.policy import Policy
from mxemu.spec import MXFormat

PACK_RANDOM = {"L0": 0, "L1": 64, "L2": 1024}  # Philox-random blocks (PK-random)
# Scale bytes of the PK-codes blocks, in turn: 2^0, both ends, NaN, and one that no code pattern resembles
PACK_SCALES = (0x7F, 0x00, 0xFE, 0xFF, 0x5A)


def _pack_blocks(mx: MXFormat, level: str, seed: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(codes, scales, tags) of the pack suite's blocks: every code, all zeros, all ones, alternating, a
    walking set bit (PK-codes, scales cycling through PACK_SCALES), and Philox-random codes and scales."""
    w, n = mx.element.bits, mx.element.num_codes
    top = n - 1
    blocks = [np.arange(i, i + BLOCK) % n for i in range(0, max(n, BLOCK), BLOCK)]
    blocks += [np.zeros(BLOCK, np.int64), np.full(BLOCK, top), np.where(np.arange(BLOCK) % 2, top, 0)]
    blocks += [np.where(np.arange(BLOCK) == k, 1 << (k % w), 0) for k in range(BLOCK)]
    scales = [PACK_SCALES[i % len(PACK_SCALES)] for i in range(len(blocks))]
    tags = [TAG_IDS["PK-codes"]] * len(blocks)
    m = PACK_RANDOM[level]
    if m:
        r = stream(seed, f"pack/{mx.name}", m * (BLOCK + 1)).reshape(m, BLOCK + 1)
        blocks += list((r[:, :BLOCK] % np.uint64(n)).astype(np.int64))
        scales += (r[:, BLOCK] % np.uint64(256)).astype(np.int64).tolist()
        tags += [TAG_IDS["PK-random"]] * m
    return np.stack(blocks).astype(np.uint8), np.array(scales, np.uint8), tags


def build_pack(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """One block of 32 element codes and its scale byte -> its bytes by mxemu.packing.pack_mx in every
    layout that takes the element width, under both scale layouts (PACK_SCALE_LAYOUTS): `separate` gives
    the packed elements (the scale byte travels in its own array), `interleaved` the scale byte followed by
    them. DATA is zero-padded to PACK_DATA bytes; NBYTES is the record's size."""
    from mxemu.packing import LAYOUTS, pack_mx

    w = mx.element.bits
    codes, scales, tags = _pack_blocks(mx, level, seed)
    cols: dict[str, list] = {k: [] for k in ("tag", "layout", "scale_layout", "scale", "codes", "nbytes", "data")}
    for sid, scale_layout in enumerate(PACK_SCALE_LAYOUTS):
        for lid, name in enumerate(PACK_LAYOUTS):
            if w not in LAYOUTS[name]:
                continue
            for tag, row, scale in zip(tags, codes, scales, strict=True):
                packed = pack_mx(row, np.array([scale], np.uint8), BLOCK, w, name, scale_layout)
                data = packed[0] if scale_layout == "separate" else packed
                for key, v in (("tag", tag), ("layout", lid), ("scale_layout", sid), ("scale", scale),
                               ("codes", row), ("nbytes", len(data)),
                               ("data", np.concatenate([data, np.zeros(PACK_DATA - len(data), np.uint8)]))):
                    cols[key].append(v)
    t = Table("pack", mx, layout("pack", mx))
    t.columns = {"tag": np.array(cols["tag"], np.uint16), "layout": np.array(cols["layout"], np.uint8),
                 "scale_layout": np.array(cols["scale_layout"], np.uint8), "scale": np.array(cols["scale"], np.uint8),
                 "codes": np.stack(cols["codes"]), "nbytes": np.array(cols["nbytes"], np.uint8),
                 "data": np.stack(cols["data"]).astype(np.uint8), "ev": np.zeros(len(cols["tag"]), np.uint8),
                 "chk": np.zeros(len(cols["tag"]), np.uint8)}
    return t
