"""Hypothesis strategies for MX-relevant inputs: boundary-dense values and coverage-model blocks."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from mxemu.spec import ElementFormat, MXFormat, get_format
from mxemu.testing.coverage import BASE_EXPONENTS

F32 = np.float32


def _element(fmt: str | ElementFormat | MXFormat) -> ElementFormat:
    f = get_format(fmt)
    return f.element if isinstance(f, MXFormat) else f


@st.composite
def boundary_floats(draw: st.DrawFn, fmt: str | ElementFormat | MXFormat, scale_exp: int = 0) -> float:
    """A float32 value where an encoder of `fmt` at scale 2^scale_exp decides something: a grid
    point, a midpoint, one float32 ulp either side of them, the overflow threshold, a subnormal or a
    special value."""
    element = _element(fmt)
    kind = draw(st.sampled_from(["grid", "midpoint", "ulp", "overflow", "subnormal", "special", "zero"]))
    sign = draw(st.sampled_from([1.0, -1.0]))
    if kind == "special":
        return draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    if kind == "zero":
        return sign * 0.0
    if kind == "subnormal":
        return sign * draw(st.integers(1, (1 << 23) - 1)) * 2.0 ** -149
    step = 2.0 ** (element.emin - (0 if element.is_int else element.mantissa_bits))
    top = float(element.max_normal)
    if kind == "overflow":
        value = top * draw(st.sampled_from([1.0, 1.0 + 2.0 ** -(element.mantissa_bits + 1), 1.5, 2.0]))
    else:
        # Multiples of half a quantum in a random binade: even multiples are grid points, odd ones midpoints.
        binade = draw(st.integers(0, max(0, element.emax - element.emin)))
        quantum = step * 2.0 ** binade
        k = draw(st.integers(1, 2 << (0 if element.is_int else element.mantissa_bits)))
        value = quantum * (2 * k + (0 if kind == "grid" else 1)) / 2
    with np.errstate(over="ignore", under="ignore"):
        x = F32(sign * value * 2.0 ** scale_exp)
        if kind == "ulp":
            x = np.nextafter(x, F32(draw(st.sampled_from([np.inf, -np.inf]))))
    return float(x)


@st.composite
def blocks(draw: st.DrawFn, fmt: str | MXFormat, dtype: type = np.float32) -> np.ndarray:
    """One block of `fmt.block_size` lanes built from the MX coverage models: the amax lane at any
    position, amax one ulp below a power of two, the saturation window, ties in bulk, NaN/Inf lanes,
    ±0, FP32 subnormals, and block exponents that clamp the scale at both ends."""
    f = get_format(fmt)
    element = f.element
    base = draw(st.sampled_from(BASE_EXPONENTS))
    lanes = []
    for _ in range(f.block_size):
        kind = draw(st.sampled_from(["normal", "normal", "normal", "zero", "subnormal", "tie", "tie",
                                     "below_pow2", "saturation"]))
        sign = draw(st.sampled_from([1.0, -1.0]))
        exp = max(-149, min(127, base + draw(st.integers(-12, 0))))
        if kind == "zero":
            lanes.append(sign * 0.0)
        elif kind == "subnormal":
            lanes.append(sign * draw(st.integers(1, (1 << 23) - 1)) * 2.0 ** -149)
        elif kind == "below_pow2":
            lanes.append(sign * float(np.nextafter(F32(2.0) ** base, F32(0))))
        elif kind == "tie":
            # A midpoint of the element grid at the floor-rule scale X = 2^(base - emax) of this block.
            binade = draw(st.integers(element.emin, element.emax)) if not element.is_int else element.emin
            q = base - element.emax + binade - (0 if element.is_int else element.mantissa_bits) - 1
            k = draw(st.integers(0, (1 << (element.mantissa_bits + 1)) - 1))
            lanes.append(sign * (2 * k + 1) * 2.0 ** max(q, -149))
        elif kind == "saturation":
            top = float(element.max_normal) * 2.0 ** (base - element.emax)
            lanes.append(sign * top * draw(st.sampled_from([1.0, 1.03125, 1.0625, 1.125, 0.96875])))
        else:
            lanes.append(sign * draw(st.floats(1.0, 2.0, exclude_max=True, width=32)) * 2.0 ** exp)
    # The amax lane: a value of the base binade at any position, so the scale is the one the ties assume.
    # Often one ulp below the next power of two, where a float32 log2 rounds up a binade.
    top_of_binade = float(np.nextafter(F32(2.0), F32(0)))
    anchor = draw(st.one_of(st.floats(1.0, 2.0, exclude_max=True, width=32), st.just(top_of_binade)))
    lanes[draw(st.integers(0, f.block_size - 1))] = draw(st.sampled_from([1.0, -1.0])) * anchor * 2.0 ** base
    # NaN/Inf lanes in one block of four or so: a non-finite lane decides the whole block's scale.
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        lanes[draw(st.integers(0, f.block_size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array(lanes, dtype=np.float64).astype(F32).astype(dtype)
