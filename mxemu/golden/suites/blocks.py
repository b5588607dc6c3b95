"""The scale, quantize and divergence suites: coverage blocks of 32 float32 and their quantized results."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mxemu.golden.suites.codec import _element_events
from mxemu.golden.suites.tables import (
    BLOCK,
    EV_NONFINITE,
    EV_SCALE_END,
    EV_SCALE_NAN,
    TAG_IDS,
    Table,
    layout,
    stochastic,
)
from mxemu.golden.suites.values import FLOAT32, INPUT_DTYPES, InputDtype, grid, stream
from mxemu.ops import quantize
from mxemu.policy import Policy, get_policy, policies
from mxemu.spec import ElementFormat, MXFormat


@dataclass
class _Blocks:
    """Blocks of 32 inputs of dtype `dt` under construction, with a tag each."""

    dt: InputDtype = FLOAT32
    rows: list[np.ndarray] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)

    def add(self, row: np.ndarray | list[float], tag: str) -> None:
        """The block rounded to the dtype (zero-padded to 32 lanes); dropped where a finite lane would
        overflow it (its coverage point lies beyond the dtype's range)."""
        v = np.asarray(row, dtype=np.float64).reshape(-1)
        r = self.dt.cast(v)
        if np.any(np.isfinite(v) & ~np.isfinite(r.astype(np.float64))):
            return
        if r.size < BLOCK:
            r = np.concatenate([r, np.zeros(BLOCK - r.size, self.dt.dtype)])
        self.rows.append(r[:BLOCK].copy())
        self.tags.append(TAG_IDS[tag])

    def around(self, amax: float, tag: str, position: int, negative: bool = False) -> None:
        """A block whose largest magnitude is amax (of the dtype) at `position`; the others smaller, mixed
        sign."""
        a = float(amax)
        others = np.array([np.ldexp(a, -(1 + j % 5)) * (-1) ** j for j in range(BLOCK)])
        others[position] = -a if negative else a
        self.add(others, tag)


def _amax_points(elem: ElementFormat, level: str, dt: InputDtype) -> list[tuple[float, str]]:
    """Discriminating amax values (exact in the dtype) for the scale suite."""
    emax, m_norm = elem.emax, float(elem.max_normal)
    p = elem.bits - 1 if elem.is_int else elem.mantissa_bits + 1
    ks = [-149, -140, -127, -126, -127 + emax, -128 + emax, -10, -1, 0, 1, emax, emax + 1, 20, 100, 127 - emax, 127]
    if level != "L0":  # L1 every 7th binade of the float32 range, L2 every binade
        ks = sorted(set(ks) | set(range(-150, 128, 1 if level == "L2" else 7)))
    out: list[tuple[float, str]] = []

    def put(values: list[float] | np.ndarray, tag: str, ulps: bool = True) -> None:
        x = dt.exact(values)
        x = x[x > 0]
        out.extend((float(v), tag) for v in x)
        if ulps:
            n = dt.neighbours(x)
            out.extend((float(v), tag) for v in n[n > 0])

    put([2.0 ** k for k in ks], "SC-pow2")
    put([m_norm * 2.0 ** (k - emax) for k in ks], "SC-maxnorm")
    put([(m_norm + 2.0 ** (emax + 1)) / 2 * 2.0 ** (k - emax) for k in ks], "SC-satwin", ulps=False)
    put([(2 - 2.0 ** -p) * 2.0 ** k for k in ks], "SC-even")
    put([d * 2.0 ** k for d in (4.5, 5.0, 6.5, 7.0) for k in (-3, 0, 3)], "SC-discrim", ulps=False)
    m = dt.mantissa_bits  # the dtype's subnormals: the two smallest, half the smallest normal, the largest
    put(list(dt.from_bits([1, 3, 1 << (m - 1), (1 << m) - 1]).astype(np.float64)), "SC-fp32-sub", ulps=False)
    put([2.0 ** (emax - 127 - 3), 2.0 ** (emax - 127 - 1) * 1.5], "SC-clamp-lo", ulps=False)
    put([dt.max, 2.0 ** dt.emax], "SC-clamp-hi", ulps=False)
    return out


def _scale_blocks(mx: MXFormat, level: str, dt: InputDtype = FLOAT32) -> _Blocks:
    b = _Blocks(dt)
    for i, (amax, tag) in enumerate(_amax_points(mx.element, level, dt)):
        b.around(amax, tag, position=i % BLOCK, negative=i % 3 == 2)
    b.add(np.zeros(BLOCK), "SC-zero")
    b.add(-np.zeros(BLOCK, np.float32), "SC-zero")
    b.add(np.where(np.arange(BLOCK) % 2, -0.0, 0.0), "SC-zero")
    for k, special in ((0, np.nan), (13, np.inf), (31, -np.inf), (7, -np.nan)):
        row = np.full(BLOCK, 1.5, np.float32)
        row[k] = special
        b.add(row, "SC-nonfinite")
    row = np.zeros(BLOCK, np.float32)
    row[[3, 9]] = [np.inf, np.nan]
    b.add(row, "SC-nonfinite")
    row = np.full(BLOCK, dt.max)
    row[5] = np.inf
    b.add(row, "SC-nonfinite")
    for k in (0, 6, 31):
        row = np.full(BLOCK, 0.75, np.float32)
        row[k], row[(k + 17) % BLOCK] = 3.0, -3.0
        b.add(row, "SC-signtie")
    return b


# Block scales 2^E of the quantize suite's coverage blocks, by the inputs' exponent bits and the level. L2
# adds scales to +-110: max normal 2^110 stays finite in float32 and bfloat16 for every element format;
# float16 inputs reach 2^-24 .. 65504 only.
QUANTIZE_EXPONENTS = {
    8: {"L0": (0, -10), "L1": (0, -10, 7, -100, 100), "L2": (0, -10, 7, -100, 100, -60, 60, -110, 110)},
    5: {"L0": (0, -8), "L1": (0, -8, -4, -14, -2), "L2": (0, -8, -4, -14, -2, -12, -6, -1)},
}


def _quantize_blocks(mx: MXFormat, level: str, seed: int, dt: InputDtype = FLOAT32) -> _Blocks:
    elem = mx.element
    emax = elem.emax
    g = grid(elem)
    mids = (g[:-1] + g[1:]) / 2
    m_norm = float(elem.max_normal)
    b = _Blocks(dt)
    exps = QUANTIZE_EXPONENTS[dt.exponent_bits][level]
    for E in exps:
        sc = 2.0 ** E
        bulk = np.resize(np.concatenate([g[1:], mids]) * sc, BLOCK)  # values and ties at scale 2^E
        bulk = np.where(np.arange(BLOCK) % 3 == 1, -bulk, bulk)
        bulk = np.minimum(np.abs(bulk), m_norm * sc / 2) * np.sign(bulk)
        for pos in range(BLOCK):  # MB2: amax lane at every position
            row = np.roll(bulk, pos)
            row[pos] = (-1) ** pos * m_norm * sc * 1.0
            b.add(row, "MB2-amax-lane")
        ties = np.resize(mids * sc, BLOCK - 1)
        ties = np.where(np.arange(BLOCK - 1) % 2 == 1, -ties, ties)
        b.add(np.concatenate([[m_norm * sc], ties]), "MB4-ties")
        b.add(np.concatenate([ties[::-1], [-m_norm * sc]]), "MB4-ties")
        for k in (emax, emax + 1, 0):  # MB2-pow2-ulp: amax one ulp (of the dtype) below a power of two
            a = dt.neighbours(dt.cast([2.0 ** k * sc]))[:1]
            b.add(np.concatenate([a, bulk[1:] / 2]), "MB2-pow2-ulp")
        win = (m_norm + 2.0 ** (emax + 1)) / 2 * sc
        b.add(np.concatenate([[win, -win], bulk[2:]]), "MB-saturation")
        b.add(np.concatenate([dt.neighbours(dt.cast([2.0 ** (emax + 1) * sc]))[:1], bulk[1:]]), "MB-saturation")
        # MB8 (golden.md §6.4): a partial last block of n lanes is padded with +0, which must change neither
        # amax nor any code; the amax lane is the last real one, where a padding bug would hide it.
        for n in (1, 5, 16, 31) if level == "L0" else range(1, BLOCK):
            row = np.concatenate([bulk[:n - 1], [-m_norm * sc / 3], np.zeros(BLOCK - n)])
            b.add(row, "MB8-tail")
        tiny = float(elem.min_subnormal) * sc
        small = np.array([tiny * f for f in (0.5, 0.25, 1.0, 1.5, 0.75, 2.0, 0.125, 3.0)])
        small = np.resize(np.concatenate([small, -small]), BLOCK)
        small[0] = m_norm * sc
        b.add(small, "MB3-small-lanes")
        small2 = dt.cast(small)
        small2[1:] = dt.neighbours(small2[1:])[: BLOCK - 1]
        b.add(small2, "MB3-small-lanes")
        # a subnormal of the dtype (float32: 1e-40) and minus the smallest one
        sub = dt.from_bits([0x116C2 >> (FLOAT32.mantissa_bits - dt.mantissa_bits), 1]).astype(np.float64)
        classes = np.array([0.0, -0.0, tiny, -tiny, g[1] * sc, g[len(g) // 2] * sc, -m_norm * sc,
                            m_norm * sc, win, sub[0], -sub[1], g[-2] * sc])
        for r in range(3):
            b.add(np.resize(np.roll(classes, r), BLOCK), "MB1-classes")
    b.add(np.zeros(BLOCK), "MB5-zero")
    b.add(-np.zeros(BLOCK, np.float32), "MB5-zero")
    for pos in (0, 17, 31):
        row = np.zeros(BLOCK, np.float32)
        row[pos] = -1.25 if pos % 2 else 1.25
        b.add(row, "MB5-zero")
    b.add(np.where(np.arange(BLOCK) % 2, -1.0, 1.0) * 0.375, "MB5-zero")
    for k in (0, 13, 31):
        for special in (np.nan, np.inf, -np.inf):
            row = np.resize(mids, BLOCK)
            row[k] = special
            b.add(row, "MB6-nonfinite")
    for a in (2.0 ** (emax - 127), 2.0 ** (emax - 127) * 1.5, 2.0 ** (emax - 130),
              2.0 ** (dt.emin - dt.mantissa_bits), dt.max, 2.0 ** dt.emax, m_norm * 2.0 ** (dt.emax - emax)):
        row = (np.resize(np.concatenate([g[1:], mids]), BLOCK) * (a / m_norm))
        row[5] = -a
        b.add(row, "MB7-scale-ends")
    lanes = np.arange(1, BLOCK + 1)  # subnormals of the dtype across its range, and the 32 smallest negated
    b.add(dt.from_bits(lanes * (((1 << dt.mantissa_bits) - 1) // BLOCK)).astype(np.float64), "MB-fp32-sub")
    b.add(-dt.from_bits(lanes).astype(np.float64), "MB-fp32-sub")
    if elem.is_int:
        for E in (0, -3):
            low = -(2.0 ** (elem.bits - 1)) * float(elem.min_subnormal) * 2.0 ** E
            row = np.resize(np.array([low, low / 2, m_norm * 2.0 ** E, low * 0.99]), BLOCK)
            b.add(row, "MB9-int-min")
            b.add(np.concatenate([[-m_norm * 2.0 ** E, low], np.zeros(BLOCK - 2)]), "MB9-int-min")
            # |x| just below 2^(E+1) keeps the scale at 2^E, so these lanes round to -2^(b-1) steps (code 0x80
            # for a full-range integer, clamped to -(2^(b-1) - 1) steps when symmetric): the tie, above, below
            step = float(elem.min_subnormal) * 2.0 ** E
            near = [low + step / 2, low + step / 4, low + 3 * step / 4]
            b.add(np.resize(np.array([*near, m_norm * 2.0 ** E / 2]), BLOCK), "MB9-int-min")
    if level != "L0":
        n = QUANTIZE_RANDOM[level]
        purpose = f"quantize/{mx.name}" + ("" if dt is FLOAT32 else f"/{dt.name}")
        w = stream(seed, purpose, 3 * n * BLOCK).reshape(3, n, BLOCK)
        span = min(100, dt.emax - 1)  # block magnitudes 2^-span .. 2^(span-1)
        base = (w[0][:, :1] % np.uint64(2 * span)).astype(np.int64) - span
        spread = (w[1] % np.uint64(24)).astype(np.int64)  # log-uniform spread inside the block
        e = np.clip(base - spread, dt.emin, dt.emax)
        m = dt.mantissa_bits
        bits = ((w[2] >> np.uint64(31)) << np.uint64(dt.bits - 1)) | (w[2] & np.uint64((1 << m) - 1)) | \
            ((e + dt.emax).astype(np.uint64) << np.uint64(m))
        for row in bits.astype(dt.uint):
            b.add(dt.from_bits(row).astype(np.float64), "MB-random")
    return b


QUANTIZE_RANDOM = {"L1": 512, "L2": 8192}  # Philox-random blocks (MB-random) of the quantize suite


def _block_table(suite: str, mx: MXFormat, policy: Policy, blocks: _Blocks, seed: int) -> Table:
    dt = blocks.dt
    x = np.stack(blocks.rows)
    tags = np.array(blocks.tags, dtype=np.uint16)
    if policy.nan_to_nonan == "error" and not mx.element.has_nan:
        keep = ~np.isnan(x).any(axis=1)
        x, tags = x[keep], tags[keep]
    t = Table(suite, mx, layout(suite, mx, policy, dt.bits), input_dtype=dt.name)
    rnd = None
    if stochastic(policy) and suite == "quantize":
        x, tags, rnd = _stochastic_blocks(x, tags, policy, seed, f"quantize-sr/{mx.name}")
        t.columns["rnd"] = rnd.astype(t.field("rnd").dtype)
    q = quantize(x, mx, axis=-1, policy=policy, random_bits=rnd)
    scales = np.asarray(q.scales, dtype=np.uint8).reshape(-1)
    codes = np.asarray(q.codes, dtype=np.uint8)
    nan_code = mx.scale.nan_code
    is_nan = scales == nan_code
    s_exp = np.where(is_nan, 0, scales.astype(np.int64) - mx.scale.bias)
    lane_ev = _element_events(x, codes, mx.element, np.broadcast_to(s_exp[:, None], x.shape))
    ev = np.bitwise_or.reduce(lane_ev, axis=1)
    ev = np.where(is_nan, (ev & EV_NONFINITE) | EV_SCALE_NAN, ev)
    ev |= np.where((scales == 0) | (scales == nan_code - 1), EV_SCALE_END, 0).astype(np.uint8)
    ev |= np.where(~np.isfinite(x).all(axis=1), EV_NONFINITE, 0).astype(np.uint8)
    t.columns.update({"tag": tags, "x": dt.to_bits(x).copy(), "scale": scales})
    if suite in ("quantize", "divergence"):
        t.columns["codes"] = codes
        t.columns["ev"] = ev.astype(np.uint8)
        t.columns["chk"] = np.where(is_nan, 2, 0).astype(np.uint8)
    else:
        t.columns["ev"] = (ev & (EV_NONFINITE | EV_SCALE_END | EV_SCALE_NAN)).astype(np.uint8)
        t.columns["chk"] = np.zeros(len(tags), np.uint8)
    return t


def blocks_table(suite: str, mx: MXFormat, policy: Policy, x: np.ndarray, tags: np.ndarray, seed: int = 0) -> Table:
    """Scale or quantize records of given blocks (an (n, 32) array of an input dtype, tag ids)."""
    dt = next(d for d in INPUT_DTYPES.values() if d.dtype == x.dtype)
    return _block_table(suite, mx, policy, _Blocks(dt, rows=list(x), tags=[int(t) for t in tags]), seed)


def _stochastic_blocks(x: np.ndarray, tags: np.ndarray, policy: Policy, seed: int,
                       purpose: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each block three times under stochastic rounding: every lane's random integer 0 (no lane rounds
    away), 2^R - 1 (every inexact lane rounds away) and Philox-random (stream `purpose`)."""
    top = (1 << policy.sr_bits) - 1
    n = len(x)
    random = (stream(seed, purpose, n * BLOCK) % np.uint64(top + 1)).reshape(n, BLOCK)
    rnd = np.stack([np.zeros((n, BLOCK), np.uint64), np.full((n, BLOCK), top, np.uint64), random], axis=1)
    return np.repeat(x, 3, axis=0), np.repeat(tags, 3), rnd.reshape(3 * n, BLOCK).astype(np.uint32)


def build_scale(mx: MXFormat, policy: Policy, level: str, seed: int, dt: InputDtype = FLOAT32) -> Table:
    """Blocks built around discriminating amax values; the scale byte is the expected output."""
    return _block_table("scale", mx, policy, _scale_blocks(mx, level, dt), seed)


def build_quantize(mx: MXFormat, policy: Policy, level: str, seed: int, dt: InputDtype = FLOAT32) -> Table:
    """Blocks from the MB1-MB9 coverage models -> scale byte and 32 element codes."""
    return _block_table("quantize", mx, policy, _quantize_blocks(mx, level, seed, dt), seed)


def divergence_presets() -> tuple[str, ...]:
    """The presets a divergence suite compares against: bit i of the DIFFERS field is preset i.

    Only presets whose scale is an E8M0 value (scale_value = "e8m0"): the others (Brevitas, AMD Quark) model a
    fake-quantizer's float32 scale, which a block's E8M0 scale byte cannot always hold (docs/policies.md), and
    the suite compares scale bytes and codes."""
    return tuple(name for name in policies() if get_policy(name).scale_value == "e8m0")


def _block_results(x: np.ndarray, mx: MXFormat, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """(codes, scale codes) of each row of x as one block."""
    q = quantize(x, mx, axis=-1, policy=policy)
    return np.asarray(q.codes, dtype=np.uint8), np.asarray(q.scales, dtype=np.uint8).reshape(-1)


DIVERGENCE_PER_CLASS = 3  # blocks kept per (coverage tag, agreement pattern of the presets)


def build_divergence(mx: MXFormat, policy: Policy, level: str, seed: int, dt: InputDtype = FLOAT32) -> Table:
    """Blocks on which the presets disagree, with this policy's scale and codes as the expected outputs.

    The candidates are the blocks of the scale and quantize suites (same level and seed). Each is quantized
    under every preset (`divergence_presets`); the presets fall into classes of equal results (codes under
    a NaN scale are don't-care). Blocks where all presets agree are dropped, and at most
    DIVERGENCE_PER_CLASS blocks are kept per (coverage tag, class pattern), so every preset's set holds the
    same inputs. DIFFERS has bit i set when preset i's result differs from this policy's."""
    pool = _scale_blocks(mx, level, dt)
    extra = _quantize_blocks(mx, level, seed, dt)
    x = np.stack(pool.rows + extra.rows)
    tags = pool.tags + extra.tags
    nan = mx.scale.nan_code
    names = divergence_presets()
    results = []
    for name in names:
        other = get_policy(name)
        if other.rounding == "stochastic" or (other.nan_to_nonan == "error" and not mx.element.has_nan):
            results.append(None)  # not comparable on these blocks: never marked as differing
            continue
        c, s = _block_results(x, mx, other)
        results.append(np.concatenate([s[:, None], np.where((s == nan)[:, None], 0, c)], axis=1))
    mine = results[names.index(policy.name)] if policy.name in names else None
    if mine is None:
        c, s = _block_results(x, mx, policy)
        mine = np.concatenate([s[:, None], np.where((s == nan)[:, None], 0, c)], axis=1)
    seen: dict[tuple, int] = {}
    keep, differs = [], []
    for i in range(len(x)):
        rows = [r[i].tobytes() if r is not None else None for r in results]
        labels = tuple(rows.index(r) if r is not None else -1 for r in rows)  # first preset with that result
        if len(set(labels) - {-1}) <= 1:
            continue
        key = (tags[i], labels)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > DIVERGENCE_PER_CLASS:
            continue
        keep.append(i)
        differs.append(sum(1 << b for b, r in enumerate(rows) if r is not None and r != mine[i].tobytes()))
    blocks = _Blocks(dt, rows=list(x[keep]), tags=[tags[i] for i in keep])
    t = _block_table("divergence", mx, policy, blocks, seed)
    t.columns["differs"] = np.array(differs, dtype=np.uint16)
    return t
