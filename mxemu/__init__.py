"""mxemu: a bit-exact, spec-driven emulator of OCP Microscaling (MX) numerics."""

# first: numba must know the cache fallback before the kernels are decorated
import mxemu._numba_cache  # noqa: F401
from mxemu._version import __version__ as __version__
from mxemu.array import MXArray, load, save
from mxemu.conversion import convert
from mxemu.errors import FileFormatError, InputError, MXError, PolicyError, SpecError, UnknownNameError
from mxemu.kernels.threads import get_num_threads, limit_threads, set_num_threads
from mxemu.ops import decode, dequantize, encode, fake_quantize, quantize
from mxemu.overflow import check_datapath, check_rows
from mxemu.policy import Policy, get_policy, policies
from mxemu.products import (
    Fixed,
    FixedPoint,
    FloatAccumulator,
    Truncated,
    accumulator_bits,
    dot,
    fixed,
    fixed_point,
    float_accumulator,
    matmul,
    truncated,
)
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, formats, get_format, register_formats, unregister_formats

__all__ = [
    "ElementFormat",
    "FileFormatError",
    "Fixed",
    "FixedPoint",
    "FloatAccumulator",
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
    "check_datapath",
    "check_rows",
    "convert",
    "decode",
    "dequantize",
    "dot",
    "encode",
    "fake_quantize",
    "fixed",
    "fixed_point",
    "float_accumulator",
    "formats",
    "get_format",
    "get_num_threads",
    "get_policy",
    "limit_threads",
    "load",
    "matmul",
    "policies",
    "quantize",
    "register_formats",
    "save",
    "set_num_threads",
    "truncated",
    "unregister_formats",
]
