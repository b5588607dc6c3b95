"""docs/architecture.md's recipes hold: a format added as data runs everywhere; the places it lists exist."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import mxemu as mx
from mxemu import oracle
from mxemu.errors import InputError
from mxemu.golden.generate import generate
from mxemu.golden.suites import parse_formats
from mxemu.golden.verify import verify
from mxemu.policy import CHOICES

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")

# A format no spec defines: E3M3 elements without specials, bias 3, in blocks of 32 (the golden suites' block)
# and of 16.
ELEMENT, MXNAME, MXNAME16 = "fp7_e3m3_synthetic", "mxfp7_e3m3_synthetic", "mxfp7_e3m3_k16_synthetic"
TOML = f"""
[element.{ELEMENT}]
clause = "synthetic: a test format"
kind = "float"
exponent_bits = 3
mantissa_bits = 3
bias = 3
specials = "none"
stated = {{ emax = 4, max_normal = "30", min_normal = "2^-2", min_subnormal = "2^-5", nan_codes = [], inf_codes = [] }}

[mx.{MXNAME}]
clause = "synthetic: a test format"
element = "{ELEMENT}"
scale = "e8m0"
block_size = 32

[mx.{MXNAME16}]
clause = "synthetic: a test format"
element = "{ELEMENT}"
scale = "e8m0"
block_size = 16
"""
POLICIES = [mx.get_policy("ocp"), mx.get_policy("ocp").replace(overflow="ieee"),
            *(mx.get_policy("ocp").replace(rounding=r) for r in CHOICES["rounding"] if r != "stochastic")]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    path = tmp_path_factory.mktemp("formats") / "synthetic.toml"
    path.write_text(TOML, encoding="utf-8")
    assert mx.register_formats(path) == [ELEMENT, MXNAME, MXNAME16]
    yield
    mx.unregister_formats([MXNAME, MXNAME16, ELEMENT])
    assert ELEMENT not in mx.formats()


def magnitude(code: int) -> Fraction:
    """The magnitude of an E3M3 code (bias 3, no specials) from the bit layout alone."""
    exponent, mantissa = (code >> 3) & 7, code & 7
    return Fraction(8 + mantissa, 8) * Fraction(2) ** (exponent - 3) if exponent else Fraction(mantissa, 32)


def enumerated(code: int) -> float:
    """The value of an E3M3 code, its sign (bit 6) on zero too."""
    return -float(magnitude(code)) if code >> 6 else float(magnitude(code))


def probes() -> np.ndarray:
    """Every value of the format, the midpoints between neighbours and points just beside them, values beyond
    the largest one, both zeros, infinities and NaN."""
    grid = sorted({magnitude(c) for c in range(64)})
    mids = [(a + b) / 2 for a, b in itertools.pairwise(grid)]
    near = [m * (1 + s * Fraction(1, 1 << 20)) for m in mids for s in (-1, 1)]
    beyond = [Fraction(31), Fraction(32), Fraction(1 << 40)]
    magnitudes = np.array([float(v) for v in (*grid, *mids, *near, *beyond)] + [np.inf, np.nan])
    return np.concatenate([magnitudes, -magnitudes])


def test_the_registered_format_decodes_every_code_to_its_enumerated_value(synthetic):
    codes = np.arange(128, dtype=np.uint8)
    decoded = mx.decode(codes, ELEMENT, dtype=np.float64)
    expected = np.array([enumerated(c) for c in range(128)])
    by_oracle = np.array([float(oracle.decode_value(c, ELEMENT)) for c in range(128)])
    assert decoded.tobytes() == expected.tobytes()
    assert np.array_equal(by_oracle, expected)  # the oracle's Fractions carry no sign of zero


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.rounding}-{p.overflow}")
def test_the_registered_format_encodes_as_the_oracle_does(synthetic, policy):
    x = probes()
    assert mx.encode(x, ELEMENT, policy=policy).tobytes() == oracle.encode_array(x, ELEMENT, 0, policy).tobytes()


def test_round_to_nearest_even_in_the_registered_format_picks_the_nearest_value(synthetic):
    values = [Fraction(enumerated(c)) for c in range(128)]
    x = probes()
    finite = x[np.isfinite(x) & (np.abs(x) <= 30)]
    for v, code in zip(finite, mx.encode(finite, ELEMENT, policy="ocp"), strict=True):
        distance = abs(Fraction(v) - values[int(code)])
        assert distance == min(abs(Fraction(v) - w) for w in values), v
        # a tie goes to the even code (MX v1.0 §6.3: roundTiesToEven)
        assert int(code) % 2 == 0 or sum(abs(Fraction(v) - w) == distance for w in set(values)) == 1, v


@pytest.mark.parametrize(("name", "block"), [(MXNAME, 32), (MXNAME16, 16)])
def test_the_registered_mx_format_quantizes_and_dequantizes_as_the_oracle_does(synthetic, name: str, block: int):
    g = np.random.default_rng(7)
    x = g.standard_normal((6, 3 * block)) * np.exp2(g.integers(-30, 30, (6, 1)))
    x[0] = 0.0
    x[1, :block] = 2.0 ** -140  # a block whose scale is below E8M0's range
    x = x.astype(np.float32)
    q = mx.quantize(x, name, axis=-1, policy="ocp")
    y = q.dequantize()
    for i, j in np.ndindex(q.scales.shape):
        lanes = slice(j * block, (j + 1) * block)
        scale = oracle.scale_code(x[i, lanes], name, "ocp")
        codes = oracle.encode_array(x[i, lanes], ELEMENT, scale - 127, "ocp")
        assert q.scales[i, j] == scale
        assert q.codes[i, lanes].tobytes() == codes.tobytes()
        values = [np.float32(oracle.decode_value(int(c), ELEMENT) * Fraction(2) ** (scale - 127)) for c in codes]
        assert y[i, lanes].tobytes() == np.array(values, dtype=np.float32).tobytes()


def test_a_golden_set_of_the_registered_format_is_written_oracle_gated_and_verifies(synthetic, tmp_path):
    suites = ("decode", "encode", "scale", "quantize", "dequantize")
    doc = generate(tmp_path / "set", suites, (MXNAME,), mx.get_policy("ocp"), "L0", 0)
    assert sum(t["count"] for t in doc["tables"]) > 0
    assert verify(tmp_path / "set") == []


PLACE = re.compile(r"^- `(?P<path>[^`]+)`(?: `(?P<name>\w+)`)?", re.MULTILINE)


def places(heading: str) -> list[tuple[str, str | None]]:
    """(path, name or None) of each bullet under `heading` in docs/architecture.md."""
    section = ARCHITECTURE.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [(m["path"], m["name"]) for m in PLACE.finditer(section)]


@pytest.mark.parametrize("heading", ["How to add a format", "How to add a rounding mode",
                                     "How to add a policy field"])
def test_every_place_the_architecture_page_lists_exists_and_holds_the_name_it_gives(heading: str):
    listed = places(heading)
    assert len(listed) >= 2
    for path, name in listed:
        where = ROOT / path
        assert where.exists(), path
        if name is not None:
            assert re.search(rf"^(def |class )?{name}\b", where.read_text(encoding="utf-8"), re.MULTILINE), (path, name)


def test_the_place_check_fails_for_a_place_that_does_not_exist():
    global ARCHITECTURE
    saved = ARCHITECTURE
    try:
        ARCHITECTURE = saved.replace("- `mxemu/policy.py` `CHOICES`", "- `mxemu/policy.py` `NO_SUCH_TABLE`", 1)
        check = test_every_place_the_architecture_page_lists_exists_and_holds_the_name_it_gives
        with pytest.raises(AssertionError):
            check("How to add a rounding mode")
    finally:
        ARCHITECTURE = saved


def test_golden_suites_refuse_a_registered_format_whose_blocks_are_not_32_lanes(synthetic, tmp_path):
    with pytest.raises(InputError, match="blocks of 32 elements; this format's blocks hold 16"):
        generate(tmp_path / "set", ("quantize",), (MXNAME16,), mx.get_policy("ocp"), "L0", 0)
    with pytest.raises(InputError, match="blocks hold 16"):
        parse_formats(MXNAME16)
    assert not (tmp_path / "set").exists()
