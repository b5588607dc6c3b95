"""Golden-vector suites: case construction, expected results from the kernels, and the oracle gate."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TextIO

import numpy as np
import tomllib

from mxemu import oracle
from mxemu.array import MXArray
from mxemu.errors import InputError, MXError, PolicyError, UnknownNameError
from mxemu.ops import decode, encode, quantize
from mxemu.policy import Policy, get_policy, policies
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, formats, get_format

SUITES = ("decode", "encode", "scale", "quantize", "dequantize", "convert", "dot", "pack", "divergence", "sweep")
# "all": the suites of one policy; divergence compares presets and is asked for by name
ALL_SUITES = ("decode", "encode", "scale", "quantize", "dequantize", "convert", "dot", "pack")
# LAYOUT field of the pack suite: an index into this list (mxemu.packing.LAYOUTS, append only)
PACK_LAYOUTS = ("byte", "byte_msb", "nibble_lo_first", "nibble_hi_first", "fp6_4in3", "bitstream_le")
DOT_MODELS = ("exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32")  # output fields of the dot suite
DOT_K = 2 * 32  # two blocks per operand: the block-order steps of the float32 models show
# TARGET field of the convert suite: an index into this list (append only)
CONVERT_TARGETS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8", "mxint7", "mxint6",
                   "mxint5", "mxint4", "mxint3", "mxint2")
CONVERT_METHODS = ("requantize", "slice_and_scale")  # METHOD field
LEVELS = ("L0", "L1", "exhaustive")
OCP_FORMATS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8")
BLOCK = 32

# Check classes (the CHK field): how a device-under-test output is compared with the expected one.
CHECK_CLASSES: dict[int, str] = {
    0: "exact: every output field must equal the expected bits",
    1: "nan: a float32 output whose expected value is a NaN must be a NaN; any NaN bit pattern is accepted",
    2: "codes_dont_care: the scale must match; element codes are ignored (NaN scale)",
}
# Events byte (the EV field): informative, never compared by `check`.
EVENTS: dict[int, str] = {
    0: "inexact: some finite input lane is not equal to its decoded result",
    1: "underflow: an inexact lane whose |x| is below the element's minimum normal (integers: one step) "
       "times the scale",
    2: "saturated: some finite lane lies beyond max normal times the scale (clamped or Inf)",
    3: "nonfinite input: some input (or decoded value) is NaN or Inf",
    4: "scale at an end of the E8M0 range (0x00 or 0xFE)",
    5: "scale NaN (0xFF)",
    6: "overflow: a finite element times the scale lies beyond the float32 range (dequantizes to Inf)",
}
EVENT_NAMES = ("inexact", "underflow", "saturated", "nonfinite", "scale_end", "scale_nan", "overflow")
EV_INEXACT, EV_UNDERFLOW, EV_SATURATED, EV_NONFINITE, EV_SCALE_END, EV_SCALE_NAN, EV_OVERFLOW = (
    1 << i for i in range(7))

# Coverage tags: the TAG field is an index into this table (ids never change meaning; append only).
TAGS: tuple[tuple[str, str], ...] = (
    ("DEC-zero", "decode: a zero code"),
    ("DEC-subnormal", "decode: a subnormal code"),
    ("DEC-normal", "decode: a normal float code or a non-zero integer code"),
    ("DEC-inf", "decode: an Inf code"),
    ("DEC-nan", "decode: a NaN code"),
    ("ENC-grid", "encode: x exactly on a representable value times the scale"),
    ("ENC-grid-ulp", "encode: one float32 ulp below or above a representable value"),
    ("ENC-mid", "encode: x exactly on a midpoint between neighbouring values (a tie)"),
    ("ENC-mid-ulp", "encode: one float32 ulp below or above a midpoint"),
    ("ENC-overflow", "encode: overflow threshold (max + half a top ulp) +-1 ulp, next grid point past max, "
                     "2 max, FP32 max"),
    ("ENC-underflow", "encode: half the minimum subnormal and +-1 ulp around it"),
    ("ENC-special", "encode: +-0, +-Inf, quiet and signalling NaNs with payloads"),
    ("ENC-fp32-sub", "encode: FP32 subnormals and the FP32 minimum normal"),
    ("ENC-random", "encode: Philox-random float32 in element-relevant binades"),
    ("SC-pow2", "scale: amax an exact power of two"),
    ("SC-pow2-ulp", "scale: amax one float32 ulp below or above a power of two"),
    ("SC-maxnorm", "scale: amax = max normal times 2^k, and +-1 ulp"),
    ("SC-satwin", "scale: amax inside the saturation window (max normal, 2^(emax+1)) times 2^k"),
    ("SC-even", "scale: amax at the EVEN rule's carry point (2 - 2^-p) 2^k, and +-1 ulp"),
    ("SC-discrim", "scale: amax 4.5, 5, 6.5, 7 times 2^k (FLOOR / CEIL / EVEN / RCEIL discriminators)"),
    ("SC-fp32-sub", "scale: FP32 subnormal amax"),
    ("SC-zero", "scale: all-zero blocks (+0, -0, mixed)"),
    ("SC-nonfinite", "scale: NaN or Inf lanes in the block"),
    ("SC-clamp-lo", "scale: amax small enough to clamp the scale at 2^-127"),
    ("SC-clamp-hi", "scale: amax at the top of the float32 range"),
    ("SC-signtie", "scale: +amax and -amax in the same block"),
    ("MB1-classes", "quantize: lanes cycling through value classes"),
    ("MB2-amax-lane", "quantize: the amax lane at every position 0..31"),
    ("MB2-pow2-ulp", "quantize: amax one ulp below a power of two"),
    ("MB3-small-lanes", "quantize: one large lane, others straddling the element's underflow threshold"),
    ("MB4-ties", "quantize: every lane on an element midpoint (ties in bulk)"),
    ("MB5-zero", "quantize: all +0, all -0, single non-zero lane, alternating signs"),
    ("MB6-nonfinite", "quantize: NaN or Inf in lane k"),
    ("MB7-scale-ends", "quantize: scale at 2^-127 or clamped there, and at the top of the range"),
    ("MB8-saturation", "quantize: amax in the saturation window"),
    ("MB9-int-min", "quantize: integer elements at -2^(b-1) (the 0x80 question)"),
    ("MB-fp32-sub", "quantize: blocks of FP32 subnormals"),
    ("MB-random", "quantize: Philox-random blocks (log-uniform magnitudes, outliers)"),
    ("DQ-zero", "dequantize: a zero element code"),
    ("DQ-normal", "dequantize: a finite non-zero element whose product is a float32 normal"),
    ("DQ-fp32-sub", "dequantize: a product below the float32 minimum normal (a float32 subnormal result)"),
    ("DQ-overflow", "dequantize: a product beyond the float32 range (Inf)"),
    ("DQ-special", "dequantize: a NaN or Inf element code"),
    ("DQ-scale-nan", "dequantize: the NaN scale 0xFF (every element dequantizes to NaN)"),
    ("SWEEP-chunk", "sweep: SHA-256 of the element codes of a contiguous range of float32 bit patterns"),
    ("DOT-pair", "dot: two quantized or edge blocks (every code, NaN scale, scale ends, zeros) per operand"),
    ("DOT-cancel", "dot: b is a with every sign flipped (an exact sum of zero) or a itself"),
    ("DOT-random", "dot: Philox-random codes and scales near 2^0"),
    ("PK-codes", "pack: every code of the format, all zeros, all ones, alternating, one set bit walking"),
    ("PK-random", "pack: Philox-random codes"),
    ("CV-edge", "convert: source blocks with the NaN scale, scales 0x00 / 0xF8 / 0xFE, all-zero codes, and "
                "every source code at scale 2^0"),
)
TAG_IDS: dict[str, int] = {name: i for i, (name, _) in enumerate(TAGS)}

FP32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Field:
    """One field of a record: `lanes` values of `lane_bits` bits each (lanes = 1 for a scalar)."""

    name: str
    role: str  # "meta", "input" or "output"
    lane_bits: int
    lanes: int = 1

    @property
    def bits(self) -> int:
        """Width of the whole field in the packed record."""
        return self.lane_bits * self.lanes

    @property
    def digits(self) -> int:
        """Hex digits of one lane in the .tv text."""
        return (self.lane_bits + 3) // 4

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned numpy dtype holding one lane."""
        return np.dtype(np.uint8 if self.lane_bits <= 8 else np.uint16 if self.lane_bits <= 16 else np.uint32)


@dataclass
class Table:
    """One suite for one format: the record layout and every case's field values (unsigned integers)."""

    suite: str
    mx: MXFormat
    fields: tuple[Field, ...]
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """`suite/format`: the file stem of the suite's files inside a set."""
        return f"{self.suite}/{self.mx.name}"

    @property
    def count(self) -> int:
        """Number of cases."""
        return len(self.columns["tag"])

    @property
    def record_bits(self) -> int:
        """Width of one packed .hex record (every field but the case index)."""
        return sum(f.bits for f in self.fields)

    def offsets(self) -> dict[str, int]:
        """Bit offset of each field in the packed record (the first field is the most significant)."""
        out, at = {}, 0
        for f in reversed(self.fields):
            out[f.name] = at
            at += f.bits
        return out

    def outputs(self) -> tuple[Field, ...]:
        """The expected-output fields, in record order."""
        return tuple(f for f in self.fields if f.role == "output")


def layout(suite: str, mx: MXFormat) -> tuple[Field, ...]:
    """The record fields of a suite for an MX format (the layout the C / SV exports describe)."""
    w = mx.element.bits
    head = (Field("tag", "meta", 16),)
    tail = (Field("ev", "meta", 8), Field("chk", "meta", 4))
    body = {
        "decode": (Field("code", "input", w), Field("value", "output", 32)),
        "encode": (Field("scale", "input", 8), Field("x", "input", 32), Field("code", "output", w)),
        "scale": (Field("x", "input", 32, BLOCK), Field("scale", "output", 8)),
        "quantize": (Field("x", "input", 32, BLOCK), Field("scale", "output", 8), Field("codes", "output", w, BLOCK)),
        "dequantize": (Field("scale", "input", 8), Field("code", "input", w), Field("value", "output", 32)),
        "divergence": (Field("x", "input", 32, BLOCK), Field("scale", "output", 8),
                       Field("codes", "output", w, BLOCK), Field("differs", "meta", 16)),
        "convert": (Field("method", "input", 4), Field("target", "input", 8), Field("src_scale", "input", 8),
                    Field("src_codes", "input", w, BLOCK), Field("scale", "output", 8),
                    Field("codes", "output", 8, BLOCK)),
        "dot": (Field("sa", "input", 8, 2), Field("a", "input", w, DOT_K), Field("sb", "input", 8, 2),
                Field("b", "input", w, DOT_K), *(Field(m, "output", 32) for m in DOT_MODELS)),
        "pack": (Field("layout", "input", 4), Field("codes", "input", w, BLOCK), Field("nbytes", "meta", 8),
                 Field("data", "output", 8, BLOCK)),
        "sweep": (Field("scale", "input", 8), Field("first", "input", 32), Field("count", "input", 32),
                  Field("digest", "output", 32, 8)),
    }[suite]
    return head + body + tail


# ----------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------


def parse_suites(text: str, level: str = "L0") -> tuple[str, ...]:
    """Comma-separated suite names (or "all": the suites of one policy, or `sweep` at level exhaustive) in
    canonical order; `UnknownNameError` for an unknown one."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise InputError(f"--suite is empty; suites: {', '.join(SUITES)}")
    if names == ["all"]:
        return ("sweep",) if level == "exhaustive" else ALL_SUITES
    for n in names:
        if n not in SUITES:
            raise UnknownNameError(f"unknown suite {n!r}; suites: {', '.join(SUITES)} (or all)")
    return tuple(s for s in SUITES if s in names)


def parse_formats(text: str) -> tuple[str, ...]:
    """Comma-separated MX format names ("all" or "ocp": the six OCP MX v1.0 formats), in order given."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise InputError("--format is empty; give MX format names or 'all'")
    out: list[str] = []
    mx_names = [n for n in formats() if isinstance(get_format(n), MXFormat)]
    for n in names:
        if n in ("all", "ocp"):
            out.extend(OCP_FORMATS)
            continue
        f = get_format(n) if n in formats() else None
        if not isinstance(f, MXFormat):
            raise UnknownNameError(f"unknown MX format {n!r}; MX formats: {', '.join(mx_names)} (or all)")
        if not isinstance(f.scale, ScaleFormat):
            raise InputError(f"{n}: golden suites cover E8M0-scaled MX formats only (not a two-level scale)")
        out.append(n)
    return tuple(dict.fromkeys(out))


def parse_policy(text: str) -> Policy:
    """A preset name; a preset with changed fields, "ocp,rounding=rtz,scale_rule=ceil" (the text becomes the
    policy's name, so the manifest's command reproduces it); or a TOML file holding policy fields at the top
    level, with an optional `base` preset (default ocp) and `name`.

    >>> parse_policy("ocp,rounding=rtz").rounding
    'rtz'
    """
    text = text.strip()
    if text.endswith(".toml"):
        try:
            data = tomllib.loads(Path(text).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"--policy {text}: cannot read the TOML file ({exc})") from None
        base = data.pop("base", "ocp")
        name = data.pop("name", Path(text).stem)
        if not isinstance(base, str) or not isinstance(name, str):
            raise InputError(f"--policy {text}: base and name must be strings")
        return get_policy(base).replace(**data, name=name)
    preset, *changes = (part.strip() for part in text.split(","))
    if not changes:
        return get_policy(preset)
    fields: dict[str, object] = {}
    for change in changes:
        key, eq, value = change.partition("=")
        if not eq or not key.strip():
            raise InputError(f"--policy {text!r}: {change!r} is not field=value")
        fields[key.strip()] = int(value) if re.fullmatch(r"\s*-?\d+\s*", value) else value.strip()
    return get_policy(preset).replace(**fields, name=text)


def check_policy(policy: Policy) -> None:
    """Refuse policies the suites cannot express yet."""
    if policy.rounding == "stochastic":
        raise PolicyError("golden suites do not cover stochastic rounding yet (the random bits are not a field)")


def check_level(level: str) -> str:
    """The level name, validated."""
    if level not in LEVELS:
        raise InputError(f"unknown level {level!r}; levels: {', '.join(LEVELS)}")
    return level


def check_level_suites(level: str, suites: tuple[str, ...]) -> None:
    """The exhaustive level has exactly one suite, `sweep`, and `sweep` exists at that level only."""
    if (level == "exhaustive") != ("sweep" in suites) or (level == "exhaustive" and len(suites) != 1):
        raise InputError("level exhaustive takes --suite sweep (or all) alone, and sweep needs --level exhaustive")


def check_seed(seed: int) -> int:
    """The seed, validated: an integer in [0, 2^64)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 1 << 64:
        raise InputError(f"seed must be an integer in [0, 2^64), got {seed!r}")
    return seed


# ----------------------------------------------------------------------------------------------------------
# Helpers: float32 bit patterns, element grids, Philox streams
# ----------------------------------------------------------------------------------------------------------


def f32(values: np.ndarray | list[float]) -> np.ndarray:
    """float64 values as float32, keeping only those that are exactly representable and finite."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        x = v.astype(np.float32)
    keep = np.isfinite(x) & (x.astype(np.float64) == v)
    return x[keep]


def bits_to_f32(words: np.ndarray | list[int]) -> np.ndarray:
    """uint32 bit patterns as float32 values."""
    return np.asarray(words, dtype=np.uint32).view(np.float32)


def f32_bits(x: np.ndarray) -> np.ndarray:
    """float32 values as uint32 bit patterns."""
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


def neighbours(x: np.ndarray) -> np.ndarray:
    """The float32 values one ulp below and one ulp above each x (finite ones only)."""
    x = np.asarray(x, dtype=np.float32)
    out = np.concatenate([np.nextafter(x, np.float32(-np.inf)), np.nextafter(x, np.float32(np.inf))])
    return out[np.isfinite(out)]


def grid(elem: ElementFormat) -> np.ndarray:
    """The element's finite non-negative values, ascending (float64, exact)."""
    values = decode(np.arange(elem.num_codes, dtype=np.uint8), elem, dtype=np.float64)
    values = values[np.isfinite(values) & ~np.signbit(values)]
    return np.unique(values)


def stream(seed: int, purpose: str, count: int) -> np.ndarray:
    """`count` 32-bit Philox4x32-10 words for (seed, purpose): counters (stream << 32) + i, with the stream
    id the first 3 bytes of SHA-256(purpose). The same on every machine (oracle.random_ints)."""
    sid = int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:3], "big")
    idx = (np.uint64(sid) << np.uint64(32)) + np.arange(count, dtype=np.uint64)
    return oracle.random_ints(seed, idx, 32).astype(np.uint64)


def _signed(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return np.concatenate([x, -x])


def _unique_cases(xs: list[np.ndarray], tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate float32 groups, dropping repeated bit patterns (the first group's tag wins)."""
    seen: dict[int, int] = {}
    for x, tag in zip(xs, tags, strict=True):
        for b in f32_bits(x).tolist():
            seen.setdefault(int(b), TAG_IDS[tag])
    return np.array(list(seen), dtype=np.uint32), np.array(list(seen.values()), dtype=np.uint16)


# ----------------------------------------------------------------------------------------------------------
# decode
# ----------------------------------------------------------------------------------------------------------


def build_decode(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Every code of the element format -> its value at scale 2^0 as float32 bits (NaN codes: check class nan)."""
    elem = mx.element
    codes = np.arange(elem.num_codes, dtype=np.uint8)
    values = decode(codes, elem, dtype=np.float32)
    v64 = values.astype(np.float64)
    exp_field = (codes.astype(np.int64) >> elem.mantissa_bits) & ((1 << elem.exponent_bits) - 1)
    tags = np.where(
        np.isnan(v64), TAG_IDS["DEC-nan"], np.where(
            np.isinf(v64), TAG_IDS["DEC-inf"], np.where(
                v64 == 0, TAG_IDS["DEC-zero"], np.where(
                    (exp_field == 0) & (not elem.is_int), TAG_IDS["DEC-subnormal"], TAG_IDS["DEC-normal"]))))
    nonfinite = ~np.isfinite(v64)
    t = Table("decode", mx, layout("decode", mx))
    t.columns = {
        "tag": tags.astype(np.uint16), "code": codes, "value": f32_bits(values).copy(),
        "ev": np.where(nonfinite, EV_NONFINITE, 0).astype(np.uint8),
        "chk": np.where(np.isnan(v64), 1, 0).astype(np.uint8),
    }
    return t


# ----------------------------------------------------------------------------------------------------------
# encode
# ----------------------------------------------------------------------------------------------------------

_SPECIAL_BITS = (0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
                 0xFFBFFFFF, 0x7FC00001)
_FP32_SUB_BITS = (0x00000001, 0x007FFFFF, 0x00800000, 0x00400000)


def _encode_inputs(elem: ElementFormat, s: int) -> tuple[np.ndarray, np.ndarray]:
    g = grid(elem)
    q_top = g[-1] - g[-2]
    mids = (g[:-1] + g[1:]) / 2
    scale = 2.0 ** s
    grid_x = _signed(f32(g * scale))
    mid_x = _signed(f32(mids[1:] * scale))
    under_x = _signed(f32([mids[0] * scale]))
    over_pts = f32([(g[-1] + q_top / 2) * scale, (g[-1] + q_top) * scale, 2 * g[-1] * scale])
    over_x = _signed(np.concatenate([over_pts, neighbours(over_pts[:1]), np.float32([FP32_MAX])]))
    groups = [
        (bits_to_f32(_SPECIAL_BITS), "ENC-special"),
        (_signed(bits_to_f32(_FP32_SUB_BITS)), "ENC-fp32-sub"),
        (over_x, "ENC-overflow"),
        (np.concatenate([under_x, neighbours(under_x)]), "ENC-underflow"),
        (grid_x, "ENC-grid"),
        (mid_x, "ENC-mid"),
        (neighbours(grid_x), "ENC-grid-ulp"),
        (neighbours(mid_x), "ENC-mid-ulp"),
    ]
    return _unique_cases([g_ for g_, _ in groups], [t for _, t in groups])


def _random_f32(elem: ElementFormat, s: int, seed: int, purpose: str, count: int) -> np.ndarray:
    """Random float32 bit patterns: random sign and 23 mantissa bits, exponent uniform over the element's
    binades (min subnormal / 8 .. 8 max normal) times 2^s, kept inside the float32 range."""
    w = stream(seed, purpose, 3 * count).reshape(3, count)
    lo = math.floor(math.log2(elem.min_subnormal)) - 3 + s
    hi = math.floor(math.log2(elem.max_normal)) + 3 + s
    e = lo + (w[1] % np.uint64(hi - lo + 1)).astype(np.int64)
    e = np.clip(e, -126, 127)
    bits = ((w[0] >> np.uint64(31)) << np.uint64(31)) | (np.uint64(0x7FFFFF) & w[2]) | \
        ((e + 127).astype(np.uint64) << np.uint64(23))
    return bits.astype(np.uint32)


def encode_scales(level: str) -> tuple[int, ...]:
    """Scale exponents of the encode suite at a level."""
    return (0, -127, 127) if level == "L0" else (0, -127, -126, -20, -1, 1, 20, 126, 127)


def build_encode(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Scalar rounding decisions: (scale byte, float32 x) -> element code of x / 2^(scale-127)."""
    elem = mx.element
    scale_col, x_col, tag_col = [], [], []
    for s in encode_scales(level):
        bits, tags = _encode_inputs(elem, s)
        if level != "L0":
            rnd = _random_f32(elem, s, seed, f"encode/{mx.name}/{s}", 1024)
            bits = np.concatenate([bits, rnd])
            tags = np.concatenate([tags, np.full(len(rnd), TAG_IDS["ENC-random"], np.uint16)])
        scale_col.append(np.full(len(bits), s + 127, np.uint8))
        x_col.append(bits)
        tag_col.append(tags)
    x_bits = np.concatenate(x_col)
    scales = np.concatenate(scale_col)
    tags = np.concatenate(tag_col)
    x = bits_to_f32(x_bits)
    if policy.nan_to_nonan == "error" and not elem.has_nan:
        keep = ~np.isnan(x)
        x_bits, scales, tags, x = x_bits[keep], scales[keep], tags[keep], x[keep]
    s_exp = scales.astype(np.int64) - 127
    codes = encode(x, elem, scale_exp=s_exp, policy=policy)
    t = Table("encode", mx, layout("encode", mx))
    t.columns = {"tag": tags, "scale": scales, "x": x_bits, "code": codes,
                 "ev": _element_events(x, codes, elem, s_exp), "chk": np.zeros(len(x), np.uint8)}
    return t


def _element_events(x: np.ndarray, codes: np.ndarray, elem: ElementFormat, s_exp: np.ndarray) -> np.ndarray:
    """Events of each lane (same shape as x): inexact, underflow, saturated, nonfinite input."""
    with np.errstate(invalid="ignore"):  # signalling NaNs warn on the way to float64
        x64 = np.asarray(x, dtype=np.float64)
    dec = decode(codes, elem, scale_exp=s_exp, dtype=np.float64)
    finite = np.isfinite(x64)
    scale = np.ldexp(1.0, s_exp)
    tiny = float(elem.min_subnormal if elem.is_int else elem.min_normal) * scale
    with np.errstate(invalid="ignore"):
        inexact = finite & (dec != x64)
        ev = np.where(inexact, EV_INEXACT, 0)
        ev |= np.where(inexact & (np.abs(x64) < tiny), EV_UNDERFLOW, 0)
        ev |= np.where(finite & (np.abs(x64) > float(elem.max_normal) * scale), EV_SATURATED, 0)
        ev |= np.where(~finite, EV_NONFINITE, 0)
    return ev.astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------
# Blocks (scale and quantize suites)
# ----------------------------------------------------------------------------------------------------------


@dataclass
class _Blocks:
    """Blocks of 32 float32 under construction, with a tag each."""

    rows: list[np.ndarray] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)

    def add(self, row: np.ndarray | list[float], tag: str) -> None:
        r = np.asarray(row, dtype=np.float32).reshape(-1)
        if r.size < BLOCK:
            r = np.concatenate([r, np.zeros(BLOCK - r.size, np.float32)])
        self.rows.append(r[:BLOCK].copy())
        self.tags.append(TAG_IDS[tag])

    def around(self, amax: float, tag: str, position: int, negative: bool = False) -> None:
        """A block whose largest magnitude is amax (float32) at `position`; the others smaller, mixed sign."""
        a = np.float32(amax)
        others = np.array([np.ldexp(a, -(1 + j % 5)) * (-1) ** j for j in range(BLOCK)], dtype=np.float32)
        others[position] = -a if negative else a
        self.add(others, tag)


def _amax_points(elem: ElementFormat, level: str) -> list[tuple[float, str]]:
    """Discriminating amax values (float32-exact) for the scale suite."""
    emax, m_norm = elem.emax, float(elem.max_normal)
    p = elem.bits - 1 if elem.is_int else elem.mantissa_bits + 1
    ks = [-149, -140, -127, -126, -127 + emax, -128 + emax, -10, -1, 0, 1, emax, emax + 1, 20, 100, 127 - emax, 127]
    if level != "L0":
        ks = sorted(set(ks) | set(range(-150, 128, 7)))
    out: list[tuple[float, str]] = []

    def put(values: list[float] | np.ndarray, tag: str, ulps: bool = True) -> None:
        x = f32(values)
        x = x[x > 0]
        out.extend((float(v), tag) for v in x)
        if ulps:
            n = neighbours(x)
            out.extend((float(v), tag) for v in n[n > 0])

    put([2.0 ** k for k in ks], "SC-pow2")
    put([m_norm * 2.0 ** (k - emax) for k in ks], "SC-maxnorm")
    put([(m_norm + 2.0 ** (emax + 1)) / 2 * 2.0 ** (k - emax) for k in ks], "SC-satwin", ulps=False)
    put([(2 - 2.0 ** -p) * 2.0 ** k for k in ks], "SC-even")
    put([d * 2.0 ** k for d in (4.5, 5.0, 6.5, 7.0) for k in (-3, 0, 3)], "SC-discrim", ulps=False)
    put(list(bits_to_f32([0x00000001, 0x00000003, 0x00400000, 0x007FFFFF]).astype(np.float64)), "SC-fp32-sub",
        ulps=False)
    put([2.0 ** (emax - 127 - 3), 2.0 ** (emax - 127 - 1) * 1.5], "SC-clamp-lo", ulps=False)
    put([FP32_MAX, 2.0 ** 127], "SC-clamp-hi", ulps=False)
    return out


def _scale_blocks(mx: MXFormat, level: str) -> _Blocks:
    b = _Blocks()
    for i, (amax, tag) in enumerate(_amax_points(mx.element, level)):
        b.around(amax, tag, position=i % BLOCK, negative=i % 3 == 2)
    b.add(np.zeros(BLOCK), "SC-zero")
    b.add(-np.zeros(BLOCK, np.float32), "SC-zero")
    b.add(np.where(np.arange(BLOCK) % 2, -0.0, 0.0), "SC-zero")
    for k, special in ((0, np.nan), (13, np.inf), (31, -np.inf), (7, -np.nan)):
        row = np.full(BLOCK, 1.5, np.float32)
        row[k] = special
        b.add(row, "SC-nonfinite")
    row = np.zeros(BLOCK, np.float32)
    row[[3, 9]] = [np.inf, np.nan]
    b.add(row, "SC-nonfinite")
    row = np.full(BLOCK, FP32_MAX, np.float32)
    row[5] = np.inf
    b.add(row, "SC-nonfinite")
    for k in (0, 6, 31):
        row = np.full(BLOCK, 0.75, np.float32)
        row[k], row[(k + 17) % BLOCK] = 3.0, -3.0
        b.add(row, "SC-signtie")
    return b


def _quantize_blocks(mx: MXFormat, level: str, seed: int) -> _Blocks:
    elem = mx.element
    emax = elem.emax
    g = grid(elem)
    mids = (g[:-1] + g[1:]) / 2
    m_norm = float(elem.max_normal)
    b = _Blocks()
    exps = (0, -10) if level == "L0" else (0, -10, 7, -100, 100)
    for E in exps:
        sc = 2.0 ** E
        bulk = np.resize(np.concatenate([g[1:], mids]) * sc, BLOCK)  # values and ties at scale 2^E
        bulk = np.where(np.arange(BLOCK) % 3 == 1, -bulk, bulk)
        bulk = np.minimum(np.abs(bulk), m_norm * sc / 2) * np.sign(bulk)
        for pos in range(BLOCK):  # MB2: amax lane at every position
            row = np.roll(bulk, pos).astype(np.float32)
            row[pos] = (-1) ** pos * m_norm * sc * 1.0
            b.add(row, "MB2-amax-lane")
        ties = np.resize(mids * sc, BLOCK - 1)
        ties = np.where(np.arange(BLOCK - 1) % 2 == 1, -ties, ties)
        b.add(np.concatenate([[m_norm * sc], ties]), "MB4-ties")
        b.add(np.concatenate([ties[::-1], [-m_norm * sc]]), "MB4-ties")
        for k in (emax, emax + 1, 0):  # MB2-pow2-ulp: amax just below a power of two
            a = np.nextafter(np.float32(2.0 ** k * sc), np.float32(0))
            b.add(np.concatenate([[a], bulk[1:] / 2]), "MB2-pow2-ulp")
        win = (m_norm + 2.0 ** (emax + 1)) / 2 * sc
        b.add(np.concatenate([[win, -win], bulk[2:]]), "MB8-saturation")
        b.add(np.concatenate([neighbours(np.float32([2.0 ** (emax + 1) * sc]))[:1], bulk[1:]]), "MB8-saturation")
        tiny = float(elem.min_subnormal) * sc
        small = np.array([tiny * f for f in (0.5, 0.25, 1.0, 1.5, 0.75, 2.0, 0.125, 3.0)])
        small = np.resize(np.concatenate([small, -small]), BLOCK)
        small[0] = m_norm * sc
        b.add(small, "MB3-small-lanes")
        small2 = small.astype(np.float32)
        small2[1:] = neighbours(small2[1:].astype(np.float32))[: BLOCK - 1]
        b.add(small2, "MB3-small-lanes")
        classes = np.array([0.0, -0.0, tiny, -tiny, g[1] * sc, g[len(g) // 2] * sc, -m_norm * sc,
                            m_norm * sc, win, 1e-40, -1e-45, g[-2] * sc], dtype=np.float32)
        for r in range(3):
            b.add(np.resize(np.roll(classes, r), BLOCK), "MB1-classes")
    b.add(np.zeros(BLOCK), "MB5-zero")
    b.add(-np.zeros(BLOCK, np.float32), "MB5-zero")
    for pos in (0, 17, 31):
        row = np.zeros(BLOCK, np.float32)
        row[pos] = -1.25 if pos % 2 else 1.25
        b.add(row, "MB5-zero")
    b.add(np.where(np.arange(BLOCK) % 2, -1.0, 1.0) * 0.375, "MB5-zero")
    for k in (0, 13, 31):
        for special in (np.nan, np.inf, -np.inf):
            row = np.resize(mids, BLOCK).astype(np.float32)
            row[k] = special
            b.add(row, "MB6-nonfinite")
    for a in (2.0 ** (emax - 127), 2.0 ** (emax - 127) * 1.5, 2.0 ** (emax - 130), 2.0 ** -149, FP32_MAX,
              2.0 ** 127, m_norm * 2.0 ** (127 - emax)):
        row = (np.resize(np.concatenate([g[1:], mids]), BLOCK) * (a / m_norm))
        row[5] = -a
        b.add(row, "MB7-scale-ends")
    b.add(bits_to_f32(np.arange(1, BLOCK + 1, dtype=np.uint32) * 0x3FFFF), "MB-fp32-sub")
    b.add(-bits_to_f32(np.arange(1, BLOCK + 1, dtype=np.uint32)), "MB-fp32-sub")
    if elem.is_int:
        for E in (0, -3):
            low = -(2.0 ** (elem.bits - 1)) * float(elem.min_subnormal) * 2.0 ** E
            row = np.resize(np.array([low, low / 2, m_norm * 2.0 ** E, low * 0.99]), BLOCK)
            b.add(row, "MB9-int-min")
            b.add(np.concatenate([[-m_norm * 2.0 ** E, low], np.zeros(BLOCK - 2)]), "MB9-int-min")
            # |x| just below 2^(E+1) keeps the scale at 2^E, so these lanes round to -2^(b-1) steps (code 0x80
            # for a full-range integer, clamped to -(2^(b-1) - 1) steps when symmetric): the tie, above, below
            step = float(elem.min_subnormal) * 2.0 ** E
            near = [low + step / 2, low + step / 4, low + 3 * step / 4]
            b.add(np.resize(np.array([*near, m_norm * 2.0 ** E / 2]), BLOCK), "MB9-int-min")
    if level != "L0":
        n = 512
        w = stream(seed, f"quantize/{mx.name}", 3 * n * BLOCK).reshape(3, n, BLOCK)
        base = (w[0][:, :1] % np.uint64(200)).astype(np.int64) - 100  # block magnitude
        spread = (w[1] % np.uint64(24)).astype(np.int64)  # log-uniform spread inside the block
        e = np.clip(base - spread, -126, 127)
        bits = ((w[2] >> np.uint64(31)) << np.uint64(31)) | (w[2] & np.uint64(0x7FFFFF)) | \
            ((e + 127).astype(np.uint64) << np.uint64(23))
        for row in bits.astype(np.uint32):
            b.add(bits_to_f32(row), "MB-random")
    return b


def _block_table(suite: str, mx: MXFormat, policy: Policy, blocks: _Blocks) -> Table:
    x = np.stack(blocks.rows).astype(np.float32)
    tags = np.array(blocks.tags, dtype=np.uint16)
    if policy.nan_to_nonan == "error" and not mx.element.has_nan:
        keep = ~np.isnan(x).any(axis=1)
        x, tags = x[keep], tags[keep]
    q = quantize(x, mx, axis=-1, policy=policy)
    scales = np.asarray(q.scales, dtype=np.uint8).reshape(-1)
    codes = np.asarray(q.codes, dtype=np.uint8)
    nan_code = mx.scale.nan_code
    is_nan = scales == nan_code
    s_exp = np.where(is_nan, 0, scales.astype(np.int64) - mx.scale.bias)
    lane_ev = _element_events(x, codes, mx.element, np.broadcast_to(s_exp[:, None], x.shape))
    ev = np.bitwise_or.reduce(lane_ev, axis=1)
    ev = np.where(is_nan, (ev & EV_NONFINITE) | EV_SCALE_NAN, ev)
    ev |= np.where((scales == 0) | (scales == nan_code - 1), EV_SCALE_END, 0).astype(np.uint8)
    ev |= np.where(~np.isfinite(x).all(axis=1), EV_NONFINITE, 0).astype(np.uint8)
    t = Table(suite, mx, layout(suite, mx))
    t.columns = {"tag": tags, "x": f32_bits(x).copy(), "scale": scales}
    if suite in ("quantize", "divergence"):
        t.columns["codes"] = codes
        t.columns["ev"] = ev.astype(np.uint8)
        t.columns["chk"] = np.where(is_nan, 2, 0).astype(np.uint8)
    else:
        t.columns["ev"] = (ev & (EV_NONFINITE | EV_SCALE_END | EV_SCALE_NAN)).astype(np.uint8)
        t.columns["chk"] = np.zeros(len(tags), np.uint8)
    return t


def build_scale(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Blocks built around discriminating amax values; the scale byte is the expected output."""
    return _block_table("scale", mx, policy, _scale_blocks(mx, level))


def build_quantize(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Blocks from the MB1-MB9 coverage models -> scale byte and 32 element codes."""
    return _block_table("quantize", mx, policy, _quantize_blocks(mx, level, seed))


# ----------------------------------------------------------------------------------------------------------
# dequantize
# ----------------------------------------------------------------------------------------------------------


def dequantize_scales(mx: MXFormat, level: str) -> tuple[int, ...]:
    """E8M0 scale codes of the dequantize suite: both ends (float32-subnormal products, overflow to Inf),
    around 2^0, the NaN code; L1 adds every code for elements of up to 6 bits, every 8th code for 8-bit ones."""
    nan = mx.scale.nan_code
    ends = {0, 1, 2, 3, 5, 8, 10, 16, 0x70, 0x7E, 0x7F, 0x80, 0x85, 0xF0, 0xF8, 0xFB, 0xFC, 0xFD, nan - 1, nan}
    if level == "L0":
        return tuple(sorted(ends))
    if mx.element.bits <= 6:
        return tuple(range(nan + 1))
    return tuple(sorted(ends | set(range(0, nan + 1, 8)) | set(range(0x77, 0x88))))


def build_dequantize(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """(E8M0 scale, element code) -> float32 bits of the element's value times the scale, by
    MXArray.dequantize: every code at each scale of `dequantize_scales` (NaN results: check class nan)."""
    elem = mx.element
    scales = np.array(dequantize_scales(mx, level), dtype=np.uint8)
    codes = np.arange(elem.num_codes, dtype=np.uint8)
    sc = np.repeat(scales, len(codes))
    cd = np.tile(codes, len(scales))
    q = MXArray(codes=cd.reshape(-1, 1), scales=sc.reshape(-1, 1), format=mx, policy=policy, axis=(1,))
    values = q.dequantize(np.float32).reshape(-1)
    elem_value = decode(cd, elem, dtype=np.float64)
    is_nan_scale = sc == mx.scale.nan_code
    finite = np.isfinite(elem_value) & ~is_nan_scale
    v = values.astype(np.float64)
    tiny = float(np.finfo(np.float32).tiny)
    tags = np.select(
        [is_nan_scale, ~np.isfinite(elem_value), elem_value == 0, ~np.isfinite(v), np.abs(v) < tiny],
        [TAG_IDS["DQ-scale-nan"], TAG_IDS["DQ-special"], TAG_IDS["DQ-zero"], TAG_IDS["DQ-overflow"],
         TAG_IDS["DQ-fp32-sub"]], TAG_IDS["DQ-normal"])
    ev = np.where(~np.isfinite(elem_value) | is_nan_scale, EV_NONFINITE, 0)
    ev |= np.where(finite & ~np.isfinite(v), EV_OVERFLOW, 0)
    ev |= np.where((sc == 0) | (sc == mx.scale.nan_code - 1), EV_SCALE_END, 0)
    ev |= np.where(is_nan_scale, EV_SCALE_NAN, 0)
    t = Table("dequantize", mx, layout("dequantize", mx))
    t.columns = {"tag": tags.astype(np.uint16), "scale": sc, "code": cd, "value": f32_bits(values).copy(),
                 "ev": ev.astype(np.uint8), "chk": np.where(np.isnan(v), 1, 0).astype(np.uint8)}
    return t


# ----------------------------------------------------------------------------------------------------------
# convert
# ----------------------------------------------------------------------------------------------------------


def convert_targets(mx: MXFormat, policy: Policy) -> list[tuple[int, str]]:
    """(method, target) pairs of the convert suite for source `mx`: requantize into every other OCP format,
    and slice_and_scale into each defined target when the policy's rounding allows it."""
    from mxemu.conversion import SLICE_ROUNDINGS, SLICE_TARGETS

    out = [(0, t) for t in OCP_FORMATS if t != mx.name]
    if policy.rounding in SLICE_ROUNDINGS:
        out += [(1, f"mx{t}") for t in SLICE_TARGETS.get(mx.element.name, ())]
    return out


def _convert_anchors(mx: MXFormat, policy: Policy, level: str, seed: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Source blocks (scale codes, element codes, tags): quantized coverage blocks and edge blocks."""
    blocks = _quantize_blocks(mx, level, seed)
    step = 8 if level == "L0" else 16
    x = np.stack(blocks.rows[::step]).astype(np.float32)
    tags = blocks.tags[::step]
    if policy.nan_to_nonan == "error" and not mx.element.has_nan:
        keep = ~np.isnan(x).any(axis=1)
        x, tags = x[keep], [t for t, k in zip(tags, keep, strict=True) if k]
    q = quantize(x, mx, axis=-1, policy=policy)
    scales = list(np.asarray(q.scales, np.uint8).reshape(-1))
    codes = list(np.asarray(q.codes, np.uint8))
    n = mx.element.num_codes
    every = np.arange(max(n, BLOCK), dtype=np.int64) % n
    sign = 1 << (mx.element.bits - 1)
    top = np.array([sign - 1 if i % 2 else (2 * sign - 1) for i in range(BLOCK)], np.int64)  # large magnitudes
    edges = [(mx.scale.nan_code, every[:BLOCK]), (mx.scale.nan_code - 1, top), (0xF8, top), (0, every[:BLOCK]),
             (mx.scale.bias, np.where(np.arange(BLOCK) % 2, sign, 0))]
    edges += [(mx.scale.bias, every[i:i + BLOCK]) for i in range(0, len(every), BLOCK)]
    for sc, cd in edges:
        scales.append(np.uint8(sc))
        codes.append(cd.astype(np.uint8))
        tags.append(TAG_IDS["CV-edge"])
    return np.array(scales, np.uint8), np.stack(codes).astype(np.uint8), tags


def build_convert(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Source MX blocks (scale, codes) -> the target's scale and codes (8-bit lanes) by mxemu.convert, for
    every (method, target) of `convert_targets`."""
    from mxemu.conversion import convert

    src_scales, src_codes, tags = _convert_anchors(mx, policy, level, seed)
    has_nan = np.array([np.isnan(oracle.dequantize_block(int(s), c, mx)).any() for s, c in
                        zip(src_scales.tolist(), src_codes, strict=True)])
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("method", "target", "src_scale", "src_codes", "scale",
                                                         "codes", "tag")}
    for method, target in convert_targets(mx, policy):
        tgt = get_format(target)
        keep = ~has_nan if policy.nan_to_nonan == "error" and not tgt.element.has_nan else np.ones(len(tags), bool)
        q = MXArray(codes=src_codes[keep], scales=src_scales[keep].reshape(-1, 1), format=mx, policy=policy,
                    axis=(1,))
        r = convert(q, tgt, method=CONVERT_METHODS[method], policy=policy)
        m = int(keep.sum())
        cols["method"].append(np.full(m, method, np.uint8))
        cols["target"].append(np.full(m, CONVERT_TARGETS.index(target), np.uint8))
        cols["src_scale"].append(src_scales[keep])
        cols["src_codes"].append(src_codes[keep])
        cols["scale"].append(np.asarray(r.scales, np.uint8).reshape(-1))
        cols["codes"].append(np.asarray(r.codes, np.uint8))
        cols["tag"].append(np.array(tags, np.uint16)[keep])
    c = {k: np.concatenate(v) for k, v in cols.items()}
    nan = mx.scale.nan_code
    is_nan = c["scale"] == nan
    ev = np.where(is_nan, EV_SCALE_NAN, 0) | np.where((c["scale"] == 0) | (c["scale"] == nan - 1), EV_SCALE_END, 0)
    t = Table("convert", mx, layout("convert", mx))
    t.columns = {**c, "ev": ev.astype(np.uint8), "chk": np.where(is_nan, 2, 0).astype(np.uint8)}
    return t


def oracle_convert(method: int, target: str, scale: int, codes: np.ndarray, mx: MXFormat,
                    policy: Policy) -> tuple[int, np.ndarray]:
    """The convert contract (docs/convert_dot.md) on exact values: requantize = quantize_block of the exact
    dequantized values; slice_and_scale = the scale raised by emax_src - emax_dst (clamped or NaN past 2^127;
    from 2^-127 only as far as the largest element needs) and each element's exact value re-encoded at the
    raised scale; NaN scale kept; all-zero blocks take
    zero_block_scale."""
    tgt = get_format(target)
    values = oracle.dequantize_block(scale, codes, mx)
    if method == 0:
        return oracle.quantize_block(values, tgt, policy)
    fill = oracle.encode_value(math.nan, tgt.element, 0, policy) if tgt.element.has_nan else 0
    if scale == mx.scale.nan_code:
        return scale, np.full(len(codes), fill, np.uint8)
    elem = mx.element
    exact = [oracle.decode_value(int(c), elem) for c in codes]
    signed = [(-0.0 if (int(c) >> (elem.bits - 1)) and not elem.is_int else 0.0) if v == 0 else v
              for c, v in zip(codes, exact, strict=True)]
    if all(v == 0 for v in exact):
        return policy.zero_block_scale, np.array([oracle.encode_value(v, tgt.element, 0, policy) for v in signed],
                                                 np.uint8)
    e = scale - mx.scale.bias
    raised = e + elem.emax - tgt.element.emax
    if scale == 0:
        # A block at 2^-127 may have been clamped there: it rises only as far as its largest finite
        # element needs, floor(log2 |P|) - emax_dst, and not below 2^-127.
        finite = [abs(v) for v in exact if isinstance(v, Fraction) and v != 0]
        need = max(oracle.floor_log2(v) for v in finite) - tgt.element.emax if finite else 0
        raised = e + min(elem.emax - tgt.element.emax, max(need, 0))
    if raised > 127:
        if policy.scale_overflow == "nan":
            return mx.scale.nan_code, np.full(len(codes), fill, np.uint8)
        raised = 127
    shift = Fraction(2) ** (e - raised)
    out = [oracle.encode_value(v * shift if isinstance(v, Fraction) else v, tgt.element, 0, policy) for v in signed]
    return raised + mx.scale.bias, np.array(out, np.uint8)


# ----------------------------------------------------------------------------------------------------------
# dot
# ----------------------------------------------------------------------------------------------------------


def _dot_operands(mx: MXFormat, policy: Policy, level: str, seed: int) -> tuple[np.ndarray, ...]:
    """(sa, a, sb, b, tags): pairs of two-block operands built from the convert anchors, their sign-flipped
    copies and squares, and (L1) Philox-random blocks."""
    scales, codes, _ = _convert_anchors(mx, policy, level, seed)
    n = len(scales)
    sign = np.uint8(1 << (mx.element.bits - 1))
    sa, a, sb, b, tags = [], [], [], [], []

    def put(i: tuple[int, int], x: np.ndarray, sj: np.ndarray, y: np.ndarray, tag: str) -> None:
        sa.append(scales[list(i)])
        a.append(x)
        sb.append(sj)
        b.append(y)
        tags.append(TAG_IDS[tag])

    for i in range(n):
        pa = (i, (i + 1) % n)
        pb = ((7 * i + 3) % n, (5 * i + 1) % n)
        x = np.concatenate([codes[pa[0]], codes[pa[1]]])
        put(pa, x, scales[list(pb)], np.concatenate([codes[pb[0]], codes[pb[1]]]), "DOT-pair")
        if i % 3 == 0:  # b = -a: flip the sign bit of a float code, negate (mod 2^bits) an integer one
            neg = (-x.astype(np.int64)) % mx.element.num_codes if mx.element.is_int else x ^ sign
            put(pa, x, scales[list(pa)], neg.astype(np.uint8), "DOT-cancel")
            put(pa, x, scales[list(pa)], x, "DOT-cancel")
    if level != "L0":
        m = 256
        w = stream(seed, f"dot/{mx.name}", m * (2 * DOT_K + 4)).reshape(m, -1)
        for r in range(m):
            cw = (w[r, :2 * DOT_K] % np.uint64(mx.element.num_codes)).astype(np.uint8)
            finite = np.isfinite(decode(cw, mx.element, dtype=np.float64))
            cw = np.where(finite, cw, cw & sign)  # NaN / Inf codes become zeros: the edge pairs cover them
            sc = (np.uint64(0x77) + w[r, 2 * DOT_K:] % np.uint64(16)).astype(np.uint8)
            sa.append(sc[:2])
            a.append(cw[:DOT_K])
            sb.append(sc[2:])
            b.append(cw[DOT_K:])
            tags.append(TAG_IDS["DOT-random"])
    return (np.stack(sa).astype(np.uint8), np.stack(a).astype(np.uint8), np.stack(sb).astype(np.uint8),
            np.stack(b).astype(np.uint8), np.array(tags, np.uint16))


def build_dot(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Dot products of two 64-element MX vectors of the suite's format (two blocks each) under every
    accumulation model of DOT_MODELS, by mxemu.dot, as float32 bits (NaN results: check class nan)."""
    from mxemu.products import matmul

    sa, a, sb, b, tags = _dot_operands(mx, policy, level, seed)
    # one matmul per model: row r of A times column r of B is pair r (the diagonal of the product)
    qa = MXArray(codes=a, scales=sa, format=mx, policy=policy, axis=(1,))
    qb = MXArray(codes=np.ascontiguousarray(b.T), scales=np.ascontiguousarray(sb.T), format=mx, policy=policy,
                 axis=(0,))
    out = {m: f32_bits(np.ascontiguousarray(np.diagonal(matmul(qa, qb, accumulation=m)))).copy()
           for m in DOT_MODELS}
    nan = np.zeros(len(tags), bool)
    for m in DOT_MODELS:
        nan |= np.isnan(bits_to_f32(out[m]))
    scale_ev = np.zeros(len(tags), np.uint8)
    for s in (sa, sb):
        scale_ev |= np.where((s == mx.scale.nan_code).any(axis=1), EV_SCALE_NAN, 0).astype(np.uint8)
    t = Table("dot", mx, layout("dot", mx))
    t.columns = {"tag": tags, "sa": sa, "a": a, "sb": sb, "b": b, **out,
                 "ev": scale_ev | np.where(nan, EV_NONFINITE, 0).astype(np.uint8), "chk": nan.astype(np.uint8)}
    return t


def rne_float32(v: Fraction) -> np.float32:
    """The float32 nearest to an exact rational (ties to even; from 2^128 - 2^103 up: Inf; +0 for 0)."""
    if v == 0:
        return np.float32(0.0)
    mag = abs(v)
    e = mag.numerator.bit_length() - mag.denominator.bit_length()
    e -= Fraction(2) ** e > mag
    q = Fraction(2) ** (max(e, -126) - 23)
    n, rem = divmod(mag, q)
    n += rem > q / 2 or (rem == q / 2 and n % 2 == 1)
    r = n * q
    out = np.float32(np.inf) if r >= Fraction(2) ** 128 - Fraction(2) ** 103 else np.float32(float(r))
    return -out if v < 0 else out


def _ieee_sum(specials: list[float]) -> np.float32:
    with np.errstate(invalid="ignore"):
        return np.float32(np.sum(np.array(specials, np.float64)))


def oracle_dot(sa: np.ndarray, a: np.ndarray, sb: np.ndarray, b: np.ndarray, mx: MXFormat) -> dict[str, np.float32]:
    """Each DOT_MODELS result from exact products (docs/convert_dot.md): `exact` rounds the exact sum once;
    `block_exact_fp32` rounds each block's exact sum and adds in float32; `fp32_sequential` adds each exact
    product with one rounding; `dequant_fp32` multiplies and adds float32 values. NaN / Inf by IEEE rules."""
    elem, k = mx.element, mx.block_size

    def value(codes: np.ndarray, scales: np.ndarray, t: int) -> Fraction | float:
        s = int(scales[t // k])
        v = oracle.decode_value(int(codes[t]), elem)
        if s == mx.scale.nan_code:
            return math.nan
        return v * Fraction(2) ** (s - mx.scale.bias) if isinstance(v, Fraction) else v

    def negative(codes: np.ndarray, t: int) -> bool:  # the code's sign bit: -0 for floats, < 0 for integers
        return bool(int(codes[t]) >> (elem.bits - 1))

    def as_f32(v: Fraction | float, codes: np.ndarray, t: int) -> np.float32:
        if not isinstance(v, Fraction):
            return np.float32(v)
        return np.float32(-0.0) if v == 0 and negative(codes, t) and not elem.is_int else rne_float32(v)

    xs = [value(a, sa, t) for t in range(len(a))]
    ys = [value(b, sb, t) for t in range(len(b))]
    p: list[Fraction | float] = []
    for x, y in zip(xs, ys, strict=True):
        if isinstance(x, Fraction) and isinstance(y, Fraction):
            p.append(x * y)
        else:
            with np.errstate(invalid="ignore"):
                p.append(float(np.float64(x) * np.float64(y)))  # NaN, +-Inf, Inf * 0 = NaN
    out: dict[str, np.float32] = {}
    specials = [x for x in p if isinstance(x, float)]
    out["exact"] = _ieee_sum(specials) if specials else rne_float32(sum(p, Fraction(0)))
    with np.errstate(invalid="ignore", over="ignore"):
        acc = np.float32(0.0)
        for lo in range(0, len(p), k):
            blk = p[lo:lo + k]
            sp = [x for x in blk if isinstance(x, float)]
            acc = np.float32(acc + (_ieee_sum(sp) if sp else rne_float32(sum(blk, Fraction(0)))))
        out["block_exact_fp32"] = acc
        acc = np.float32(0.0)
        for t, x in enumerate(p):
            if isinstance(x, float):
                acc = np.float32(acc + np.float32(x))
            elif x == 0:
                # IEEE: a zero product's sign is the XOR of the factors' signs
                acc = np.float32(acc + np.float32(-0.0 if negative(a, t) != negative(b, t) else 0.0))
            elif np.isfinite(acc):
                acc = rne_float32(Fraction(float(acc)) + x)
        out["fp32_sequential"] = acc
        acc = np.float32(0.0)
        for t, (x, y) in enumerate(zip(xs, ys, strict=True)):
            acc = np.float32(acc + np.float32(as_f32(x, a, t) * as_f32(y, b, t)))
        out["dequant_fp32"] = acc
    return out


# ----------------------------------------------------------------------------------------------------------
# pack
# ----------------------------------------------------------------------------------------------------------


def build_pack(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """One block of 32 element codes -> its bytes in every layout of mxemu.packing that takes the element
    width (`pack_codes`), zero-padded to 32 bytes; NBYTES is the layout's size."""
    from mxemu.packing import LAYOUTS, pack_codes

    w, n = mx.element.bits, mx.element.num_codes
    top = n - 1
    blocks = [np.arange(i, i + BLOCK) % n for i in range(0, max(n, BLOCK), BLOCK)]
    blocks += [np.zeros(BLOCK, np.int64), np.full(BLOCK, top), np.where(np.arange(BLOCK) % 2, top, 0)]
    blocks += [np.where(np.arange(BLOCK) == k, 1 << (k % w), 0) for k in range(BLOCK)]
    tags = [TAG_IDS["PK-codes"]] * len(blocks)
    if level != "L0":
        r = stream(seed, f"pack/{mx.name}", 64 * BLOCK).reshape(64, BLOCK) % np.uint64(n)
        blocks += list(r.astype(np.int64))
        tags += [TAG_IDS["PK-random"]] * 64
    codes = np.stack(blocks).astype(np.uint8)
    cols: dict[str, list] = {"tag": [], "layout": [], "codes": [], "nbytes": [], "data": []}
    for lid, name in enumerate(PACK_LAYOUTS):
        if w not in LAYOUTS[name]:
            continue
        for tag, row in zip(tags, codes, strict=True):
            data = pack_codes(row, w, name)
            cols["tag"].append(tag)
            cols["layout"].append(lid)
            cols["codes"].append(row)
            cols["nbytes"].append(len(data))
            cols["data"].append(np.concatenate([data, np.zeros(BLOCK - len(data), np.uint8)]))
    t = Table("pack", mx, layout("pack", mx))
    t.columns = {"tag": np.array(cols["tag"], np.uint16), "layout": np.array(cols["layout"], np.uint8),
                 "codes": np.stack(cols["codes"]), "nbytes": np.array(cols["nbytes"], np.uint8),
                 "data": np.stack(cols["data"]).astype(np.uint8), "ev": np.zeros(len(cols["tag"]), np.uint8),
                 "chk": np.zeros(len(cols["tag"]), np.uint8)}
    return t


def oracle_pack(layout_name: str, codes: np.ndarray, bits: int) -> np.ndarray:
    """The bytes of one block by the layout's definition (docs/layouts.md), zero-padded to 32: `byte` one
    code per byte, `byte_msb` shifted to the top, `nibble_hi_first` element 2i in the high nibble, and the
    little-endian bit stream (element i at bit i * bits) for `bitstream_le`, `nibble_lo_first`, `fp6_4in3`."""
    c = [int(v) for v in codes]
    if layout_name == "byte":
        out = c
    elif layout_name == "byte_msb":
        out = [v << (8 - bits) for v in c]
    elif layout_name == "nibble_hi_first":
        out = [(c[2 * j] << 4) | c[2 * j + 1] for j in range(len(c) // 2)]
    else:
        word = sum(v << (i * bits) for i, v in enumerate(c))
        out = list(word.to_bytes((len(c) * bits + 7) // 8, "little"))
    return np.array(out + [0] * (BLOCK - len(out)), np.uint8)


# ----------------------------------------------------------------------------------------------------------
# divergence
# ----------------------------------------------------------------------------------------------------------


def divergence_presets() -> tuple[str, ...]:
    """The presets a divergence suite compares against: bit i of the DIFFERS field is preset i."""
    return tuple(policies())


def _block_results(x: np.ndarray, mx: MXFormat, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    q = quantize(x, mx, axis=-1, policy=policy)
    return np.asarray(q.scales, dtype=np.uint8).reshape(-1), np.asarray(q.codes, dtype=np.uint8)


DIVERGENCE_PER_CLASS = 3  # blocks kept per (coverage tag, agreement pattern of the presets)


def build_divergence(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """Blocks on which the presets disagree, with this policy's scale and codes as the expected outputs.

    The candidates are the blocks of the scale and quantize suites (same level and seed). Each is quantized
    under every preset (`divergence_presets`); the presets fall into classes of equal results (codes under
    a NaN scale are don't-care). Blocks where all presets agree are dropped, and at most
    DIVERGENCE_PER_CLASS blocks are kept per (coverage tag, class pattern), so every preset's set holds the
    same inputs. DIFFERS has bit i set when preset i's result differs from this policy's."""
    pool = _scale_blocks(mx, level)
    extra = _quantize_blocks(mx, level, seed)
    x = np.stack(pool.rows + extra.rows).astype(np.float32)
    tags = pool.tags + extra.tags
    nan = mx.scale.nan_code
    names = divergence_presets()
    results = []
    for name in names:
        other = get_policy(name)
        if other.rounding == "stochastic" or (other.nan_to_nonan == "error" and not mx.element.has_nan):
            results.append(None)  # not comparable on these blocks: never marked as differing
            continue
        s, c = _block_results(x, mx, other)
        results.append(np.concatenate([s[:, None], np.where((s == nan)[:, None], 0, c)], axis=1))
    mine = results[names.index(policy.name)] if policy.name in names else None
    if mine is None:
        s, c = _block_results(x, mx, policy)
        mine = np.concatenate([s[:, None], np.where((s == nan)[:, None], 0, c)], axis=1)
    seen: dict[tuple, int] = {}
    keep, differs = [], []
    for i in range(len(x)):
        rows = [r[i].tobytes() if r is not None else None for r in results]
        labels = tuple(rows.index(r) if r is not None else -1 for r in rows)  # first preset with that result
        if len(set(labels) - {-1}) <= 1:
            continue
        key = (tags[i], labels)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > DIVERGENCE_PER_CLASS:
            continue
        keep.append(i)
        differs.append(sum(1 << b for b, r in enumerate(rows) if r is not None and r != mine[i].tobytes()))
    blocks = _Blocks(rows=list(x[keep]), tags=[tags[i] for i in keep])
    t = _block_table("divergence", mx, policy, blocks)
    t.columns["differs"] = np.array(differs, dtype=np.uint16)
    return t


# ----------------------------------------------------------------------------------------------------------
# sweep: digests of every float32 bit pattern
# ----------------------------------------------------------------------------------------------------------

SWEEP_CHUNK_BITS = 24  # 2^24 patterns per record: 256 records cover the 2^32 float32 patterns
SWEEP_SAMPLE = 4096  # Philox-chosen patterns per chunk re-encoded by mxemu.oracle, plus both ends of it


def sweep_table(mx: MXFormat, policy: Policy, seed: int, first: int, count: int, chunk: int,
                progress: TextIO | None = None) -> Table:
    """One record per `chunk` consecutive float32 bit patterns from `first` (`count` in all, the last record
    possibly shorter): DIGEST is SHA-256 of the patterns' element codes at scale 2^0 (one byte per code,
    in pattern order), digest bytes 4i..4i+3 big-endian in lane i. Each chunk is gated on mxemu.oracle for
    its first and last 256 patterns and SWEEP_SAMPLE Philox-chosen ones (`MXError` on any difference)."""
    if not (first >= 0 and count > 0 and first + count <= 1 << 32 and chunk > 0):
        raise InputError(f"sweep range [{first:#x}, {first:#x} + {count:#x}) outside the float32 patterns")
    elem = mx.element
    if policy.nan_to_nonan == "error" and not elem.has_nan:
        raise PolicyError(f"a sweep meets NaN inputs, which {policy.name} refuses for {elem.name}")
    starts = list(range(first, first + count, chunk))
    digests = np.empty((len(starts), 8), np.uint32)
    counts = np.empty(len(starts), np.uint32)
    for k, start in enumerate(starts):
        n = min(chunk, first + count - start)
        x = (np.arange(n, dtype=np.uint32) + np.uint32(start)).view(np.float32)
        codes = encode(x, elem, scale_exp=0, policy=policy).astype(np.uint8)
        sample = stream(seed, f"sweep/{mx.name}/{start}", SWEEP_SAMPLE) % np.uint64(n)
        pick = np.unique(np.concatenate([np.arange(min(n, 256)), np.arange(max(0, n - 256), n),
                                         sample.astype(np.int64)]))
        with np.errstate(invalid="ignore"):  # signalling NaNs on the way to float64
            ref = oracle.encode_array(x[pick], elem, 0, policy)
        bad = np.flatnonzero(ref != codes[pick])
        if bad.size:
            raise MXError(f"sweep/{mx.name}: pattern {int(start + pick[bad[0]]):#010x} disagrees with mxemu.oracle; "
                          f"refusing to write the suite")
        digests[k] = np.frombuffer(hashlib.sha256(codes.tobytes()).digest(), dtype=">u4")
        counts[k] = n
        if progress is not None and (k + 1) % 16 == 0:
            print(f"mxemu golden: sweep/{mx.name}: {k + 1}/{len(starts)} chunks", file=progress, flush=True)
    t = Table("sweep", mx, layout("sweep", mx))
    t.columns = {"tag": np.full(len(starts), TAG_IDS["SWEEP-chunk"], np.uint16),
                 "scale": np.full(len(starts), mx.scale.bias, np.uint8),
                 "first": np.array(starts, dtype=np.uint32), "count": counts, "digest": digests,
                 "ev": np.zeros(len(starts), np.uint8), "chk": np.zeros(len(starts), np.uint8)}
    return t


BUILDERS: dict[str, Callable[[MXFormat, Policy, str, int], Table]] = {
    "decode": build_decode, "encode": build_encode, "scale": build_scale, "quantize": build_quantize,
    "dequantize": build_dequantize, "divergence": build_divergence, "convert": build_convert, "dot": build_dot,
    "pack": build_pack,
}


def build(suite: str, mx_name: str, policy: Policy, level: str, seed: int, progress: TextIO | None = None) -> Table:
    """Build one suite for one MX format and gate it on the oracle (`MXError` if any case disagrees).
    `progress` gets a line every 16 chunks of a sweep (the other suites take seconds)."""
    mx = get_format(mx_name)
    assert isinstance(mx, MXFormat)
    check_level_suites(level, (suite,))
    if suite == "sweep":  # gated chunk by chunk inside: the codes exist only while their chunk is hashed
        return sweep_table(mx, policy, seed, 0, 1 << 32, 1 << SWEEP_CHUNK_BITS, progress)
    table = BUILDERS[suite](mx, policy, level, seed)
    bad = oracle_mismatches(table, policy)
    if bad:
        raise MXError(f"{table.name}: {len(bad)} case(s) disagree with mxemu.oracle (first: case {bad[0]}); "
                      f"refusing to write the suite")
    return table


# ----------------------------------------------------------------------------------------------------------
# The oracle gate: recompute every expected output with mxemu.oracle (exact rationals)
# ----------------------------------------------------------------------------------------------------------


def oracle_outputs(suite: str, mx: MXFormat, policy: Policy, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Expected output columns computed by mxemu.oracle alone from the input columns of a suite."""
    elem = mx.element
    if suite == "decode":
        out = []
        for c in inputs["code"].tolist():
            v = oracle.decode_value(int(c), elem)
            if isinstance(v, Fraction):
                f = np.float32(float(v))
                if Fraction(float(f)) != v:
                    raise MXError(f"{elem.name} code {c:#x}: value {v} is not a float32")
                if v == 0 and c & (1 << (elem.bits - 1)) and not elem.is_int:
                    f = np.float32(-0.0)
                out.append(int(f32_bits(np.float32([f]))[0]))
            else:
                out.append(int(f32_bits(np.float32([v]))[0]))
        return {"value": np.array(out, dtype=np.uint32)}
    if suite == "dequantize":
        return {"value": np.array([_oracle_dequantize(int(s), int(c), mx) for s, c in
                                   zip(inputs["scale"].tolist(), inputs["code"].tolist(), strict=True)],
                                  dtype=np.uint32)}
    if suite == "pack":
        return {"data": np.stack([oracle_pack(PACK_LAYOUTS[int(k)], c, elem.bits) for k, c in
                                    zip(inputs["layout"], inputs["codes"], strict=True)])}
    if suite == "dot":
        rows = [oracle_dot(sa, a, sb, b, mx) for sa, a, sb, b in
                zip(inputs["sa"], inputs["a"], inputs["sb"], inputs["b"], strict=True)]
        return {m: f32_bits(np.array([r[m] for r in rows], np.float32)).copy() for m in DOT_MODELS}
    if suite == "convert":
        pairs = [oracle_convert(int(m), CONVERT_TARGETS[int(t)], int(s), c, mx, policy) for m, t, s, c in
                 zip(inputs["method"], inputs["target"], inputs["src_scale"], inputs["src_codes"], strict=True)]
        return {"scale": np.array([p[0] for p in pairs], np.uint8), "codes": np.stack([p[1] for p in pairs])}
    if suite == "encode":
        x = bits_to_f32(inputs["x"])
        s = inputs["scale"].astype(np.int64) - 127
        codes = np.empty(len(x), np.uint8)
        for e in np.unique(s).tolist():
            sel = s == e
            codes[sel] = oracle.encode_array(x[sel], elem, int(e), policy)
        return {"code": codes}
    x = bits_to_f32(inputs["x"])
    scales = np.empty(len(x), np.uint8)
    codes = np.empty(x.shape, np.uint8)
    for i, row in enumerate(x):
        if suite == "scale":
            scales[i] = oracle.scale_code(row, mx, policy)
        else:
            scales[i], codes[i] = oracle.quantize_block(row, mx, policy)
    return {"scale": scales} if suite == "scale" else {"scale": scales, "codes": codes}  # quantize, divergence


_F32_OVERFLOW = Fraction(2**25 - 1, 2**24) * Fraction(2) ** 127  # FLT_MAX + half an ulp: RNE rounds to Inf here


def _float32_bits_exact(v: Fraction | float, negative_zero: bool) -> int:
    """float32 bits of an exact value that must be representable, or beyond the RNE overflow threshold (Inf);
    NaN / Inf pass through. `MXError` for a value float32 would have to round (never in the dequantize suite)."""
    if not isinstance(v, Fraction):
        return int(f32_bits(np.float32([v]))[0])
    if abs(v) >= _F32_OVERFLOW:
        return 0xFF800000 if v < 0 else 0x7F800000
    f = np.float32(float(v))
    if Fraction(float(f)) != v:
        raise MXError(f"{v} is not a float32 value")
    bits = int(f32_bits(np.float32([f]))[0])
    return 0x80000000 if v == 0 and negative_zero else bits


def _oracle_dequantize(scale: int, code: int, mx: MXFormat) -> int:
    """Exact element value times 2^(scale - bias), into float32 bits; a NaN scale gives the quiet NaN."""
    if scale == mx.scale.nan_code:
        return 0x7FC00000
    v = oracle.decode_value(code, mx.element)
    negative_zero = not mx.element.is_int and bool(code >> (mx.element.bits - 1))
    if isinstance(v, Fraction):
        v = v * Fraction(2) ** (scale - mx.scale.bias)
    return _float32_bits_exact(v, negative_zero)


def oracle_mismatches(table: Table, policy: Policy) -> list[int]:
    """Case indices whose expected outputs differ from mxemu.oracle (NaN values compared as NaN)."""
    inputs = {f.name: table.columns[f.name] for f in table.fields if f.role == "input"}
    want = oracle_outputs(table.suite, table.mx, policy, inputs)
    bad = np.zeros(table.count, dtype=bool)
    for name, ref in want.items():
        got = table.columns[name]
        if table.suite in ("decode", "dequantize", "dot"):
            nan = np.isnan(bits_to_f32(ref)) & np.isnan(bits_to_f32(got))
            diff = (ref != got) & ~nan
        else:
            diff = ref != got
        bad |= diff.reshape(table.count, -1).any(axis=1)
    return np.flatnonzero(bad).tolist()
