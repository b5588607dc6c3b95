"""Float32 bit patterns, element grids and the Philox streams the suites draw their random cases from."""

from __future__ import annotations

import hashlib

import numpy as np

from mxemu import oracle
from mxemu.golden.suites.tables import TAG_IDS
from mxemu.ops import decode
from mxemu.spec import ElementFormat


def f32(values: np.ndarray | list[float]) -> np.ndarray:
    """float64 values as float32, keeping only those that are exactly representable and finite."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        x = v.astype(np.float32)
    keep = np.isfinite(x) & (x.astype(np.float64) == v)
    return x[keep]


def bits_to_f32(words: np.ndarray | list[int]) -> np.ndarray:
    """uint32 bit patterns as float32 values."""
    return np.asarray(words, dtype=np.uint32).view(np.float32)


def f32_bits(x: np.ndarray) -> np.ndarray:
    """float32 values as uint32 bit patterns."""
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


def neighbours(x: np.ndarray) -> np.ndarray:
    """The float32 values one ulp below and one ulp above each x (finite ones only)."""
    x = np.asarray(x, dtype=np.float32)
    out = np.concatenate([np.nextafter(x, np.float32(-np.inf)), np.nextafter(x, np.float32(np.inf))])
    return out[np.isfinite(out)]


def grid(elem: ElementFormat) -> np.ndarray:
    """The element's finite non-negative values, ascending (float64, exact)."""
    values = decode(np.arange(elem.num_codes, dtype=np.uint8), elem, dtype=np.float64)
    values = values[np.isfinite(values) & ~np.signbit(values)]
    return np.unique(values)


def stream(seed: int, purpose: str, count: int) -> np.ndarray:
    """`count` 32-bit Philox4x32-10 words for (seed, purpose): counters (stream << 32) + i, with the stream
    id the first 3 bytes of SHA-256(purpose). The same on every machine (oracle.random_ints)."""
    sid = int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:3], "big")
    idx = (np.uint64(sid) << np.uint64(32)) + np.arange(count, dtype=np.uint64)
    return oracle.random_ints(seed, idx, 32).astype(np.uint64)


def _signed(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return np.concatenate([x, -x])


def _unique_cases(xs: list[np.ndarray], tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate float32 groups, dropping repeated bit patterns (the first group's tag wins)."""
    seen: dict[int, int] = {}
    for x, tag in zip(xs, tags, strict=True):
        for b in f32_bits(x).tolist():
            seen.setdefault(int(b), TAG_IDS[tag])
    return np.array(list(seen), dtype=np.uint32), np.array(list(seen.values()), dtype=np.uint16)
