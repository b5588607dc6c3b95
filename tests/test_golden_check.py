"""`mxemu golden check`: DUT dumps in .tv, output-word and record-word forms; explained mismatches; check classes."""

from __future__ import annotations

import json
import random
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxemu.cli import main
from mxemu.errors import FileFormatError, InputError
from mxemu.golden.check import check

ROOT = Path(__file__).resolve().parents[1]
L0 = ROOT / "golden" / "L0"
TAGS = [t["name"] for t in json.loads((L0 / "MANIFEST.json").read_text())["tags"]]


def _tv(name: str) -> list[str]:
    return (L0 / f"{name}.tv").read_text().splitlines()


def _column(header: str, field: str) -> int:
    """Token index of the first lane of `field` in a .tv case line, read from the file's header."""
    index = 0
    for name, lo, hi in re.findall(r"(\w+)(?:\[(\d+)\.\.(\d+)\])?\(\d+\)", header.split("lane 0 first:")[1]):
        if name == field:
            return index
        index += int(hi) - int(lo) + 1 if hi else 1
    raise KeyError(field)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "dut.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


CODES_AT = 1 + 1 + 32 + 1  # token index of codes lane 0 in a quantize .tv line: idx, tag, 32 x lanes, scale


def test_identical_dump_passes(tmp_path: Path) -> None:
    res = check(L0, "quantize/mxfp4_e2m1", _write(tmp_path, _tv("quantize/mxfp4_e2m1")))
    assert res.ok and res.compared == len(_tv("quantize/mxfp4_e2m1")) - 1


def test_injected_mismatch_is_explained_by_field_and_lane(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = _tv("quantize/mxfp4_e2m1")
    case = 3
    tokens = lines[case + 1].split()
    assert tokens[-1] == "0"
    lane = 5
    at = CODES_AT + lane
    want = int(tokens[at], 16)
    tokens[at] = f"{want ^ 0x6:x}"
    tokens[34] = f"{int(tokens[34], 16) ^ 1:02x}"  # the scale byte too
    lines[case + 1] = " ".join(tokens)
    dut = _write(tmp_path, lines)
    res = check(L0, "quantize", dut, fmt="mxfp4_e2m1")
    assert res.failures == 1 and not res.ok
    tag = TAGS[int(tokens[1], 16)]
    assert res.lines[0].startswith(f"case {case} [{tag}] chk=0: scale: expected ")
    assert f"codes lane {lane}: expected {want:x} got {want ^ 6:x} (bits 0x6 differ)" in res.lines[0]
    assert main(["golden", "check", str(L0), "--suite", "quantize/mxfp4_e2m1", "--dut", str(dut)]) == 1
    out = capsys.readouterr().out
    assert f"case {case} [{tag}]" in out and f"{tag}: 1 failing case(s)" in out and "1 failure(s)" in out


def test_codes_under_a_nan_scale_are_dont_care(tmp_path: Path) -> None:
    lines = _tv("quantize/mxfp8_e4m3")
    dont_care = [i for i, ln in enumerate(lines[1:]) if ln.split()[-1] == "2"]
    assert dont_care
    i = dont_care[0]
    tokens = lines[i + 1].split()
    assert tokens[34] == "ff"
    tokens[35:67] = ["00"] * 32
    lines[i + 1] = " ".join(tokens)
    assert check(L0, "quantize/mxfp8_e4m3", _write(tmp_path, lines)).ok
    tokens[34] = "fe"  # the scale itself is still checked
    lines[i + 1] = " ".join(tokens)
    res = check(L0, "quantize/mxfp8_e4m3", _write(tmp_path, lines))
    assert res.failures == 1 and "scale: expected ff got fe" in res.lines[0]


def test_nan_class_accepts_any_nan_only(tmp_path: Path) -> None:
    lines = _tv("decode/mxfp8_e4m3")
    nan_rows = [i for i, ln in enumerate(lines[1:]) if ln.split()[-1] == "1"]
    assert len(nan_rows) == 2  # 0x7f and 0xff
    tokens = lines[nan_rows[0] + 1].split()
    tokens[3] = "ffc12345"
    lines[nan_rows[0] + 1] = " ".join(tokens)
    assert check(L0, "decode/mxfp8_e4m3", _write(tmp_path, lines)).ok
    tokens[3] = "7f800000"  # Inf is not a NaN
    lines[nan_rows[0] + 1] = " ".join(tokens)
    res = check(L0, "decode/mxfp8_e4m3", _write(tmp_path, lines))
    assert res.failures == 1 and "value: expected a NaN, got 7f800000" in res.lines[0]


def test_output_word_and_record_word_dumps(tmp_path: Path) -> None:
    lines = _tv("encode/mxfp6_e3m2")[1:]
    words = [ln.split()[4] for ln in lines]  # the code field, 2 hex digits
    assert check(L0, "encode/mxfp6_e3m2", _write(tmp_path, words)).ok
    words[10] = f"{int(words[10], 16) ^ 0x20:02x}"
    res = check(L0, "encode/mxfp6_e3m2", _write(tmp_path, words))
    assert res.failures == 1 and res.lines[0].startswith("case 10 [") and "(bits 0x20 differ)" in res.lines[0]
    records = (L0 / "quantize" / "mxint8.hex").read_text().splitlines()
    assert check(L0, "quantize/mxint8", _write(tmp_path, records)).ok
    res = check(L0, "quantize/mxint8", _write(tmp_path, records[:-2]))
    assert res.failures == 2 and "2 case(s) missing" in res.lines[-1]


def test_packed_quantize_output_word_lane_order(tmp_path: Path) -> None:
    lines = _tv("quantize/mxfp4_e2m1")[1:]
    words = []
    for ln in lines:
        t = ln.split()
        scale, codes = int(t[34], 16), [int(c, 16) for c in t[35:67]]
        w = scale
        for c in reversed(codes):  # lane 0 least significant
            w = (w << 4) | c
        words.append(f"{w:034x}")
    assert check(L0, "quantize/mxfp4_e2m1", _write(tmp_path, words)).ok
    # lane 0 in the most significant slot instead: a lane-order bug is reported
    bad = []
    for ln in lines:
        t = ln.split()
        w = int(t[34], 16)
        for c in t[35:67]:
            w = (w << 4) | int(c, 16)
        bad.append(f"{w:034x}")
    assert not check(L0, "quantize/mxfp4_e2m1", _write(tmp_path, bad)).ok


def test_bad_dumps_and_names(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="hex digits"):
        check(L0, "encode/mxint8", _write(tmp_path, ["123"]))
    with pytest.raises(FileFormatError, match="fields, expected"):
        check(L0, "encode/mxint8", _write(tmp_path, ["00000000 0005 7f"]))
    with pytest.raises(FileFormatError, match="no cases"):
        check(L0, "encode/mxint8", _write(tmp_path, ["# only a header"]))
    with pytest.raises(InputError, match="ambiguous or absent"):
        check(L0, "encode", _write(tmp_path, ["00"]))
    with pytest.raises(InputError, match="no suite 'encode/mxint4'"):
        check(L0, "encode/mxint4", _write(tmp_path, ["00"]))
    assert main(["golden", "check", str(L0), "--suite", "dot/x", "--dut", str(tmp_path / "dut.txt")]) == 2


def test_tv_dump_with_foreign_inputs_is_reported(tmp_path: Path) -> None:
    lines = _tv("encode/mxfp4_e2m1")
    tokens = lines[8].split()
    tokens[3] = "3f800001"  # an x the suite does not have at this index
    lines[8] = " ".join(tokens)
    res = check(L0, "encode/mxfp4_e2m1", _write(tmp_path, lines))
    assert res.failures == 1 and "case 7 [" in res.lines[0] and "input x differs from the suite" in res.lines[0]


def test_dequantize_output_words_any_nan_accepted_and_wrong_values_explained(tmp_path: Path) -> None:
    lines = _tv("dequantize/mxfp6_e2m3")[1:]
    words = [ln.split()[4] for ln in lines]  # idx tag scale code value ev chk: the output word is the value
    nan_case = next(i for i, ln in enumerate(lines) if ln.split()[-1] == "1")
    words[nan_case] = "7fffffff"  # another NaN: accepted under check class nan
    exact_case = next(i for i, ln in enumerate(lines) if ln.split()[-1] == "0" and ln.split()[4] != "00000000")
    want = int(words[exact_case], 16)
    words[exact_case] = f"{want ^ 0x100:08x}"
    res = check(L0, "dequantize/mxfp6_e2m3", _write(tmp_path, words))
    assert res.compared == len(lines) and res.failures == 1
    assert res.lines == [f"case {exact_case} [{TAGS[int(lines[exact_case].split()[1], 16)]}] chk=0: value: expected "
                         f"{want:08x} got {want ^ 0x100:08x} (bits 0x100 differ)"]
    words[nan_case] = "7f800000"  # Inf is not a NaN
    res = check(L0, "dequantize/mxfp6_e2m3", _write(tmp_path, words))
    assert res.failures == 2 and any(f"case {nan_case} " in ln and "expected a NaN, got 7f800000" in ln
                                     for ln in res.lines)


def test_divergence_mismatch_is_explained_by_lane(tmp_path: Path) -> None:
    div = ROOT / "golden" / "divergence" / "gfloat"
    lines = (div / "divergence" / "mxint8.tv").read_text().splitlines()
    tokens = lines[4].split()
    tokens[35 + 7] = f"{int(tokens[35 + 7], 16) ^ 1:02x}"  # codes lane 7
    lines[4] = " ".join(tokens)
    res = check(div, "divergence/mxint8", _write(tmp_path, lines))
    assert res.failures == 1 and "case 3 " in res.lines[0] and "codes lane 7: expected" in res.lines[0]


def _half(lines: list[str], seed: int) -> list[str]:
    """A random half of the cases of a .tv (header dropped), in a shuffled order."""
    rng = random.Random(seed)
    body = lines[1:]
    return rng.sample(body, len(body) // 2)


@pytest.mark.parametrize("name", ["quantize/mxfp4_e2m1", "dot/mxfp8_e4m3", "decode/mxint8"])
def test_dump_of_a_random_half_passes_only_present_and_fails_without(tmp_path: Path, name: str) -> None:
    lines = _tv(name)
    dut = _write(tmp_path, _half(lines, seed=len(name)))
    n = len(lines) - 1
    full = check(L0, name, dut)
    assert not full.ok and full.compared == n // 2 and full.failures == n - n // 2
    part = check(L0, name, dut, only_present=True)
    assert part.ok and part.compared == n // 2 and part.not_driven == n - n // 2 and part.failures == 0
    assert part.report()[-1] == f"{name}: {n // 2} case(s) compared, 0 failure(s), {n - n // 2} not driven " \
                                f"(absent from the dump)"
    assert main(["golden", "check", str(L0), "--suite", name, "--dut", str(dut), "--only-present"]) == 0
    assert main(["golden", "check", str(L0), "--suite", name, "--dut", str(dut)]) == 1


def test_only_present_still_fails_a_wrong_case(tmp_path: Path) -> None:
    body = _tv("encode/mxfp6_e3m2")[1:]
    tokens = body[9].split()
    tokens[4] = f"{int(tokens[4], 16) ^ 1:02x}"
    dut = _write(tmp_path, [" ".join(tokens), body[20]])
    res = check(L0, "encode/mxfp6_e3m2", dut, only_present=True)
    assert res.compared == 2 and res.failures == 1 and res.lines[0].startswith("case 9 [")


def _scales_off_by(lines: list[str], d: int) -> tuple[list[str], int]:
    out, changed = [lines[0]], 0
    for ln in lines[1:]:
        t = ln.split()
        if 0 <= int(t[34], 16) + d <= 0xFE and t[-1] == "0":  # finite scales of exact-class cases only
            t[34] = f"{int(t[34], 16) + d:02x}"
            changed += 1
        out.append(" ".join(t))
    return out, changed


def test_scales_all_off_by_one_are_summarised_as_one_pattern(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    lines, changed = _scales_off_by(_tv("quantize/mxfp8_e5m2"), 1)
    dut = _write(tmp_path, lines)
    res = check(L0, "quantize/mxfp8_e5m2", dut)
    assert res.failures == changed > 100
    scale = res.summary["scale"]
    assert scale.cases == changed and [p.kind for p in scale.patterns] == ["offset"]
    assert scale.patterns[0].value == 1 and res.summary["codes"].cases == 0
    assert main(["golden", "check", str(L0), "--suite", "quantize/mxfp8_e5m2", "--dut", str(dut)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [ln for ln in out if ln.startswith("  pattern")] == [
        f"  pattern scale: {changed} case(s), {changed} lane(s) differ: constant scale offset +1 "
        f"(got = expected +1 in every mismatch)"]
    # a mutation: one scale off by two instead breaks the pattern
    t = lines[5].split()
    t[34] = f"{int(t[34], 16) + 1:02x}"
    lines[5] = " ".join(t)
    assert check(L0, "quantize/mxfp8_e5m2", _write(tmp_path, lines)).summary["scale"].patterns == []


def _with(lines: list[str], edits: dict[int, dict[int, str]]) -> list[str]:
    out = list(lines)
    for row, cols in edits.items():
        t = out[row + 1].split()
        for col, v in cols.items():
            t[col] = v
        out[row + 1] = " ".join(t)
    return out


def test_sign_of_zero_nan_code_lane_and_tag_patterns(tmp_path: Path) -> None:
    name = "quantize/mxfp8_e5m2"
    lines = _tv(name)
    rows = [ln.split() for ln in lines[1:]]
    # codes lanes that are +0 in exact-class cases become -0
    zeros = [(i, k) for i, t in enumerate(rows) if t[-1] == "0" for k in range(32) if t[35 + k] == "00"][:5]
    res = check(L0, name, _write(tmp_path, _with(lines, {i: {35 + k: "80"} for i, k in zeros})))
    kinds = {p.kind for p in res.summary["codes"].patterns}
    assert res.failures == len({i for i, _ in zeros}) and "zero_sign" in kinds and "offset" in kinds
    # the E5M2 NaN code 0x7e (canonical) answered as 0x7f: a NaN-code-only pattern, accepted with --nan any
    enc = _tv("encode/mxfp8_e5m2")
    nans = [i for i, ln in enumerate(enc[1:]) if ln.split()[4] in ("7e", "fe")]
    assert len(nans) >= 2
    dut = _write(tmp_path, _with(enc, {i: {4: f"{int(enc[i + 1].split()[4], 16) | 1:02x}"} for i in nans}))
    res = check(L0, "encode/mxfp8_e5m2", dut)
    assert res.failures == len(nans) and res.summary["code"].patterns[0].kind == "nan_code"
    assert check(L0, "encode/mxfp8_e5m2", dut, nan="any").ok
    assert main(["golden", "check", str(L0), "--suite", "encode/mxfp8_e5m2", "--dut", str(dut), "--nan", "any"]) == 0
    # a finite value answered as a NaN is not accepted by --nan any
    t = next(i for i, r in enumerate(rows) if r[-1] == "0" and r[35] == "01")
    assert not check(L0, name, _write(tmp_path, _with(lines, {t: {35: "7f"}})), nan="any").ok
    # every mismatch in lane 3 of cases of one tag
    tag = rows[0][1]
    same = [i for i, r in enumerate(rows) if r[1] == tag and r[-1] == "0"][:4]
    assert len(same) >= 2
    res = check(L0, name, _write(tmp_path, _with(lines, {i: {38: f"{int(rows[i][38], 16) ^ 0x40:02x}"}
                                                         for i in same})))
    kinds = {p.kind: p.value for p in res.summary["codes"].patterns}
    assert kinds["lane"] == 3 and kinds["tag"] == TAGS[int(tag, 16)]


def test_fields_compares_only_the_named_outputs(tmp_path: Path) -> None:
    lines = _tv("dot/mxfp8_e4m3")
    t = lines[3].split()
    col = _column(lines[0], "trunc_32_8")
    t[col] = f"{int(t[col], 16) ^ 1:08x}"
    dut = _write(tmp_path, [lines[0], *lines[1:3], " ".join(t), *lines[4:]])
    assert not check(L0, "dot/mxfp8_e4m3", dut).ok
    res = check(L0, "dot/mxfp8_e4m3", dut, fields=("exact", "fp32_sequential"))
    assert res.ok and res.fields == ("exact", "fp32_sequential") and set(res.summary) == set(res.fields)
    assert not check(L0, "dot/mxfp8_e4m3", dut, fields=("trunc_32_8",)).ok
    with pytest.raises(InputError, match="has the output fields exact, block_exact_fp32"):
        check(L0, "dot/mxfp8_e4m3", dut, fields=("exact", "tag"))
    assert main(["golden", "check", str(L0), "--suite", "dot/mxfp8_e4m3", "--dut", str(dut),
                 "--fields", "exact,dequant_fp32"]) == 0


def test_json_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines, _ = _scales_off_by(_tv("quantize/mxint8"), -2)
    dut = _write(tmp_path, [lines[0], *lines[1:-3]])
    assert main(["golden", "check", str(L0), "--suite", "quantize/mxint8", "--dut", str(dut), "--json",
                 "--only-present", "--max-errors", "3"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["table"] == "quantize/mxint8" and doc["ok"] is False and doc["not_driven"] == 3
    assert doc["failures"] == sum(doc["by_tag"].values()) and len(doc["mismatches"]) == 3
    first = doc["mismatches"][0]
    assert first["diffs"][0]["field"] == "scale" and first["diffs"][0]["got"] == first["diffs"][0]["expected"] - 2
    assert doc["summary"]["scale"]["patterns"][0] == {"kind": "offset", "value": -2, "text": (
        "constant scale offset -2 (got = expected -2 in every mismatch)")}


def test_duplicate_case_in_a_dump_is_refused(tmp_path: Path) -> None:
    lines = _tv("encode/mxint8")
    wrong = lines[5].split()
    wrong[4] = f"{int(wrong[4], 16) ^ 1:02x}"
    with pytest.raises(FileFormatError, match="case 4 appears more than once"):
        check(L0, "encode/mxint8", _write(tmp_path, [*lines, " ".join(wrong)]))


ENCODE_INT8 = _tv("encode/mxint8")


@settings(max_examples=30, deadline=None)
@given(keep=st.sets(st.integers(0, len(ENCODE_INT8) - 2), min_size=1), d=st.integers(-3, 3).filter(bool),
       shifted=st.sets(st.integers(0, len(ENCODE_INT8) - 2)))
def test_any_subset_passes_only_present_and_a_constant_code_offset_is_one_pattern(
        keep: set[int], d: int, shifted: set[int]) -> None:
    """Any subset of cases, with any of them answered with code + d: the subset is compared, the rest not
    driven, exactly the shifted cases fail, and two or more of them share the pattern "offset d"."""
    body, changed = ENCODE_INT8[1:], set()
    lines = []
    for i in sorted(keep):
        t = body[i].split()
        if i in shifted and 0 <= int(t[4], 16) + d <= 0xFF:
            t[4] = f"{int(t[4], 16) + d:02x}"
            changed.add(i)
        lines.append(" ".join(t))
    with tempfile.TemporaryDirectory() as tmp:
        dut = Path(tmp) / "dut.tv"
        dut.write_text("\n".join(lines) + "\n")
        res = check(L0, "encode/mxint8", dut, only_present=True, max_errors=len(body))
    assert (res.compared, res.not_driven, res.failures) == (len(keep), len(body) - len(keep), len(changed))
    assert [int(ln.split()[1]) for ln in res.lines] == sorted(changed)
    offsets = [p.value for p in res.summary["code"].patterns if p.kind == "offset"]
    assert offsets == ([d] if len(changed) >= 2 else [])
