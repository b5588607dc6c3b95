"""The oracle package stands alone, keeps its public names, puts codes before scales, and its exact helpers,
dot, convert and pack answers agree with independent sources (numpy casts, Python's rounding, hand sums)."""

import ast
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxemu import oracle
from mxemu.packing import LAYOUTS, pack_mx
from mxemu.spec import get_format

PACKAGE = Path(oracle.__file__).parent
# The library's implementation and everything built on it: the oracle is the second opinion, so it reads the
# spec data, the policy and the errors, and nothing that computes an answer.
FORBIDDEN = ("mxemu.kernels", "mxemu.products", "mxemu.ops", "mxemu.array", "mxemu.conversion", "mxemu.packing",
             "mxemu.golden", "mxemu.cuda", "mxemu.torch", "mxemu.testing", "numba", "torch", "triton")
# Every name callers used as oracle.X before the package split.
NAMES_BEFORE = ("decode_array", "decode_value", "dequantize_block", "encode_array", "encode_value", "exponent_field",
                "fake_quantize_block", "fixed_point_dot", "float_accumulator_dot", "floor_log2", "nearest_float32",
                "philox4x32_10", "quantize_block", "random_int", "random_ints", "round_to_integer", "scale_code")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_oracle_module_imports_the_implementation_it_checks(path: Path) -> None:
    bad = {m for m in _imports(path) for f in FORBIDDEN if m == f or m.startswith(f + ".")}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_import_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    mutant = tmp_path / "mutant.py"
    mutant.write_text("from mxemu.kernels.element import encode_value\nimport numba\n")
    assert _imports(mutant) == {"mxemu.kernels.element", "numba"}


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_every_oracle_module_opens_with_a_one_line_docstring(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert doc and doc.splitlines()[0].endswith(".")


def test_the_names_of_the_single_module_still_resolve() -> None:
    for name in NAMES_BEFORE:
        assert hasattr(oracle, name), name
    assert set(oracle.__all__) <= set(dir(oracle))


def test_block_answers_put_codes_before_scales() -> None:
    x = np.array([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27, np.float32)  # the spec notes' block
    codes, scale = oracle.quantize_block(x, "mxfp4_e2m1")
    assert codes.dtype == np.uint8 and codes.shape == (32,) and isinstance(scale, int) and scale == 0x7F
    assert oracle.dequantize_block(codes, scale, "mxfp4_e2m1")[:5].tolist() == [6.0, 4.0, 0.0, 1.0, -4.0]
    codes, scale = oracle.convert_block(codes, scale, "mxfp4_e2m1", "mxfp8_e4m3")
    assert codes.dtype == np.uint8 and scale == 0x7F - 8 + 2  # 6 = 1.5 * 2^2 sets the E4M3 scale: 2^(2 - 8)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_nearest_float32_equals_numpys_rounding_cast(x: float) -> None:
    """numpy casts float64 to float32 with IEEE round to nearest even, Inf past the largest finite value."""
    with np.errstate(over="ignore"):
        want = np.float32(x)
    got = oracle.nearest_float32(Fraction(x))
    assert got.tobytes() == want.tobytes() or (x == 0 and got == want)  # the oracle's zero is +0


@settings(max_examples=300, deadline=None)
@given(st.fractions(max_denominator=64))
def test_round_to_integer_equals_pythons_own_roundings(v: Fraction) -> None:
    assert oracle.round_to_integer(v, "rne") == round(v)  # Fraction.__round__: half to even
    assert oracle.round_to_integer(v, "rdn") == math.floor(v)
    assert oracle.round_to_integer(v, "rup") == math.ceil(v)
    assert oracle.round_to_integer(v, "rtz") == math.trunc(v)
    away = math.floor(abs(v) + Fraction(1, 2))
    assert oracle.round_to_integer(v, "rna") == (away if v >= 0 else -away)


@st.composite
def _operands(draw: st.DrawFn) -> tuple:
    fmt = draw(st.sampled_from(["mxfp8_e4m3", "mxfp4_e2m1", "mxint8", "mxfp6_e2m3"]))
    elem = get_format(fmt).element
    finite = [c for c in range(elem.num_codes) if isinstance(oracle.decode_value(c, elem), Fraction)]
    n = draw(st.integers(1, 70))
    nb = -(-n // 32)
    a, b = (draw(st.lists(st.sampled_from(finite), min_size=n, max_size=n)) for _ in range(2))
    sa, sb = (draw(st.lists(st.integers(100, 154), min_size=nb, max_size=nb)) for _ in range(2))
    return fmt, a, sa, b, sb


@settings(max_examples=120, deadline=None)
@given(_operands())
def test_dot_exact_model_and_block_sums_equal_hand_sums_of_decoded_values(ops: tuple) -> None:
    fmt, a, sa, b, sb = ops
    elem = get_format(fmt).element
    x = [oracle.decode_value(c, elem) * Fraction(2) ** (sa[t // 32] - 127) for t, c in enumerate(a)]
    y = [oracle.decode_value(c, elem) * Fraction(2) ** (sb[t // 32] - 127) for t, c in enumerate(b)]
    total = sum((u * v for u, v in zip(x, y, strict=True)), Fraction(0))
    assert oracle.exact_products(a, sa, b, sb, fmt) == [u * v for u, v in zip(x, y, strict=True)]
    got = oracle.mx_dot(a, sa, b, sb, fmt)["exact"]
    assert got == np.float32(float(total)) or got.tobytes() == oracle.nearest_float32(total).tobytes()
    lsb = Fraction(2) ** (2 * oracle.lsb_exponent(elem))
    first = sum((oracle.decode_value(c, elem) * oracle.decode_value(d, elem) for c, d in zip(a[:32], b[:32],
                                                                                            strict=True)), Fraction(0))
    assert oracle.block_sum(a[:32], b[:32], fmt) * lsb == first


def test_a_block_holding_nan_or_inf_has_no_block_sum() -> None:
    assert oracle.block_sum([0x7C, 0x3C], [0x3C, 0x3C], "mxfp8_e5m2") is None  # +Inf
    assert oracle.block_sum([0x7F, 0x38], [0x38, 0x38], "mxfp8_e4m3") is None  # NaN


def test_dot_models_are_evaluated_each_by_its_own_definition() -> None:
    """1 + 1.5 * 2^-9 over two blocks: float32 holds it, so exact and fp32_sequential keep it; a truncating
    aligner of 8 bits over both blocks drops 0.75 * 2^-8 below its grid and gives 1."""
    from mxemu.products import accumulation_model

    models = {"e": "exact", "t": accumulation_model("truncated:64:8"), "s": "fp32_sequential"}
    a = [0x38] + [0] * 31 + [0x3C] + [0] * 31  # E4M3 1.0 in block 0 and 1.5 in block 1
    r = oracle.mx_dot(a, [127, 127 - 9], [0x38] * 64, [127, 127], "mxfp8_e4m3", models=models)
    assert r == {"e": np.float32(1 + 1.5 * 2**-9), "t": np.float32(1.0), "s": np.float32(1 + 1.5 * 2**-9)}
    r = oracle.mx_dot(a, [127, 127 - 9], [0x38] * 64, [127, 127], "mxfp8_e4m3",
                      models={"t": accumulation_model("truncated:64:10")})
    assert r["t"] == np.float32(1 + 1.5 * 2**-9)  # 10 bits below 2^0 hold 0.75 * 2^-8


def test_pack_widths_are_the_packers_layout_table() -> None:
    assert oracle.PACK_LAYOUT_WIDTHS == LAYOUTS


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_pack_block_equals_the_packer_in_every_layout(data: st.DataObject) -> None:
    layout = data.draw(st.sampled_from(sorted(LAYOUTS)))
    bits = data.draw(st.sampled_from(LAYOUTS[layout]))
    n = data.draw(st.integers(1, 32).filter(lambda k: layout != "nibble_hi_first" or k % 2 == 0))
    codes = np.array(data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=n, max_size=n)), np.uint8)
    scale = data.draw(st.integers(0, 255))
    whole_bytes = layout.startswith("byte") or n * bits % 8 == 0
    scale_layout = data.draw(st.sampled_from(["separate", "interleaved"] if whole_bytes else ["separate"]))
    packed = pack_mx(codes, np.array([scale], np.uint8), n, bits, layout, scale_layout)
    want = packed[0] if scale_layout == "separate" else packed
    assert oracle.pack_block(codes, scale, bits, layout, scale_layout).tobytes() == bytes(want)


def test_pack_block_bit_stream_by_hand() -> None:
    # fp6_4in3: four 6-bit codes 1, 2, 3, 4 at bits 0, 6, 12, 18: 0b000100_000011_000010_000001
    assert oracle.pack_block([1, 2, 3, 4], 0, 6, "fp6_4in3").tolist() == [0x81, 0x30, 0x10]
    assert oracle.pack_block([1, 2], 9, 4, "nibble_hi_first", "interleaved").tolist() == [9, 0x12]
    assert oracle.pack_block([1, 2], 9, 4, "byte_msb").tolist() == [0x10, 0x20]
