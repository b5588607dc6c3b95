"""The convert suite: MX-to-MX requantization and scale-preserving slicing, gated on mxemu.oracle."""

from __future__ import annotations

import numpy as np

from mxemu import oracle
from mxemu.array import MXArray
from mxemu.golden.suites.blocks import _quantize_blocks
from mxemu.golden.suites.tables import (
    BLOCK,
    CONVERT_METHODS,
    CONVERT_TARGETS,
    EV_SCALE_END,
    EV_SCALE_NAN,
    OCP_FORMATS,
    TAG_IDS,
    Table,
    layout,
)
from mxemu.ops import quantize
from mxemu.policy import Policy
from mxemu.spec import MXFormat, get_format


def convert_targets(mx: MXFormat, policy: Policy) -> list[tuple[int, str]]:
    """(method, target) pairs of the convert suite for source `mx`: requantize into every other OCP format,
    and slice_and_scale into each defined target when the policy's rounding allows it."""
    from mxemu.conversion import SLICE_ROUNDINGS, SLICE_TARGETS

    out = [(0, t) for t in OCP_FORMATS if t != mx.name]
    if policy.rounding in SLICE_ROUNDINGS:
        out += [(1, f"mx{t}") for t in SLICE_TARGETS.get(mx.element.name, ())]
    return out


CONVERT_STEP = {"L0": 8, "L1": 16, "L2": 8}  # every n-th quantize block becomes a convert source block


def _convert_anchors(mx: MXFormat, policy: Policy, level: str, seed: int,
                     step: int | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Source blocks (scale codes, element codes, tags): every `step`-th quantized coverage block (default
    CONVERT_STEP of the level) and edge blocks."""
    blocks = _quantize_blocks(mx, level, seed)
    step = CONVERT_STEP[level] if step is None else step
    x = np.stack(blocks.rows[::step]).astype(np.float32)
    tags = blocks.tags[::step]
    if policy.nan_to_nonan == "error" and not mx.element.has_nan:
        keep = ~np.isnan(x).any(axis=1)
        x, tags = x[keep], [t for t, k in zip(tags, keep, strict=True) if k]
    q = quantize(x, mx, axis=-1, policy=policy)
    scales = list(np.asarray(q.scales, np.uint8).reshape(-1))
    codes = list(np.asarray(q.codes, np.uint8))
    n = mx.element.num_codes
    every = np.arange(max(n, BLOCK), dtype=np.int64) % n
    sign = 1 << (mx.element.bits - 1)
    top = np.array([sign - 1 if i % 2 else (2 * sign - 1) for i in range(BLOCK)], np.int64)  # large magnitudes
    edges = [(mx.scale.nan_code, every[:BLOCK]), (mx.scale.nan_code - 1, top), (0xF8, top), (0, every[:BLOCK]),
             (mx.scale.bias, np.where(np.arange(BLOCK) % 2, sign, 0))]
    edges += [(mx.scale.bias, every[i:i + BLOCK]) for i in range(0, len(every), BLOCK)]
    for sc, cd in edges:
        scales.append(np.uint8(sc))
        codes.append(cd.astype(np.uint8))
        tags.append(TAG_IDS["CV-edge"])
    return np.array(scales, np.uint8), np.stack(codes).astype(np.uint8), tags


def build_convert(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Source MX blocks (scale, codes) -> the target's scale and codes (8-bit lanes) by mxemu.convert, for
    every (method, target) of `convert_targets`."""
    from mxemu.conversion import convert

    src_scales, src_codes, tags = _convert_anchors(mx, policy, level, seed)
    has_nan = np.array([np.isnan(oracle.dequantize_block(c, int(s), mx)).any() for s, c in
                        zip(src_scales.tolist(), src_codes, strict=True)])
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("method", "target", "src_scale", "src_codes", "scale",
                                                         "codes", "tag")}
    for method, target in convert_targets(mx, policy):
        tgt = get_format(target)
        keep = ~has_nan if policy.nan_to_nonan == "error" and not tgt.element.has_nan else np.ones(len(tags), bool)
        q = MXArray(codes=src_codes[keep], scales=src_scales[keep].reshape(-1, 1), format=mx, policy=policy,
                    axis=(1,))
        r = convert(q, tgt, method=CONVERT_METHODS[method], policy=policy)
        m = int(keep.sum())
        cols["method"].append(np.full(m, method, np.uint8))
        cols["target"].append(np.full(m, CONVERT_TARGETS.index(target), np.uint8))
        cols["src_scale"].append(src_scales[keep])
        cols["src_codes"].append(src_codes[keep])
        cols["scale"].append(np.asarray(r.scales, np.uint8).reshape(-1))
        cols["codes"].append(np.asarray(r.codes, np.uint8))
        cols["tag"].append(np.array(tags, np.uint16)[keep])
    c = {k: np.concatenate(v) for k, v in cols.items()}
    nan = mx.scale.nan_code
    is_nan = c["scale"] == nan
    ev = np.where(is_nan, EV_SCALE_NAN, 0) | np.where((c["scale"] == 0) | (c["scale"] == nan - 1), EV_SCALE_END, 0)
    t = Table("convert", mx, layout("convert", mx))
    t.columns = {**c, "ev": ev.astype(np.uint8), "chk": np.where(is_nan, 2, 0).astype(np.uint8)}
    return t
