"""Record layouts of the suites and the tables the manifest and C / SV exports publish (tags, checks, events)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mxemu.policy import Policy
from mxemu.spec import MXFormat

SUITES = ("decode", "encode", "scale", "quantize", "dequantize", "convert", "dot", "pack", "divergence", "sweep")
# "all": the suites of one policy; divergence compares presets and is asked for by name
ALL_SUITES = ("decode", "encode", "scale", "quantize", "dequantize", "convert", "dot", "pack")
# LAYOUT field of the pack suite: an index into this list (mxemu.packing.LAYOUTS, append only)
PACK_LAYOUTS = ("byte", "byte_msb", "nibble_lo_first", "nibble_hi_first", "fp6_4in3", "bitstream_le")
PACK_SCALE_LAYOUTS = ("separate", "interleaved")  # SCALE_LAYOUT field: mxemu.packing.SCALE_LAYOUTS (append only)
# Output fields of the dot suite -> the accumulation model of mxemu.products each holds. The truncated
# settings (golden.md §6.8 fused_trunc(L, F)): a wide aligner over half a block, so that a group boundary
# falls inside every block, and a narrow one over a whole block, where truncation changes most sums.
DOT_ACCUMULATIONS: dict[str, str] = {
    "exact": "exact", "block_exact_fp32": "block_exact_fp32", "fp32_sequential": "fp32_sequential",
    "dequant_fp32": "dequant_fp32", "trunc_16_24": "truncated:16:24", "trunc_32_8": "truncated:32:8"}
# The standard fixed-point datapaths (docs/convert_dot.md): unscaled products rounded onto 2^-16 by each of
# the four product roundings into a saturating 40- or 32-bit accumulator, output as float32 (FX...) or as an
# S23.8 word rounded the same way (FX..._S23_8, a 32-bit two's complement integer).
DOT_DATAPATHS: dict[str, str] = {f"fx{w}_{r}": f"fixed_point:16:{w}:{r}" for w in (40, 32)
                                 for r in ("rtz", "rdn", "rup", "rne")}
DOT_WORDS: dict[str, str] = {f"{n}_s23_8": f"{m}:s23.8:{m.rsplit(':', 1)[1]}" for n, m in DOT_DATAPATHS.items()}
DOT_ACCUMULATIONS |= DOT_DATAPATHS | DOT_WORDS
DOT_MODELS = tuple(m for m in DOT_ACCUMULATIONS if m not in DOT_WORDS)  # the float32 outputs
DOT_K = 2 * 32  # two blocks per operand: the block-order steps of the float32 models show
DOT_PER_BLOCK = ("exact", "fp32_sequential", "dequant_fp32", "trunc_16_24", "trunc_32_8")  # FIELD_blk outputs
# BLOCK_SUM: the exact sum of each block's element products P_A,i * P_B,i in units of 2^(lsb_A + lsb_B) as a
# 96-bit two's complement integer, three 32-bit lanes per block (lane 0 least significant); the manifest's
# dot_sum_lsb gives lsb for each format (mxemu.golden.suites.dot.DOT_SUM_LSB).
DOT_SUM_LANES = 3
# TARGET field of the convert suite: an index into this list (append only)
CONVERT_TARGETS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8", "mxint7", "mxint6",
                   "mxint5", "mxint4", "mxint3", "mxint2")
CONVERT_METHODS = ("requantize", "slice_and_scale")  # METHOD field
# L0 smoke, L1 default, L2 dense (golden.md §6: about 10^3, 10^4-10^5 and 10^5-10^6 cases per suite file),
# exhaustive: the sweep digests
LEVELS = ("L0", "L1", "L2", "exhaustive")
OCP_FORMATS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8")
BLOCK = 32
PACK_DATA = BLOCK + 1  # DATA lanes of the pack suite: an interleaved record is the scale byte and 32 bytes at most

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
    ("MB-saturation", "quantize: amax in the saturation window (max normal, 2^(emax+1)) times the scale"),
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
    ("DOT-mixed", "dot: anchor blocks of A's format times anchor blocks of a different B format"),
    ("MB8-tail", "quantize: a short block (n < 32 lanes) padded with +0 lanes, as a partial last block is: "
                 "the padding changes neither the scale nor any code"),
    ("FROM-file", "inputs given by the user (golden gen --from), in the order of the file; no coverage model"),
    ("DOT-grid", "dot: one block of products on, just above and just below the fixed-point grid 2^-16, and at "
                 "its half-steps, with both signs"),
    ("DOT-subgrid-zero", "dot: one block summing exactly to zero from products below the grid 2^-16"),
    ("DOT-saturate", "dot: one block of the largest products of one sign (beyond a 32- or 40-bit accumulator "
                     "where the pair allows)"),
    ("DOT-inf", "dot: one block with Inf lanes (E5M2) times finite non-zero lanes, no NaN"),
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
    input_dtype: str = "float32"  # of the X field (INPUT_SUITES)
    models: dict[str, str] = field(default_factory=dict)  # dot: user model fields -> accumulation strings

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

    def field(self, name: str) -> Field:
        """The field called `name`."""
        return next(f for f in self.fields if f.name == name)

    def outputs(self) -> tuple[Field, ...]:
        """The expected-output fields, in record order."""
        return tuple(f for f in self.fields if f.role == "output")


# Suites whose inputs are floats, which `--input-dtype` writes at its own width; the others take codes.
INPUT_SUITES = ("encode", "scale", "quantize", "divergence")
INPUT_DTYPE_NAMES = ("float32", "bfloat16", "float16")
# the suites whose records hold E8M0 scales computed from their inputs' amax (quantize-based): they refuse a
# policy whose scale_value is a peer's float32 scale, which fake_quantize alone follows
SCALE_DERIVING_SUITES = ("scale", "quantize", "convert", "dot", "divergence", "sweep")
STOCHASTIC_SUITES = ("decode", "encode", "scale", "quantize", "dequantize", "dot", "pack")


def stochastic(policy: Policy | None) -> bool:
    """Whether `policy` rounds stochastically: then encode and quantize records carry the random integers."""
    return policy is not None and policy.rounding == "stochastic"


def layout(suite: str, mx: MXFormat, policy: Policy | None = None, x_bits: int = 32,
           extra: tuple[Field, ...] = ()) -> tuple[Field, ...]:
    """The record fields of a suite for an MX format (the layout the C / SV exports describe); float inputs X
    are `x_bits` wide (32, or 16 for bfloat16 and float16: `INPUT_SUITES`). Under a
    stochastic policy, encode and quantize records take the random integer of each lane as the input RND
    (sr_bits wide): a lane rounds away from zero when RND plus the first sr_bits bits of its fraction
    below the element's last place reach 2^sr_bits (docs/numerics.md, stochastic rounding). `extra` output
    fields end the body (the dot suite's user accumulation models)."""
    w = mx.element.bits
    head = (Field("tag", "meta", 16),)
    tail = (Field("ev", "meta", 8), Field("chk", "meta", 4))
    body = {
        "decode": (Field("code", "input", w), Field("value", "output", 32)),
        "encode": (Field("scale", "input", 8), Field("x", "input", x_bits), Field("code", "output", w)),
        "scale": (Field("x", "input", x_bits, BLOCK), Field("scale", "output", 8)),
        "quantize": (Field("x", "input", x_bits, BLOCK), Field("scale", "output", 8),
                     Field("codes", "output", w, BLOCK)),
        "dequantize": (Field("scale", "input", 8), Field("code", "input", w), Field("value", "output", 32)),
        "divergence": (Field("x", "input", x_bits, BLOCK), Field("scale", "output", 8),
                       Field("codes", "output", w, BLOCK), Field("differs", "meta", 16)),
        "convert": (Field("method", "input", 4), Field("target", "input", 8), Field("src_scale", "input", 8),
                    Field("src_codes", "input", w, BLOCK), Field("scale", "output", 8),
                    Field("codes", "output", 8, BLOCK)),
        "dot": (Field("sa", "input", 8, 2), Field("a", "input", w, DOT_K), Field("b_format", "input", 8),
                Field("sb", "input", 8, 2), Field("b", "input", 8, DOT_K), Field("nblk", "input", 2),
                *(Field(m, "output", 32) for m in DOT_ACCUMULATIONS),
                Field("block_sum", "output", 32, 2 * DOT_SUM_LANES),
                *(Field(f"{m}_blk", "output", 32, 2) for m in DOT_PER_BLOCK)),
        "pack": (Field("layout", "input", 4), Field("scale_layout", "input", 4), Field("scale", "input", 8),
                 Field("codes", "input", w, BLOCK), Field("nbytes", "meta", 8), Field("data", "output", 8, PACK_DATA)),
        "sweep": (Field("scale", "input", 8), Field("first", "input", 32), Field("count", "input", 32),
                  Field("digest", "output", 32, 8)),
    }[suite]
    if stochastic(policy) and suite == "encode":  # scale, x, rnd -> code
        body = (*body[:2], Field("rnd", "input", policy.sr_bits), *body[2:])
    if stochastic(policy) and suite == "quantize":  # x, rnd -> scale, codes
        body = (*body[:1], Field("rnd", "input", policy.sr_bits, BLOCK), *body[1:])
    return head + body + extra + tail
