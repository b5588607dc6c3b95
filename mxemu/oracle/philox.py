"""Philox4x32-10 (Salmon et al. 2011; Random123) and the per-element random integer of stochastic rounding."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mxemu.errors import InputError

__all__ = ["philox4x32_10", "random_int", "random_ints"]

_MASK32 = 0xFFFFFFFF
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85


def philox4x32_10(
    key0: int, key1: int, c0: int, c1: int, c2: int = 0, c3: int = 0
) -> tuple[int, int, int, int]:
    """Philox4x32 with 10 rounds: four 32-bit words from a 4-word counter and a 2-word key."""
    k0, k1 = key0 & _MASK32, key1 & _MASK32
    c0, c1, c2, c3 = c0 & _MASK32, c1 & _MASK32, c2 & _MASK32, c3 & _MASK32
    for round_ in range(10):
        if round_:
            k0 = (k0 + PHILOX_W0) & _MASK32
            k1 = (k1 + PHILOX_W1) & _MASK32
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & _MASK32
    return c0, c1, c2, c3


def random_int(seed: int, index: int, sr_bits: int) -> int:
    """The contract's rnd for flat element `index`: top bits of Philox word 0 at counter (index, 0, 0)."""
    if not 1 <= sr_bits <= 32:
        raise InputError(f"sr_bits = {sr_bits}; accepted: 1..32")
    word = philox4x32_10(seed & _MASK32, (seed >> 32) & _MASK32, index & _MASK32, (index >> 32) & _MASK32)[0]
    return word >> (32 - sr_bits)


def random_ints(seed: int, indices: Iterable[int] | np.ndarray, sr_bits: int) -> np.ndarray:
    """`random_int` for many flat indices at once (numpy uint64 arithmetic; same numbers)."""
    if not 1 <= sr_bits <= 32:
        raise InputError(f"sr_bits = {sr_bits}; accepted: 1..32")
    idx = np.asarray(indices, dtype=np.uint64)
    mask = np.uint64(_MASK32)
    c0, c1 = idx & mask, idx >> np.uint64(32)
    c2 = np.zeros_like(idx)
    c3 = np.zeros_like(idx)
    k0, k1 = seed & _MASK32, (seed >> 32) & _MASK32
    for round_ in range(10):
        if round_:
            k0 = (k0 + PHILOX_W0) & _MASK32
            k1 = (k1 + PHILOX_W1) & _MASK32
        p0 = np.uint64(PHILOX_M0) * c0
        p1 = np.uint64(PHILOX_M1) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & mask,
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & mask)
    return (c0 >> np.uint64(32 - sr_bits)).astype(np.int64)
