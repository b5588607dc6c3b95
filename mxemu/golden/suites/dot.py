"""The dot suite and its exact oracles: mixed-format operand pairs under every accumulation model."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from mxemu import oracle
from mxemu.array import MXArray
from mxemu.golden.suites.convert import _convert_anchors
from mxemu.golden.suites.tables import (
    CONVERT_TARGETS,
    DOT_ACCUMULATIONS,
    DOT_K,
    DOT_MODELS,
    EV_NONFINITE,
    EV_SCALE_NAN,
    OCP_FORMATS,
    TAG_IDS,
    Table,
    layout,
    stochastic,
)
from mxemu.golden.suites.values import bits_to_f32, f32_bits, stream
from mxemu.ops import decode
from mxemu.policy import Policy
from mxemu.spec import ElementFormat, MXFormat, get_format

# Operand B's format at L0 and L1 besides A's own (golden.md §6.8 names the mixed pairs E4M3 x E2M1 and
# MXINT8 x MXFP8; E5M2 x E4M3 is the FP8 training pair, the two FP6 formats pair with each other, FP4 with
# E4M3); mxint8 for a format not listed. L2 pairs every format with every OCP format.
DOT_PARTNERS = {"mxfp8_e4m3": "mxfp4_e2m1", "mxfp8_e5m2": "mxfp8_e4m3", "mxfp6_e3m2": "mxfp6_e2m3",
                "mxfp6_e2m3": "mxfp6_e3m2", "mxfp4_e2m1": "mxfp8_e4m3", "mxint8": "mxfp8_e4m3"}
DOT_RANDOM = {"L0": (0, 0), "L1": (256, 64), "L2": (256, 128)}  # Philox pairs: (B in A's format, per partner)
DOT_STEP = {"L0": 8, "L1": 16, "L2": 16}  # every n-th quantize block becomes a dot anchor block
DOT_CHUNK = 256  # pairs per matmul call: the diagonal of a CHUNK x CHUNK product


def dot_partners(mx: MXFormat, level: str) -> tuple[str, ...]:
    """Formats of operand B paired with A in `mx`: A's own first, then DOT_PARTNERS at L0 and L1, every
    other OCP format at L2.

    >>> dot_partners(get_format("mxint8"), "L1")
    ('mxint8', 'mxfp8_e4m3')
    """
    if level == "L2":
        return (mx.name, *(f for f in OCP_FORMATS if f != mx.name))
    return (mx.name, DOT_PARTNERS.get(mx.name, "mxint8"))


def _finite_codes(words: np.ndarray, elem: ElementFormat) -> np.ndarray:
    """Random words as element codes; NaN / Inf codes become zeros (the edge pairs cover them)."""
    codes = (words % np.uint64(elem.num_codes)).astype(np.uint8)
    finite = np.isfinite(decode(codes, elem, dtype=np.float64))
    return np.where(finite, codes, codes & np.uint8(1 << (elem.bits - 1))).astype(np.uint8)


def _random_pairs(ma: MXFormat, mb: MXFormat, seed: int, count: int) -> tuple[np.ndarray, ...]:
    """(sa, a, sb, b): `count` Philox-random operand pairs with scales 2^-8 .. 2^7 (moderate products)."""
    purpose = f"dot/{ma.name}" if ma.name == mb.name else f"dot/{ma.name}x{mb.name}"
    w = stream(seed, purpose, count * (2 * DOT_K + 4)).reshape(count, 2 * DOT_K + 4)
    sc = (np.uint64(0x77) + w[:, 2 * DOT_K:] % np.uint64(16)).astype(np.uint8)
    return sc[:, :2], _finite_codes(w[:, :DOT_K], ma.element), sc[:, 2:], _finite_codes(w[:, DOT_K:2 * DOT_K],
                                                                                          mb.element)


def _dot_operands(mx: MXFormat, policy: Policy, level: str, seed: int) -> tuple[np.ndarray, ...]:
    """(sa, a, b_format, sb, b, tags): for each partner format of `dot_partners`, pairs of two-block
    operands built from the anchor blocks of A's and B's formats (with A's format also b = -a and b = a),
    and Philox-random pairs (DOT_RANDOM). The anchors are quantized under the suite's policy, with
    stochastic rounding taken as rne: operands are inputs, and the dot product rounds no element."""
    if stochastic(policy):
        policy = policy.replace(rounding="rne")
    scales, codes, _ = _convert_anchors(mx, policy, level, seed, DOT_STEP[level])
    n = len(scales)
    sign = np.uint8(1 << (mx.element.bits - 1))
    rows: dict[str, list] = {"sa": [], "a": [], "b_format": [], "sb": [], "b": [], "tag": []}

    def put(sa: np.ndarray, a: np.ndarray, fid: int, sb: np.ndarray, b: np.ndarray, tag: str) -> None:
        for key, v in zip(rows, (sa, a, fid, sb, b, TAG_IDS[tag]), strict=True):
            rows[key].append(v)

    for partner in dot_partners(mx, level):
        mb = get_format(partner)
        fid = CONVERT_TARGETS.index(partner)
        same = partner == mx.name
        bs, bc = (scales, codes) if same else _convert_anchors(mb, policy, level, seed, DOT_STEP[level])[:2]
        m = len(bs)
        for i in range(n):
            pa, pb = [i, (i + 1) % n], [(7 * i + 3) % m, (5 * i + 1) % m]
            x = np.concatenate([codes[pa[0]], codes[pa[1]]])
            put(scales[pa], x, fid, bs[pb], np.concatenate([bc[pb[0]], bc[pb[1]]]), "DOT-pair" if same else "DOT-mixed")
            if same and i % 3 == 0:  # b = -a: flip the sign bit of a float code, negate (mod 2^bits) an integer one
                neg = (-x.astype(np.int64)) % mx.element.num_codes if mx.element.is_int else x ^ sign
                put(scales[pa], x, fid, scales[pa], neg.astype(np.uint8), "DOT-cancel")
                put(scales[pa], x, fid, scales[pa], x, "DOT-cancel")
        for sa, a, sb, b in zip(*_random_pairs(mx, mb, seed, DOT_RANDOM[level][0 if same else 1]), strict=True):
            put(sa, a, fid, sb, b, "DOT-random")
    return (np.stack(rows["sa"]).astype(np.uint8), np.stack(rows["a"]).astype(np.uint8),
            np.array(rows["b_format"], np.uint8), np.stack(rows["sb"]).astype(np.uint8),
            np.stack(rows["b"]).astype(np.uint8), np.array(rows["tag"], np.uint16))


def _dot_results(mx: MXFormat, policy: Policy, sa: np.ndarray, a: np.ndarray, b_format: np.ndarray,
                 sb: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """float32 bits of every pair under each DOT_ACCUMULATIONS model, by mxemu.products.matmul."""
    from mxemu.products import matmul

    out = {m: np.empty(len(a), np.uint32) for m in DOT_MODELS}
    for fid in np.unique(b_format).tolist():
        mb = get_format(CONVERT_TARGETS[fid])
        rows = np.flatnonzero(b_format == fid)
        for lo in range(0, len(rows), DOT_CHUNK):
            r = rows[lo:lo + DOT_CHUNK]
            # row i of A times column i of B is pair i: the diagonal of the product
            qa = MXArray(codes=a[r], scales=sa[r], format=mx, policy=policy, axis=(1,))
            qb = MXArray(codes=np.ascontiguousarray(b[r].T), scales=np.ascontiguousarray(sb[r].T), format=mb,
                         policy=policy, axis=(0,))
            for m, acc in DOT_ACCUMULATIONS.items():
                out[m][r] = f32_bits(np.ascontiguousarray(np.diagonal(matmul(qa, qb, accumulation=acc))))
    return out


def build_dot(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Dot products of two 64-element MX vectors (two blocks each; A in the suite's format, B in the
    format B_FORMAT names, an index into CONVERT_TARGETS) under every accumulation model of
    DOT_ACCUMULATIONS, by mxemu.products, as float32 bits (NaN results: check class nan)."""
    sa, a, b_format, sb, b, tags = _dot_operands(mx, policy, level, seed)
    out = _dot_results(mx, policy, sa, a, b_format, sb, b)
    nan = np.zeros(len(tags), bool)
    for m in DOT_MODELS:
        nan |= np.isnan(bits_to_f32(out[m]))
    scale_ev = np.zeros(len(tags), np.uint8)
    for s in (sa, sb):
        scale_ev |= np.where((s == mx.scale.nan_code).any(axis=1), EV_SCALE_NAN, 0).astype(np.uint8)
    t = Table("dot", mx, layout("dot", mx))
    t.columns = {"tag": tags, "sa": sa, "a": a, "b_format": b_format, "sb": sb, "b": b, **out,
                 "ev": scale_ev | np.where(nan, EV_NONFINITE, 0).astype(np.uint8), "chk": nan.astype(np.uint8)}
    return t


def rne_float32(v: Fraction) -> np.float32:
    """The float32 nearest to an exact rational (ties to even; from 2^128 - 2^103 up: Inf; +0 for 0)."""
    if v == 0:
        return np.float32(0.0)
    mag = abs(v)
    e = mag.numerator.bit_length() - mag.denominator.bit_length()
    e -= Fraction(2) ** e > mag
    q = Fraction(2) ** (max(e, -126) - 23)
    n, rem = divmod(mag, q)
    n += rem > q / 2 or (rem == q / 2 and n % 2 == 1)
    r = n * q
    out = np.float32(np.inf) if r >= Fraction(2) ** 128 - Fraction(2) ** 103 else np.float32(float(r))
    return -out if v < 0 else out


def _ieee_sum(specials: list[float]) -> np.float32:
    with np.errstate(invalid="ignore"):
        return np.float32(np.sum(np.array(specials, np.float64)))


def _add_exact(acc: np.float32, s: Fraction) -> np.float32:
    """fl32(acc + s) for an exact s: one RNE rounding; a NaN or Inf accumulator stays as it is."""
    return rne_float32(Fraction(float(acc)) + s) if np.isfinite(acc) else acc


def truncated_sum(products: list[Fraction | float], group: int, frac_bits: int) -> np.float32:
    """The truncated(group, frac_bits) model from its definition (mxemu.products.Truncated,
    docs/convert_dot.md) on exact products: per group of `group` consecutive products, T = max
    floor(log2 |p|) over the nonzero ones, each p truncated toward zero to a multiple of 2^(T - frac_bits),
    the exact sum s of those, acc = fl32(acc + s) from acc = +0. A group holding NaN / Inf products adds
    their IEEE sum instead.

    >>> float(truncated_sum([Fraction(1), Fraction(3, 8), Fraction(-1, 1024)], 3, 2))
    1.25
    """
    acc = np.float32(0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        for lo in range(0, len(products), group):
            grp = products[lo:lo + group]
            specials = [p for p in grp if isinstance(p, float)]
            if specials:
                acc = np.float32(acc + _ieee_sum(specials))
                continue
            nonzero = [p for p in grp if p != 0]
            s = Fraction(0)
            if nonzero:
                q = Fraction(2) ** (max(oracle.floor_log2(abs(p)) for p in nonzero) - frac_bits)
                s = sum(((abs(p) // q) * q * (1 if p > 0 else -1) for p in nonzero), Fraction(0))
            acc = _add_exact(acc, s)
    return acc


def oracle_dot(sa: np.ndarray, a: np.ndarray, sb: np.ndarray, b: np.ndarray, mx: MXFormat,
               mx_b: MXFormat | None = None) -> dict[str, np.float32]:
    """Each DOT_MODELS result from exact products (docs/convert_dot.md), A in `mx` and B in `mx_b` (default
    `mx`): `exact` rounds the exact sum once; `block_exact_fp32` rounds each block's exact sum and adds in
    float32; `fp32_sequential` adds each exact product with one rounding; `dequant_fp32` multiplies and adds
    float32 values; the truncated models by `truncated_sum`. NaN / Inf by IEEE rules."""
    mx_b = mx if mx_b is None else mx_b
    k = mx.block_size

    def value(codes: np.ndarray, scales: np.ndarray, t: int, m: MXFormat) -> Fraction | float:
        s = int(scales[t // k])
        v = oracle.decode_value(int(codes[t]), m.element)
        if s == m.scale.nan_code:
            return math.nan
        return v * Fraction(2) ** (s - m.scale.bias) if isinstance(v, Fraction) else v

    def negative(codes: np.ndarray, t: int, m: MXFormat) -> bool:  # the sign bit: -0 for floats, < 0 for ints
        return bool(int(codes[t]) >> (m.element.bits - 1))

    def as_f32(v: Fraction | float, codes: np.ndarray, t: int, m: MXFormat) -> np.float32:
        if not isinstance(v, Fraction):
            return np.float32(v)
        return np.float32(-0.0) if v == 0 and negative(codes, t, m) and not m.element.is_int else rne_float32(v)

    xs = [value(a, sa, t, mx) for t in range(len(a))]
    ys = [value(b, sb, t, mx_b) for t in range(len(b))]
    p: list[Fraction | float] = []
    for x, y in zip(xs, ys, strict=True):
        if isinstance(x, Fraction) and isinstance(y, Fraction):
            p.append(x * y)
        else:
            with np.errstate(invalid="ignore"):
                p.append(float(np.float64(x) * np.float64(y)))  # NaN, +-Inf, Inf * 0 = NaN
    out: dict[str, np.float32] = {}
    specials = [x for x in p if isinstance(x, float)]
    out["exact"] = _ieee_sum(specials) if specials else rne_float32(sum(p, Fraction(0)))
    with np.errstate(invalid="ignore", over="ignore"):
        acc = np.float32(0.0)
        for lo in range(0, len(p), k):
            blk = p[lo:lo + k]
            sp = [x for x in blk if isinstance(x, float)]
            acc = np.float32(acc + (_ieee_sum(sp) if sp else rne_float32(sum(blk, Fraction(0)))))
        out["block_exact_fp32"] = acc
        acc = np.float32(0.0)
        for t, x in enumerate(p):
            if isinstance(x, float):
                acc = np.float32(acc + np.float32(x))
            elif x == 0:
                # IEEE: a zero product's sign is the XOR of the factors' signs
                acc = np.float32(acc + np.float32(-0.0 if negative(a, t, mx) != negative(b, t, mx_b) else 0.0))
            else:
                acc = _add_exact(acc, x)
        out["fp32_sequential"] = acc
        acc = np.float32(0.0)
        for t, (x, y) in enumerate(zip(xs, ys, strict=True)):
            acc = np.float32(acc + np.float32(as_f32(x, a, t, mx) * as_f32(y, b, t, mx_b)))
        out["dequant_fp32"] = acc
    for name, model in DOT_ACCUMULATIONS.items():
        if model.startswith("truncated:"):
            _, group, frac_bits = model.split(":")
            out[name] = truncated_sum(p, int(group), int(frac_bits))
    return out
