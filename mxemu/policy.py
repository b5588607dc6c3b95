"""Policy: every implementation-defined choice of MX numerics as one frozen value, and the presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mxemu._compat import tomllib
from mxemu.errors import PolicyError, SpecError, UnknownNameError
from mxemu.spec import SPEC_DIR

# Closed sets of values, in the order the kernels number them. Each comment says what the
# value means; docs/policies.md gives the peers that behave that way.
CHOICES: dict[str, tuple[str, ...]] = {
    # Element rounding: to nearest (ties to even / away from zero), toward zero, toward +inf,
    # toward -inf, to odd (truncate, then set the last bit if inexact), or stochastic.
    "rounding": ("rne", "rna", "rtz", "rup", "rdn", "rto", "stochastic"),
    # Finite values beyond max normal: clamp to +-max normal (MX §6.3), or IEEE overflow
    # (Inf where the format has it, else NaN where it has one, else clamp).
    "overflow": ("saturate", "ieee"),
    # Shared exponent from amax: floor(log2 amax) - emax (§6.3), ceil(log2 amax) - emax,
    # floor of amax rounded half-up to element precision (torchao EVEN),
    # ceil(log2(amax / max_normal)) (NVIDIA RCEIL).
    "scale_rule": ("floor", "ceil", "even", "rceil"),
    # How log2 / the amax division is evaluated: exactly, or as a float32 computation (peers
    # that call log2 in float32 or multiply by a float32 reciprocal).
    "log2": ("exact", "fp32"),
    # RCEIL's quotient amax / max_normal: exact, a float32 division (torchao), or a float32
    # multiplication by the float32 reciprocal of max_normal (Transformer Engine).
    "descale": ("exact", "fp32_div", "fp32_recip"),
    # The scale at which the elements of a block with scale code 0x00 (2^-127) are encoded:
    # 2^-127 itself, the FP32 minimum normal 2^-126 (torchao divides by max(X, 2^-126)), or 1
    # (torchao RCEIL takes 1.0 as the reciprocal of code 0). The stored scale stays 0x00.
    "min_scale_encoding": ("exact", "min_normal", "one"),
    # A shared exponent above the scale's maximum: clamp to it, or make the scale NaN.
    "scale_overflow": ("clamp", "nan"),
    # Non-finite inputs when choosing the scale: any NaN or Inf makes the scale NaN; NaN makes it
    # NaN and Inf counts as an infinite amax (then `scale_overflow` decides); NaN is ignored and
    # Inf counts as an infinite amax; amax is taken over finite values only; or NaN makes it NaN
    # and Inf is read through its exponent field as 2^128 (bit-level peers without an Inf check).
    "nonfinite": ("nan_scale", "propagate", "ignore_nan", "finite_amax", "inf_as_exponent"),
    # A NaN element into a format without NaN: +0, zero with the NaN's sign, zero with the
    # opposite sign (ml_dtypes), or an error.
    "nan_to_nonan": ("zero", "signed_zero", "flipped_zero", "error"),
    # The NaN code of a format with several (OFP8 E5M2: S.11111.01, .10, .11): the canonical quiet
    # NaN S.1..1.10..0 (ml_dtypes, 0x7E), or all ones S.1..1.1..1 (torch casts, 0x7F). Formats
    # with a single NaN (E4M3: S.1111.111) give it under both.
    "nan_code": ("canonical", "all_ones"),
    # Integer elements: [-(2^(b-1)-1), 2^(b-1)-1] or the full two's complement range.
    "int_range": ("symmetric", "full"),
    # Inputs below the FP32 normal range (|x| < 2^-126): kept, the whole block flushed to zero
    # when its amax is below it (microxcaling option), or each such element read as zero.
    "subnormal_inputs": ("keep", "flush_block", "flush"),
    # The sign of a result that rounds to zero: kept, always positive, or the sign of the float32
    # quotient x / 2^scale, +0 when that quotient is zero (a zero input, one read as zero, or one with
    # |x| / 2^scale <= 2^-150), as microxcaling's sign(x / X) * round(|x / X|) with torch.sign(+-0) = 0.
    "zero_sign": ("keep", "positive", "fp32_quotient"),
    # An integer element that is zero, in fake-quantized values: +0 (the one integer zero), or a
    # zero with the sign zero_sign gives a float result (microxcaling's sign(x) * round(|x|) gives
    # -0 for a negative input that rounds to zero), or -0 only where the float32 quotient of x by the
    # integer quantum is negative and nonzero (Brevitas's round(x / s + 0.0): adding the zero point 0.0
    # turns a -0 quotient into +0).
    "fake_int_zero": ("positive", "signed", "signed_quotient"),
    # The element emax the scale rule takes for integer elements: 0 (MX §6.3: the largest MXINT value
    # (2^(b-1) - 1) / 2^(b-2) lies in [1, 2)), or 1 (Brevitas: scale 2^floor(log2 amax) / 2^(b-1), so every
    # scale exponent is one lower and the integer grid tops out at 2^floor(log2 amax)).
    "int_emax": ("zero", "one"),
    # The value of the block scale in fake-quantization: the E8M0 value 2^x with x clamped to the scale's
    # range (MX §6.3); or float32 arithmetic as peers' fake-quantizers do it: 2^x as torch.pow gives it in
    # float32, unclamped (a float32 subnormal below 2^-126), float32 eps 2^-23 where it underflows to zero
    # and Inf (a NaN block) above 2^127 (AMD Quark, floor and ceil modes); or max(2^floor(log2 max(amax, m)),
    # m) / 2^emax with m = fl32(1e-10), a power of two formed in float32 before the division (Inf above
    # 2^127: a NaN block), so blocks with amax < 2^-33 get the scale m / 2^emax, no power of two (Brevitas).
    # Under the float32 values the input is read as float32, each element is encoded from the float32
    # quotient x / scale and its fake-quantized value is the float32 product; `quantize` stores the E8M0
    # code of the clamped exponent, as under e8m0.
    "scale_value": ("e8m0", "fp32_pow2", "fp32_min_val"),
}
INT_FIELDS: dict[str, tuple[int, int]] = {
    # E8M0 code given to the scale of an all-zero block.
    "zero_block_scale": (0, 255),
    # Random bits per element for stochastic rounding.
    "sr_bits": (1, 32),
}


@dataclass(frozen=True)
class Policy:
    """Every choice the OCP MX v1.0 spec leaves open. Defaults are the `ocp` preset.

    >>> Policy().replace(rounding="rtz").rounding
    'rtz'
    """

    rounding: str = "rne"
    overflow: str = "saturate"
    scale_rule: str = "floor"
    log2: str = "exact"
    descale: str = "exact"
    min_scale_encoding: str = "exact"
    scale_overflow: str = "clamp"
    zero_block_scale: int = 0
    nonfinite: str = "nan_scale"
    nan_to_nonan: str = "zero"
    nan_code: str = "canonical"
    int_range: str = "symmetric"
    subnormal_inputs: str = "keep"
    zero_sign: str = "keep"
    sr_bits: int = 32
    fake_int_zero: str = "positive"
    int_emax: str = "zero"
    scale_value: str = "e8m0"
    name: str = dataclasses.field(default="custom", compare=False)

    def __post_init__(self) -> None:
        for field, allowed in CHOICES.items():
            value = getattr(self, field)
            if value not in allowed:
                raise PolicyError(f"Policy.{field} = {value!r}; accepted: {', '.join(allowed)}")
        for field, (lo, hi) in INT_FIELDS.items():
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise PolicyError(f"Policy.{field} = {value!r}; accepted: an integer in [{lo}, {hi}]")
        if not isinstance(self.name, str):
            raise PolicyError(f"Policy.name must be a str, got {self.name!r}")

    def replace(self, **changes: object) -> Policy:
        """A copy with the given fields changed (validated); the copy's name becomes "custom"."""
        unknown = set(changes) - set(FIELDS) - {"name"}
        if unknown:
            raise PolicyError(f"unknown Policy field(s) {sorted(unknown)}; fields: {', '.join(FIELDS)}")
        if "name" not in changes:
            changes["name"] = "custom"
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, object]:
        """The fields as a plain dict (the name included), as written to metadata."""
        return {f: getattr(self, f) for f in (*FIELDS, "name")}

    @classmethod
    def from_dict(cls, data: dict) -> Policy:
        """Inverse of `as_dict`; raises `PolicyError` on unknown or missing fields."""
        if not isinstance(data, dict):
            raise PolicyError(f"a policy must be a mapping, got {type(data).__name__}")
        unknown = set(data) - set(FIELDS) - {"name"}
        if unknown:
            raise PolicyError(f"unknown Policy field(s) {sorted(unknown)}; fields: {', '.join(FIELDS)}")
        return cls(**data)


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Policy) if f.name != "name")
# Fields added after the first file and manifest formats: a file or golden set written before them omits
# them, and `Policy.from_dict` gives them their default, the behaviour it was written with.
LATER_FIELDS: tuple[str, ...] = ("nan_code", "fake_int_zero", "int_emax", "scale_value")


def _load_presets() -> tuple[dict[str, Policy], dict[str, str]]:
    path = SPEC_DIR / "policies.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: cannot load policy presets ({exc})") from None
    presets: dict[str, Policy] = {}
    descriptions: dict[str, str] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise SpecError(f"{path}: [{name}] must be a table")
        fields = dict(table)
        descriptions[name] = fields.pop("description", "")
        base = fields.pop("base", "ocp" if name != "ocp" else None)
        start = presets[base] if base else Policy()
        try:
            presets[name] = start.replace(**fields, name=name)
        except PolicyError as exc:
            raise SpecError(f"{path}: [{name}]: {exc}") from None
    return presets, descriptions


PRESETS, PRESET_DESCRIPTIONS = _load_presets()


def parse_policy(text: str) -> Policy:
    """A preset name, or a preset with changed fields: "ocp,rounding=rtz,sr_bits=8". The text (stripped)
    becomes the policy's name, so that a manifest's command reproduces it. `UnknownNameError` for an
    unknown preset, `PolicyError` for a malformed, repeated, unknown or out-of-range field.

    >>> parse_policy("ocp,overflow=ieee").overflow
    'ieee'
    """
    if not isinstance(text, str):
        raise PolicyError(f"a policy text must be a str, got {type(text).__name__}")
    preset, *changes = (part.strip() for part in text.strip().split(","))
    if preset not in PRESETS:
        raise UnknownNameError(f"unknown policy preset {preset!r}; presets: {', '.join(PRESETS)}")
    if not changes:
        return PRESETS[preset]
    fields: dict[str, object] = {}
    for change in changes:
        key, eq, value = (part.strip() for part in change.partition("="))
        if not eq or not key or not value:
            raise PolicyError(f"policy {text!r}: {change!r} is not field=value; fields: {', '.join(FIELDS)}")
        if key not in FIELDS:
            raise PolicyError(f"policy {text!r}: unknown field {key!r}; fields: {', '.join(FIELDS)}")
        if key in fields:
            raise PolicyError(f"policy {text!r}: field {key!r} given twice")
        if key in INT_FIELDS:
            if not value.lstrip("-").isdecimal() or not value.isascii():
                lo, hi = INT_FIELDS[key]
                raise PolicyError(f"policy {text!r}: {key} = {value!r}; accepted: a decimal integer in [{lo}, {hi}]")
            fields[key] = int(value)
        else:
            fields[key] = value
    return PRESETS[preset].replace(**fields, name=text.strip())


def get_policy(policy: str | Policy | None = None) -> Policy:
    """The preset called `policy` (default "ocp"), a preset with changed fields ("ocp,overflow=ieee", see
    `parse_policy`), or `policy` itself if it is a `Policy`.

    >>> get_policy("torchao_rceil").scale_rule
    'rceil'
    >>> get_policy("ocp,overflow=ieee,nan_code=all_ones").nan_code
    'all_ones'
    """
    if policy is None:
        return PRESETS["ocp"]
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str):
        if policy in PRESETS:
            return PRESETS[policy]
        return parse_policy(policy)
    raise PolicyError(f"policy must be a preset name, a 'preset,field=value,...' text or a Policy, "
                      f"got {type(policy).__name__}")


def policies() -> list[str]:
    """Names of the policy presets.

    >>> policies()[:3]
    ['ocp', 'torchao', 'torchao_ceil']
    """
    return list(PRESETS)
