"""Coverage-model blocks drawn with numpy: the lane kinds of `strategies.blocks`, thousands per millisecond.

Hypothesis draws about 25 blocks a second; a conformance run that needs thousands of blocks draws them
here instead (same coverage model, fixed seed), and keeps hypothesis for users' own property tests.
"""

from __future__ import annotations

import numpy as np

from mxemu.spec import MXFormat

F32 = np.float32
# Block exponents that reach both ends of the E8M0 range and the FP32 subnormals (strategies.py uses them too).
BASE_EXPONENTS = (-149, -140, -127, -126, -60, -8, 0, 3, 15, 100, 126, 127)
# Lane kinds and their weights: normal values, zeros, FP32 subnormals, element-grid ties, one ulp
# below the block's power of two, the saturation window.
KINDS = ("normal", "zero", "subnormal", "tie", "below_pow2", "saturation")
WEIGHTS = np.array([3, 1, 1, 2, 1, 1]) / 9
SATURATION = np.array([1.0, 1.03125, 1.0625, 1.125, 0.96875])


def coverage_blocks(fmt: MXFormat, count: int, dtype: object = F32, seed: int = 0) -> np.ndarray:
    """`count` blocks of `fmt.block_size` lanes: the amax lane anywhere (often one ulp below the next
    power of two), ties at the floor-rule scale, the saturation window, ±0, FP32 subnormals, NaN/Inf
    lanes in about one block in four, and block exponents that clamp the scale at both ends.

    >>> import mxemu as mx
    >>> coverage_blocks(mx.get_format("mxfp4_e2m1"), 3).shape
    (3, 32)
    """
    rng = np.random.default_rng(seed)
    e = fmt.element
    n, k = count, fmt.block_size
    base = rng.choice(np.array(BASE_EXPONENTS), (n, 1))
    kind = rng.choice(len(KINDS), (n, k), p=WEIGHTS)
    sign = np.where(rng.random((n, k)) < 0.5, -1.0, 1.0)
    exp = np.clip(base + rng.integers(-12, 1, (n, k)), -149, 127)
    x = rng.uniform(1.0, 2.0, (n, k)) * np.exp2(exp.astype(np.float64))
    x = np.where(kind == 1, 0.0, x)
    x = np.where(kind == 2, rng.integers(1, 1 << 23, (n, k)) * 2.0 ** -149, x)
    # Ties: odd multiples of half a quantum of a random binade at the floor-rule scale 2^(base - emax).
    binade = e.emin if e.is_int else rng.integers(e.emin, e.emax + 1, (n, k))
    q = base - e.emax + binade - (0 if e.is_int else e.mantissa_bits) - 1
    odd = 2 * rng.integers(0, 1 << (e.mantissa_bits + 1), (n, k)) + 1
    x = np.where(kind == 3, odd * np.exp2(np.maximum(q, -149).astype(np.float64)), x)
    below = np.nextafter(np.exp2(base.astype(np.float64)).astype(F32), F32(0)).astype(np.float64)
    x = np.where(kind == 4, below, x)
    top = float(e.max_normal) * np.exp2((base - e.emax).astype(np.float64))
    x = np.where(kind == 5, top * rng.choice(SATURATION, (n, k)), x)
    x = sign * x
    # The amax lane: a value of the base binade, often one ulp below the next power of two.
    anchor = np.where(rng.random(n) < 0.5, float(np.nextafter(F32(2.0), F32(0))), rng.uniform(1.0, 2.0, n))
    lane = rng.integers(0, k, n)
    x[np.arange(n), lane] = np.where(rng.random(n) < 0.5, -1.0, 1.0) * anchor * np.exp2(base[:, 0].astype(float))
    # NaN/Inf lanes in about one block in four.
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf])
    for _ in range(2):
        rows = np.flatnonzero(rng.random(n) < 0.15)
        x[rows, rng.integers(0, k, rows.size)] = rng.choice(specials, rows.size)
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(F32).astype(dtype)
