"""The decode and encode suites: the element codec and scalar rounding decisions."""

from __future__ import annotations

import math

import numpy as np

from mxemu.golden.suites.tables import (
    EV_INEXACT,
    EV_NONFINITE,
    EV_SATURATED,
    EV_UNDERFLOW,
    TAG_IDS,
    Table,
    layout,
    stochastic,
)
from mxemu.golden.suites.values import (
    FLOAT32,
    InputDtype,
    _signed,
    _unique_cases,
    f32_bits,
    grid,
    stream,
)
from mxemu.ops import decode, encode
from mxemu.policy import Policy
from mxemu.spec import ElementFormat, MXFormat


def build_decode(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Every code of the element format -> its value at scale 2^0 as float32 bits (NaN codes: check class nan)."""
    elem = mx.element
    codes = np.arange(elem.num_codes, dtype=np.uint8)
    values = decode(codes, elem, dtype=np.float32)
    v64 = values.astype(np.float64)
    exp_field = (codes.astype(np.int64) >> elem.mantissa_bits) & ((1 << elem.exponent_bits) - 1)
    tags = np.where(
        np.isnan(v64), TAG_IDS["DEC-nan"], np.where(
            np.isinf(v64), TAG_IDS["DEC-inf"], np.where(
                v64 == 0, TAG_IDS["DEC-zero"], np.where(
                    (exp_field == 0) & (not elem.is_int), TAG_IDS["DEC-subnormal"], TAG_IDS["DEC-normal"]))))
    nonfinite = ~np.isfinite(v64)
    t = Table("decode", mx, layout("decode", mx))
    t.columns = {
        "tag": tags.astype(np.uint16), "code": codes, "value": f32_bits(values).copy(),
        "ev": np.where(nonfinite, EV_NONFINITE, 0).astype(np.uint8),
        "chk": np.where(np.isnan(v64), 1, 0).astype(np.uint8),
    }
    return t


def _encode_inputs(elem: ElementFormat, s: int, dt: InputDtype) -> tuple[np.ndarray, np.ndarray]:
    g = grid(elem)
    q_top = g[-1] - g[-2]
    mids = (g[:-1] + g[1:]) / 2
    scale = 2.0 ** s
    grid_x = _signed(dt.exact(g * scale))
    mid_x = _signed(dt.exact(mids[1:] * scale))
    under_x = _signed(dt.exact([mids[0] * scale]))
    over_pts = dt.exact([(g[-1] + q_top / 2) * scale, (g[-1] + q_top) * scale, 2 * g[-1] * scale])
    over_x = _signed(np.concatenate([over_pts, dt.neighbours(over_pts[:1]), dt.exact([dt.max])]))
    groups = [
        (dt.from_bits(dt.special_bits()), "ENC-special"),
        (_signed(dt.from_bits(dt.subnormal_bits())), "ENC-fp32-sub"),
        (over_x, "ENC-overflow"),
        (np.concatenate([under_x, dt.neighbours(under_x)]), "ENC-underflow"),
        (grid_x, "ENC-grid"),
        (mid_x, "ENC-mid"),
        (dt.neighbours(grid_x), "ENC-grid-ulp"),
        (dt.neighbours(mid_x), "ENC-mid-ulp"),
    ]
    return _unique_cases([g_ for g_, _ in groups], [t for _, t in groups], dt)


def _random_inputs(elem: ElementFormat, s: int, seed: int, purpose: str, count: int, dt: InputDtype) -> np.ndarray:
    """Random bit patterns of `dt`: random sign and mantissa bits, exponent uniform over the element's
    binades (min subnormal / 8 .. 8 max normal) times 2^s, kept inside the dtype's normal range."""
    w = stream(seed, purpose, 3 * count).reshape(3, count)
    lo = math.floor(math.log2(elem.min_subnormal)) - 3 + s
    hi = math.floor(math.log2(elem.max_normal)) + 3 + s
    e = lo + (w[1] % np.uint64(hi - lo + 1)).astype(np.int64)
    e = np.clip(e, dt.emin, dt.emax)
    m, top = dt.mantissa_bits, dt.bits - 1
    # float32 keeps its original draw: the sign from the top bit of a 32-bit word
    sign = (w[0] >> np.uint64(31)) << np.uint64(top)
    bits = sign | (np.uint64((1 << m) - 1) & w[2]) | ((e + dt.emax).astype(np.uint64) << np.uint64(m))
    return bits.astype(dt.uint)


def encode_scales(level: str, elem: ElementFormat, dt: InputDtype = FLOAT32) -> tuple[int, ...]:
    """Scale exponents of the encode suite at a level. With 8 exponent bits (float32, bfloat16) the ends of
    the E8M0 range; float16 inputs reach only part of it, so there the ends are the scales that put the
    element's smallest subnormal on float16's smallest subnormal and its top binade on float16's."""
    if dt.exponent_bits != 8:
        lo = dt.emin - dt.mantissa_bits - round(math.log2(elem.min_subnormal))
        hi = dt.emax - elem.emax
        if level == "L2":
            return tuple(range(lo, hi + 1))
        return (0, lo, hi) if level == "L0" else tuple(dict.fromkeys((0, lo, lo + 1, -1, 1, hi - 1, hi)))
    if level == "L2":  # every finite E8M0 scale
        return tuple(range(-127, 128))
    return (0, -127, 127) if level == "L0" else (0, -127, -126, -20, -1, 1, 20, 126, 127)


def build_encode(mx: MXFormat, policy: Policy, level: str, seed: int, dt: InputDtype = FLOAT32) -> Table:
    """Scalar rounding decisions: (scale byte, x in the input dtype) -> element code of x / 2^(scale-127)."""
    elem = mx.element
    scale_col, x_col, tag_col = [], [], []
    for s in encode_scales(level, elem, dt):
        bits, tags = _encode_inputs(elem, s, dt)
        if level != "L0":
            purpose = f"encode/{mx.name}/{s}" + ("" if dt is FLOAT32 else f"/{dt.name}")
            rnd = _random_inputs(elem, s, seed, purpose, 1024, dt)
            bits = np.concatenate([bits, rnd])
            tags = np.concatenate([tags, np.full(len(rnd), TAG_IDS["ENC-random"], np.uint16)])
        scale_col.append(np.full(len(bits), s + 127, np.uint8))
        x_col.append(bits)
        tag_col.append(tags)
    x_bits = np.concatenate(x_col)
    scales = np.concatenate(scale_col)
    tags = np.concatenate(tag_col)
    if policy.nan_to_nonan == "error" and not elem.has_nan:
        keep = ~np.isnan(dt.from_bits(x_bits))
        x_bits, scales, tags = x_bits[keep], scales[keep], tags[keep]
    return encode_table(mx, policy, x_bits, scales, tags, dt, level, seed)


def encode_table(mx: MXFormat, policy: Policy, x_bits: np.ndarray, scales: np.ndarray, tags: np.ndarray,
                 dt: InputDtype = FLOAT32, level: str = "L0", seed: int = 0) -> Table:
    """Encode records of the given inputs (bit patterns of `dt`, E8M0 scale bytes below 0xFF, tag ids) with
    the kernels' codes; under stochastic rounding each input is repeated with the draws that pin its
    decision down (`level` and `seed` add random ones above L0)."""
    elem = mx.element
    x = dt.from_bits(x_bits)
    s_exp = scales.astype(np.int64) - 127
    t = Table("encode", mx, layout("encode", mx, policy, dt.bits), input_dtype=dt.name)
    if stochastic(policy):
        index, rnd = _stochastic_draws(x, elem, s_exp, policy, level, seed, f"encode-sr/{mx.name}")
        x_bits, scales, tags, x, s_exp = x_bits[index], scales[index], tags[index], x[index], s_exp[index]
        codes = encode(x, elem, scale_exp=s_exp, policy=policy, random_bits=rnd)
        t.columns["rnd"] = rnd.astype(t.field("rnd").dtype)
    else:
        codes = encode(x, elem, scale_exp=s_exp, policy=policy)
    t.columns.update({"tag": tags, "scale": scales, "x": x_bits, "code": codes,
                      "ev": _element_events(x, codes, elem, s_exp), "chk": np.zeros(len(x), np.uint8)})
    return t


def _stochastic_draws(x: np.ndarray, elem: ElementFormat, s_exp: np.ndarray, policy: Policy, level: str,
                      seed: int, purpose: str) -> tuple[np.ndarray, np.ndarray]:
    """(index into x, random integer) pairs that pin down each input's stochastic rounding decision.

    Every input takes r = 0 (never rounds away: truncation) and r = 2^R - 1 (rounds away whenever inexact).
    Where the two differ, the decision turns at one r* (the result rounds away iff r >= r*, monotone in r);
    r* - 1 and r* are added, found by bisection on the kernel and checked by the oracle like every case.
    L1 and L2 add one Philox-random r per input."""
    top = (1 << policy.sr_bits) - 1

    def codes(r: np.ndarray) -> np.ndarray:
        return encode(x, elem, scale_exp=s_exp, policy=policy, random_bits=r)

    lo, hi = np.zeros(len(x), np.int64), np.full(len(x), top, np.int64)
    at_lo = codes(lo)
    turns = at_lo != codes(hi)
    while np.any(turns & (hi - lo > 1)):  # invariant on turning inputs: code(lo) = code(0) != code(hi)
        mid = (lo + hi) // 2
        same = codes(mid) == at_lo
        lo, hi = np.where(turns & same, mid, lo), np.where(turns & ~same, mid, hi)
    every = np.arange(len(x))
    index = [every, every, every[turns], every[turns]]
    draws = [np.zeros(len(x), np.int64), np.full(len(x), top, np.int64), lo[turns], hi[turns]]
    if level != "L0":
        index.append(every)
        draws.append((stream(seed, purpose, len(x)) % np.uint64(top + 1)).astype(np.int64))
    # One case per distinct (input, r), the draws of one input together in increasing r.
    key = np.unique(np.concatenate(index).astype(np.int64) << 33 | np.concatenate(draws))
    return key >> 33, (key & ((1 << 33) - 1)).astype(np.uint32)


def _element_events(x: np.ndarray, codes: np.ndarray, elem: ElementFormat, s_exp: np.ndarray) -> np.ndarray:
    """Events of each lane (same shape as x): inexact, underflow, saturated, nonfinite input."""
    with np.errstate(invalid="ignore"):  # signalling NaNs warn on the way to float64
        x64 = np.asarray(x, dtype=np.float64)
    dec = decode(codes, elem, scale_exp=s_exp, dtype=np.float64)
    finite = np.isfinite(x64)
    scale = np.ldexp(1.0, s_exp)
    tiny = float(elem.min_subnormal if elem.is_int else elem.min_normal) * scale
    with np.errstate(invalid="ignore"):
        inexact = finite & (dec != x64)
        ev = np.where(inexact, EV_INEXACT, 0)
        ev |= np.where(inexact & (np.abs(x64) < tiny), EV_UNDERFLOW, 0)
        ev |= np.where(finite & (np.abs(x64) > float(elem.max_normal) * scale), EV_SATURATED, 0)
        ev |= np.where(~finite, EV_NONFINITE, 0)
    return ev.astype(np.uint8)
