"""The committed golden/L0 set: byte-for-byte regeneration, verify, checksums, schema, and an oracle re-check."""

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
from mxemu.golden.generate import generate
from mxemu.golden.suites import Field
from mxemu.golden.verify import verify
from mxemu.golden.writers import pack, parse_tv, read_npz
from mxemu.policy import Policy
from mxemu.spec import get_format

ROOT = Path(__file__).resolve().parents[1]
L0 = ROOT / "golden" / "L0"
SCHEMA_FILE = ROOT / "golden" / "schema" / "manifest.schema.json"


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads((L0 / mf.MANIFEST).read_text())


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_committed_set_is_the_documented_command(doc: dict) -> None:
    assert doc["suites"] == ["decode", "encode", "scale", "quantize"]
    assert doc["formats"] == ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8"]
    assert (doc["level"], doc["seed"], doc["policy"]["name"]) == ("L0", 0, "ocp")
    assert Policy.from_dict(doc["policy"]) == Policy()
    assert sum(len(b) for b in _files(L0).values()) < 4 * 2**20


def test_regeneration_reproduces_every_file(doc: dict, tmp_path: Path) -> None:
    generate(tmp_path, tuple(doc["suites"]), tuple(doc["formats"]), Policy.from_dict(doc["policy"]),
             doc["level"], doc["seed"], generator=doc["generator"], progress=None)
    fresh, committed = _files(tmp_path), _files(L0)
    assert sorted(fresh) == sorted(committed)
    assert [n for n in fresh if fresh[n] != committed[n]] == []


def test_verify_passes_on_committed_set() -> None:
    assert verify(L0) == []


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


def test_sha256sums_format_and_content() -> None:
    lines = (L0 / mf.SUMS).read_text().splitlines()
    assert lines and all(re.fullmatch(r"[0-9a-f]{64}  [A-Za-z0-9_./-]+", ln) for ln in lines)
    listed = {ln[66:] for ln in lines}
    assert listed == set(_files(L0)) - {mf.SUMS}
    assert mf.check_sums(L0) == []


def test_manifest_validates_against_the_committed_schema(doc: dict) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert SCHEMA_FILE.read_text() == mf.schema_text()
    assert mf.validate(doc, schema) == []
    for t in doc["tables"]:
        for form, entry in t["files"].items():
            assert entry["path"] == f"{t['name']}.{form}"
            assert mf.sha256_bytes((L0 / entry["path"]).read_bytes()) == entry["sha256"]


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
    x = cols["x"].astype(np.uint32).view(np.float32)
    if suite == "encode":
        return {"code": [oracle.encode_value(float(xi), elem, int(s) - 127, policy)
                         for xi, s in zip(x.tolist(), cols["scale"].tolist(), strict=True)]}
    if suite == "scale":
        return {"scale": [oracle.scale_code(row, mx, policy) for row in x]}
    pairs = [oracle.quantize_block(row, mx, policy) for row in x]
    return {"scale": [s for s, _ in pairs], "codes": [c.tolist() for _, c in pairs]}


def test_every_expected_result_equals_the_oracle(doc: dict) -> None:
    policy = Policy.from_dict(doc["policy"])
    checked = 0
    for t in doc["tables"]:
        fields = tuple(Field(f["name"], f["role"], f["lane_bits"], f["lanes"]) for f in t["fields"])
        cols = parse_tv((L0 / t["files"]["tv"]["path"]).read_text(), fields, t["name"])
        assert cols["idx"].tolist() == list(range(t["count"]))
        want = _oracle_outputs(t["suite"], t["format"], policy, cols)
        for name, ref in want.items():
            got = cols[name].tolist()
            for i, (r, g) in enumerate(zip(ref, got, strict=True)):
                if isinstance(r, float) and not np.isnan(r):  # an Inf code
                    assert g == int(np.array([r], np.float32).view(np.uint32)[0])
                elif isinstance(r, float):  # a NaN code: the file must hold a NaN and flag check class 1
                    assert np.isnan(np.array([g], np.uint32).view(np.float32)[0]) and cols["chk"][i] == 1
                else:
                    assert r == g, f"{t['name']} case {i} {name}: file {g} oracle {r}"
                checked += 1
    assert checked > 10_000


def test_hex_and_npz_match_the_tv(doc: dict) -> None:
    from mxemu.golden.suites import Table

    for t in doc["tables"]:
        fields = tuple(Field(f["name"], f["role"], f["lane_bits"], f["lanes"]) for f in t["fields"])
        cols = parse_tv((L0 / t["files"]["tv"]["path"]).read_text(), fields, t["name"])
        table = Table(t["suite"], get_format(t["format"]), fields, {f.name: cols[f.name] for f in fields})
        words = [int(w, 16) for w in (L0 / t["files"]["hex"]["path"]).read_text().split()]
        assert words == pack(table)
        assert all(len(w) == t["hex_digits"] for w in (L0 / t["files"]["hex"]["path"]).read_text().split())
        arrays = read_npz(str(L0 / t["files"]["npz"]["path"]))
        assert sorted(arrays) == sorted(f.name for f in fields)
        for f in fields:
            assert arrays[f.name].dtype.kind == "u"
            assert np.array_equal(arrays[f.name].astype(np.uint64), cols[f.name])
