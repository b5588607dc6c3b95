"""Command-line arguments of `golden gen`: suites, formats, policy, level and seed, validated."""

from __future__ import annotations

from pathlib import Path

from mxemu._compat import tomllib
from mxemu.errors import InputError, PolicyError, UnknownNameError
from mxemu.golden.suites.tables import (
    ALL_SUITES,
    BLOCK,
    INPUT_DTYPE_NAMES,
    LEVELS,
    OCP_FORMATS,
    SCALE_DERIVING_SUITES,
    STOCHASTIC_SUITES,
    SUITES,
    stochastic,
)
from mxemu.policy import Policy, get_policy
from mxemu.policy import parse_policy as parse_text_policy
from mxemu.spec import MXFormat, ScaleFormat, formats, get_format


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


def check_block_size(f: MXFormat) -> None:
    """The suites' blocks are rows of BLOCK lanes (MX v1.0 §5.2: k = 32 for every concrete format)."""
    if f.block_size != BLOCK:
        raise InputError(f"{f.name}: golden suites are written for blocks of {BLOCK} elements; this format's "
                         f"blocks hold {f.block_size}")


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
        if (f.scale.exponent_bits, f.scale.bias) != (8, 127):  # the suites sweep E8M0's codes (MX §5.4.1)
            raise InputError(f"{n}: golden suites cover E8M0-scaled MX formats only; its scale "
                             f"{f.scale.name} is {f.scale.exponent_bits}-bit with bias {f.scale.bias}")
        check_block_size(f)
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
    return parse_text_policy(text)


def check_policy(policy: Policy, suites: tuple[str, ...]) -> None:
    """Refuse suites that cannot carry the policy: under stochastic rounding only the suites whose records
    hold every random integer a result depends on (encode and quantize carry them as the RND field)."""
    if policy.scale_value != "e8m0":
        derived = [s for s in suites if s in SCALE_DERIVING_SUITES]
        if derived:
            raise PolicyError(f"suite(s) {', '.join(derived)} record E8M0 scale bytes derived from the inputs, and "
                              f"under scale_value={policy.scale_value!r} (a peer's float32 scale, fake_quantize "
                              f"only) some blocks have no E8M0 code; give a policy with scale_value='e8m0', or "
                              f"--suite from {', '.join(s for s in SUITES if s not in SCALE_DERIVING_SUITES)}")
    if stochastic(policy):
        other = [s for s in suites if s not in STOCHASTIC_SUITES]
        if other:
            raise PolicyError(f"suite(s) {', '.join(other)} do not cover stochastic rounding (their records do not "
                              f"carry the random integers); under a stochastic policy give --suite from "
                              f"{', '.join(STOCHASTIC_SUITES)}")


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


def check_input_dtype(input_dtype: str, suites: tuple[str, ...]) -> str:
    """The input dtype, validated: float32, bfloat16 or float16; the sweep suite (every float32 bit pattern)
    takes float32 only."""
    if input_dtype not in INPUT_DTYPE_NAMES:
        raise InputError(f"unknown input dtype {input_dtype!r}; accepted: {', '.join(INPUT_DTYPE_NAMES)}")
    if input_dtype != "float32" and "sweep" in suites:
        raise InputError("the sweep suite covers every float32 bit pattern; it takes --input-dtype float32 only")
    return input_dtype
