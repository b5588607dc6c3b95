"""Input floats (float32, bfloat16, float16) by their bit patterns, element grids and the Philox streams the
suites draw their random cases from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from mxemu import oracle
from mxemu.errors import InputError
from mxemu.golden.suites.tables import TAG_IDS
from mxemu.ops import decode
from mxemu.spec import ElementFormat


@dataclass(frozen=True)
class InputDtype:
    """An IEEE-style binary float the suites' inputs are written in: its numpy dtype and bit layout.

    >>> INPUT_DTYPES["bfloat16"].max
    3.3895313892515355e+38
    """

    name: str
    exponent_bits: int
    mantissa_bits: int

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype; bfloat16's is ml_dtypes', imported only when a bfloat16 set is made or read, so
        that the core (numpy and numba) makes every float32 and float16 set without it."""
        if self.name != "bfloat16":
            return np.dtype(self.name)
        try:
            import ml_dtypes
        except ImportError:
            raise InputError("bfloat16 inputs need the ml_dtypes package (numpy has no bfloat16): "
                             "python -m pip install ml_dtypes") from None
        return np.dtype(ml_dtypes.bfloat16)

    @property
    def bits(self) -> int:
        """Width of one input lane."""
        return 1 + self.exponent_bits + self.mantissa_bits

    @property
    def uint(self) -> type[np.unsignedinteger]:
        """The unsigned integer type of the same width, holding the bit patterns."""
        return np.uint32 if self.bits == 32 else np.uint16

    @property
    def emax(self) -> int:
        """Exponent of the top binade."""
        return (1 << (self.exponent_bits - 1)) - 1

    @property
    def emin(self) -> int:
        """Exponent of the lowest normal binade."""
        return 1 - self.emax

    @property
    def max(self) -> float:
        """Largest finite value."""
        return float(self.from_bits([(((1 << self.exponent_bits) - 1) << self.mantissa_bits) - 1])[0])

    def from_bits(self, words: np.ndarray | list[int]) -> np.ndarray:
        """Bit patterns as values of this dtype."""
        return np.asarray(words, dtype=self.uint).view(self.dtype)

    def to_bits(self, x: np.ndarray) -> np.ndarray:
        """Values of this dtype as bit patterns."""
        return np.ascontiguousarray(x, dtype=self.dtype).view(self.uint)

    def cast(self, values: np.ndarray | list[float]) -> np.ndarray:
        """float64 values in this dtype, rounded to nearest (NaN, Inf and signed zeros kept)."""
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            return np.asarray(values, dtype=np.float64).astype(self.dtype)

    def exact(self, values: np.ndarray | list[float]) -> np.ndarray:
        """float64 values in this dtype, keeping only those that are exactly representable and finite."""
        v = np.asarray(values, dtype=np.float64)
        x = self.cast(v)
        keep = np.isfinite(x) & (x.astype(np.float64) == v)
        return x[keep]

    def neighbours(self, x: np.ndarray) -> np.ndarray:
        """The values one ulp below and one ulp above each x (finite ones only)."""
        x = np.asarray(x, dtype=self.dtype)
        down = np.nextafter(x, np.array(-np.inf, self.dtype))
        out = np.concatenate([down, np.nextafter(x, np.array(np.inf, self.dtype))])
        return out[np.isfinite(out)]

    def special_bits(self) -> tuple[int, ...]:
        """+-0, +-Inf, +-quiet NaN, the smallest signalling NaN, a negative signalling NaN with the largest
        payload, a quiet NaN with payload 1."""
        sign, inf = 1 << (self.bits - 1), ((1 << self.exponent_bits) - 1) << self.mantissa_bits
        quiet = inf | 1 << (self.mantissa_bits - 1)
        return (0, sign, inf, sign | inf, quiet, sign | quiet, inf | 1, sign | quiet - 1, quiet | 1)

    def subnormal_bits(self) -> tuple[int, ...]:
        """The smallest and largest subnormal, the smallest normal, and half of it."""
        m = self.mantissa_bits
        return (1, (1 << m) - 1, 1 << m, 1 << (m - 1))


INPUT_DTYPES: dict[str, InputDtype] = {
    "float32": InputDtype("float32", 8, 23),
    "bfloat16": InputDtype("bfloat16", 8, 7),
    "float16": InputDtype("float16", 5, 10),
}
FLOAT32 = INPUT_DTYPES["float32"]


def f32(values: np.ndarray | list[float]) -> np.ndarray:
    """float64 values as float32, keeping only those that are exactly representable and finite."""
    return FLOAT32.exact(values)


def bits_to_f32(words: np.ndarray | list[int]) -> np.ndarray:
    """uint32 bit patterns as float32 values."""
    return FLOAT32.from_bits(words)


def f32_bits(x: np.ndarray) -> np.ndarray:
    """float32 values as uint32 bit patterns."""
    return FLOAT32.to_bits(x)


def neighbours(x: np.ndarray) -> np.ndarray:
    """The float32 values one ulp below and one ulp above each x (finite ones only)."""
    return FLOAT32.neighbours(x)


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
    x = np.asarray(x)
    return np.concatenate([x, -x])


def _unique_cases(xs: list[np.ndarray], tags: list[str], dt: InputDtype = FLOAT32) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate groups of dtype `dt`, dropping repeated bit patterns (the first group's tag wins)."""
    seen: dict[int, int] = {}
    for x, tag in zip(xs, tags, strict=True):
        for b in dt.to_bits(x).tolist():
            seen.setdefault(int(b), TAG_IDS[tag])
    return np.array(list(seen), dtype=dt.uint), np.array(list(seen.values()), dtype=np.uint16)
