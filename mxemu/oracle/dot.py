"""MX dot products from codes and scales: exact element products, then each accumulation model's steps."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from mxemu.errors import InputError, UnknownNameError
from mxemu.oracle.accumulate import (
    add_exact,
    exponent_field,
    fixed_point_dot,
    float_accumulator_dot,
    ieee_sum,
    truncated_dot,
)
from mxemu.oracle.element import decode_value, element_format
from mxemu.oracle.exact import floor_log2, nearest_float32, pow2
from mxemu.oracle.scale import mx_format
from mxemu.spec import ElementFormat, MXFormat

__all__ = ["NAMED_MODELS", "block_sum", "exact_products", "lsb_exponent", "mx_dot"]

# The models named by a word alone (mxemu.products.ACCUMULATIONS); the others are model objects whose `spec`
# starts with their kind (truncated, fixed_point, float_acc) and whose fields this module reads.
NAMED_MODELS = ("exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32")

Value = Fraction | float  # an exact value, or float NaN / ±Inf


class _Operand:
    """One MX vector: its codes, one scale per block, and exact element values (NaN under a NaN scale)."""

    def __init__(self, codes: np.ndarray, scales: np.ndarray, fmt: str | MXFormat, name: str) -> None:
        self.format, scale = mx_format(fmt)
        self.codes = [int(c) for c in np.asarray(codes).ravel()]
        self.scales = [int(s) for s in np.asarray(scales).ravel()]
        k = self.format.block_size
        if len(self.scales) != -(-len(self.codes) // k):
            raise InputError(f"{name}: {len(self.codes)} codes need {-(-len(self.codes) // k)} scales of "
                             f"{self.format.name} (one per {k}), got {len(self.scales)}; accepted: one per block")
        if any(not 0 <= s <= scale.nan_code for s in self.scales):
            raise InputError(f"{name}: scale codes must lie in 0..{scale.nan_code}")
        elem = self.format.element

        def value(t: int) -> Value:
            s = self.scales[t // k]
            v = decode_value(self.codes[t], elem)
            if s == scale.nan_code:
                return math.nan
            return v * pow2(s - scale.bias) if isinstance(v, Fraction) else v

        self.values = [value(t) for t in range(len(self.codes))]

    def negative(self, t: int) -> bool:
        """The sign bit of lane t: -0 for a float code, a negative value for an integer one."""
        return bool(self.codes[t] >> (self.format.element.bits - 1))

    def float32(self, t: int) -> np.float32:
        """Lane t's value rounded to float32, a float zero keeping its code's sign."""
        v = self.values[t]
        if not isinstance(v, Fraction):
            return np.float32(v)
        if v == 0 and self.negative(t) and not self.format.element.is_int:
            return np.float32(-0.0)
        return nearest_float32(v)


def _products(x: _Operand, y: _Operand) -> list[Value]:
    """Exact lane-by-lane products; IEEE rules where a factor is NaN or Inf."""
    if len(x.codes) != len(y.codes) or x.format.block_size != y.format.block_size:
        raise InputError(f"a has {len(x.codes)} elements in blocks of {x.format.block_size}, b has {len(y.codes)} in "
                         f"blocks of {y.format.block_size}; accepted: equal lengths and block sizes")
    out: list[Value] = []
    for u, v in zip(x.values, y.values, strict=True):
        if isinstance(u, Fraction) and isinstance(v, Fraction):
            out.append(u * v)
        else:
            with np.errstate(invalid="ignore"):
                out.append(float(np.float64(u) * np.float64(v)))  # NaN, ±Inf, Inf * 0 = NaN
    return out


def exact_products(a: np.ndarray, sa: np.ndarray, b: np.ndarray, sb: np.ndarray, fmt_a: str | MXFormat,
                   fmt_b: str | MXFormat | None = None) -> list[Value]:
    """The exact products X_A P_A,i * X_B P_B,i of two MX vectors (codes, scales per block): Fractions, or
    float NaN / ±Inf by IEEE rules (a NaN scale makes its lanes NaN).

    >>> exact_products([0x38, 0x40], [126], [0x38, 0x38], [127], "mxfp8_e4m3")
    [Fraction(1, 2), Fraction(1, 1)]
    """
    return _products(_Operand(a, sa, fmt_a, "a"), _Operand(b, sb, fmt_a if fmt_b is None else fmt_b, "b"))


def _blocks(p: list[Value], x: _Operand, y: _Operand) -> list[tuple[list[Value], Fraction]]:
    """Per block, its unscaled products P_A,i * P_B,i and its scale product X_A * X_B (0 for a NaN scale,
    whose lanes are NaN already)."""
    k, bias_a, bias_b = x.format.block_size, x.format.scale.bias, y.format.scale.bias
    out = []
    for blk, (s, t) in enumerate(zip(x.scales, y.scales, strict=True)):
        nan = s == x.format.scale.nan_code or t == y.format.scale.nan_code
        scale = Fraction(0) if nan else pow2(s - bias_a + t - bias_b)
        out.append(([v if isinstance(v, float) else v / scale for v in p[blk * k:(blk + 1) * k]], scale))
    return out


def _named(name: str, p: list[Value], x: _Operand, y: _Operand) -> np.float32:
    """The four models named by a word: `exact` rounds the exact sum once; `block_exact_fp32` rounds each
    block's exact sum and adds in float32; `fp32_sequential` adds each exact product with one rounding (a zero
    product signed by IEEE: the exclusive or of its factors' signs); `dequant_fp32` multiplies and adds float32
    values."""
    k = x.format.block_size
    with np.errstate(invalid="ignore", over="ignore"):
        if name == "exact":
            specials = [v for v in p if isinstance(v, float)]
            return np.float32(ieee_sum(specials)) if specials else nearest_float32(sum(p, Fraction(0)))
        acc = np.float32(0.0)
        if name == "block_exact_fp32":
            for lo in range(0, len(p), k):
                blk = p[lo:lo + k]
                specials = [v for v in blk if isinstance(v, float)]
                acc = np.float32(acc + (np.float32(ieee_sum(specials)) if specials
                                        else nearest_float32(sum(blk, Fraction(0)))))
        elif name == "fp32_sequential":
            for t, v in enumerate(p):
                if isinstance(v, float):
                    acc = np.float32(acc + np.float32(v))
                elif v == 0:
                    acc = np.float32(acc + np.float32(-0.0 if x.negative(t) != y.negative(t) else 0.0))
                else:
                    acc = add_exact(acc, v)
        elif name == "dequant_fp32":
            for t in range(len(p)):
                acc = np.float32(acc + np.float32(x.float32(t) * y.float32(t)))
        else:
            raise UnknownNameError(f"unknown accumulation {name!r}; accepted: {', '.join(NAMED_MODELS)} or a model "
                                   f"object (mxemu.truncated, mxemu.fixed_point, mxemu.float_accumulator)")
        return acc


def _model(model: object, p: list[Value], x: _Operand, y: _Operand) -> np.float32 | int:
    """One model's result from the exact products, by the definition of its kind (docs/convert_dot.md)."""
    if isinstance(model, str):
        return _named(model, p, x, y)
    kind = str(getattr(model, "spec", "")).split(":", 1)[0]
    if kind == "truncated":
        return truncated_dot(p, model.group, model.frac_bits)
    blocks = _blocks(p, x, y)
    if kind == "fixed_point":
        word = model.output
        out = None if word == "float32" else (word.int_bits, word.frac_bits, word.rounding)
        return fixed_point_dot(blocks, model.frac_bits, model.width, model.rounding, model.saturate, model.scaled,
                               out)
    if kind == "float_acc":
        k = x.format.block_size
        exps = [exponent_field(c, x.format.element) + exponent_field(d, y.format.element)
                for c, d in zip(x.codes, y.codes, strict=True)]
        return float_accumulator_dot([(ps, s, exps[i * k:(i + 1) * k]) for i, (ps, s) in enumerate(blocks)],
                                     model.mant_bits, model.group, model.align, model.align_bits,
                                     model.align_rounding, model.add_rounding, model.rounding)
    raise UnknownNameError(f"unknown accumulation model {model!r:.200}; accepted: {', '.join(NAMED_MODELS)} or a "
                           f"model object (mxemu.truncated, mxemu.fixed_point, mxemu.float_accumulator)")


def mx_dot(a: np.ndarray, sa: np.ndarray, b: np.ndarray, sb: np.ndarray, fmt_a: str | MXFormat,
           fmt_b: str | MXFormat | None = None, models: Mapping[str, object] | None = None
           ) -> dict[str, np.float32 | int]:
    """Dot(A, B) of two MX vectors (codes, one scale per block; B in `fmt_b`, default `fmt_a`) under each of
    `models` (field -> a name of NAMED_MODELS or a model object; default {"exact": "exact"}): the exact products,
    then the model's steps (docs/convert_dot.md); float32, or an int for a fixed-point model's output word.
    NaN / Inf by IEEE rules.

    >>> mx_dot([0x38] * 2, [127], [0x38, 0xB8], [130], "mxfp8_e4m3", models={"e": "exact", "d": "dequant_fp32"})
    {'e': np.float32(0.0), 'd': np.float32(0.0)}
    """
    x = _Operand(a, sa, fmt_a, "a")
    y = _Operand(b, sb, fmt_a if fmt_b is None else fmt_b, "b")
    p = _products(x, y)
    return {field: _model(model, p, x, y) for field, model in (models or {"exact": "exact"}).items()}


def lsb_exponent(fmt: str | ElementFormat) -> int:
    """log2 of the element format's smallest positive value, from its decoded codes.

    >>> lsb_exponent("fp8_e4m3"), lsb_exponent("int8")
    (-9, -6)
    """
    elem = element_format(fmt)
    values = (decode_value(c, elem) for c in range(elem.num_codes))
    return min(floor_log2(v) for v in values if isinstance(v, Fraction) and v > 0)


def block_sum(a: np.ndarray, b: np.ndarray, fmt_a: str | MXFormat, fmt_b: str | MXFormat | None = None) -> int | None:
    """Σ P_A,i * P_B,i over one block of element codes in units of 2^(lsb_A + lsb_B) (`lsb_exponent`), exactly;
    None if a lane is NaN or Inf.

    >>> block_sum([0x38, 0x01], [0x38, 0x38], "mxfp8_e4m3")  # (1 + 2^-9) / 2^(-9 - 9)
    262656
    """
    ma, _ = mx_format(fmt_a)
    mb, _ = mx_format(fmt_a if fmt_b is None else fmt_b)
    xs, ys = np.asarray(a).ravel().tolist(), np.asarray(b).ravel().tolist()
    if len(xs) != len(ys) or len(xs) > ma.block_size:
        raise InputError(f"a block sum takes two blocks of equal length up to {ma.block_size}, got {len(xs)} and "
                         f"{len(ys)} codes; accepted: the codes of one block of each operand")
    lsb = pow2(lsb_exponent(ma.element) + lsb_exponent(mb.element))
    total = Fraction(0)
    for x, y in zip(xs, ys, strict=True):
        u, v = decode_value(x, ma.element), decode_value(y, mb.element)
        if not (isinstance(u, Fraction) and isinstance(v, Fraction)):
            return None
        total += u * v
    q = total / lsb
    assert q.denominator == 1, "a product of two elements is a whole number of product LSBs"
    return q.numerator
