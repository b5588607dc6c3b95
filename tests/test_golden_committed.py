"""The committed golden sets (L0, L1 and the divergence sets of every preset): byte-for-byte regeneration,
verify, checksums, schema, and an oracle re-check of every expected result."""

from __future__ import annotations

import json
import re
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mxemu import oracle
from mxemu.golden import manifest as mf
from mxemu.golden.generate import build_all, generate
from mxemu.golden.suites import (
    ALL_SUITES,
    CONVERT_METHODS,
    CONVERT_TARGETS,
    DOT_ACCUMULATIONS,
    DOT_MODELS,
    OCP_FORMATS,
    PACK_DATA,
    PACK_LAYOUTS,
    PACK_SCALE_LAYOUTS,
    Field,
    divergence_presets,
)
from mxemu.golden.verify import find_sets, verify
from mxemu.golden.writers import pack, parse_tv, read_npz
from mxemu.policy import Policy, get_policy
from mxemu.products import accumulation_model
from mxemu.spec import get_format

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "golden"
L0 = GOLDEN / "L0"
L1 = GOLDEN / "L1"
DIVERGENCE = GOLDEN / "divergence"
BF16 = {GOLDEN / "L0-bfloat16": "L0", GOLDEN / "L1-bfloat16": "L1"}  # float inputs as bfloat16: encode, scale, quantize
SCHEMA_FILE = GOLDEN / "schema" / "manifest.schema.json"
ALL_SETS = [L0, L1, *BF16, *(DIVERGENCE / p for p in divergence_presets())]


def _doc(d: Path) -> dict:
    return json.loads((d / mf.MANIFEST).read_text())


@pytest.fixture(scope="module")
def doc() -> dict:
    return _doc(L0)


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_committed_sets_are_the_documented_commands() -> None:
    assert find_sets(GOLDEN) == sorted(ALL_SETS)
    for d, level in ((L0, "L0"), (L1, "L1")):
        doc = _doc(d)
        assert doc["suites"] == list(ALL_SUITES) == ["decode", "encode", "scale", "quantize", "dequantize",
                                                         "convert", "dot", "pack"]
        assert doc["formats"] == list(OCP_FORMATS)
        assert (doc["level"], doc["seed"], doc["policy"]["name"]) == (level, 0, "ocp")
        assert Policy.from_dict(doc["policy"]) == Policy()
    for preset in divergence_presets():
        doc = _doc(DIVERGENCE / preset)
        assert (doc["suites"], doc["formats"], doc["level"], doc["seed"]) == (["divergence"], list(OCP_FORMATS),
                                                                             "L1", 0)
        assert Policy.from_dict(doc["policy"]) == get_policy(preset)
        assert doc["presets"] == list(divergence_presets())
    for d, level in BF16.items():
        doc = _doc(d)
        assert (doc["suites"], doc["formats"], doc["level"], doc["seed"]) == (["encode", "scale", "quantize"],
                                                                             list(OCP_FORMATS), level, 0)
        assert (doc["input_dtype"], Policy.from_dict(doc["policy"])) == ("bfloat16", Policy())
    assert sum(len(b) for b in _files(GOLDEN).values()) < 64 * 2**20


def test_l0_regeneration_reproduces_every_file(doc: dict, tmp_path: Path) -> None:
    generate(tmp_path, tuple(doc["suites"]), tuple(doc["formats"]), Policy.from_dict(doc["policy"]),
             doc["level"], doc["seed"], generator=doc["generator"], progress=None)
    fresh, committed = _files(tmp_path), _files(L0)
    assert sorted(fresh) == sorted(committed)
    assert [n for n in fresh if fresh[n] != committed[n]] == []


def _regenerated_files(d: Path, tasks: list[tuple[str, str]]) -> dict[str, bytes]:
    doc = _doc(d)
    parts = build_all(tasks, Policy.from_dict(doc["policy"]), doc["level"], doc["seed"])
    return {f"{entry['name']}.{form}": data for entry, blobs in parts for form, data in blobs.items()}


def test_l1_subset_regenerates_bit_for_bit() -> None:
    """CI-sized: decode and dequantize of every format and every suite of mxfp4_e2m1 (the slow test
    `test_every_committed_set_verifies` regenerates all of L1)."""
    tasks = [(s, f) for s in ("decode", "dequantize") for f in OCP_FORMATS]
    tasks += [(s, "mxfp4_e2m1") for s in ("encode", "scale", "quantize", "convert", "dot", "pack")]
    fresh = _regenerated_files(L1, tasks)
    assert len(fresh) == 3 * len(tasks)
    assert [n for n, data in fresh.items() if (L1 / n).read_bytes() != data] == []


def test_divergence_sets_regenerate_bit_for_bit_for_one_format() -> None:
    for preset in divergence_presets():
        fresh = _regenerated_files(DIVERGENCE / preset, [("divergence", "mxfp4_e2m1")])
        assert [n for n, data in fresh.items() if (DIVERGENCE / preset / n).read_bytes() != data] == []


def test_verify_passes_on_committed_l0_set() -> None:
    assert verify(L0) == []


@pytest.mark.slow
def test_every_committed_set_verifies() -> None:
    """All sets, fully regenerated (about a minute of CPU per set for L1)."""
    for d in ALL_SETS:
        assert verify(d, jobs=2) == [], d


def test_verify_fails_on_a_tampered_copy(tmp_path: Path) -> None:
    copy = tmp_path / "set"
    shutil.copytree(L0, copy)
    target = copy / "quantize" / "mxfp4_e2m1.hex"
    data = bytearray(target.read_bytes())
    data[100] = ord("0") if data[100] != ord("0") else ord("1")
    target.write_bytes(bytes(data))
    problems = verify(copy)
    assert any(p.startswith("quantize/mxfp4_e2m1.hex: SHA-256 differs") for p in problems)
    assert any(p.startswith("quantize/mxfp4_e2m1.hex: differs from the regenerated") for p in problems)


@pytest.mark.parametrize("d", ALL_SETS, ids=lambda d: d.relative_to(GOLDEN).as_posix())
def test_sha256sums_format_and_content(d: Path) -> None:
    lines = (d / mf.SUMS).read_text().splitlines()
    assert lines and all(re.fullmatch(r"[0-9a-f]{64}  [A-Za-z0-9_./-]+", ln) for ln in lines)
    listed = {ln[66:] for ln in lines}
    assert listed == set(_files(d)) - {mf.SUMS}
    assert mf.check_sums(d) == []


@pytest.mark.parametrize("d", ALL_SETS, ids=lambda d: d.relative_to(GOLDEN).as_posix())
def test_manifest_validates_against_the_committed_schema(d: Path) -> None:
    doc = _doc(d)
    schema = json.loads(SCHEMA_FILE.read_text())
    assert SCHEMA_FILE.read_text() == mf.schema_text()
    assert mf.validate(doc, schema) == []
    for t in doc["tables"]:
        for form, entry in t["files"].items():
            assert entry["path"] == f"{t['name']}.{form}"
            assert mf.sha256_bytes((d / entry["path"]).read_bytes()) == entry["sha256"]


def _oracle_outputs(suite: str, mx_name: str, policy: Policy, cols: dict[str, np.ndarray]) -> dict[str, list]:
    """Expected outputs recomputed from the parsed inputs with mxemu.oracle only."""
    mx = get_format(mx_name)
    elem = mx.element
    if suite == "decode":
        values = []
        for c in cols["code"].tolist():
            v = oracle.decode_value(int(c), elem)
            if isinstance(v, Fraction):
                f = np.float32(float(v)) if v != 0 else np.float32(-0.0 if (c >> (elem.bits - 1)) and
                                                                     not elem.is_int else 0.0)
                assert Fraction(float(f)) == v
                values.append(int(np.array([f], np.float32).view(np.uint32)[0]))
            else:
                values.append(v)
        return {"value": values}
    if suite == "dequantize":
        values = []
        for s, c in zip(cols["scale"].tolist(), cols["code"].tolist(), strict=True):
            v = oracle.decode_value(int(c), elem)
            if s == 0xFF or not isinstance(v, Fraction):
                values.append(np.nan if s == 0xFF else v)
                continue
            v *= Fraction(2) ** (s - 127)
            if abs(v) >= 2**128:  # RNE overflow; every MX product below 2^128 is a float32 value
                values.append(float(np.copysign(np.inf, float(v))))
                continue
            f = np.float32(float(v)) if v != 0 else np.float32(-0.0 if (c >> (elem.bits - 1)) and
                                                                 not elem.is_int else 0.0)
            assert Fraction(float(f)) == v
            values.append(int(np.array([f], np.float32).view(np.uint32)[0]))
        return {"value": values}
    if suite == "pack":  # the layouts' bit definitions
        records = [oracle.pack_block(c, int(s), elem.bits, PACK_LAYOUTS[int(k)], PACK_SCALE_LAYOUTS[int(sl)])
                   for k, sl, s, c in zip(cols["layout"], cols["scale_layout"], cols["scale"], cols["codes"],
                                          strict=True)]
        return {"data": [np.pad(r, (0, PACK_DATA - len(r))).tolist() for r in records]}
    if suite == "dot":  # exact products, then each accumulation model's float32 steps
        nblk = cols.get("nblk", np.full(len(cols["a"]), 2)).tolist()  # the blocks a record's outputs cover
        models = {m: accumulation_model(DOT_ACCUMULATIONS[m]) for m in DOT_MODELS}
        rows = [oracle.mx_dot(a[:32 * n], sa[:n], b[:32 * n], sb[:n], mx, CONVERT_TARGETS[int(f)], models)
                for sa, a, f, sb, b, n in zip(cols["sa"], cols["a"], cols["b_format"], cols["sb"], cols["b"], nblk,
                                              strict=True)]
        return {m: [float(r[m]) for r in rows] for m in DOT_MODELS}
    if suite == "convert":  # the conversion contract on exact values (docs/convert_dot.md)
        pairs = [oracle.convert_block(c, int(s), mx, CONVERT_TARGETS[int(t)], CONVERT_METHODS[int(m)], policy)
                 for m, t, s, c in zip(cols["method"], cols["target"], cols["src_scale"], cols["src_codes"],
                                       strict=True)]
        return {"scale": [s for _, s in pairs], "codes": [c.tolist() for c, _ in pairs]}
    x = cols["x"].astype(np.uint32).view(np.float32)
    if suite == "encode":
        return {"code": [oracle.encode_value(float(xi), elem, int(s) - 127, policy)
                         for xi, s in zip(x.tolist(), cols["scale"].tolist(), strict=True)]}
    if suite == "scale":
        return {"scale": [oracle.scale_code(row, mx, policy) for row in x]}
    pairs = [oracle.quantize_block(row, mx, policy) for row in x]
    return {"scale": [s for _, s in pairs], "codes": [c.tolist() for c, _ in pairs]}


def _oracle_recheck(d: Path) -> int:
    doc = _doc(d)
    policy = Policy.from_dict(doc["policy"])
    checked = 0
    for t in doc["tables"]:
        fields = tuple(Field(f["name"], f["role"], f["lane_bits"], f["lanes"]) for f in t["fields"])
        cols = parse_tv((d / t["files"]["tv"]["path"]).read_text(), fields, t["name"])
        assert cols["idx"].tolist() == list(range(t["count"]))
        want = _oracle_outputs(t["suite"], t["format"], policy, cols)
        for name, ref in want.items():
            got = cols[name].tolist()
            for i, (r, g) in enumerate(zip(ref, got, strict=True)):
                if isinstance(r, float) and not np.isnan(r):  # an Inf value
                    assert g == int(np.array([r], np.float32).view(np.uint32)[0])
                elif isinstance(r, float):  # a NaN: the file must hold a NaN and flag check class 1
                    assert np.isnan(np.array([g], np.uint32).view(np.float32)[0]) and cols["chk"][i] == 1
                elif t["suite"] in ("quantize", "divergence", "convert") and cols["scale"][i] == 0xFF:
                    assert cols["chk"][i] == 2  # codes are don't-care under a NaN scale
                else:
                    assert r == g, f"{t['name']} case {i} {name}: file {g} oracle {r}"
                checked += 1
    return checked


def test_every_l0_and_divergence_result_equals_the_oracle() -> None:
    assert _oracle_recheck(L0) > 30_000
    for preset in ("ocp", "microxcaling", "ml_dtypes"):
        assert _oracle_recheck(DIVERGENCE / preset) > 500


def _counts(d: Path) -> dict[str, int]:
    return {t["name"]: t["count"] for t in _doc(d)["tables"]}


def test_l2_subset_is_denser_than_l1_and_equals_the_oracle(tmp_path: Path) -> None:
    """CI-sized L2 (level L2 is not committed): scale, dequantize and pack of mxfp4_e2m1, generated and then
    re-checked case by case with mxemu.oracle and the layouts' definitions."""
    suites = ("scale", "dequantize", "pack")
    generate(tmp_path, suites, ("mxfp4_e2m1",), Policy(), "L2", 0)
    counts = _counts(tmp_path)
    l1 = _counts(L1)
    assert counts["scale/mxfp4_e2m1"] > 3 * l1["scale/mxfp4_e2m1"]
    assert counts["pack/mxfp4_e2m1"] > 10 * l1["pack/mxfp4_e2m1"]
    assert counts["dequantize/mxfp4_e2m1"] == 256 * 16  # every (scale, code) pair, as at L1 for 4-bit elements
    assert _oracle_recheck(tmp_path) > 15_000
    assert verify(tmp_path) == []


@pytest.mark.slow
def test_every_l2_suite_of_one_format_equals_the_oracle(tmp_path: Path) -> None:
    """Every L2 suite of mxfp4_e2m1 and the divergence suite, re-checked with the oracle (minutes)."""
    generate(tmp_path / "all", ALL_SUITES, ("mxfp4_e2m1",), Policy(), "L2", 0, jobs=2)
    generate(tmp_path / "div", ("divergence",), ("mxfp4_e2m1",), get_policy("torchao_rceil"), "L2", 0)
    counts, l1 = _counts(tmp_path / "all"), _counts(L1)
    assert all(counts[n] > l1[n] for n in counts if not n.startswith(("decode", "dequantize"))), counts
    assert _oracle_recheck(tmp_path / "all") > 300_000
    assert _oracle_recheck(tmp_path / "div") > 100


@pytest.mark.slow
def test_every_l1_and_divergence_result_equals_the_oracle() -> None:
    assert _oracle_recheck(L1) > 190_000
    for preset in divergence_presets():
        assert _oracle_recheck(DIVERGENCE / preset) > 500


def test_divergence_bits_name_the_presets_the_oracle_says_differ() -> None:
    """DIFFERS bit i is set exactly when mxemu.oracle gives preset i a different scale, or different codes
    under a non-NaN scale, than the set's own policy."""
    for preset in ("ocp", "torchao_rceil"):
        d = DIVERGENCE / preset
        doc = _doc(d)
        t = next(t for t in doc["tables"] if t["format"] == "mxfp4_e2m1")
        fields = tuple(Field(f["name"], f["role"], f["lane_bits"], f["lanes"]) for f in t["fields"])
        cols = parse_tv((d / t["files"]["tv"]["path"]).read_text(), fields, t["name"])
        x = cols["x"].astype(np.uint32).view(np.float32)
        mx = get_format("mxfp4_e2m1")
        results = [[oracle.quantize_block(row, mx, get_policy(p)) for row in x] for p in doc["presets"]]
        own = doc["presets"].index(preset)
        for i in range(t["count"]):
            c0, s0 = results[own][i]
            bits = 0
            for b, res in enumerate(results):
                c, s = res[i]
                if s != s0 or (s != 0xFF and not np.array_equal(c, c0)):
                    bits |= 1 << b
            assert bits == cols["differs"][i] != 0, f"{preset} case {i}"


@pytest.mark.parametrize("d", ALL_SETS, ids=lambda d: d.relative_to(GOLDEN).as_posix())
def test_hex_and_npz_match_the_tv(d: Path) -> None:
    doc = _doc(d)
    from mxemu.golden.suites import Table

    for t in doc["tables"]:
        fields = tuple(Field(f["name"], f["role"], f["lane_bits"], f["lanes"]) for f in t["fields"])
        cols = parse_tv((d / t["files"]["tv"]["path"]).read_text(), fields, t["name"])
        table = Table(t["suite"], get_format(t["format"]), fields, {f.name: cols[f.name] for f in fields})
        words = [int(w, 16) for w in (d / t["files"]["hex"]["path"]).read_text().split()]
        assert words == pack(table)
        assert all(len(w) == t["hex_digits"] for w in (d / t["files"]["hex"]["path"]).read_text().split())
        arrays = read_npz(str(d / t["files"]["npz"]["path"]))
        assert sorted(arrays) == sorted(f.name for f in fields)
        for f in fields:
            assert arrays[f.name].dtype.kind == "u"
            assert np.array_equal(arrays[f.name].astype(np.uint64), cols[f.name])


def test_layout_exports_name_the_new_dot_and_pack_fields(doc: dict) -> None:
    """golden_layout.h and golden_pkg.sv describe B_FORMAT, the 8-bit B lanes and the truncated outputs of
    a dot record and SCALE_LAYOUT / SCALE / 33 DATA lanes of a pack record at the manifest's offsets."""
    header = (L0 / "golden_layout.h").read_text()
    package = (L0 / "golden_pkg.sv").read_text()
    tables = {t["name"]: {f["name"]: f for f in t["fields"]} for t in doc["tables"]}
    dot = tables["dot/mxfp4_e2m1"]
    assert [dot[n]["lane_bits"] for n in ("a", "b")] == [4, 8]
    for name in ("b_format", "trunc_16_24", "trunc_32_8"):
        assert f"#define MXG_DOT_MXFP4_E2M1_{name.upper()}_OFFSET {dot[name]['offset']}u" in header
    assert "    logic [63:0][7:0] b;" in package and "    logic [31:0] trunc_32_8;" in package
    pack = tables["pack/mxfp6_e3m2"]
    assert pack["data"]["lanes"] == 33
    assert f"#define MXG_PACK_MXFP6_E3M2_SCALE_LAYOUT_OFFSET {pack['scale_layout']['offset']}u" in header
    assert "#define MXG_PACK_SCALE_LAYOUT_INTERLEAVED 1u" in header
    assert "  localparam int PACK_SCALE_LAYOUT_INTERLEAVED = 1;" in package
    assert doc["pack_scale_layouts"] == list(PACK_SCALE_LAYOUTS)
    assert doc["dot_accumulations"]["trunc_32_8"] == "truncated:32:8"
