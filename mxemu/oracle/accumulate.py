"""Accumulation models on exact products: the truncated, fixed-point and float-accumulator datapaths."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from mxemu.oracle.element import element_format
from mxemu.oracle.exact import floor_log2, nearest_float32, pow2, round_to_integer
from mxemu.spec import ElementFormat

__all__ = ["exponent_field", "fixed_point_dot", "float_accumulator_dot", "ieee_sum", "truncated_dot"]


def _in_word(n: int, bits: int, saturate: bool) -> int:
    """n as a `bits`-bit two's complement integer: clamped to its range, or reduced modulo 2^bits."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if saturate:
        return min(max(n, lo), hi)
    return (n - lo) % (1 << bits) + lo


def ieee_sum(values: list[float]) -> float:
    """IEEE sum of NaN / ±Inf products: NaN if any NaN or both infinities, else the infinity."""
    if any(math.isnan(x) for x in values) or (math.inf in values and -math.inf in values):
        return math.nan
    return values[0]


def fixed_point_dot(blocks: list[tuple[list[Fraction | float], Fraction]], frac_bits: int, width: int,
                    rounding: str, saturate: bool = True, scaled: bool = False,
                    output: tuple[int, int, str] | None = None) -> np.float32 | int:
    """The fixed-point accumulation model (docs/convert_dot.md) on exact products.

    `blocks`: per block, its unscaled products P_A,i * P_B,i (Fractions, or float NaN / ±Inf) and its scale
    product X_A * X_B. Each product (times the scale when `scaled`) is rounded to an integer multiple of
    2^-frac_bits, put in `width` bits (clamped or wrapped) and added into a `width`-bit accumulator (clamped or
    wrapped after every addition), one accumulator per block (unscaled) or one for all (scaled). `output`
    (int_bits, out_frac_bits, rounding) gives the signed output word instead of float32.

    >>> float(fixed_point_dot([([Fraction(1, 1 << 18)] * 16 + [Fraction(-1, 1 << 18)] * 16, Fraction(1))],
    ...                       16, 40, "rup")) == 2.0**-12
    True
    """
    def word(v: Fraction, out: tuple[int, int, str]) -> int:
        return _in_word(round_to_integer(v * pow2(out[1]), out[2]), 1 + out[0] + out[1], saturate)

    acc, acc32, total = 0, np.float32(0.0), 0
    specials: list[float] = []
    for products, scale in blocks:
        if not scaled:
            acc = 0
        nonfinite = [p for p in products if isinstance(p, float)]
        if nonfinite:
            specials += nonfinite
            if not scaled and output is None:
                with np.errstate(invalid="ignore"):
                    acc32 = np.float32(acc32 + np.float32(ieee_sum(nonfinite)))
            continue
        for p in products:
            v = p * scale if scaled else p
            acc = _in_word(acc + _in_word(round_to_integer(v * pow2(frac_bits), rounding), width, saturate),
                           width, saturate)
        if scaled:
            continue
        if output is None:
            with np.errstate(invalid="ignore", over="ignore"):  # IEEE: Inf - Inf is NaN, a finite overflow Inf
                acc32 = np.float32(acc32 + nearest_float32(acc * pow2(-frac_bits) * scale))
        else:
            total = _in_word(total + word(acc * pow2(-frac_bits) * scale, output), 1 + output[0] + output[1],
                             saturate)
    if output is not None:
        if specials:
            s = ieee_sum(specials)
            bits = 1 + output[0] + output[1]
            return 0 if math.isnan(s) else (1 << (bits - 1)) - 1 if s > 0 else -(1 << (bits - 1))
        return word(acc * pow2(-frac_bits), output) if scaled else total
    if scaled:
        return np.float32(ieee_sum(specials)) if specials else nearest_float32(acc * pow2(-frac_bits))
    return acc32


def exponent_field(code: int, fmt: str | ElementFormat) -> int:
    """The exponent a float element's exponent field gives, max(field, 1) - bias (zeros and subnormals: the
    minimum normal's); an integer element's emax.

    >>> exponent_field(0x38, "fp8_e4m3"), exponent_field(0x01, "fp8_e4m3"), exponent_field(0x7F, "int8")
    (0, -6, 0)
    """
    fmt = element_format(fmt)
    if fmt.is_int:
        return fmt.emax
    return max((int(code) >> fmt.mantissa_bits) & ((1 << fmt.exponent_bits) - 1), 1) - fmt.bias


def _on_grid(v: Fraction, exponent: int, rounding: str) -> Fraction:
    """v rounded to a multiple of 2^exponent."""
    return round_to_integer(v / pow2(exponent), rounding) * pow2(exponent)


def float_accumulator_dot(blocks: list[tuple[list[Fraction | float], Fraction, list[int]]], mant_bits: int,
                          group: int, align: str, align_bits: int, align_rounding: str, add_rounding: str,
                          rounding: str) -> np.float32:
    """The float accumulation model (docs/convert_dot.md) on exact products.

    `blocks`: per block, its unscaled products (Fractions, or float NaN / ±Inf), its scale product X_A * X_B and
    per lane the sum of the two elements' `exponent_field`s. Per group of `group` lanes of a block: the
    reference T (align "product": the largest floor(log2 |p|) of the non-zero products; "exponent": the largest
    exponent-field sum; "fixed": 0), each product rounded to a multiple of 2^(T - align_bits) by
    `align_rounding`, the exact sum times the scale added to the register: with E the larger floor(log2) of the
    non-zero addends, both rounded to multiples of 2^(E - mant_bits) by `add_rounding`, their exact sum rounded
    to mant_bits + 1 significant bits by `rounding`. The register ends rounded to the nearest float32.

    >>> blocks = [([Fraction(1), Fraction(3, 1 << 24)], Fraction(1), [0, -24])]  # 1 + 1.5 * 2^-23
    >>> [float(float_accumulator_dot(blocks, 23, 1, "product", 24, "rtz", r, "rne")) - 1 for r in ("rne", "rtz")]
    [2.384185791015625e-07, 1.1920928955078125e-07]
    """
    acc = Fraction(0)
    specials: list[float] = []
    for products, scale, exponents in blocks:
        for lo in range(0, len(products), group):
            grp, exps = products[lo:lo + group], exponents[lo:lo + group]
            nonfinite = [p for p in grp if isinstance(p, float)]
            if nonfinite:
                specials += nonfinite
                continue
            nonzero = [p for p in grp if p != 0]
            if align == "fixed":
                top = 0
            elif align == "exponent":
                top = max(exps)
            elif nonzero:
                top = max(floor_log2(abs(p)) for p in nonzero)
            else:
                continue
            v = sum((_on_grid(p, top - align_bits, align_rounding) for p in grp), Fraction(0)) * scale
            if v == 0:
                continue
            grid = max(floor_log2(abs(x)) for x in (acc, v) if x != 0) - mant_bits
            z = _on_grid(acc, grid, add_rounding) + _on_grid(v, grid, add_rounding)
            acc = Fraction(0) if z == 0 else _on_grid(z, floor_log2(abs(z)) - mant_bits, rounding)
    if specials:
        return np.float32(ieee_sum(specials))
    return nearest_float32(acc)


def add_exact(acc: np.float32, s: Fraction) -> np.float32:
    """fl32(acc + s) for an exact s: one RNE rounding; a NaN or Inf accumulator stays as it is."""
    return nearest_float32(Fraction(float(acc)) + s) if np.isfinite(acc) else acc


def truncated_dot(products: list[Fraction | float], group: int, frac_bits: int) -> np.float32:
    """The truncated(group, frac_bits) model (docs/convert_dot.md) on exact products: per group of `group`
    consecutive products, T = max floor(log2 |p|) over the nonzero ones, each p truncated toward zero to a
    multiple of 2^(T - frac_bits), the exact sum s of those, acc = fl32(acc + s) from acc = +0. A group
    holding NaN / Inf products adds their IEEE sum instead.

    >>> float(truncated_dot([Fraction(1), Fraction(3, 8), Fraction(-1, 1024)], 3, 2))
    1.25
    """
    acc = np.float32(0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        for lo in range(0, len(products), group):
            grp = products[lo:lo + group]
            specials = [p for p in grp if isinstance(p, float)]
            if specials:
                acc = np.float32(acc + np.float32(ieee_sum(specials)))
                continue
            nonzero = [p for p in grp if p != 0]
            s = Fraction(0)
            if nonzero:
                q = pow2(max(floor_log2(abs(p)) for p in nonzero) - frac_bits)
                s = sum(((abs(p) // q) * q * (1 if p > 0 else -1) for p in nonzero), Fraction(0))
            acc = add_exact(acc, s)
    return acc
