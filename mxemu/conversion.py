"""Conversion of an MXArray into another MX format: exact requantization or Slice-and-Scale (MF-QAT)."""

from __future__ import annotations

import numpy as np

from mxemu.array import MXArray
from mxemu.blocking import from_blocks, scale_array, to_blocks
from mxemu.errors import InputError, PolicyError, UnknownNameError
from mxemu.kernels import convert as kc
from mxemu.kernels.abi import format_params, policy_params
from mxemu.kernels.threads import run_row_ranges
from mxemu.ops import quantize
from mxemu.policy import Policy, get_policy
from mxemu.spec import MXFormat, ScaleFormat, get_format

METHODS = ("slice_and_scale", "requantize")
SLICE_ROUNDINGS = ("rne", "rna", "rtz")
# Slice-and-Scale pairs, by element format: source -> the narrower targets it slices into.
SLICE_TARGETS: dict[str, tuple[str, ...]] = {
    "int8": ("int7", "int6", "int5", "int4", "int3", "int2"),
    "fp8_e4m3": ("fp6_e3m2", "fp6_e2m3", "fp4_e2m1"),
    "fp8_e5m2": ("fp6_e3m2", "fp6_e2m3", "fp4_e2m1"),
}
DEFINED_SLICES = ("mxint8 -> mxint7..mxint2; mxfp8_e4m3 or mxfp8_e5m2 -> mxfp6_e3m2, mxfp6_e2m3, mxfp4_e2m1 "
                  "(E8M0 scales, equal block sizes)")


def _target(target: object) -> MXFormat:
    f = get_format(target)
    if not isinstance(f, MXFormat):
        raise InputError(f"target {f.name!r} is not an MX block format (e.g. 'mxint4', 'mxfp4_e2m1')")
    return f


def _check_slice(q: MXArray, f: MXFormat, pol: Policy) -> int:
    """The scale exponent increase Δ of a defined Slice-and-Scale pair, else a typed error."""
    src = q.format
    defined = (isinstance(src.scale, ScaleFormat) and isinstance(f.scale, ScaleFormat)
               and src.scale.name == "e8m0" and f.scale.name == "e8m0" and q.tensor_scale is None
               and f.element.name in SLICE_TARGETS.get(src.element.name, ()))
    if not defined:
        raise InputError(f"slice_and_scale is not defined from {src.name} to {f.name}; defined: {DEFINED_SLICES}. "
                         f"Use method='requantize' for any other pair")
    if f.block_size != src.block_size:
        raise InputError(f"slice_and_scale keeps the blocks: block sizes differ ({src.name}: {src.block_size}, "
                         f"{f.name}: {f.block_size}); use method='requantize'")
    if pol.rounding not in SLICE_ROUNDINGS:
        raise PolicyError(f"slice_and_scale rounds with policy.rounding = {pol.rounding!r}; accepted: "
                          f"{', '.join(SLICE_ROUNDINGS)}")
    return src.element.emax - f.element.emax


def convert(q: MXArray, target: str | MXFormat, method: str = "slice_and_scale",
            policy: str | Policy | None = None) -> MXArray:
    """Convert an MXArray into the MX format `target`, blocked along the same axis.

    `method="requantize"` decodes exactly (float64) and quantizes again under `policy`.
    `method="slice_and_scale"` works on the codes only: MXINT8 -> MXINT-b drops 8 - b low bits of
    each code (rounding rne, rna or rtz, saturating) and keeps the scale; MXFP8 -> MXFP6/MXFP4 raises
    the shared exponent by Δ = emax_src - emax_dst and re-rounds each element P·2^-Δ. `policy`
    defaults to q's policy. See docs/convert_dot.md.

    >>> import numpy as np, mxemu as mx
    >>> q = mx.quantize(np.linspace(-1, 1, 32, dtype=np.float32), "mxint8")
    >>> c = convert(q, "mxint4")
    >>> c.format.name, bool((c.scales == q.scales).all())
    ('mxint4', True)
    """
    if not isinstance(q, MXArray):
        raise InputError(f"convert takes an MXArray, got {type(q).__name__}")
    f = _target(target)
    if not isinstance(method, str) or method not in METHODS:
        raise UnknownNameError(f"unknown conversion method {method!r}; accepted: {', '.join(METHODS)}")
    pol = q.policy if policy is None else get_policy(policy)
    if method == "requantize":
        axis = q.axis[0] if len(q.axis) == 1 else q.axis
        return quantize(q.dequantize(np.float64), f, axis=axis, policy=pol)
    delta = _check_slice(q, f, pol)
    k = q.block_size
    rows, padded = to_blocks(q.codes, q.axis, k)
    scales = np.ascontiguousarray(q.scale_rows())
    codes = np.empty(rows.shape, np.uint8)
    out_scales = np.empty(rows.shape[0], np.uint8)
    args = (rows, scales, format_params(q.format.element), format_params(f.element), policy_params(pol), delta,
            codes, out_scales)
    run_row_ranges(lambda lo, hi: kc.slice_blocks(*args, lo, hi), rows.shape[0], k)
    return MXArray(codes=np.ascontiguousarray(from_blocks(codes, padded, q.shape, q.axis, k)),
                   scales=np.ascontiguousarray(scale_array(out_scales, padded, q.axis, k)),
                   format=f, policy=pol, axis=q.axis)
