"""User accumulation models in the dot golden suite: `golden gen --accumulation`, the oracle gate, verify."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu.array import MXArray
from mxemu.cli import main
from mxemu.errors import MXError
from mxemu.golden import suites as gs
from mxemu.golden.check import check, read_table
from mxemu.golden.generate import generate
from mxemu.golden.verify import verify
from mxemu.policy import Policy
from mxemu.products import FIXED_ROUNDINGS, FixedPoint, accumulation_model
from mxemu.spec import get_format

FORMAT = "mxfp4_e2m1"
# a 16-bit S11.4 word from a wrapping 20-bit accumulator with ceiling product rounding, and a float register
# of 10 fraction bits fed four lanes per cycle, aligned to the largest exponent-field sum
MODELS = ("fixed_point:12:20:ceil:wrap:s11.4:rne", "float_acc:10:4:exponent:12:rdn:rdn:rtz")


@pytest.fixture(scope="module")
def user_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("dot_user") / "set"
    generate(d, ("dot",), (FORMAT,), Policy(), "L0", 0, accumulation=MODELS)
    return d


def test_a_set_with_two_user_models_records_them_and_verifies(user_set: Path) -> None:
    doc = json.loads((user_set / "MANIFEST.json").read_text())
    assert doc["dot_models"] == {"acc0": "fixed_point:12:20:rup:wrap:s11.4:rne",
                                 "acc1": "float_acc:10:4:exponent:12:rdn:rdn:rtz"}
    assert f"--accumulation {','.join(doc['dot_models'].values())}" in doc["command"]
    fields = {f["name"]: f["lane_bits"] for f in doc["tables"][0]["fields"]}
    assert fields["acc0"] == 16 and fields["acc1"] == 32
    assert verify(user_set) == []


def test_user_fields_equal_mx_dot_for_every_record(user_set: Path) -> None:
    cols = read_table(user_set, f"dot/{FORMAT}")
    fa = get_format(FORMAT)
    models = [accumulation_model(m) for m in MODELS]
    for i in range(len(cols["tag"])):
        nb = int(cols["nblk"][i])
        fb = get_format(gs.CONVERT_TARGETS[int(cols["b_format"][i])])
        u8 = {k: cols[k][i].astype(np.uint8) for k in ("a", "sa", "b", "sb")}  # read_table's columns are uint64
        a = MXArray(u8["a"][:32 * nb], u8["sa"][:nb], fa, Policy(), (0,))
        b = MXArray(u8["b"][:32 * nb], u8["sb"][:nb], fb, Policy(), (0,))
        word = mx.dot(a, b, models[0])
        assert int(cols["acc0"][i]) == int(word) % (1 << 16), i
        got = np.array([mx.dot(a, b, models[1])], np.float32).view(np.uint32)[0]
        assert int(cols["acc1"][i]) == int(got), i


def test_check_fields_names_a_user_model_field(user_set: Path, tmp_path: Path) -> None:
    dut = user_set / "dot" / f"{FORMAT}.tv"
    assert check(user_set, "dot", dut, FORMAT, fields=("acc0", "acc1")).ok
    lines = dut.read_text().splitlines()
    doc = json.loads((user_set / "MANIFEST.json").read_text())
    fields = doc["tables"][0]["fields"]
    at = next(n for n, line in enumerate(lines) if line and not line.startswith("#"))
    tokens = lines[at].split()
    k = 1 + sum(f["lanes"] for f in fields[:[f["name"] for f in fields].index("acc0")])  # after the case index
    tokens[k] = f"{int(tokens[k], 16) ^ 1:0{len(tokens[k])}x}"
    lines[at] = " ".join(tokens)
    bad = tmp_path / "dut.tv"
    bad.write_text("\n".join(lines) + "\n")
    assert not check(user_set, "dot", bad, FORMAT, fields=("acc0",)).ok
    assert check(user_set, "dot", bad, FORMAT, fields=("acc1",)).ok


def test_the_oracle_gate_rejects_a_tampered_kernel_result() -> None:
    models = gs.dot_models(MODELS)
    table = gs.build_dot(get_format(FORMAT), Policy(), "L0", 0, models)
    assert gs.gate(table, Policy()) is table
    for name in models:
        column = table.columns[name].copy()
        table.columns[name][7] ^= np.uint32(1)  # one flipped bit in one record
        with pytest.raises(MXError, match=r"disagree with mxemu\.oracle"):
            gs.gate(table, Policy())
        table.columns[name] = column


def test_the_oracle_gate_checks_each_field_against_its_own_model() -> None:
    models = gs.dot_models(MODELS)
    table = gs.build_dot(get_format(FORMAT), Policy(), "L0", 0, models)
    table.models = {**models, "acc0": "fixed_point:2:20:rup:wrap:s11.4:rne"}  # the grid 2^-12 -> 2^-2
    with pytest.raises(MXError, match=r"disagree with mxemu\.oracle"):
        gs.gate(table, Policy())


@pytest.mark.parametrize("spec", [
    "", "bogus", "fixed_point:16:40", "fixed_point:16:40:sideways", "fixed_point:16:40:rne:s40.8",
    "fixed_point:\u00b2:40:rne", "fixed_point:16:40:rne;rm -rf", "../../x", "FIXED_POINT:16:40:rne",
    "fixed_point:" + "9" * 5000 + ":40:rne", "fixed_point:16:99:rne", "float_acc:23:8:sideways:24:rdn:rdn:rtz",
    "float_acc:23:64:exponent:24:rdn:rdn:rtz", "truncated:0:8", "truncated:1:99",
])
def test_invalid_model_strings_are_refused_with_a_typed_error(spec: str) -> None:
    with pytest.raises(MXError):
        gs.dot_models([spec])


def test_model_lists_are_bounded_and_typed() -> None:
    for bad in ([], ["exact"] * 17, "exact", None, [3]):
        with pytest.raises(MXError):
            gs.dot_models(bad)


@pytest.mark.parametrize("extra", [
    ["--accumulation", "fixed_point:16:40:sideways"],
    ["--accumulation", "exact,,exact"],
    ["--accumulation", "fixed_point:16:40:rne:s31.8"],  # a 40-bit word: wider than a golden field
    ["--accumulation", "exact", "--shard", "0/2"],
])
def test_the_cli_refuses_bad_models_with_exit_2_and_writes_nothing(tmp_path: Path, extra: list[str]) -> None:
    out = tmp_path / "out"
    argv = ["golden", "gen", "--suite", "dot", "--format", FORMAT, *extra, "--out", str(out)]
    assert main(argv) == 2
    assert not out.exists()


def test_the_cli_refuses_models_without_the_dot_suite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["golden", "gen", "--suite", "decode", "--format", FORMAT, "--accumulation", "exact",
                 "--out", str(out)]) == 2
    assert not out.exists()


def test_verify_reports_a_hostile_model_in_the_manifest(user_set: Path, tmp_path: Path) -> None:
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(user_set, d)
    doc = json.loads((d / "MANIFEST.json").read_text())
    doc["dot_models"]["acc0"] = "fixed_point:16:4000:rne"
    (d / "MANIFEST.json").write_text(json.dumps(doc, indent=2) + "\n")
    problems = verify(d)
    assert any("cannot regenerate" in p for p in problems), problems


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40), st.integers(2, 62), st.sampled_from(sorted(FIXED_ROUNDINGS)), st.booleans(),
       st.booleans(), st.one_of(st.none(), st.tuples(st.integers(0, 20), st.integers(0, 10),
                                                      st.sampled_from(sorted(FIXED_ROUNDINGS)))))
def test_a_fixed_point_model_string_names_the_model_it_came_from(frac, width, rounding, saturate, scaled, word):
    out = "float32" if word is None else mx.fixed(*word)
    model = mx.fixed_point(frac, width, rounding, saturate, scaled, out)
    again = accumulation_model(model.spec)
    assert isinstance(again, FixedPoint) and again == model
    if word is None or model.output.bits <= 32:
        assert gs.dot_models([model.spec]) == {"acc0": model.spec}


# ----------------------------------------------------------------------------------------------------------
# The named models as instances of the fixed-point and float accumulator descriptions (docs/convert_dot.md)
# ----------------------------------------------------------------------------------------------------------

PAIRS = [(a, b) for a in gs.OCP_FORMATS for b in gs.OCP_FORMATS]


def _operands(fa: str, fb: str, blocks: int, seed: int) -> tuple[MXArray, MXArray]:
    """Random and edge operand rows: random codes (NaN and Inf codes included) and scales, rows of one code
    (the largest products, for saturation), rows that cancel exactly, scales at both ends and NaN."""
    rng = np.random.default_rng(seed)
    n, k = 96, 32 * blocks
    out = []
    for name in (fa, fb):
        f = get_format(name)
        codes = rng.integers(0, f.element.num_codes, (n, k)).astype(np.uint8)
        scales = rng.integers(110, 145, (n, blocks)).astype(np.uint8)
        codes[:8] = rng.integers(0, f.element.num_codes, (8, 1))  # one code per row: extreme and equal products
        scales[8:16] = rng.choice(np.array([0, 1, 253, 254, 255], np.uint8), (8, blocks))
        out.append((codes, scales, f))
    (ca, sa, a), (cb, sb, b) = out
    if fa == fb:  # b = a with every sign flipped: an exact zero sum
        cb[16:24] = ca[16:24] ^ np.uint8(1 << (a.element.bits - 1)) if not a.element.is_int else (
            (-ca[16:24].astype(np.int64)) % a.element.num_codes).astype(np.uint8)
        sb[16:24] = sa[16:24]
    return (MXArray(ca, sa, a, Policy(), (1,)), MXArray(cb, sb, b, Policy(), (1,)))


def _same_bits(x: np.ndarray, y: np.ndarray) -> bool:
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    return bool(np.all((x.view(np.uint32) == y.view(np.uint32)) | (np.isnan(x) & np.isnan(y))))


def _block_exact_instance(fa: str, fb: str, rounding: str = "rtz") -> FixedPoint:
    """fixed_point on the grid of the product LSB, as wide as the largest block sum: no product rounds (so any
    rounding), no sum saturates, so each block's exact sum is rounded once to float32 and the blocks added in
    float32."""
    return mx.fixed_point(-(gs.DOT_SUM_LSB[fa] + gs.DOT_SUM_LSB[fb]), mx.accumulator_bits(fa, fb), rounding)


@pytest.mark.parametrize(("fa", "fb"), [p for p in PAIRS if mx.accumulator_bits(*p) <= 62])
def test_block_exact_fp32_is_the_exact_grid_fixed_point_instance(fa: str, fb: str) -> None:
    for blocks, rounding in ((1, "rtz"), (2, "rup"), (3, "rdn"), (2, "rne")):
        a, b = _operands(fa, fb, blocks, blocks)
        assert _same_bits(mx.dot(a, b, "block_exact_fp32"), mx.dot(a, b, _block_exact_instance(fa, fb, rounding)))
        if blocks == 1:  # one block: the exact sum is the block's sum, rounded once; the instance adds it to +0
            x, y = mx.dot(a, b, "exact"), mx.dot(a, b, _block_exact_instance(fa, fb))
            differ = (x.view(np.uint32) != y.view(np.uint32)) & ~(np.isnan(x) & np.isnan(y))
            # only where a negative sum underflows: exact keeps -0, +0 + (-0) is +0
            assert np.all(x[differ] == 0) and np.all(np.signbit(x[differ])) and not np.any(np.signbit(y[differ]))


def test_a_grid_or_width_one_step_short_differs_from_block_exact_fp32() -> None:
    f = get_format("mxfp8_e4m3")
    codes = np.zeros((2, 32), np.uint8)
    codes[0, 0] = 0x01  # the smallest subnormal: a product 2^-18, below a grid 2^-17
    codes[1] = 0x7E  # 448 in every lane: 32 * 448^2, a 42-bit sum on the grid 2^-18
    a = MXArray(codes, np.full((2, 1), 127, np.uint8), f, Policy(), (1,))
    exact = _block_exact_instance("mxfp8_e4m3", "mxfp8_e4m3")
    assert _same_bits(mx.dot(a, a, "block_exact_fp32"), mx.dot(a, a, exact))
    b = a
    for short in (mx.fixed_point(exact.frac_bits - 1, exact.width - 1, "rtz"),
                  mx.fixed_point(exact.frac_bits, exact.width - 2, "rtz")):
        assert not _same_bits(mx.dot(a, b, "block_exact_fp32"), mx.dot(a, b, short))


@pytest.mark.parametrize(("fa", "fb"), PAIRS)
@pytest.mark.parametrize(("frac_bits", "add_rounding"), [(0, "rne"), (8, "rtz"), (26, "rup")])
def test_one_block_truncated_32_is_a_wide_float_accumulator(fa: str, fb: str, frac_bits: int,
                                                             add_rounding: str) -> None:
    a, b = _operands(fa, fb, 1, frac_bits)
    wide = mx.float_accumulator(52, 32, "product", frac_bits, "rtz", add_rounding, "rne")
    assert _same_bits(mx.dot(a, b, mx.truncated(32, frac_bits)), mx.dot(a, b, wide))
