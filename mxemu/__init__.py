"""mxemu: a bit-exact, spec-driven emulator of OCP Microscaling (MX) numerics."""

from mxemu.array import MXArray
from mxemu.conversion import convert
from mxemu.errors import FileFormatError, InputError, MXError, PolicyError, SpecError, UnknownNameError
from mxemu.io import load, save
from mxemu.ops import decode, dequantize, encode, fake_quantize, quantize
from mxemu.policy import Policy, get_policy, policies
from mxemu.products import Truncated, accumulator_bits, dot, matmul, truncated
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, formats, get_format, register_formats, unregister_formats

__version__ = "0.1.0"

__all__ = [
    "ElementFormat",
    "FileFormatError",
    "InputError",
    "MXArray",
    "MXError",
    "MXFormat",
    "Policy",
    "PolicyError",
    "ScaleFormat",
    "SpecError",
    "Truncated",
    "UnknownNameError",
    "accumulator_bits",
    "convert",
    "decode",
    "dequantize",
    "dot",
    "encode",
    "fake_quantize",
    "formats",
    "get_format",
    "get_policy",
    "load",
    "matmul",
    "policies",
    "quantize",
    "register_formats",
    "save",
    "truncated",
    "unregister_formats",
]
