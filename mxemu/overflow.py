"""Accumulator overflow bounds for fixed-point dot-product datapaths, per MX block (AXE's guarantee)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mxemu.array import MXArray
from mxemu.errors import InputError
from mxemu.kernels import dot as kd
from mxemu.kernels.abi import format_params
from mxemu.products import FixedPoint, _element, _max_fixed, _model, _step_exponent
from mxemu.spec import ElementFormat, MXFormat


@dataclass(frozen=True)
class DatapathCheck:
    """What an unscaled fixed-point datapath does to the blocks of one operand pair.

    needed_bits: the two's complement width that holds every block sum of products on the datapath's grid
    (each product rounded up in magnitude: a bound for every rounding). overflows: some block of codes
    exceeds `width` (the result clamps or wraps). loses_bits: some product lies off the grid 2^-frac_bits
    (frac_bits < exact_frac_bits), so the product rounding changes it.
    """

    width: int
    needed_bits: int
    frac_bits: int
    exact_frac_bits: int
    overflows: bool
    loses_bits: bool


def _datapath(datapath: object) -> FixedPoint:
    model = _model(datapath)
    if not isinstance(model, FixedPoint):
        raise InputError(f"{datapath!r} is not a fixed-point datapath; give mxemu.fixed_point(...) or "
                         f"'fixed_point:F:W:R'")
    if model.scaled:
        raise InputError(f"{model.spec}: a scaled datapath overflows for large enough scales whatever its width; "
                         f"the bounds cover unscaled datapaths (block sums of element products)")
    return model


def _grid_bounds(v: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """floor and ceil of v * 2^shift for integers v (object or int64 arrays)."""
    if shift >= 0:
        return v * (1 << shift), v * (1 << shift)
    return v >> -shift, -((-v) >> -shift)


def check_datapath(datapath: FixedPoint | str, fmt_a: str | MXFormat | ElementFormat,
                   fmt_b: str | MXFormat | ElementFormat, block_size: int = 32) -> DatapathCheck:
    """Whether an unscaled fixed-point datapath can overflow or lose bits on some block of `block_size` pairs
    of `fmt_a` x `fmt_b` codes (docs/convert_dot.md, overflow safety).

    >>> c = check_datapath("fixed_point:16:40:rne", "mxfp8_e4m3", "mxfp8_e5m2")
    >>> c.needed_bits, c.overflows, c.loses_bits
    (47, True, True)
    """
    model = _datapath(datapath)
    a, b = _element(fmt_a), _element(fmt_b)
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or block_size < 1:
        raise InputError(f"block_size must be a positive integer, got {block_size!r}")
    lsb = _step_exponent(a) + _step_exponent(b)
    _, top = _grid_bounds(np.array([_max_fixed(a) * _max_fixed(b)], object), lsb + model.frac_bits)
    needed = (int(block_size) * int(top[0])).bit_length() + 1
    return DatapathCheck(model.width, needed, model.frac_bits, -lsb, needed > model.width, model.frac_bits < -lsb)


@dataclass(frozen=True)
class RowCheck:
    """Rows of a weight matrix whose block sums can leave a datapath's accumulator for some activation.

    overflows: (rows,) bool; row_bits: (rows,) the width each row needs (its worst block); min_width: the
    smallest width that is safe for every row.
    """

    overflows: np.ndarray
    row_bits: np.ndarray
    min_width: int


def check_rows(weights: MXArray, activation: str | MXFormat | ElementFormat, datapath: FixedPoint | str
               ) -> RowCheck:
    """For a quantized weight matrix (rows, K) blocked along axis 1 and activations in `activation`'s element
    format, the rows whose block sum Σ w_i x_i on the datapath's grid can overflow its accumulator for some
    activation codes: per block, the largest sum takes each x_i at the end of the activation range that makes
    w_i x_i largest, the smallest sum the other end (AXE, per MX block; products rounded outward).

    >>> import numpy as np, mxemu as mx
    >>> w = mx.quantize(np.array([[448.0] * 32, [448.0] + [0.0] * 31], np.float32), "mxfp8_e4m3", axis=1)
    >>> r = check_rows(w, "mxfp8_e4m3", "fixed_point:16:36:rne")
    >>> r.overflows.tolist(), r.row_bits.tolist(), r.min_width
    ([True, False], [40, 35], 40)
    """
    model = _datapath(datapath)
    if not isinstance(weights, MXArray) or weights.codes.ndim != 2 or weights.axis != (1,):
        raise InputError("weights must be a 2-D MXArray blocked along axis 1 (rows, K)")
    w_elem, x_elem = weights.format.element, _element(activation)
    fix, _, _, cls, _ = kd.element_tables(format_params(w_elem), _step_exponent(w_elem))
    if (cls[weights.codes] != kd.C_FIN).any():
        raise InputError("weights hold NaN or Inf element codes; the bounds cover finite weights")
    xfix, _, _, xcls, _ = kd.element_tables(format_params(x_elem), _step_exponent(x_elem))
    finite = xfix[xcls == kd.C_FIN]
    x_lo, x_hi = int(finite.min()), int(finite.max())
    rows, K = weights.codes.shape
    k = weights.block_size
    nb = -(-K // k)
    w = np.zeros((rows, nb * k), object)
    w[:, :K] = fix[weights.codes].astype(object)
    shift = _step_exponent(w_elem) + _step_exponent(x_elem) + model.frac_bits
    lo_a, hi_a = _grid_bounds(w * x_lo, shift)
    lo_b, hi_b = _grid_bounds(w * x_hi, shift)
    hi = np.maximum(hi_a, hi_b).reshape(rows, nb, k).sum(axis=2)
    lo = np.minimum(lo_a, lo_b).reshape(rows, nb, k).sum(axis=2)
    # Every term of hi is >= 0 and of lo <= 0 (the activation range holds 0), so running sums stay inside too.
    need = np.vectorize(lambda h, low: max(int(h).bit_length(), int(-low - 1).bit_length()) + 1, otypes=[np.int64])
    row_bits = need(hi, lo).max(axis=1) if nb else np.zeros(rows, np.int64)
    return RowCheck(row_bits > model.width, row_bits, int(row_bits.max()) if rows else 1)
