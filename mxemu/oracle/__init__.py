"""Exact-rational reference for every MX operation, written from the contract and sharing no code with kernels.

Subjects, one module each: `exact` (rational helpers), `element` (one code), `vector` (codes over arrays),
`philox` (the stochastic-rounding draws), `scale` (a block's shared scale), `block` (quantize and dequantize a
block), `convert` (MX-to-MX), `accumulate` and `dot` (dot products under each accumulation model), `pack`
(packed bytes). Every function takes and returns codes before scales, as the library does.
"""

from mxemu.oracle.accumulate import exponent_field, fixed_point_dot, float_accumulator_dot, truncated_dot
from mxemu.oracle.block import dequantize_block, fake_quantize_block, quantize_block
from mxemu.oracle.convert import convert_block
from mxemu.oracle.dot import NAMED_MODELS, block_sum, exact_products, lsb_exponent, mx_dot
from mxemu.oracle.element import decode_value, encode_value
from mxemu.oracle.exact import FLOAT32_OVERFLOW, FP32_MIN_NORMAL, floor_log2, nearest_float32, round_to_integer
from mxemu.oracle.pack import PACK_LAYOUT_WIDTHS, pack_block
from mxemu.oracle.philox import philox4x32_10, random_int, random_ints
from mxemu.oracle.scale import log2_float32, scale_code, shared_exponent
from mxemu.oracle.vector import decode_array, encode_array

__all__ = [
    "FLOAT32_OVERFLOW",
    "FP32_MIN_NORMAL",
    "NAMED_MODELS",
    "PACK_LAYOUT_WIDTHS",
    "block_sum",
    "convert_block",
    "decode_array",
    "decode_value",
    "dequantize_block",
    "encode_array",
    "encode_value",
    "exact_products",
    "exponent_field",
    "fake_quantize_block",
    "fixed_point_dot",
    "float_accumulator_dot",
    "floor_log2",
    "log2_float32",
    "lsb_exponent",
    "mx_dot",
    "nearest_float32",
    "pack_block",
    "philox4x32_10",
    "quantize_block",
    "random_int",
    "random_ints",
    "round_to_integer",
    "scale_code",
    "shared_exponent",
    "truncated_dot",
]
