"""MX dot products and matrix products under named accumulation models, and accumulator widths."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mxemu.array import MXArray
from mxemu.errors import InputError, UnknownNameError
from mxemu.kernels import dot as kd
from mxemu.kernels.abi import RDN, RNA, RNE, RTO, RTZ, RUP, format_params
from mxemu.kernels.threads import run_row_ranges
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, get_format

ACCUMULATIONS = ("exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32", "truncated:GROUP:FRAC_BITS",
                 "fixed_point:FRAC_BITS:WIDTH:ROUNDING[:wrap][:scaled][:sINT.FRAC[:ROUNDING]]",
                 "float_acc:MANT_BITS:GROUP:product|exponent|fixed:ALIGN_BITS:ALIGN_ROUNDING:ADD_ROUNDING:ROUNDING")
# The truncated model sums a group exactly in 32 bits: frac_bits + 1 + ceil(log2 group) <= 32.
TRUNCATED_SUM_BITS = 32
_TRUNCATED = re.compile(r"^truncated:(\d+):(\d+)$")


@dataclass(frozen=True)
class Truncated:
    """Accumulation with a truncating aligner: products of each group of `group` consecutive elements
    are aligned to the group's largest product exponent, truncated toward zero to `frac_bits` bits below
    it, summed exactly, and added to a float32 accumulator (one RNE rounding per group).

    >>> Truncated(16, 24)
    Truncated(group=16, frac_bits=24)
    """

    group: int
    frac_bits: int

    def __post_init__(self) -> None:
        for name in ("group", "frac_bits"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise InputError(f"truncated {name} must be an integer, got {v!r}")
        if self.group < 1 or self.frac_bits < 0:
            raise InputError(f"truncated needs group >= 1 and frac_bits >= 0, got group={self.group}, "
                             f"frac_bits={self.frac_bits}")
        need = self.frac_bits + 1 + math.ceil(math.log2(self.group))
        if need > TRUNCATED_SUM_BITS:
            raise InputError(f"truncated(group={self.group}, frac_bits={self.frac_bits}) needs a {need}-bit group "
                             f"sum; accepted: frac_bits + 1 + ceil(log2(group)) <= {TRUNCATED_SUM_BITS}")

    @property
    def spec(self) -> str:
        """The model as an accumulation string."""
        return f"truncated:{self.group}:{self.frac_bits}"


def truncated(group: int, frac_bits: int) -> Truncated:
    """The accumulation model truncated(group, frac_bits); the string "truncated:16:24" names the same.

    >>> truncated(16, 24) == Truncated(16, 24)
    True
    """
    return Truncated(group, frac_bits)


# Roundings of a fixed-point grid: the policy's names, and floor / ceil as the hardware literature says.
FIXED_ROUNDINGS = {"rtz": "rtz", "rdn": "rdn", "floor": "rdn", "rup": "rup", "ceil": "rup", "rne": "rne",
                   "rna": "rna", "rto": "rto"}
# An accumulator or output word lives in an int64 with one bit of headroom for a sum of two words.
MAX_WORD_BITS = 62
ROUNDING_CODES = {"rne": RNE, "rna": RNA, "rtz": RTZ, "rup": RUP, "rdn": RDN, "rto": RTO}
_WORD = re.compile(r"^s(\d+)\.(\d+)$")


def _rounding(rounding: object) -> str:
    if not isinstance(rounding, str) or rounding not in FIXED_ROUNDINGS:
        raise UnknownNameError(f"unknown fixed-point rounding {rounding!r}; accepted: {', '.join(FIXED_ROUNDINGS)}")
    return FIXED_ROUNDINGS[rounding]


def _count(name: str, v: object, low: int, high: int) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not low <= v <= high:
        raise InputError(f"{name} must be an integer in [{low}, {high}], got {v!r}")
    return int(v)


@dataclass(frozen=True)
class Fixed:
    """A signed fixed-point output word S<int_bits>.<frac_bits>: 1 + int_bits + frac_bits bits, value
    word * 2^-frac_bits, reached by one rounding of the accumulator's value.

    >>> Fixed(23, 8, "rne").bits
    32
    """

    int_bits: int
    frac_bits: int
    rounding: str = "rne"

    def __post_init__(self) -> None:
        _count("fixed int_bits", self.int_bits, 0, MAX_WORD_BITS - 1)
        _count("fixed frac_bits", self.frac_bits, 0, MAX_WORD_BITS - 1)
        if self.bits > MAX_WORD_BITS:
            raise InputError(f"fixed({self.int_bits}, {self.frac_bits}) is a {self.bits}-bit word; accepted: "
                             f"1 + int_bits + frac_bits <= {MAX_WORD_BITS}")
        object.__setattr__(self, "rounding", _rounding(self.rounding))

    @property
    def bits(self) -> int:
        """Width of the word, sign included."""
        return 1 + self.int_bits + self.frac_bits

    @property
    def spec(self) -> str:
        """The word's part of an accumulation string: "s23.8:rne"."""
        return f"s{self.int_bits}.{self.frac_bits}:{self.rounding}"


def fixed(int_bits: int, frac_bits: int, rounding: str = "rne") -> Fixed:
    """The output word S<int_bits>.<frac_bits> of a fixed-point accumulation model.

    >>> fixed(23, 8)
    Fixed(int_bits=23, frac_bits=8, rounding='rne')
    """
    return Fixed(int_bits, frac_bits, rounding)


@dataclass(frozen=True)
class FixedPoint:
    """A fixed-point accumulator: each element product is rounded onto the grid 2^-frac_bits with
    `rounding`, clamped (saturate) or wrapped to `width` bits two's complement, and added into a
    `width`-bit accumulator that clamps or wraps the same way. Unscaled (the default), the products are
    P_A,i * P_B,i, one accumulator per block, and the block's scales are applied to its result; scaled,
    the products carry their scales and all blocks share one accumulator. The result is float32 (one
    rounding; blocks added in float32 in block order) or, with output=fixed(...), a signed word
    (docs/convert_dot.md).

    >>> FixedPoint(16, 40, "rdn").spec
    'fixed_point:16:40:rdn'
    """

    frac_bits: int
    width: int
    rounding: str
    saturate: bool = True
    scaled: bool = False
    output: str | Fixed = "float32"

    def __post_init__(self) -> None:
        _count("fixed_point width", self.width, 2, MAX_WORD_BITS)
        _count("fixed_point frac_bits", self.frac_bits, 0, 1 << 10)
        object.__setattr__(self, "rounding", _rounding(self.rounding))
        for name in ("saturate", "scaled"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputError(f"fixed_point {name} must be True or False, got {getattr(self, name)!r}")
        if not (self.output == "float32" or isinstance(self.output, Fixed)):
            raise InputError(f"fixed_point output must be 'float32' or mxemu.fixed(int_bits, frac_bits, rounding), "
                             f"got {self.output!r}")

    @property
    def spec(self) -> str:
        """The model as an accumulation string, as the CLI and golden manifests write it."""
        flags = ("" if self.saturate else ":wrap") + (":scaled" if self.scaled else "")
        out = f":{self.output.spec}" if isinstance(self.output, Fixed) else ""
        return f"fixed_point:{self.frac_bits}:{self.width}:{self.rounding}{flags}{out}"


def fixed_point(frac_bits: int, width: int, rounding: str = "rtz", saturate: bool = True, scaled: bool = False,
                output: str | Fixed = "float32") -> FixedPoint:
    """The fixed-point accumulation model; `fixed_point:16:40:rne[:wrap][:scaled][:s23.8:rne]` names the same.

    >>> fixed_point(16, 40, "ceil", output=fixed(23, 8)).spec
    'fixed_point:16:40:rup:s23.8:rne'
    """
    return FixedPoint(frac_bits, width, rounding, saturate, scaled, output)


def _parse_fixed_point(text: str) -> FixedPoint:
    """FixedPoint from "fixed_point:F:W:R" followed by optional ":wrap", ":scaled", ":sI.F[:R]"."""
    parts = text.split(":")[1:]
    if len(parts) < 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise UnknownNameError(f"bad accumulation {text!r}; accepted: {ACCUMULATIONS[5]}")
    opts: dict = {"saturate": True, "scaled": False, "output": "float32"}
    rest = parts[3:]
    while rest:
        tok = rest.pop(0)
        word = _WORD.match(tok)
        if tok == "wrap":
            opts["saturate"] = False
        elif tok == "scaled":
            opts["scaled"] = True
        elif word and len(rest) <= 1:
            opts["output"] = Fixed(int(word.group(1)), int(word.group(2)), rest.pop(0) if rest else "rne")
        else:
            raise UnknownNameError(f"bad accumulation {text!r} at {tok!r}; accepted: {ACCUMULATIONS[5]}")
    return FixedPoint(int(parts[0]), int(parts[1]), parts[2], **opts)


ALIGNMENTS = ("product", "exponent", "fixed")
# The aligned products of a group and their sum stay below 2^62: |p| <= 2^(T + 2) for the product and
# exponent references, so align_bits + 2 + 5 (32 lanes) <= 62.
MAX_ALIGN_BITS = 52
MAX_MANT_BITS = 52


@dataclass(frozen=True)
class FloatAccumulator:
    """A float accumulator of `mant_bits` fraction bits fed by groups of `group` products per cycle: in each
    group (within a block) the unscaled products are rounded by `align_rounding` onto the grid
    2^(T - align_bits), T the alignment reference ("product": the largest floor(log2 |P_i|); "exponent": the
    largest sum of the elements' exponent fields, zero products included; "fixed": 0); the exact group sum,
    times the block's scales, is added into the register: both addends rounded by `add_rounding` onto the grid
    of the larger one's M fraction bits, the exact sum normalised to M + 1 bits by `rounding`. The register's
    value is rounded once to float32 at the end (docs/convert_dot.md).

    >>> FloatAccumulator(23, 8, "exponent", 24, "rdn", "rdn", "rtz").spec
    'float_acc:23:8:exponent:24:rdn:rdn:rtz'
    """

    mant_bits: int
    group: int
    align: str
    align_bits: int
    align_rounding: str = "rtz"
    add_rounding: str = "rne"
    rounding: str = "rne"

    def __post_init__(self) -> None:
        _count("float_acc mant_bits", self.mant_bits, 1, MAX_MANT_BITS)
        _count("float_acc group", self.group, 1, 32)
        _count("float_acc align_bits", self.align_bits, 0, MAX_ALIGN_BITS)
        if self.align not in ALIGNMENTS:
            raise UnknownNameError(f"unknown alignment reference {self.align!r}; accepted: {', '.join(ALIGNMENTS)}")
        for name in ("align_rounding", "add_rounding", "rounding"):
            object.__setattr__(self, name, _rounding(getattr(self, name)))

    @property
    def spec(self) -> str:
        """The model as an accumulation string."""
        return (f"float_acc:{self.mant_bits}:{self.group}:{self.align}:{self.align_bits}:{self.align_rounding}:"
                f"{self.add_rounding}:{self.rounding}")


def float_accumulator(mant_bits: int, group: int = 1, align: str = "product", align_bits: int = 24,
                      align_rounding: str = "rtz", add_rounding: str = "rne", rounding: str = "rne"
                      ) -> FloatAccumulator:
    """The float accumulation model; "float_acc:M:G:ALIGN:A:R_ALIGN:R_ADD:R" names the same.

    >>> float_accumulator(18, 4, "exponent", 20, "floor", "floor", "rtz").spec
    'float_acc:18:4:exponent:20:rdn:rdn:rtz'
    """
    return FloatAccumulator(mant_bits, group, align, align_bits, align_rounding, add_rounding, rounding)


def _parse_float_acc(text: str) -> FloatAccumulator:
    parts = text.split(":")[1:]
    if len(parts) != 7 or not all(parts[i].isdigit() for i in (0, 1, 3)):
        raise UnknownNameError(f"bad accumulation {text!r}; accepted: {ACCUMULATIONS[-1]}")
    return FloatAccumulator(int(parts[0]), int(parts[1]), parts[2], int(parts[3]), *parts[4:])


Model = str | Truncated | FixedPoint | FloatAccumulator


def _model(accumulation: object) -> Model:
    if isinstance(accumulation, (Truncated, FixedPoint, FloatAccumulator)):
        return accumulation
    if isinstance(accumulation, str):
        if accumulation in ACCUMULATIONS[:4]:
            return accumulation
        m = _TRUNCATED.match(accumulation)
        if m:
            return Truncated(int(m.group(1)), int(m.group(2)))
        if accumulation.startswith("fixed_point:"):
            return _parse_fixed_point(accumulation)
        if accumulation.startswith("float_acc:"):
            return _parse_float_acc(accumulation)
    raise UnknownNameError(f"unknown accumulation {accumulation!r}; accepted: {', '.join(ACCUMULATIONS)} "
                           f"(or mxemu.truncated(group, frac_bits), mxemu.fixed_point(...), "
                           f"mxemu.float_accumulator(...))")


# An accumulation string from outside: lowercase ASCII words, digits, "." and ":" only, bounded, so that
# the parser sees no Unicode digits and int() no number of thousands of digits.
_SPEC_TEXT = re.compile(r"[a-z0-9_.:]{1,160}")


def accumulation_model(spec: object) -> Model:
    """The accumulation model an accumulation string names ("exact", "truncated:16:24",
    "fixed_point:16:40:rne:s23.8:rne", "float_acc:23:8:exponent:24:rdn:rdn:rtz", ...), by the parser dot and
    matmul use; `UnknownNameError` / `InputError` saying what is accepted for anything else.

    >>> accumulation_model("fixed_point:16:40:ceil").spec
    'fixed_point:16:40:rup'
    """
    if not isinstance(spec, str) or not _SPEC_TEXT.fullmatch(spec):
        raise InputError(f"an accumulation string is 1 to 160 characters of a-z, 0-9, '_', '.', ':'; got "
                         f"{spec!r:.200}; accepted: {', '.join(ACCUMULATIONS)}")
    return _model(spec)


def _element(fmt: object) -> ElementFormat:
    f = get_format(fmt)
    if isinstance(f, MXFormat):
        return f.element
    if isinstance(f, ElementFormat):
        return f
    raise InputError(f"{f.name!r} is a scale format; give an element or MX format")


def _step_exponent(f: ElementFormat) -> int:
    """Exponent of the format's smallest step (min subnormal, or the integer quantum)."""
    return f.emin if f.is_int else f.emin - f.mantissa_bits


def _max_fixed(f: ElementFormat) -> int:
    """Largest |value| / smallest step over the finite codes (an integer)."""
    steps = -_step_exponent(f)
    top = max(abs(f.max_normal), abs(f.min_value))
    return int(top * 2**steps)


def accumulator_bits(fmt_a: str | MXFormat | ElementFormat, fmt_b: str | MXFormat | ElementFormat,
                     block_size: int = 32) -> int:
    """Two's complement bits that hold every exact block sum Σ P_A,i · P_B,i of `block_size` products.

    In units of the two formats' smallest steps each product is an integer of magnitude at most
    Ma·Mb (Ma = max |P| / min step: significand bits plus exponent span), so the block sum needs
    bit_length(block_size·Ma·Mb) + 1 bits (AXE-style bound, tight: the extreme codes reach it).

    >>> accumulator_bits("mxfp8_e4m3", "mxfp8_e4m3"), accumulator_bits("mxfp4_e2m1", "mxfp4_e2m1")
    (42, 14)
    """
    a, b = _element(fmt_a), _element(fmt_b)
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or block_size < 1:
        raise InputError(f"block_size must be a positive integer, got {block_size!r}")
    return (int(block_size) * _max_fixed(a) * _max_fixed(b)).bit_length() + 1


def _split(fa: ElementFormat, fb: ElementFormat, k: int) -> int:
    """0 when block sums fit int64; else the split of A into A_hi * 2^split + A_lo with both sums fitting."""
    ma, mb = _max_fixed(fa), _max_fixed(fb)
    limit = 1 << 62
    if k * ma * mb < limit:
        return 0
    for split in range(1, 37):
        if k * mb * (1 << split) < limit and k * mb * ((ma >> split) + 1) < limit:
            return split
    raise InputError(f"{fa.name} x {fb.name} blocks of {k} need {accumulator_bits(fa, fb, k)} accumulator bits; "
                     f"mxemu's kernels handle up to about 124")


def _check_operand(x: object, name: str) -> MXArray:
    if not isinstance(x, MXArray):
        raise InputError(f"{name} must be an MXArray, got {type(x).__name__}")
    scale = x.format.scale
    if not isinstance(scale, ScaleFormat) or (scale.bias, scale.nan_code) != (127, 255) or x.tensor_scale is not None:
        raise InputError(f"{name} is {x.format.name}; dot and matmul take E8M0-scaled MX formats "
                         f"(mxfp8/6/4, mxint-b), not a two-level format")
    return x


@dataclass(frozen=True)
class _Operand:
    codes: np.ndarray  # (rows, K) uint8, K along the blocked axis
    scales: np.ndarray  # (rows, nblocks) uint8
    source: MXArray  # the operand as given, for its format, policy and dequantized values

    @property
    def element(self) -> ElementFormat:
        return self.source.format.element

    def values(self) -> np.ndarray:
        """float32 values of the rows (every MX value is exact in float32)."""
        q = MXArray(self.codes, self.scales, self.source.format, self.source.policy, (1,))
        return np.ascontiguousarray(q.dequantize(np.float32))


def _prepare(A: MXArray, B: MXArray, model: Model) -> np.ndarray:
    """Run the kernel of `model` on A's rows (M, K) and B's columns given as rows (N, K)."""
    a = _Operand(np.ascontiguousarray(A.codes), np.ascontiguousarray(A.scales), A)
    b = _Operand(np.ascontiguousarray(_columns(B.codes)), np.ascontiguousarray(_columns(B.scales)), B)
    return _run(a, b, A.block_size, model, False)


def _columns(x: np.ndarray) -> np.ndarray:
    """A (K, N) array blocked along axis 0, as (N, K) rows."""
    return x.T


def _fixed_point_params(model: FixedPoint) -> tuple[int, ...]:
    """The model's fields in the slots of kd.FX_SLOTS."""
    out = model.output if isinstance(model.output, Fixed) else None
    code = ROUNDING_CODES
    return (model.frac_bits, model.width, code[model.rounding], int(model.saturate), int(model.scaled),
            int(out is not None), out.bits if out else 0, out.frac_bits if out else 0,
            code[out.rounding] if out else 0)


def _float_params(model: FloatAccumulator) -> tuple[int, ...]:
    """The model's fields in the slots of kd.FA_SLOTS."""
    code = ROUNDING_CODES
    return (model.mant_bits, model.group, ALIGNMENTS.index(model.align), model.align_bits,
            code[model.align_rounding], code[model.add_rounding], code[model.rounding])


def _field_exponents(f: ElementFormat) -> np.ndarray:
    """Per code, the exponent its exponent field gives: max(field, 1) - bias (subnormals and zeros take the
    minimum normal's); an integer element's is its emax (every |value| < 2^(emax + 1))."""
    codes = np.arange(f.num_codes, dtype=np.int64)
    if f.is_int:
        return np.full(f.num_codes, f.emax, np.int64)
    field = (codes >> f.mantissa_bits) & ((1 << f.exponent_bits) - 1)
    return np.maximum(field, 1) - f.bias


def _check_float_range(model: FloatAccumulator, fa: ElementFormat, fb: ElementFormat, k: int) -> None:
    """The fixed grid puts unscaled products in units of 2^-align_bits; their group sum must stay below 2^62."""
    if model.align != "fixed":
        return
    shift = _step_exponent(fa) + _step_exponent(fb) + model.align_bits
    top = (min(model.group, k) * _max_fixed(fa) * _max_fixed(fb)).bit_length() + max(shift, 0)
    if top > 62:
        raise InputError(f"{model.spec}: {fa.name} x {fb.name} group sums on the grid 2^-{model.align_bits} need "
                         f"{top} bits; accepted: align_bits with at most 62 (here <= {model.align_bits - top + 62})")


def _rows(kernel: Callable[..., None], args: tuple, rows: int, products_per_row: int) -> None:
    """kernel(*args, i0, i1) over the rows i0..i1-1 of A on the thread pool (the kernels release the GIL)."""
    run_row_ranges(lambda lo, hi: kernel(*args, lo, hi), rows, products_per_row)


def _run(a: _Operand, b: _Operand, k: int, model: Model, pairs: bool) -> np.ndarray:
    """(M, N) results of every row of a with every row of b, or with pairs the (M,) results of row i with row i:
    float32, or int64 words for a fixed-point model with a fixed output."""
    M, N = a.codes.shape[0], b.codes.shape[0]
    out = np.empty((M, 1 if pairs else N), np.float32)
    per_row = a.codes.shape[1] * (1 if pairs else N)  # products of one row of the result
    qa, qb = _step_exponent(a.element), _step_exponent(b.element)
    fixA, sigA, expA, clsA, negA = kd.element_tables(format_params(a.element), qa)
    fixB, sigB, expB, clsB, negB = kd.element_tables(format_params(b.element), qb)
    if model == "dequant_fp32":
        _rows(kd.matmul_dequant, (a.values(), b.values(), pairs, out), M, per_row)
    elif model == "fp32_sequential":
        _rows(kd.matmul_sequential, (a.codes, b.codes, a.scales, b.scales, clsA, clsB, sigA, sigB, expA, expB, negA,
                                     negB, k, pairs, out), M, per_row)
    elif isinstance(model, Truncated):
        _rows(kd.matmul_truncated, (a.codes, b.codes, a.scales, b.scales, clsA, clsB, sigA, sigB, expA, expB, k,
                                    model.group, model.frac_bits, pairs, out), M, per_row)
    elif isinstance(model, FixedPoint):
        words = np.empty(out.shape, np.int64)
        _rows(kd.matmul_fixed_point, (a.codes, b.codes, a.scales, b.scales, clsA, clsB, sigA, sigB, expA, expB, k,
                                      _fixed_point_params(model), pairs, out, words), M, per_row)
        if isinstance(model.output, Fixed):
            out = words
    elif isinstance(model, FloatAccumulator):
        _check_float_range(model, a.element, b.element, k)
        _rows(kd.matmul_float_accumulator, (a.codes, b.codes, a.scales, b.scales, clsA, clsB, sigA, sigB, expA, expB,
                                            _field_exponents(a.element), _field_exponents(b.element), k,
                                            _float_params(model), pairs, out), M, per_row)
    else:
        split = _split(a.element, b.element, k)
        fa = fixA[a.codes]
        if split:
            a_hi, a_lo = fa >> split, fa & ((1 << split) - 1)
        else:
            a_hi, a_lo = fa, np.zeros((M, 0), np.int64)
        fb = np.ascontiguousarray(fixB[b.codes])
        fast64 = accumulator_bits(a.element, b.element, k) <= 53
        limbs = np.zeros((M, kd.LIMBS if model == "exact" else 0), np.int64)  # the exact accumulator of each row
        _rows(kd.matmul_block_models, (a_hi, a_lo, fb, a.codes, b.codes, a.scales, b.scales,
                                       _special_blocks(a, clsA, k), _special_blocks(b, clsB, k), clsA, clsB, sigA, sigB,
                                       k, split, qa + qb, model == "exact", fast64, pairs, limbs, out), M, per_row)
    return out[:, 0] if pairs else out


def _special_blocks(x: _Operand, cls: np.ndarray, k: int) -> np.ndarray:
    """(rows, nblocks) bool: the block's scale is NaN or one of its elements is NaN or Inf."""
    rows, K = x.codes.shape
    nb = x.scales.shape[1]
    bad = cls[x.codes] != kd.C_FIN
    pad = nb * k - K
    if pad:
        bad = np.concatenate([bad, np.zeros((rows, pad), bool)], axis=1)
    return np.ascontiguousarray(bad.reshape(rows, nb, k).any(axis=2) | (x.scales == kd.E8M0_NAN))


def _check_pair(A: MXArray, B: MXArray) -> None:
    if A.block_size != B.block_size:
        raise InputError(f"block sizes differ: {A.format.name} has {A.block_size}, {B.format.name} has "
                         f"{B.block_size}; the blocks of both operands must line up")


def matmul(A: MXArray, B: MXArray, accumulation: Model = "exact") -> np.ndarray:
    """(M, N) product of A (M, K) blocked along axis 1 and B (K, N) blocked along axis 0: float32, or int64
    output words for a fixed_point model with a fixed(...) output.

    `accumulation` is one of "exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32",
    truncated(group, frac_bits) / "truncated:GROUP:FRAC_BITS", fixed_point(...) / "fixed_point:F:W:R...", or
    float_accumulator(...) / "float_acc:M:G:ALIGN:A:R:R:R"; docs/convert_dot.md defines each.

    >>> import numpy as np, mxemu as mx
    >>> A = mx.quantize(np.ones((2, 32), np.float32), "mxfp8_e4m3", axis=1)
    >>> B = mx.quantize(np.full((32, 3), 0.5, np.float32), "mxfp4_e2m1", axis=0)
    >>> matmul(A, B).tolist()
    [[16.0, 16.0, 16.0], [16.0, 16.0, 16.0]]
    """
    model = _model(accumulation)
    _check_operand(A, "A")
    _check_operand(B, "B")
    if A.codes.ndim != 2 or B.codes.ndim != 2:
        raise InputError(f"matmul takes 2-D operands, got shapes {A.shape} and {B.shape}; use dot for vectors")
    if A.axis != (1,) or B.axis != (0,):
        raise InputError(f"matmul needs A blocked along its last axis (axis=1) and B along axis 0; got A.axis="
                         f"{A.axis}, B.axis={B.axis}")
    if A.shape[1] != B.shape[0]:
        raise InputError(f"inner dimensions differ: A is {A.shape}, B is {B.shape}")
    _check_pair(A, B)
    return _prepare(A, B, model)


def dot(a: MXArray, b: MXArray, accumulation: Model = "exact") -> np.float32 | np.int64 | np.ndarray:
    """Dot product of two 1-D MXArrays of the same length and block size (a scalar), or the N row-by-row
    dot products of two (N, K) MXArrays blocked along axis 1 (an (N,) array): float32, or int64 output
    words for a fixed_point model with a fixed(...) output.

    >>> import numpy as np, mxemu as mx
    >>> a = mx.quantize(np.arange(32, dtype=np.float32), "mxint8")
    >>> b = mx.quantize(np.ones(32, np.float32), "mxfp4_e2m1")
    >>> float(dot(a, b, "block_exact_fp32"))
    496.0
    >>> A = mx.quantize(np.ones((3, 64), np.float32), "mxfp8_e4m3", axis=1)
    >>> dot(A, A, fixed_point(16, 40, "rne", output=fixed(23, 8))).tolist()
    [16384, 16384, 16384]
    """
    model = _model(accumulation)
    _check_operand(a, "a")
    _check_operand(b, "b")
    if a.codes.ndim not in (1, 2) or b.codes.ndim != a.codes.ndim:
        raise InputError(f"dot takes two 1-D operands or two (N, K) operands, got shapes {a.shape} and {b.shape}; "
                         f"use matmul for a matrix product")
    if a.shape != b.shape:
        what = f"lengths differ: {a.shape[0]} and {b.shape[0]}" if a.codes.ndim == 1 else (
            f"shapes differ: {a.shape} and {b.shape}")
        raise InputError(f"{what}; dot pairs row i of a with row i of b")
    if a.codes.ndim == 2 and (a.axis != (1,) or b.axis != (1,)):
        raise InputError(f"a batched dot needs both operands blocked along axis 1; got a.axis={a.axis}, "
                         f"b.axis={b.axis}")
    _check_pair(a, b)
    rows = a.codes.reshape(-1, a.shape[-1]).shape[0]
    x = _Operand(np.ascontiguousarray(a.codes.reshape(rows, -1)), np.ascontiguousarray(a.scales.reshape(rows, -1)), a)
    y = _Operand(np.ascontiguousarray(b.codes.reshape(rows, -1)), np.ascontiguousarray(b.scales.reshape(rows, -1)), b)
    out = _run(x, y, a.block_size, model, True)
    return out if a.codes.ndim == 2 else out.dtype.type(out[0])
