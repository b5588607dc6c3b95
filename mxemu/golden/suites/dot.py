"""The dot suite: mixed-format operand pairs under every accumulation model, gated on mxemu.oracle."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from mxemu import oracle
from mxemu.array import MXArray
from mxemu.errors import InputError
from mxemu.golden.suites.convert import _convert_anchors
from mxemu.golden.suites.tables import (
    BLOCK,
    CONVERT_TARGETS,
    DOT_ACCUMULATIONS,
    DOT_K,
    DOT_MODELS,
    DOT_PER_BLOCK,
    DOT_SUM_LANES,
    EV_NONFINITE,
    EV_SCALE_NAN,
    OCP_FORMATS,
    TAG_IDS,
    Field,
    Table,
    layout,
    stochastic,
)
from mxemu.golden.suites.values import bits_to_f32, f32_bits, stream
from mxemu.ops import decode
from mxemu.policy import Policy
from mxemu.products import Fixed, FixedPoint, Model, accumulation_model
from mxemu.spec import ElementFormat, MXFormat, get_format

# Operand B's format at L0 and L1 besides A's own (golden.md §6.8 names the mixed pairs E4M3 x E2M1 and
# MXINT8 x MXFP8; E5M2 x E4M3 is the FP8 training pair, the two FP6 formats pair with each other, FP4 with
# E4M3); mxint8 for a format not listed. L2 pairs every format with every OCP format.
DOT_PARTNERS = {"mxfp8_e4m3": "mxfp4_e2m1", "mxfp8_e5m2": "mxfp8_e4m3", "mxfp6_e3m2": "mxfp6_e2m3",
                "mxfp6_e2m3": "mxfp6_e3m2", "mxfp4_e2m1": "mxfp8_e4m3", "mxint8": "mxfp8_e4m3"}
DOT_RANDOM = {"L0": (0, 0), "L1": (256, 64), "L2": (256, 128)}  # Philox pairs: (B in A's format, per partner)
DOT_STEP = {"L0": 8, "L1": 16, "L2": 16}  # every n-th quantize block becomes a dot anchor block


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
    rows: dict[str, list] = {"sa": [], "a": [], "b_format": [], "sb": [], "b": [], "tag": [], "nblk": []}

    def put(sa: np.ndarray, a: np.ndarray, fid: int, sb: np.ndarray, b: np.ndarray, tag: str, nblk: int = 2) -> None:
        for key, v in zip(rows, (sa, a, fid, sb, b, TAG_IDS[tag], nblk), strict=True):
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
    unit = np.array([127, 127], np.uint8)  # scales 2^0: the unscaled and the scaled products are the same
    for partner in OCP_FORMATS:
        for tag, a, b in _weak_spots(mx, get_format(partner)):
            pad = np.zeros(DOT_K - BLOCK, np.uint8)  # a second block of +0 codes, outside nblk = 1
            put(unit, np.concatenate([a, pad]), CONVERT_TARGETS.index(partner), unit, np.concatenate([b, pad]),
                tag, 1)
    return (np.stack(rows["sa"]).astype(np.uint8), np.stack(rows["a"]).astype(np.uint8),
            np.array(rows["b_format"], np.uint8), np.stack(rows["sb"]).astype(np.uint8),
            np.stack(rows["b"]).astype(np.uint8), np.array(rows["tag"], np.uint16), np.array(rows["nblk"], np.uint8))


GRID = Fraction(1, 1 << 16)  # the grid of the standard datapaths (DOT_DATAPATHS)


def _negate(codes: np.ndarray, elem: ElementFormat) -> np.ndarray:
    """Codes of the negated values: the sign bit flipped, or the two's complement of an integer code."""
    if elem.is_int:
        return ((-codes.astype(np.int64)) % elem.num_codes).astype(np.uint8)
    return codes ^ np.uint8(1 << (elem.bits - 1))


def _positive_codes(elem: ElementFormat) -> tuple[np.ndarray, list[Fraction]]:
    """The codes of positive finite values and their exact values."""
    values = [oracle.decode_value(c, elem) for c in range(elem.num_codes)]
    codes = [c for c, v in enumerate(values) if isinstance(v, Fraction) and v > 0]
    return np.array(codes, np.uint8), [values[c] for c in codes]


def _weak_spots(ma: MXFormat, mb: MXFormat) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(tag, a codes, b codes) of one-block pairs at the weak spots of fixed-point datapaths: products on,
    just off and half-way between the points of the grid 2^-16, an exact zero sum of the smallest products,
    the largest products of one sign, and (a format with Inf) Inf lanes times finite non-zero lanes."""
    ca, va = _positive_codes(ma.element)
    cb, vb = _positive_codes(mb.element)
    prod = {}
    for i, x in enumerate(va):
        for j, y in enumerate(vb):
            prod.setdefault(x * y, (i, j))
    values = sorted(prod)
    picks = []
    for t in (GRID, GRID / 2, 3 * GRID / 2, 5 * GRID / 2):
        below = [v for v in values if v < t]
        above = [v for v in values if v > t]
        picks += [v for v in (below[-1] if below else None, t if t in prod else None, above[0] if above else None)
                  if v is not None]
    lanes = [prod[picks[t % len(picks)]] for t in range(BLOCK)]
    a = np.array([ca[i] for i, _ in lanes], np.uint8)
    b = np.array([cb[j] for _, j in lanes], np.uint8)
    mixed = np.where(np.arange(BLOCK) % 3 == 1, _negate(a, ma.element), a)
    small, large = prod[values[0]], prod[values[-1]]
    half = BLOCK // 2
    tiny_a = np.full(BLOCK, ca[small[0]], np.uint8)
    tiny_b = np.full(BLOCK, cb[small[1]], np.uint8)
    tiny_a[half:] = _negate(tiny_a[half:], ma.element)
    big_a = np.full(BLOCK, ca[large[0]], np.uint8)
    big_b = np.full(BLOCK, cb[large[1]], np.uint8)
    out = [("DOT-grid", a, b), ("DOT-grid", mixed, b), ("DOT-subgrid-zero", tiny_a, tiny_b),
           ("DOT-saturate", big_a, big_b), ("DOT-saturate", _negate(big_a, ma.element), big_b)]
    inf_side = 0 if ma.element.specials == "ieee" else 1 if mb.element.specials == "ieee" else None
    if inf_side is not None:
        elem = (ma, mb)[inf_side].element
        inf = np.uint8(((1 << elem.exponent_bits) - 1) << elem.mantissa_bits)  # +Inf: all-ones exponent, zero fraction
        codes = {False: inf, True: _negate(np.array([inf], np.uint8), elem)[0]}
        # (lane, negative): +Inf, -Inf, two +Inf, and +Inf with -Inf (an IEEE NaN sum from non-NaN inputs)
        for infs in ([(0, False)], [(5, True)], [(0, False), (31, False)], [(3, False), (17, True)]):
            x, y = a.copy(), b.copy()  # the DOT-grid lanes: finite and non-zero
            for t, negative in infs:
                (x if inf_side == 0 else y)[t] = codes[negative]
            out.append(("DOT-inf", x, y))
    return out


def _model_bits(values: np.ndarray, bits: int = 32) -> np.ndarray:
    """uint32 field values: float32 bits, or an output word's `bits`-bit two's complement."""
    if values.dtype == np.float32:
        return f32_bits(np.ascontiguousarray(values))
    return (values & ((1 << bits) - 1)).astype(np.uint32)


USER_FIELD = "acc"  # the fields of user accumulation models: acc0, acc1, ... in the order given
USER_MODELS_MAX = 16
FIELD_BITS = 32  # the widest output field (Field lanes are at most uint32)


def _field_bits(model: Model) -> int:
    """Bits of a model's output field: 32 for float32 bits, the word's width for a fixed(...) output."""
    return model.output.bits if isinstance(model, FixedPoint) and isinstance(model.output, Fixed) else FIELD_BITS


def dot_models(specs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The output fields the user's accumulation models add to the dot suite: acc0, acc1, ... (in the order
    given) -> each model as its canonical accumulation string (mxemu.products.accumulation_model parses them;
    `InputError` / `UnknownNameError` for anything it refuses, or for an output word wider than 32 bits).

    >>> dot_models(["fixed_point:16:24:ceil:s15.8", "truncated:8:12"])
    {'acc0': 'fixed_point:16:24:rup:s15.8:rne', 'acc1': 'truncated:8:12'}
    """
    if not isinstance(specs, (tuple, list)) or not 1 <= len(specs) <= USER_MODELS_MAX:
        raise InputError(f"give 1 to {USER_MODELS_MAX} accumulation models, got {specs!r:.200}")
    out = {}
    for i, spec in enumerate(specs):
        model = accumulation_model(spec)
        if _field_bits(model) > FIELD_BITS:
            raise InputError(f"{model.spec}: a {_field_bits(model)}-bit output word; a golden field holds at most "
                             f"{FIELD_BITS} bits (accepted: 1 + int_bits + frac_bits <= {FIELD_BITS})")
        out[f"{USER_FIELD}{i}"] = model if isinstance(model, str) else model.spec
    return out


def _user_models(models: dict[str, str] | None) -> dict[str, Model]:
    return {name: accumulation_model(spec) for name, spec in (models or {}).items()}


def user_fields(models: dict[str, str] | None) -> tuple[Field, ...]:
    """The output fields of `dot_models`, each as wide as its model's output."""
    return tuple(Field(name, "output", _field_bits(m)) for name, m in _user_models(models).items())


def float_fields(models: dict[str, str] | None) -> tuple[str, ...]:
    """The dot suite's float32 output fields: DOT_MODELS and the user models without a fixed(...) output."""
    return DOT_MODELS + tuple(name for name, m in _user_models(models).items()
                              if not (isinstance(m, FixedPoint) and isinstance(m.output, Fixed)))


def _block_sums(mx: MXFormat, mb: MXFormat, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 2 * DOT_SUM_LANES) uint32: each block's exact Σ P_A,i * P_B,i in units of the product LSB (0 for a
    block holding a NaN or Inf element), from the kernels' fixed-point element tables, as 32-bit lanes."""
    from mxemu.kernels.abi import format_params
    from mxemu.kernels.dot import C_FIN, element_tables

    fa, _, _, ka, _ = element_tables(format_params(mx.element), DOT_SUM_LSB[mx.name])
    fb, _, _, kb, _ = element_tables(format_params(mb.element), DOT_SUM_LSB[mb.name])
    out = np.zeros((len(a), 2 * DOT_SUM_LANES), np.uint32)
    for blk in range(2):
        lanes = slice(blk * BLOCK, blk * BLOCK + BLOCK)
        x, y = fa[a[:, lanes]].astype(object), fb[b[:, lanes]].astype(object)
        finite = ((ka[a[:, lanes]] == C_FIN) & (kb[b[:, lanes]] == C_FIN)).all(axis=1)
        for i, total in enumerate((x * y).sum(axis=1)):
            word = int(total) % (1 << (32 * DOT_SUM_LANES)) if finite[i] else 0
            for lane in range(DOT_SUM_LANES):
                out[i, blk * DOT_SUM_LANES + lane] = (word >> (32 * lane)) & 0xFFFFFFFF
    return out


def _dot_results(mx: MXFormat, policy: Policy, sa: np.ndarray, a: np.ndarray, b_format: np.ndarray,
                 sb: np.ndarray, b: np.ndarray, nblk: np.ndarray, models: dict[str, str]) -> dict[str, np.ndarray]:
    """Every output field, by mxemu.products: each DOT_ACCUMULATIONS model and each user model (`dot_models`)
    over the record's nblk blocks, the models of DOT_PER_BLOCK over each block alone, and the exact block sums."""
    from mxemu.products import dot

    n = len(a)
    user = _user_models(models)
    out = {m: np.empty(n, np.uint32) for m in (*DOT_ACCUMULATIONS, *user)}
    out |= {f"{m}_blk": np.empty((n, 2), np.uint32) for m in DOT_PER_BLOCK}
    out["block_sum"] = np.empty((n, 2 * DOT_SUM_LANES), np.uint32)

    def pairs(rows: np.ndarray, blocks: slice, mb: MXFormat) -> tuple[MXArray, MXArray]:
        lanes = slice(blocks.start * BLOCK, blocks.stop * BLOCK)
        return (MXArray(codes=a[rows, lanes], scales=sa[rows, blocks], format=mx, policy=policy, axis=(1,)),
                MXArray(codes=b[rows, lanes], scales=sb[rows, blocks], format=mb, policy=policy, axis=(1,)))

    for fid in np.unique(b_format).tolist():
        mb = get_format(CONVERT_TARGETS[fid])
        rows = np.flatnonzero(b_format == fid)
        out["block_sum"][rows] = _block_sums(mx, mb, a[rows], b[rows])
        for count in (1, 2):
            r = rows[nblk[rows] == count]
            if not len(r):
                continue
            qa, qb = pairs(r, slice(0, count), mb)
            for m, acc in DOT_ACCUMULATIONS.items():
                out[m][r] = _model_bits(dot(qa, qb, acc))
            for m, model in user.items():
                out[m][r] = _model_bits(dot(qa, qb, model), _field_bits(model))
        for blk in range(2):
            qa, qb = pairs(rows, slice(blk, blk + 1), mb)
            for m in DOT_PER_BLOCK:
                out[f"{m}_blk"][rows, blk] = _model_bits(dot(qa, qb, DOT_ACCUMULATIONS[m]))
    return out


def build_dot(mx: MXFormat, policy: Policy, level: str, seed: int, models: dict[str, str] | None = None) -> Table:
    """Dot products of two MX vectors of NBLK blocks (1 or 2; a one-block record's second block is +0 codes at
    scale 2^0) with A in the suite's format and B in the format B_FORMAT names (an index into CONVERT_TARGETS),
    by mxemu.products: each DOT_ACCUMULATIONS model (float32 bits, or an S23.8 word), each block's exact
    integer sum (BLOCK_SUM, in units of 2^(lsb_A + lsb_B), DOT_SUM_LSB) and DOT_PER_BLOCK models per block
    (NaN results: check class nan). `models` (`dot_models`) adds one output field per user accumulation
    model over the record's nblk blocks: float32 bits, or its output word as two's complement of its width."""
    models = dict(models or {})
    sa, a, b_format, sb, b, tags, nblk = _dot_operands(mx, policy, level, seed)
    out = _dot_results(mx, policy, sa, a, b_format, sb, b, nblk, models)
    nan = np.zeros(len(tags), bool)
    for m in float_fields(models):
        nan |= np.isnan(bits_to_f32(out[m]))
    scale_ev = np.zeros(len(tags), np.uint8)
    for s in (sa, sb):
        scale_ev |= np.where((s == mx.scale.nan_code).any(axis=1), EV_SCALE_NAN, 0).astype(np.uint8)
    t = Table("dot", mx, layout("dot", mx, extra=user_fields(models)), models=models)
    t.columns = {"tag": tags, "sa": sa, "a": a, "b_format": b_format, "sb": sb, "b": b, "nblk": nblk, **out,
                 "ev": scale_ev | np.where(nan, EV_NONFINITE, 0).astype(np.uint8), "chk": nan.astype(np.uint8)}
    return t


# The product LSB of BLOCK_SUM is 2^(DOT_SUM_LSB[A] + DOT_SUM_LSB[B]) (published in the manifest).
DOT_SUM_LSB: dict[str, int] = {f: oracle.lsb_exponent(get_format(f).element) for f in CONVERT_TARGETS}


def oracle_dot_fields(inputs: dict[str, np.ndarray], mx: MXFormat,
                      models: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Every output column of a dot table from its input columns, by mxemu.oracle (`mx_dot`, `block_sum`):
    float32 bits, S23.8 words as 32-bit two's complement, block sums as DOT_SUM_LANES 32-bit lanes per block
    (0 for a non-finite block), the user models of `models` (`dot_models`) as float32 bits or words of their
    width."""
    n = len(inputs["a"])
    user = _user_models(models)
    standard = {m: accumulation_model(spec) for m, spec in DOT_ACCUMULATIONS.items()}
    per_block = {m: standard[m] for m in DOT_PER_BLOCK}
    width = {name: _field_bits(m) for name, m in user.items()}
    out = {m: np.empty(n, np.uint32) for m in (*DOT_ACCUMULATIONS, *user)}
    out |= {f"{m}_blk": np.empty((n, 2), np.uint32) for m in DOT_PER_BLOCK}
    out["block_sum"] = np.empty((n, 2 * DOT_SUM_LANES), np.uint32)

    def bits(v: np.float32 | int, w: int = FIELD_BITS) -> int:
        return int(f32_bits(np.array([v], np.float32))[0]) if isinstance(v, np.floating) else int(v) % (1 << w)

    for i, (sa, a, f, sb, b, nb) in enumerate(zip(inputs["sa"], inputs["a"], inputs["b_format"], inputs["sb"],
                                                   inputs["b"], inputs["nblk"], strict=True)):
        mb = get_format(CONVERT_TARGETS[int(f)])
        lanes = int(nb) * BLOCK
        r = oracle.mx_dot(a[:lanes], sa[:int(nb)], b[:lanes], sb[:int(nb)], mx, mb, standard | user)
        for m in DOT_ACCUMULATIONS:
            out[m][i] = bits(r[m])
        for m, w in width.items():
            out[m][i] = bits(r[m], w)
        for blk in range(2):
            lanes = slice(blk * BLOCK, blk * BLOCK + BLOCK)
            r = oracle.mx_dot(a[lanes], sa[blk:blk + 1], b[lanes], sb[blk:blk + 1], mx, mb, per_block)
            for m in DOT_PER_BLOCK:
                out[f"{m}_blk"][i, blk] = bits(r[m])
            word = oracle.block_sum(a[lanes], b[lanes], mx, mb)
            word = 0 if word is None else word % (1 << (32 * DOT_SUM_LANES))
            for lane in range(DOT_SUM_LANES):
                out["block_sum"][i, blk * DOT_SUM_LANES + lane] = (word >> (32 * lane)) & 0xFFFFFFFF
    return out
