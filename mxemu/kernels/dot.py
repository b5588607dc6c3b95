"""MX dot-product kernels: exact fixed-point block sums and the float32 accumulation models."""

# Dot(A, B) = X_A * X_B * sum P_A,i * P_B,i over one block pair, DotGeneral the sum of Dot over the block
# pairs (MX v1.0 §6.1, §6.2; section numbers unverified); the precision and order of the sums are left
# to the implementation, so each accumulation model is named.
# An element is an integer significand times a power of two, so every product is exact in integers.
# Operands arrive as rows of codes (A as (M, K), B transposed to (N, K)) with E8M0 scale codes per
# block; `fix` tables give each code's value in units of the format's smallest step (an exact int64).
# Every rounding to float32 goes through `encode_value`, or is an exact float64 -> float32 cast of a
# value that float64 holds exactly.

from __future__ import annotations

import numpy as np
from numba import njit

from mxemu.kernels.abi import BITS, FLOAT32_FORMAT, IEEE_CAST
from mxemu.kernels.convert import encode_element, split_code
from mxemu.kernels.element import FINITE, INF, NAN, bit_length, encode_value, pow2, round_up, unpack
from mxemu.kernels.scale import E8M0_NAN

# Element classes in the tables: finite (zero included), +Inf, -Inf, NaN.
C_FIN, C_PINF, C_NINF, C_NAN = 0, 1, 2, 3
LIMBS = 24  # 32-bit limbs of the exact accumulator: 768 bits cover every scale and element exponent
M32 = np.int64(0xFFFFFFFF)
# Sign bits as int64 values, not Python literals: numba compiles a function once per literal argument,
# and a compilation of round_f32 (with the encoder it calls) costs seconds.
POS, NEG = np.int64(0), np.int64(1)
# The float32 format and the IEEE cast as int64 tuples, not tuples of Python literals: so typed, the encoder
# call in round_f32 has the signature of the conversion kernels' and shares their one compilation.
F32_FORMAT = tuple(np.int64(v) for v in FLOAT32_FORMAT)
F32_CAST = tuple(np.int64(v) for v in IEEE_CAST)


@njit(cache=True)
def element_tables(F, q):
    """Per code: (value / 2^q as int64, signed significand, exponent, class, sign bit); q = the exponent
    of the smallest step."""
    n = 1 << F[BITS]
    neg = np.zeros(n, np.int8)
    fix = np.zeros(n, np.int64)
    sig = np.zeros(n, np.int64)
    exp = np.zeros(n, np.int64)
    cls = np.zeros(n, np.int8)
    for c in range(n):
        k, sign, m, e, _ = split_code(c, F)
        neg[c] = sign
        if k == NAN:
            cls[c] = C_NAN
        elif k == INF:
            cls[c] = C_NINF if sign else C_PINF
        elif k == FINITE:
            sig[c] = -m if sign else m
            exp[c] = e
            fix[c] = sig[c] << (e - q)
    return fix, sig, exp, cls, neg


@njit(cache=True, inline="always")
def f32_bits(code):
    return np.uint32(code).view(np.float32)


@njit(cache=True)
def round_f32(sign, m, e):
    """float32 nearest (ties to even, IEEE overflow) to (-1)^sign * m * 2^e, 0 <= m < 2^63; 0 gives +0."""
    if m == 0:
        return np.float32(0.0)
    return f32_bits(encode_element(np.int64(FINITE), sign, m, e, e + bit_length(m) - 1, F32_FORMAT, F32_CAST, POS))


@njit(cache=True)
def round_f32_inline(sign, m, e):
    """`round_f32` with the encoder inlined for float32: for the one rounding per product of "fp32_sequential",
    where the out-of-line call with a run-time format costs a third of the time; one more compilation of the
    encoder, paid only by the kernels that add products one by one."""
    if m == 0:
        return np.float32(0.0)
    return f32_bits(encode_value(FINITE, sign, m, e, e + bit_length(m) - 1, FLOAT32_FORMAT, IEEE_CAST, POS))


@njit(cache=True)
def round_signed_f32(v, e):
    """float32 of v * 2^e for a signed int64 v (|v| < 2^63)."""
    if v < 0:
        return round_f32(NEG, -v, e)
    return round_f32(POS, v, e)


@njit(cache=True)
def round_wide_f32(s_hi, s_lo, split, e):
    """float32 of (s_hi * 2^split + s_lo) * 2^e, with |s_hi|, |s_lo| < 2^62 and split <= 36."""
    c = s_lo >> split
    s_hi += c
    s_lo -= c << split
    if s_hi == 0:
        return round_signed_f32(s_lo, e)
    lim = np.int64(1) << (61 - split)
    if -lim < s_hi < lim:
        return round_signed_f32((s_hi << split) + s_lo, e)
    # |value| >= 2^61 * 2^e: float32 keeps 24 bits, so s_lo in (0, 2^split) acts as a sticky bit.
    if s_hi > 0:
        return round_f32(POS, (s_hi << 1) | (1 if s_lo else 0), e + split - 1)
    hm = -s_hi - (1 if s_lo else 0)
    return round_f32(NEG, (hm << 1) | (1 if s_lo else 0), e + split - 1)


@njit(cache=True)
def add_round_f32(acc, v, ev):
    """fl32(acc + v * 2^ev): the exact sum rounded once (an FMA); |v| < 2^32, acc a float32."""
    if not np.isfinite(acc):
        return acc
    if v == 0:
        # An exact zero addend (+0): -0 + +0 is +0.
        return acc if acc != 0 else np.float32(0.0)
    if acc == 0:
        return round_signed_f32(v, ev)
    _, sa, ma, ea, ta = unpack(np.int64(np.float32(acc).view(np.int32)) & M32, 8, 23)
    sb = np.int64(1) if v < 0 else np.int64(0)
    mb = -v if v < 0 else v
    tb = ev + bit_length(mb) - 1
    T = ta if ta > tb else tb
    g = T - 60
    # Each operand on the grid 2^(g-1); bits below 2^g become one sticky half-step (exact for the rounding,
    # since a truncated operand is below 2^(T-27) and the sum's float32 step is at least 2^(T-24)).
    va = _on_grid(ma, ea, g)
    vb = _on_grid(mb, ev, g)
    r = (-va if sa else va) + (-vb if sb else vb)
    if r < 0:
        return round_f32_inline(NEG, -r, g - 1)
    return round_f32_inline(POS, r, g - 1)


@njit(cache=True, inline="always")
def _on_grid(m, e, g):
    """2 * (m * 2^e / 2^g), truncated, with the last bit set when anything was dropped (m < 2^33)."""
    if e >= g:
        return (m << (e - g)) << 1
    r = g - e
    if r >= 62:
        return np.int64(1)
    kept = m >> r
    return (kept << 1) | (1 if (m & ((np.int64(1) << r) - 1)) else 0)


@njit(cache=True)
def _special_block(ca, cb, clsA, clsB, sigA, sigB, lo, hi, nan_scale):
    """Class of a block's product sum when it holds a non-finite product: C_NAN, C_PINF, C_NINF or C_FIN."""
    nan = nan_scale
    pos = False
    neg = False
    for t in range(lo, hi):
        ka = clsA[ca[t]]
        kb = clsB[cb[t]]
        if ka == C_FIN and kb == C_FIN:
            continue
        if ka == C_NAN or kb == C_NAN:
            nan = True
            continue
        za = ka == C_FIN and sigA[ca[t]] == 0
        zb = kb == C_FIN and sigB[cb[t]] == 0
        if za or zb:
            nan = True
            continue
        na = ka == C_NINF or (ka == C_FIN and sigA[ca[t]] < 0)
        nb = kb == C_NINF or (kb == C_FIN and sigB[cb[t]] < 0)
        if na != nb:
            neg = True
        else:
            pos = True
    if nan or (pos and neg):
        return C_NAN
    if pos:
        return C_PINF
    if neg:
        return C_NINF
    return C_FIN


@njit(cache=True, inline="always")
def _special_value(k):
    if k == C_NAN:
        return np.float32(np.nan)
    if k == C_PINF:
        return np.float32(np.inf)
    return np.float32(-np.inf)


@njit(cache=True, inline="always")
def _block_sum(a, b, lo, hi):
    s = np.int64(0)
    for t in range(lo, hi):
        s += a[t] * b[t]
    return s


@njit(cache=True, inline="always")
def _limb_add(L, v, o):
    """L += v * 2^o for a signed int64 v with |v| < 2^62 (limbs of 32 bits, carries deferred)."""
    w = o >> 5
    r = o & 31
    t = (v & M32) << r
    L[w] += t & M32
    L[w + 1] += t >> 32
    u = (v >> 32) << r
    L[w + 1] += u & M32
    L[w + 2] += u >> 32


@njit(cache=True)
def _limbs_f32(L, base):
    """float32 (RNE) of the exact value sum(L[i] * 2^(32 i)) * 2^base; clears L."""
    n = L.shape[0]
    for i in range(n - 1):
        c = L[i] >> 32
        L[i] &= M32
        L[i + 1] += c
    sign = 0
    if L[n - 1] < 0:
        sign = 1
        for i in range(n):
            L[i] = -L[i]
        for i in range(n - 1):
            c = L[i] >> 32
            L[i] &= M32
            L[i + 1] += c
    h = n - 1
    while h >= 0 and L[h] == 0:
        h -= 1
    if h < 0:
        return np.float32(0.0)
    top = 32 * h + bit_length(L[h]) - 1
    low = top - 60 if top > 60 else 0
    m = np.int64(0)
    sticky = 0
    for i in range(h, -1, -1):
        start = 32 * i
        if start + 32 <= low:
            if L[i] != 0:
                sticky = 1
        elif start >= low:
            m += L[i] << (start - low)
        else:
            r = low - start
            m += L[i] >> r
            if L[i] & ((np.int64(1) << r) - 1):
                sticky = 1
        L[i] = 0
    return round_f32(sign, (m << 1) | sticky, base + low - 1)


@njit(cache=True, nogil=True)
def matmul_block_models(A_hi, A_lo, B, ca, cb, sA, sB, flagA, flagB, clsA, clsB, sigA, sigB,
                        k, split, ebase, exact, fast64, pairs, limbs, out, i0, i1):
    """out[i, j] under "exact" (exact == True) or "block_exact_fp32".

    A_hi, A_lo: fixed-point A split as A = A_hi * 2^split + A_lo (split = 0: A_hi = A, A_lo = 0),
    B: fixed-point B rows (N, K); block b of (i, j) has value (Σ A·B) * 2^(sA + sB - 254 + ebase).
    fast64: the block sums fit 53 bits, so float64 holds each block value exactly.
    pairs: row i of A with row i of B only, into column 0 (a batched dot); else every (i, j).
    limbs: (M, LIMBS) zeros, row i the exact accumulator of row i (exact only; (M, 0) otherwise): allocated
    once by the caller, not per row.
    """
    N = cb.shape[0]
    K = ca.shape[1]
    nb = sA.shape[1]
    for i in range(i0, i1):
        L = limbs[i]
        ahi = A_hi[i]
        alo = A_lo[i]
        j0, j1 = (np.int64(i), np.int64(i) + 1) if pairs else (np.int64(0), np.int64(N))
        for j in range(j0, j1):
            brow = B[j]
            acc = np.float32(0.0)
            nan = False
            pinf = False
            ninf = False
            for blk in range(nb):
                lo = blk * k
                hi = min(lo + k, K)
                a_s = np.int64(sA[i, blk])
                b_s = np.int64(sB[j, blk])
                if flagA[i, blk] or flagB[j, blk]:
                    kind = _special_block(ca[i], cb[j], clsA, clsB, sigA, sigB, lo, hi,
                                          a_s == E8M0_NAN or b_s == E8M0_NAN)
                    if kind != C_FIN:
                        if exact:
                            nan |= kind == C_NAN
                            pinf |= kind == C_PINF
                            ninf |= kind == C_NINF
                        else:
                            acc = np.float32(acc + _special_value(kind))
                        continue
                s_hi = _block_sum(ahi, brow, lo, hi)
                s_lo = _block_sum(alo, brow, lo, hi) if split else np.int64(0)
                if exact:
                    o = a_s + b_s
                    if split:
                        _limb_add(L, s_lo, o)
                        _limb_add(L, s_hi, o + split)
                    else:
                        _limb_add(L, s_hi, o)
                    continue
                e = a_s + b_s - 254 + ebase
                if fast64:
                    v = np.float32(np.float64(s_hi) * pow2(e))
                elif split:
                    v = round_wide_f32(s_hi, s_lo, split, e)
                else:
                    v = round_signed_f32(s_hi, e)
                acc = np.float32(acc + v)
            if exact:
                if nan or (pinf and ninf):
                    for t in range(LIMBS):
                        L[t] = 0
                    out[i, j - j0] = np.float32(np.nan)
                elif pinf or ninf:
                    for t in range(LIMBS):
                        L[t] = 0
                    out[i, j - j0] = np.float32(np.inf) if pinf else np.float32(-np.inf)
                else:
                    out[i, j - j0] = _limbs_f32(L, ebase - 254)
            else:
                out[i, j - j0] = acc


@njit(cache=True, inline="always")
def _product(x, y, sx, sy, clsA, clsB, sigA, sigB, expA, expB):
    """(special class or C_FIN, signed significand, exponent) of one scaled product."""
    if sx == E8M0_NAN or sy == E8M0_NAN:
        return C_NAN, np.int64(0), np.int64(0)
    ka = clsA[x]
    kb = clsB[y]
    if ka != C_FIN or kb != C_FIN:
        if ka == C_NAN or kb == C_NAN:
            return C_NAN, np.int64(0), np.int64(0)
        if (ka == C_FIN and sigA[x] == 0) or (kb == C_FIN and sigB[y] == 0):
            return C_NAN, np.int64(0), np.int64(0)
        na = ka == C_NINF or (ka == C_FIN and sigA[x] < 0)
        nb = kb == C_NINF or (kb == C_FIN and sigB[y] < 0)
        return (C_NINF if na != nb else C_PINF), np.int64(0), np.int64(0)
    return C_FIN, sigA[x] * sigB[y], expA[x] + expB[y] + sx + sy - 254


@njit(cache=True, nogil=True)
def matmul_sequential(ca, cb, sA, sB, clsA, clsB, sigA, sigB, expA, expB, negA, negB, k, pairs, out, i0, i1):
    """"fp32_sequential": acc = fl32(acc + a_t * b_t) in index order, each product exact (an FMA chain).

    negA, negB: sign bit of each code, for the sign of a zero product (IEEE: -0 + -0 = -0, else +0).
    """
    N = cb.shape[0]
    K = ca.shape[1]
    for i in range(i0, i1):
        j0, j1 = (np.int64(i), np.int64(i) + 1) if pairs else (np.int64(0), np.int64(N))
        for j in range(j0, j1):
            acc = np.float32(0.0)
            for t in range(K):
                blk = t // k
                kind, p, ep = _product(ca[i, t], cb[j, t], np.int64(sA[i, blk]), np.int64(sB[j, blk]),
                                       clsA, clsB, sigA, sigB, expA, expB)
                if kind != C_FIN:
                    acc = np.float32(acc + _special_value(kind))
                elif p == 0:
                    if acc == 0:
                        both_negative = np.float32(acc).view(np.int32) < 0 and negA[ca[i, t]] != negB[cb[j, t]]
                        acc = np.float32(-0.0) if both_negative else np.float32(0.0)
                else:
                    acc = add_round_f32(acc, p, ep)
            out[i, j - j0] = acc


@njit(cache=True, nogil=True)
def matmul_dequant(a32, b32, pairs, out, i0, i1):
    """"dequant_fp32": acc = fl32(acc + fl32(a_t * b_t)) in index order over float32 operands."""
    N = b32.shape[0]
    K = a32.shape[1]
    for i in range(i0, i1):
        j0, j1 = (np.int64(i), np.int64(i) + 1) if pairs else (np.int64(0), np.int64(N))
        for j in range(j0, j1):
            acc = np.float32(0.0)
            for t in range(K):
                p = np.float32(a32[i, t] * b32[j, t])
                acc = np.float32(acc + p)
            out[i, j - j0] = acc


@njit(cache=True, nogil=True)
def matmul_truncated(ca, cb, sA, sB, clsA, clsB, sigA, sigB, expA, expB, k, group, frac_bits, pairs, out, i0, i1):
    """truncated(group, frac_bits): per group of products, truncate each toward zero to frac_bits bits
    below the group's largest product exponent, sum exactly, then acc = fl32(acc + group sum)."""
    N = cb.shape[0]
    K = ca.shape[1]
    for i in range(i0, i1):
        j0, j1 = (np.int64(i), np.int64(i) + 1) if pairs else (np.int64(0), np.int64(N))
        for j in range(j0, j1):
            acc = np.float32(0.0)
            for g0 in range(0, K, group):
                g1 = min(g0 + group, K)
                special = C_FIN
                top = np.int64(-(1 << 40))
                for t in range(g0, g1):
                    blk = t // k
                    kind, p, ep = _product(ca[i, t], cb[j, t], np.int64(sA[i, blk]), np.int64(sB[j, blk]),
                                           clsA, clsB, sigA, sigB, expA, expB)
                    if kind != C_FIN:
                        if special == C_FIN:
                            special = kind
                        elif special != kind:
                            special = C_NAN
                    elif p != 0:
                        tp = ep + bit_length(p if p > 0 else -p) - 1
                        if tp > top:
                            top = tp
                if special != C_FIN:
                    acc = np.float32(acc + _special_value(special))
                    continue
                if top == -(1 << 40):
                    # Every product is zero: the group sum is +0, and -0 + +0 = +0.
                    acc = add_round_f32(acc, np.int64(0), np.int64(0))
                    continue
                u = top - frac_bits
                s = np.int64(0)
                for t in range(g0, g1):
                    blk = t // k
                    _, p, ep = _product(ca[i, t], cb[j, t], np.int64(sA[i, blk]), np.int64(sB[j, blk]),
                                        clsA, clsB, sigA, sigB, expA, expB)
                    if p == 0:
                        continue
                    mag = p if p > 0 else -p
                    if ep >= u:
                        tr = mag << (ep - u)
                    elif u - ep < 63:
                        tr = mag >> (u - ep)
                    else:
                        tr = np.int64(0)
                    s += tr if p > 0 else -tr
                acc = add_round_f32(acc, s, u)
            out[i, j - j0] = acc


# Slots of a fixed-point accumulation model (mxemu.products.FixedPoint) as the kernels take it.
FX_SLOTS = ("frac_bits", "width", "rounding", "saturate", "scaled", "out_fixed", "out_bits", "out_frac",
            "out_rounding")
FX_FRAC, FX_WIDTH, FX_ROUNDING, FX_SATURATE, FX_SCALED, FX_OUT_FIXED, FX_OUT_BITS, FX_OUT_FRAC, FX_OUT_ROUNDING = (
    range(len(FX_SLOTS)))


@njit(cache=True, inline="always")
def _wrap(v, width):
    """v reduced to a width-bit two's complement integer (width <= 62)."""
    y = v & ((np.int64(1) << width) - 1)
    if y >= np.int64(1) << (width - 1):
        y -= np.int64(1) << width
    return y


@njit(cache=True)
def to_word(v, sh, rounding, width, saturate):
    """R(v * 2^sh) as a width-bit two's complement word: R the rounding to an integer (`round_up`), then
    clamped to [-2^(width-1), 2^(width-1) - 1] (saturate) or wrapped modulo 2^width; |v| < 2^62."""
    hi = (np.int64(1) << (width - 1)) - 1
    if v == 0:
        return np.int64(0)
    sign = 1 if v < 0 else 0
    m = -v if v < 0 else v
    if sh >= 0:
        if saturate:
            if bit_length(m) + sh > width - 1:
                return -hi - 1 if sign else hi
            return v << sh
        if sh >= 64:
            return np.int64(0)
        return _wrap(v << sh, width)
    k = m >> (-sh) if -sh < 63 else np.int64(0)
    if round_up(rounding, sign, k, -sh, m, np.int64(0), 32):
        k += 1
    q = -k if sign else k
    if saturate:
        return min(max(q, -hi - 1), hi)
    return _wrap(q, width)


@njit(cache=True, inline="always")
def _accumulate(acc, q, width, saturate):
    """acc + q in the width-bit accumulator: clamped or wrapped (both operands already in range)."""
    s = acc + q
    if saturate:
        hi = (np.int64(1) << (width - 1)) - 1
        return min(max(s, -hi - 1), hi)
    return _wrap(s, width)


@njit(cache=True, inline="always")
def _special_word(kind, bits):
    """A fixed-point output word for a non-finite result: +Inf the largest word, -Inf the smallest, NaN 0."""
    hi = (np.int64(1) << (bits - 1)) - 1
    if kind == C_PINF:
        return hi
    if kind == C_NINF:
        return -hi - 1
    return np.int64(0)


@njit(cache=True, inline="always")
def _combine(kind, new):
    """Class of a sum holding non-finite parts of classes kind and new (C_FIN: none yet)."""
    if new == C_FIN:
        return kind
    if kind == C_FIN:
        return new
    return kind if kind == new else C_NAN


@njit(cache=True)
def _fixed_point_pair(ca, cb, sa, sb, clsA, clsB, sigA, sigB, expA, expB, k, X):
    """One dot product of code rows ca, cb under the fixed-point model X: (float32 result, output word); the
    one the model's output does not give is 0."""
    K = ca.shape[0]
    nb = sa.shape[0]
    frac = X[FX_FRAC]
    width = X[FX_WIDTH]
    sat = X[FX_SATURATE] != 0
    scaled = X[FX_SCALED] != 0
    acc = np.int64(0)
    acc32 = np.float32(0.0)
    word = np.int64(0)
    special = C_FIN
    for blk in range(nb):
        lo = blk * k
        hi = min(lo + k, K)
        xs = np.int64(sa[blk]) + np.int64(sb[blk]) - 254
        if not scaled:
            acc = np.int64(0)
        kind = C_FIN
        for t in range(lo, hi):
            kp, p, ep = _product(ca[t], cb[t], np.int64(sa[blk]), np.int64(sb[blk]), clsA, clsB, sigA, sigB,
                                 expA, expB)
            if kp != C_FIN:
                kind = _combine(kind, kp)
                continue
            if not scaled:
                ep -= xs
            acc = _accumulate(acc, to_word(p, ep + frac, X[FX_ROUNDING], width, sat), width, sat)
        if kind != C_FIN:
            special = _combine(special, kind)
            if not scaled and X[FX_OUT_FIXED] == 0:
                acc32 = np.float32(acc32 + _special_value(kind))
            continue
        if scaled:
            continue
        if X[FX_OUT_FIXED]:
            w = to_word(acc, X[FX_OUT_FRAC] - frac + xs, X[FX_OUT_ROUNDING], X[FX_OUT_BITS], sat)
            word = _accumulate(word, w, X[FX_OUT_BITS], sat)
        else:
            acc32 = np.float32(acc32 + round_signed_f32(acc, xs - frac))
    if X[FX_OUT_FIXED]:
        if special != C_FIN:
            word = _special_word(special, X[FX_OUT_BITS])
        elif scaled:
            word = to_word(acc, X[FX_OUT_FRAC] - frac, X[FX_OUT_ROUNDING], X[FX_OUT_BITS], sat)
        return np.float32(0.0), word
    if scaled:
        return (_special_value(special) if special != C_FIN else round_signed_f32(acc, -frac)), np.int64(0)
    return acc32, np.int64(0)


@njit(cache=True, nogil=True)
def matmul_fixed_point(ca, cb, sA, sB, clsA, clsB, sigA, sigB, expA, expB, k, X, pairs, out, words, i0, i1):
    """out[i, j] (float32 output) or words[i, j] (fixed output) of A row i and B row j under the fixed-point
    model X; with pairs, row i of A with row i of B only (column 0)."""
    N = cb.shape[0]
    for i in range(i0, i1):
        j0, j1 = (np.int64(i), np.int64(i) + 1) if pairs else (np.int64(0), np.int64(N))
        for j in range(j0, j1):
            out[i, j - j0], words[i, j - j0] = _fixed_point_pair(ca[i], cb[j], sA[i], sB[j], clsA, clsB, sigA, sigB,
                                                                 expA, expB, k, X)


# Slots of a float accumulation model (mxemu.products.FloatAccumulator) as the kernels take it.
FA_SLOTS = ("mant_bits", "group", "align", "align_bits", "align_rounding", "add_rounding", "rounding")
FA_MANT, FA_GROUP, FA_ALIGN, FA_ALIGN_BITS, FA_ALIGN_ROUNDING, FA_ADD_ROUNDING, FA_ROUNDING = range(len(FA_SLOTS))
ALIGN_PRODUCT, ALIGN_EXPONENT, ALIGN_FIXED = range(3)


@njit(cache=True, inline="always")
def _round_int(v, sh, rounding):
    """R(v * 2^sh) to an integer by `round_up`, for |v| < 2^62 and a result below 2^62 (no clamping)."""
    return to_word(v, sh, rounding, 63, True)


@njit(cache=True)
def _float_add(m, e, s, es, X):
    """The register (m, e) = m * 2^e (|m| < 2^(M+1), 0 for zero) plus s * 2^es: both rounded onto the grid
    2^(E - M), E the larger floor(log2) of the non-zero operands, by the add rounding; the exact sum normalised
    to M + 1 significant bits by the rounding after normalising. Returns the new (m, e)."""
    if s == 0:
        return m, e
    M = X[FA_MANT]
    ts = es + bit_length(s if s > 0 else -s) - 1
    top = ts
    if m != 0:
        tm = e + bit_length(m if m > 0 else -m) - 1
        if tm > top:
            top = tm
    h = top - M
    z = _round_int(s, es - h, X[FA_ADD_ROUNDING])
    if m != 0:
        z += _round_int(m, e - h, X[FA_ADD_ROUNDING])
    if z == 0:
        return np.int64(0), np.int64(0)
    bl = bit_length(z if z > 0 else -z)
    if bl <= M + 1:
        return z << (M + 1 - bl), h - (M + 1 - bl)
    d = bl - M - 1
    r = _round_int(z, -d, X[FA_ROUNDING])
    if bit_length(r if r > 0 else -r) > M + 1:  # rounded up to 2^(M+1): one more exact halving
        return r >> 1, h + d + 1
    return r, h + d


@njit(cache=True)
def _float_pair(ca, cb, sa, sb, clsA, clsB, sigA, sigB, expA, expB, fexpA, fexpB, k, X):
    """One dot product of code rows ca, cb under the float accumulation model X, as float32."""
    K = ca.shape[0]
    nb = sa.shape[0]
    G = X[FA_GROUP]
    m = np.int64(0)
    e = np.int64(0)
    special = C_FIN
    for blk in range(nb):
        xs = np.int64(sa[blk]) + np.int64(sb[blk]) - 254
        for g0 in range(blk * k, min(blk * k + k, K), G):
            g1 = min(g0 + G, blk * k + k, K)
            kind = C_FIN
            top = np.int64(-(1 << 40))
            for t in range(g0, g1):
                kp, p, ep = _product(ca[t], cb[t], np.int64(sa[blk]), np.int64(sb[blk]), clsA, clsB, sigA, sigB,
                                     expA, expB)
                if kp != C_FIN:
                    kind = _combine(kind, kp)
                elif X[FA_ALIGN] == ALIGN_EXPONENT:
                    top = max(top, fexpA[ca[t]] + fexpB[cb[t]])
                elif X[FA_ALIGN] == ALIGN_PRODUCT and p != 0:
                    top = max(top, ep - xs + bit_length(p if p > 0 else -p) - 1)
            if kind != C_FIN:
                special = _combine(special, kind)
                continue
            if X[FA_ALIGN] == ALIGN_FIXED:
                top = np.int64(0)
            elif top == -(1 << 40):
                continue  # every product is zero: the group adds an exact zero
            grid = top - X[FA_ALIGN_BITS]
            s = np.int64(0)
            for t in range(g0, g1):
                _, p, ep = _product(ca[t], cb[t], np.int64(sa[blk]), np.int64(sb[blk]), clsA, clsB, sigA, sigB,
                                    expA, expB)
                s += _round_int(p, ep - xs - grid, X[FA_ALIGN_ROUNDING])
            m, e = _float_add(m, e, s, grid + xs, X)
    if special != C_FIN:
        return _special_value(special)
    return round_signed_f32(m, e)


@njit(cache=True, nogil=True)
def matmul_float_accumulator(ca, cb, sA, sB, clsA, clsB, sigA, sigB, expA, expB, fexpA, fexpB, k, X, pairs, out,
                             i0, i1):
    """out[i, j] of A row i and B row j under the float accumulation model X; with pairs, row i with row i."""
    N = cb.shape[0]
    for i in range(i0, i1):
        j0, j1 = (np.int64(i), np.int64(i) + 1) if pairs else (np.int64(0), np.int64(N))
        for j in range(j0, j1):
            out[i, j - j0] = _float_pair(ca[i], cb[j], sA[i], sB[j], clsA, clsB, sigA, sigB, expA, expB, fexpA,
                                         fexpB, k, X)
