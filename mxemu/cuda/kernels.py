"""Triton kernels: MX block quantize, fake-quantize and dequantize, lane for lane the numba kernels' rounding.

Set TRITON_INTERPRET=1 before this module is imported to run the kernels on CPU tensors.

A program takes BB blocks of L = K1 * K2 lanes ([BB, L] tiles). The input is viewed as a contiguous
5-D array (A, N1, MID, N2, B): 1-D blocks run along N2 (K1 = 1), 2-D tiles along N1 and N2; lane
addresses come from strides, so blocks along a leading axis are strided loads, not a transposed
copy. Every lane is moved to float32 bits (exact for float16 and bfloat16) and rounded once from
(sign, m < 2^24, e), as `mxemu.kernels.element.encode_value` does; the scale comes from the
threshold table of constants.py. Format and policy numbers are constexprs, so each (format,
policy, input dtype) compiles its own specialised kernel. Packed quantize packs each block's codes
in registers and stores them at the block's row of `mxemu.array.pack_array` (`_store_packed`);
packed dequantize reads that row back and unpacks it in registers (`_load_packed`).
"""

from __future__ import annotations

import triton
import triton.language as tl

from mxemu.cuda.constants import DEC_INF as _DEC_INF
from mxemu.cuda.constants import DEC_NAN as _DEC_NAN
from mxemu.kernels import abi
from mxemu.kernels.scale import E8M0_NAN as E8M0_NAN_CODE

# Policy codes as constexpr globals (the only globals a compiled Triton kernel may read).
RNE = tl.constexpr(abi.RNE)
RNA = tl.constexpr(abi.RNA)
RTZ = tl.constexpr(abi.RTZ)
RUP = tl.constexpr(abi.RUP)
RDN = tl.constexpr(abi.RDN)
RTO = tl.constexpr(abi.RTO)
NAN_SCALE = tl.constexpr(abi.NAN_SCALE)
PROPAGATE = tl.constexpr(abi.PROPAGATE)
IGNORE_NAN = tl.constexpr(abi.IGNORE_NAN)
INF_AS_EXPONENT = tl.constexpr(abi.INF_AS_EXPONENT)
KEEP = tl.constexpr(abi.KEEP)
FLUSH_BLOCK = tl.constexpr(abi.FLUSH_BLOCK)
FLUSH = tl.constexpr(abi.FLUSH)
MIN_SCALE_MIN_NORMAL = tl.constexpr(abi.MIN_SCALE_MIN_NORMAL)
MIN_SCALE_ONE = tl.constexpr(abi.MIN_SCALE_ONE)
E8M0_NAN = tl.constexpr(E8M0_NAN_CODE)
DEC_INF = tl.constexpr(_DEC_INF)
DEC_NAN = tl.constexpr(_DEC_NAN)

@triton.jit
def _bit_length_minus_one(m):
    """floor(log2 m) of positive int32 m < 2^24, read off the exact float32 conversion's exponent."""
    return (m.to(tl.float32).to(tl.int32, bitcast=True) >> 23) - 127


@triton.jit
def _philox(k0, k1, idx):
    """Word 0 of Philox4x32-10, key (k0, k1), counter (idx lo, idx hi, 0, 0): `mxemu.kernels.element.philox`."""
    c0 = (idx & 0xFFFFFFFF).to(tl.uint32)
    c1 = (idx >> 32).to(tl.uint32)
    c2 = tl.zeros_like(c0)
    c3 = tl.zeros_like(c0)
    ra = tl.full(c0.shape, 0xD2511F53, tl.uint32)
    rb = tl.full(c0.shape, 0xCD9E8D57, tl.uint32)
    for _ in tl.static_range(10):
        hi0 = tl.umulhi(ra, c0)
        lo0 = ra * c0
        hi1 = tl.umulhi(rb, c2)
        lo1 = rb * c2
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = k0 + 0x9E3779B9
        k1 = k1 + 0xBB67AE85
    return c0


@triton.jit
def _encode_finite(sign, m, e, s, rnd, IS_INT: tl.constexpr, BITS: tl.constexpr, M: tl.constexpr,
                   EMIN: tl.constexpr, EMAX: tl.constexpr, KMAX: tl.constexpr, KMAXN: tl.constexpr,
                   SIGNBIT: tl.constexpr, MASK: tl.constexpr, ROUNDING: tl.constexpr, SR_BITS: tl.constexpr,
                   ZC0: tl.constexpr, ZC1: tl.constexpr, MAXC0: tl.constexpr, MAXC1: tl.constexpr,
                   OVFI0: tl.constexpr, OVFI1: tl.constexpr):
    """Code of the nonzero finite value (-1)^sign * m * 2^(e - s), m < 2^24, rounded once (encode_value):
    P_i = V_i / X of MX v1.0 §6.3, each mode stepping as its row of `mxemu.kernels.rounding` says."""
    neg = sign != 0
    ep = e - s
    Ep = ep + _bit_length_minus_one(m)
    if IS_INT:
        qe = tl.zeros_like(ep) + EMIN
    else:
        qe = tl.maximum(Ep, EMIN) - M
    shift = qe - ep
    # m < 2^24: from shift 25 on every bit is discarded and |v| < half a quantum, so a shift of 30
    # rounds alike (stochastic rounding reads the true shift below).
    shc = tl.minimum(tl.maximum(shift, 0), 30)
    kd = m >> shc
    rem = m & ((1 << shc) - 1)
    half = (1 << shc) >> 1
    if ROUNDING == RNE:
        up = (rem > half) | ((rem == half) & ((kd & 1) == 1))
    elif ROUNDING == RNA:
        up = rem >= half
    elif ROUNDING == RTZ:
        up = rem < 0
    elif ROUNDING == RUP:
        up = sign == 0
    elif ROUNDING == RDN:
        up = sign != 0
    elif ROUNDING == RTO:
        up = (kd & 1) == 0
    else:
        # The top SR_BITS of the discarded fraction plus the random integer carry out.
        d = shift - SR_BITS
        rem64 = rem.to(tl.int64)
        t = tl.where(d >= 0, rem64 >> tl.minimum(tl.maximum(d, 0), 40).to(tl.int64),
                     rem64 << tl.maximum(-d, 0).to(tl.int64))
        up = (t + rnd) >= (1 << SR_BITS)
    up = up & (rem != 0)
    k = tl.where(shift <= 0, m << tl.minimum(tl.maximum(-shift, 0), 24), kd + up.to(tl.int32))
    if IS_INT:
        kmax = tl.where(neg, KMAXN, KMAX)
        signed = tl.where(neg, -k, k) & MASK
        code = tl.where(k == 0, 0, signed)
        code = tl.where(((Ep - EMIN) >= BITS) | (k > kmax), tl.where(neg, MAXC1, MAXC0), code)
    else:
        carry = k >= (1 << (M + 1))
        k = tl.where(carry, k >> 1, k)
        qe = qe + carry.to(tl.int32)
        ovf = (qe > EMAX - M) | ((qe == EMAX - M) & (k > KMAX))
        # OVFI0 / OVFI1: the overflow code of the mode for each sign (rounding table, constants.py).
        ovf_code = tl.where(neg, OVFI1, OVFI0)
        sbit = tl.where(neg, SIGNBIT, 0)
        normal = sbit | ((qe + M - EMIN + 1) << M) | (k - (1 << M))
        code = tl.where(k < (1 << M), sbit | k, normal)
        code = tl.where(k == 0, tl.where(neg, ZC1, ZC0), code)
        code = tl.where(ovf, ovf_code, code)
    return code


@triton.jit
def _block_coords(q, NJ1, MID, NJ2, B):
    """(a, j1, mid, j2, b) of block q: blocks numbered in C order of (A, NJ1, MID, NJ2, B), the scales' order."""
    b = q % B
    t = q // B
    j2 = t % NJ2
    t = t // NJ2
    mid = t % MID
    t = t // MID
    j1 = t % NJ1
    a = t // NJ1
    return a, j1, mid, j2, b


@triton.jit
def _lane_offsets(pid, nblocks, NJ1, MID, NJ2, B, N1, N2, S_A, S_N1, S_M, S_N2,
                  BB: tl.constexpr, K1: tl.constexpr, K2: tl.constexpr, TILE_T: tl.constexpr):
    """(block index [BB], element offsets [BB, L], lane mask [BB, L]) of program pid's blocks.

    A tile's lanes run along N2 within a row of N1 (row-major); TILE_T (square tiles only) makes
    them run down N1 instead, the lane order of a tile whose axes were listed in reverse.
    """
    q = pid.to(tl.int64) * BB + tl.arange(0, BB).to(tl.int64)
    a, j1, mid, j2, b = _block_coords(q, NJ1, MID, NJ2, B)
    lane = tl.arange(0, K1 * K2)
    if TILE_T:
        n1 = j1[:, None] * K1 + (lane % K1)[None, :]
        n2 = j2[:, None] * K2 + (lane // K1)[None, :]
    else:
        n1 = j1[:, None] * K1 + (lane // K2)[None, :]
        n2 = j2[:, None] * K2 + (lane % K2)[None, :]
    mask = (q < nblocks)[:, None] & (n1 < N1) & (n2 < N2)
    off = (a * S_A + mid * S_M + b)[:, None] + n1 * S_N1 + n2 * S_N2
    return q, off, mask


@triton.jit
def _block_row(q, NJ1, MID, NJ2, B, TILE_T: tl.constexpr):
    """Row of block q in `mxemu.blocking.to_blocks` order, the row order of `mxemu.array.pack_array`.

    to_blocks moves the blocked axes last in the order they were listed: rows run in C order of
    (A, MID, B, NJ1, NJ2), or (A, MID, B, NJ2, NJ1) for tile axes listed in reverse (TILE_T).
    """
    a, j1, mid, j2, b = _block_coords(q, NJ1, MID, NJ2, B)
    lead = (a * MID + mid) * B + b
    if TILE_T:
        row = (lead * NJ2 + j2) * NJ1 + j1
    else:
        row = (lead * NJ1 + j1) * NJ2 + j2
    return row


@triton.jit
def _record_bytes(row, BB: tl.constexpr, L: tl.constexpr, G: tl.constexpr, NB: tl.constexpr,
                  NBP: tl.constexpr, INTERLEAVED: tl.constexpr):
    """(offsets [BB, L / G, NBP] of the packed bytes of record `row`, byte index k [NBP], record length).

    `mxemu.packing.pack_mx` writes a block as one record: [scale byte if interleaved] + L / G groups
    of NB bytes. NBP is NB rounded up to a power of two; bytes k >= NB are masked off.
    """
    k = tl.arange(0, NBP)
    rec = (L // G) * NB + INTERLEAVED
    off = (row * rec + INTERLEAVED)[:, None, None] + (tl.arange(0, L // G) * NB)[None, :, None] + k[None, None, :]
    return off, k, rec


@triton.jit
def _group_shifts(G: tl.constexpr, SHIFT0: tl.constexpr, SHIFT_STEP: tl.constexpr):
    """Bit offset [G] (int64) of code j of a group in its little-endian word (docs/layouts.md)."""
    return (SHIFT0 + tl.arange(0, G) * SHIFT_STEP).to(tl.int64)


@triton.jit
def _store_packed(packed_ptr, scales_ptr, code, scale, row, valid, BB: tl.constexpr, L: tl.constexpr,
                  G: tl.constexpr, NB: tl.constexpr, NBP: tl.constexpr, SHIFT0: tl.constexpr,
                  SHIFT_STEP: tl.constexpr, INTERLEAVED: tl.constexpr):
    """Write blocks as `mxemu.packing.pack_mx` lays them out: record `row` = [scale byte] + packed codes.

    Every layout packs groups of G codes into NB whole bytes (docs/layouts.md): code j of a group
    sits at bit SHIFT0 + j * SHIFT_STEP of a little-endian word (bitstream_le: G = 8 / gcd(bits, 8),
    shifts j * bits; nibble_hi_first: shifts 4, 0; byte_msb: shift 8 - bits). A block of L codes
    fills whole bytes, so records are independent.
    """
    groups = tl.reshape(code.to(tl.int64), (BB, L // G, G))
    # The fields are disjoint, so their sum is their bitwise OR.
    word = tl.sum(groups << _group_shifts(G, SHIFT0, SHIFT_STEP)[None, None, :], axis=2)
    off, k, rec = _record_bytes(row, BB, L, G, NB, NBP, INTERLEAVED)
    byte = (word[:, :, None] >> (8 * k).to(tl.int64)[None, None, :]) & 0xFF
    tl.store(packed_ptr + off, byte.to(tl.uint8), mask=valid[:, None, None] & (k < NB)[None, None, :])
    if INTERLEAVED:
        tl.store(packed_ptr + row * rec, scale.to(tl.uint8), mask=valid)
    else:
        tl.store(scales_ptr + row, scale.to(tl.uint8), mask=valid)


@triton.jit
def _load_packed(packed_ptr, scales_ptr, row, valid, BB: tl.constexpr, L: tl.constexpr, G: tl.constexpr,
                 NB: tl.constexpr, NBP: tl.constexpr, SHIFT0: tl.constexpr, SHIFT_STEP: tl.constexpr,
                 INTERLEAVED: tl.constexpr, CODE_MASK: tl.constexpr):
    """(codes [BB, L] int32, scales [BB] int32) of records `row`: the inverse of `_store_packed`.

    Each group's NB bytes are read back as one little-endian word and code j is the CODE_MASK
    field at bit SHIFT0 + j * SHIFT_STEP of it (`mxemu.packing.unpack_codes`).
    """
    off, k, rec = _record_bytes(row, BB, L, G, NB, NBP, INTERLEAVED)
    byte = tl.load(packed_ptr + off, mask=valid[:, None, None] & (k < NB)[None, None, :], other=0).to(tl.int64)
    # Distinct bytes hold disjoint bits of the word, so their sum is their bitwise OR.
    word = tl.sum(byte << (8 * k).to(tl.int64)[None, None, :], axis=2)
    groups = (word[:, :, None] >> _group_shifts(G, SHIFT0, SHIFT_STEP)[None, None, :]) & CODE_MASK
    if INTERLEAVED:
        scale = tl.load(packed_ptr + row * rec, mask=valid, other=0)
    else:
        scale = tl.load(scales_ptr + row, mask=valid, other=0)
    return tl.reshape(groups, (BB, L)).to(tl.int32), scale.to(tl.int32)


@triton.jit
def _load_bits(x_ptr, off, mask, IN_KIND: tl.constexpr):
    """float32 bits (int32) of the input lanes; masked lanes read +0 (the padding of a short block)."""
    if IN_KIND == 0:
        w = tl.load(x_ptr + off, mask=mask, other=0)
    elif IN_KIND == 1:
        w = tl.load(x_ptr + off, mask=mask, other=0).to(tl.int32) << 16
    else:
        w = tl.load(x_ptr + off, mask=mask, other=0.0).to(tl.float32).to(tl.int32, bitcast=True)
    return w


@triton.jit
def _block_scale(w, thr_ptr, IN_KIND: tl.constexpr, NONFINITE: tl.constexpr, SUBNORMAL: tl.constexpr,
                 ZERO_BLOCK_SCALE: tl.constexpr, SC_INF: tl.constexpr, SC_INF_EXP: tl.constexpr):
    """(E8M0 code [BB], whether the block's subnormal lanes are flushed [BB]) (`block_scale` of block.py)."""
    a = w & 0x7FFFFFFF
    finite = a < 0x7F800000
    amax = tl.max(tl.where(finite, a, 0), axis=1)
    has_nan = tl.max((a > 0x7F800000).to(tl.int32), axis=1) != 0
    has_inf = tl.max((a == 0x7F800000).to(tl.int32), axis=1) != 0
    subnormal_amax = amax < 0x00800000
    if SUBNORMAL != KEEP:
        # Both flush modes read a subnormal amax as zero (block.py `read` / `block_scale`).
        amax = tl.where(subnormal_amax, 0, amax)
    pos = tl.zeros_like(amax)
    for step in tl.static_range(7, -1, -1):
        cand = pos + (1 << step)
        pos = tl.where(tl.load(thr_ptr + cand) <= amax, cand, pos)
    scale = tl.where(amax == 0, ZERO_BLOCK_SCALE, pos)
    if NONFINITE == NAN_SCALE:
        scale = tl.where(has_nan | has_inf, E8M0_NAN, scale)
    elif NONFINITE == PROPAGATE:
        scale = tl.where(has_nan, E8M0_NAN, tl.where(has_inf, SC_INF, scale))
    elif NONFINITE == IGNORE_NAN:
        scale = tl.where(has_inf, SC_INF, scale)
    elif NONFINITE == INF_AS_EXPONENT:
        scale = tl.where(has_nan, E8M0_NAN, tl.where(has_inf, SC_INF_EXP, scale))
    if SUBNORMAL == FLUSH_BLOCK:
        flush = subnormal_amax
    else:
        flush = tl.zeros_like(subnormal_amax)
    return scale, flush


@triton.jit
def _lane_codes(w, scale, flush, rnd, SUBNORMAL: tl.constexpr, MIN_SCALE: tl.constexpr,
                NSC: tl.constexpr, NANC0: tl.constexpr, NANC1: tl.constexpr, INFC0: tl.constexpr,
                INFC1: tl.constexpr, IS_INT: tl.constexpr, BITS: tl.constexpr, M: tl.constexpr,
                EMIN: tl.constexpr, EMAX: tl.constexpr, KMAX: tl.constexpr, KMAXN: tl.constexpr,
                SIGNBIT: tl.constexpr, MASK: tl.constexpr, ROUNDING: tl.constexpr, SR_BITS: tl.constexpr,
                ZC0: tl.constexpr, ZC1: tl.constexpr, MAXC0: tl.constexpr, MAXC1: tl.constexpr,
                OVFI0: tl.constexpr, OVFI1: tl.constexpr):
    """Element codes (int32) of the lanes at their block's E8M0 code (`encode_lane` of block.py)."""
    sign = (w >> 31) & 1
    neg = sign != 0
    a = w & 0x7FFFFFFF
    zero = (a == 0) | (flush[:, None] & (a < 0x7F800000))
    if SUBNORMAL == FLUSH:
        zero = zero | (a < 0x00800000)
    efe = tl.maximum(a >> 23, 1)
    m = a - ((efe - 1) << 23)
    # element_scale_exponent: the exponent the elements of a code-0 block are encoded at.
    if MIN_SCALE == MIN_SCALE_MIN_NORMAL:
        s = tl.where(scale == 0, -126, scale - 127)
    elif MIN_SCALE == MIN_SCALE_ONE:
        s = tl.where(scale == 0, 0, scale - 127)
    else:
        s = scale - 127
    code = _encode_finite(sign, tl.where(zero, 1, m), efe - 150, s[:, None], rnd, IS_INT, BITS, M, EMIN, EMAX,
                          KMAX, KMAXN, SIGNBIT, MASK, ROUNDING, SR_BITS, ZC0, ZC1, MAXC0, MAXC1, OVFI0, OVFI1)
    code = tl.where(zero, tl.where(neg, ZC1, ZC0), code)
    code = tl.where(a == 0x7F800000, tl.where(neg, INFC1, INFC0), code)
    code = tl.where(a > 0x7F800000, tl.where(neg, NANC1, NANC0), code)
    return tl.where((scale == E8M0_NAN)[:, None], NSC, code)


@triton.jit
def _decode_scaled(code, scale, dec_ptr, O_BITS: tl.constexpr, O_M: tl.constexpr, O_EMIN: tl.constexpr,
                   O_EMAX: tl.constexpr, O_KMAX: tl.constexpr, O_SIGNBIT: tl.constexpr,
                   O_ZC0: tl.constexpr, O_ZC1: tl.constexpr, O_MAXC0: tl.constexpr, O_MAXC1: tl.constexpr,
                   O_OVFI0: tl.constexpr, O_OVFI1: tl.constexpr, O_NAN0: tl.constexpr, O_NAN1: tl.constexpr,
                   O_INF0: tl.constexpr, O_INF1: tl.constexpr):
    """Output-format bits (int32) of decode(code) * 2^(scale - 127), the exact product rounded once (RNE)."""
    d = tl.load(dec_ptr + code)
    cls = d & 3
    neg = ((d >> 2) & 1) != 0
    sig = (d >> 3) & 0x1FF
    ex = (d >> 12) - 128
    sc = scale[:, None]
    v = _encode_finite(neg.to(tl.int32), tl.maximum(sig, 1), ex + sc - 127, 0, 0, False, O_BITS, O_M, O_EMIN,
                       O_EMAX, O_KMAX, O_KMAX, O_SIGNBIT, -1, RNE, 32, O_ZC0, O_ZC1, O_MAXC0, O_MAXC1,
                       O_OVFI0, O_OVFI1)
    v = tl.where(sig == 0, tl.where(neg, O_ZC1, O_ZC0), v)
    v = tl.where(cls == DEC_INF, tl.where(neg, O_INF1, O_INF0), v)
    v = tl.where(cls == DEC_NAN, tl.where(neg, O_NAN1, O_NAN0), v)
    return tl.where(sc == E8M0_NAN, O_NAN0, v)


@triton.jit
def _store_out(out_ptr, off, v, mask, OUT_KIND: tl.constexpr):
    if OUT_KIND == 0:
        tl.store(out_ptr + off, v, mask=mask)
    else:
        tl.store(out_ptr + off, v.to(tl.int16), mask=mask)


@triton.jit
def mx_block_kernel(x_ptr, codes_ptr, scales_ptr, out_ptr, rbits_ptr, seed_ptr, thr_ptr, dec_ptr,
                    nblocks, NJ1, MID, NJ2, B, N1, N2, S_A, S_N1, S_M, S_N2,
                    MODE: tl.constexpr, IN_KIND: tl.constexpr, RBITS: tl.constexpr,
                    BB: tl.constexpr, K1: tl.constexpr, K2: tl.constexpr,
                    NONFINITE: tl.constexpr, SUBNORMAL: tl.constexpr, ZERO_BLOCK_SCALE: tl.constexpr,
                    SC_INF: tl.constexpr, SC_INF_EXP: tl.constexpr, MIN_SCALE: tl.constexpr,
                    NSC: tl.constexpr, NANC0: tl.constexpr, NANC1: tl.constexpr, INFC0: tl.constexpr,
                    INFC1: tl.constexpr, IS_INT: tl.constexpr, BITS: tl.constexpr, M: tl.constexpr,
                    EMIN: tl.constexpr, EMAX: tl.constexpr, KMAX: tl.constexpr, KMAXN: tl.constexpr,
                    SIGNBIT: tl.constexpr, MASK: tl.constexpr, ROUNDING: tl.constexpr, SR_BITS: tl.constexpr,
                    ZC0: tl.constexpr, ZC1: tl.constexpr, MAXC0: tl.constexpr, MAXC1: tl.constexpr,
                    OVFI0: tl.constexpr, OVFI1: tl.constexpr,
                    O_BITS: tl.constexpr, O_M: tl.constexpr, O_EMIN: tl.constexpr,
                    O_EMAX: tl.constexpr, O_KMAX: tl.constexpr, O_SIGNBIT: tl.constexpr,
                    O_ZC0: tl.constexpr, O_ZC1: tl.constexpr, O_MAXC0: tl.constexpr, O_MAXC1: tl.constexpr,
                    O_OVFI0: tl.constexpr, O_OVFI1: tl.constexpr, O_NAN0: tl.constexpr, O_NAN1: tl.constexpr,
                    O_INF0: tl.constexpr, O_INF1: tl.constexpr,
                    TILE_T: tl.constexpr, G: tl.constexpr, NB: tl.constexpr, NBP: tl.constexpr,
                    SHIFT0: tl.constexpr, SHIFT_STEP: tl.constexpr, INTERLEAVED: tl.constexpr):
    """Quantize (codes + scales), fake-quantize (values in the input's dtype) or quantize to packed bytes.

    MODE: 0 codes at the input's offsets and scales in block order; 1 fake-quantize; 2 packed, as
    `mxemu.array.pack_array` writes it (rows in to_blocks order, the layout's constexprs
    TILE_T ... INTERLEAVED: see `_store_packed`), into codes_ptr and, unless interleaved, scales_ptr.
    RBITS: 0 deterministic, 1 stochastic with Philox bits of the element's C-order index from the
    seed words at seed_ptr, 2 stochastic with the integers of the int64 tensor rbits_ptr.
    """
    q, off, mask = _lane_offsets(tl.program_id(0), nblocks, NJ1, MID, NJ2, B, N1, N2, S_A, S_N1, S_M, S_N2,
                                 BB, K1, K2, TILE_T)
    w = _load_bits(x_ptr, off, mask, IN_KIND)
    scale, flush = _block_scale(w, thr_ptr, IN_KIND, NONFINITE, SUBNORMAL, ZERO_BLOCK_SCALE, SC_INF, SC_INF_EXP)
    if RBITS == 1:
        k0 = tl.load(seed_ptr).to(tl.uint32, bitcast=True)
        k1 = tl.load(seed_ptr + 1).to(tl.uint32, bitcast=True)
        rnd = (_philox(k0, k1, off) >> (32 - SR_BITS)).to(tl.int64)
    elif RBITS == 2:
        rnd = tl.load(rbits_ptr + off, mask=mask, other=0)
    else:
        rnd = tl.zeros_like(off)
    code = _lane_codes(w, scale, flush, rnd, SUBNORMAL, MIN_SCALE, NSC, NANC0, NANC1, INFC0, INFC1, IS_INT,
                       BITS, M, EMIN, EMAX, KMAX, KMAXN, SIGNBIT, MASK, ROUNDING, SR_BITS, ZC0, ZC1, MAXC0,
                       MAXC1, OVFI0, OVFI1)
    if MODE == 0:
        tl.store(codes_ptr + off, code.to(tl.uint8), mask=mask)
        tl.store(scales_ptr + q, scale.to(tl.uint8), mask=q < nblocks)
    elif MODE == 2:
        # Padding lanes are code 0 in to_blocks (a NaN scale would otherwise give them its lane code).
        _store_packed(codes_ptr, scales_ptr, tl.where(mask, code, 0), scale, _block_row(q, NJ1, MID, NJ2, B, TILE_T),
                      q < nblocks, BB, K1 * K2, G, NB, NBP, SHIFT0, SHIFT_STEP, INTERLEAVED)
    else:
        v = _decode_scaled(code, scale, dec_ptr, O_BITS, O_M, O_EMIN, O_EMAX, O_KMAX, O_SIGNBIT, O_ZC0, O_ZC1,
                           O_MAXC0, O_MAXC1, O_OVFI0, O_OVFI1, O_NAN0, O_NAN1, O_INF0, O_INF1)
        _store_out(out_ptr, off, v, mask, IN_KIND)


@triton.jit
def mx_dequantize_kernel(codes_ptr, scales_ptr, out_ptr, dec_ptr,
                         nblocks, NJ1, MID, NJ2, B, N1, N2, S_A, S_N1, S_M, S_N2,
                         OUT_KIND: tl.constexpr, BB: tl.constexpr, K1: tl.constexpr, K2: tl.constexpr,
                         O_BITS: tl.constexpr, O_M: tl.constexpr, O_EMIN: tl.constexpr,
                         O_EMAX: tl.constexpr, O_KMAX: tl.constexpr, O_SIGNBIT: tl.constexpr,
                         O_ZC0: tl.constexpr, O_ZC1: tl.constexpr, O_MAXC0: tl.constexpr, O_MAXC1: tl.constexpr,
                         O_OVFI0: tl.constexpr, O_OVFI1: tl.constexpr, O_NAN0: tl.constexpr,
                         O_NAN1: tl.constexpr, O_INF0: tl.constexpr, O_INF1: tl.constexpr,
                         PACKED: tl.constexpr, TILE_T: tl.constexpr, G: tl.constexpr, NB: tl.constexpr,
                         NBP: tl.constexpr, SHIFT0: tl.constexpr, SHIFT_STEP: tl.constexpr,
                         INTERLEAVED: tl.constexpr, CODE_MASK: tl.constexpr):
    """Values of BB blocks of codes at their E8M0 scales, in the output dtype.

    PACKED 0: codes at the output's offsets and scales in block order. PACKED 1: records of
    `mxemu.array.pack_array` (rows in to_blocks order, the layout's constexprs TILE_T ... CODE_MASK:
    see `_load_packed`) at codes_ptr and, unless interleaved, the scales in row order at scales_ptr.
    """
    q, off, mask = _lane_offsets(tl.program_id(0), nblocks, NJ1, MID, NJ2, B, N1, N2, S_A, S_N1, S_M, S_N2,
                                 BB, K1, K2, TILE_T)
    if PACKED:
        code, scale = _load_packed(codes_ptr, scales_ptr, _block_row(q, NJ1, MID, NJ2, B, TILE_T), q < nblocks,
                                   BB, K1 * K2, G, NB, NBP, SHIFT0, SHIFT_STEP, INTERLEAVED, CODE_MASK)
    else:
        code = tl.load(codes_ptr + off, mask=mask, other=0).to(tl.int32)
        scale = tl.load(scales_ptr + q, mask=q < nblocks, other=0).to(tl.int32)
    v = _decode_scaled(code, scale, dec_ptr, O_BITS, O_M, O_EMIN, O_EMAX, O_KMAX, O_SIGNBIT, O_ZC0, O_ZC1,
                       O_MAXC0, O_MAXC1, O_OVFI0, O_OVFI1, O_NAN0, O_NAN1, O_INF0, O_INF1)
    _store_out(out_ptr, off, v, mask, OUT_KIND)
