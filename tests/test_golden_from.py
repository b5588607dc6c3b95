"""`mxemu golden gen --from FILE`: a set of exactly the user's inputs, and the file read as hostile input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mxemu import oracle
from mxemu.cli import main
from mxemu.errors import FileFormatError, InputError, MXError, PolicyError
from mxemu.golden import inputs as gi
from mxemu.golden import suites as gs
from mxemu.golden import writers
from mxemu.golden.generate import generate_from
from mxemu.golden.verify import verify
from mxemu.policy import Policy, get_policy


def _blocks(n: int = 6) -> np.ndarray:
    """bfloat16 blocks with ties, a NaN, an Inf, subnormals and zeros of both signs."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((n, 32)) * 2.0 ** rng.integers(-20, 20, (n, 1))).astype(ml_dtypes.bfloat16)
    x[0, :4] = [np.nan, np.inf, -0.0, 2.5]
    x[1, :3] = ml_dtypes.bfloat16(1e-39), -ml_dtypes.bfloat16(9.2e-41), 0.75
    return x


def _write_forms(d: Path, x: np.ndarray) -> dict[str, Path]:
    """The same bfloat16 blocks as .npz (uint16 bit patterns), .tv (lanes, lane 0 first) and .hex (packed)."""
    bits = x.view(np.uint16)
    paths = {"npz": d / "in.npz", "tv": d / "in.tv", "hex": d / "in.hex"}
    np.savez(paths["npz"], x=bits)
    paths["tv"].write_text("# my stimulus\n" + "".join(" ".join(f"{v:04x}" for v in row) + "\n" for row in bits))
    words = [sum(int(v) << (16 * i) for i, v in enumerate(row)) for row in bits]
    paths["hex"].write_text("".join(f"{w:0128x}\n" for w in words))
    return paths


def test_a_set_from_npz_tv_and_hex_holds_exactly_those_inputs_with_oracle_outputs(tmp_path: Path) -> None:
    x = _blocks()
    paths = _write_forms(tmp_path, x)
    data = {}
    for form, path in paths.items():
        out = tmp_path / f"set-{form}"
        doc = generate_from(out, path, "quantize", "mxfp8_e5m2", Policy(), "bfloat16")
        assert doc["level"] == "from" and doc["input_dtype"] == "bfloat16"
        assert doc["source"]["file"] == path.name and doc["source"]["bytes"] == path.stat().st_size
        assert f"--input-dtype bfloat16 --from {path.name}" in doc["command"]
        assert verify(out) == []
        data[form] = (out / "quantize" / "mxfp8_e5m2.npz").read_bytes()
    assert data["npz"] == data["tv"] == data["hex"]
    got = writers.read_npz(str(tmp_path / "set-npz" / "quantize" / "mxfp8_e5m2.npz"))
    assert np.array_equal(got["x"], x.view(np.uint16))  # exactly the file's inputs, in its order
    assert set(got["tag"].tolist()) == {gs.TAG_IDS["FROM-file"]}
    for row, scale, codes in zip(x, got["scale"], got["codes"], strict=True):  # the oracle, block by block
        want_codes, want_scale = oracle.quantize_block(row, "mxfp8_e5m2", Policy())
        assert int(scale) == want_scale and np.array_equal(codes, want_codes)


def test_encode_from_a_tv_file_takes_scale_and_x_and_the_policy(tmp_path: Path) -> None:
    src = tmp_path / "enc.tv"
    src.write_text("7f 7fc0\n7f ffc0\n80 3fc0\n00 0001\n")  # NaN, -NaN, 1.5 at scale 2, a subnormal at 2^-127
    out = tmp_path / "s"
    assert main(["golden", "gen", "--from", str(src), "--suite", "encode", "--format", "mxfp8_e5m2",
                 "--policy", "ocp,nan_code=all_ones", "--input-dtype", "bfloat16", "--out", str(out)]) == 0
    got = writers.read_npz(str(out / "encode" / "mxfp8_e5m2.npz"))
    assert got["code"].tolist()[:2] == [0x7F, 0xFF]  # the all-ones NaN the policy names
    x = got["x"].view(ml_dtypes.bfloat16)
    want = [oracle.encode_value(float(v), "fp8_e5m2", int(s) - 127, get_policy("ocp,nan_code=all_ones"))
            for v, s in zip(x, got["scale"], strict=True)]
    assert got["code"].tolist() == want
    assert main(["golden", "verify", str(out)]) == 0
    # a changed expected code is found by verify (regenerated from the set's own inputs)
    tv = out / "encode" / "mxfp8_e5m2.tv"
    tv.write_text(tv.read_text().replace(" 7f 08 0\n", " 7e 08 0\n", 1))
    assert any("mxfp8_e5m2.tv" in p for p in verify(out))


def test_encode_npz_scale_defaults_to_one(tmp_path: Path) -> None:
    src = tmp_path / "e.npz"
    np.savez(src, x=np.array([0.3, -7.0, 1e-3], np.float32))
    doc = generate_from(tmp_path / "s", src, "encode", "mxfp4_e2m1", Policy(), "float32")
    got = writers.read_npz(str(tmp_path / "s" / "encode" / "mxfp4_e2m1.npz"))
    assert got["scale"].tolist() == [127] * 3 and doc["tables"][0]["count"] == 3


def _bad(tmp_path: Path, name: str, content: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


@pytest.mark.parametrize(("name", "content", "suite", "error", "message"), [
    ("a.csv", "1,2", "quantize", InputError, "give an .npz, .hex or .tv"),
    ("a.tv", "", "quantize", FileFormatError, "no records"),
    ("a.tv", "00 11\n", "quantize", FileFormatError, "2 fields; a quantize .tv line holds 32"),
    ("a.tv", "7f zz\n", "encode", FileFormatError, "not hexadecimal"),
    ("a.tv", "7f 10000\n", "encode", FileFormatError, "wider than its 16 bits"),
    ("a.tv", "ff 3f80\n", "encode", FileFormatError, "scale 0xFF"),
    ("a.tv", "7f 3f80\u00e9\n", "encode", FileFormatError, "not ASCII"),
    ("a.hex", "1" + "0" * 128 + "\n", "quantize", FileFormatError, "wider than the 512 bits"),
    ("a.tv", "7f 3f80\n", "dot", InputError, "encode, scale, quantize"),
])
def test_malformed_files_are_typed_errors_naming_what_is_accepted(tmp_path, name, content, suite, error, message):
    with pytest.raises(error, match=message):
        gi.read_inputs(_bad(tmp_path, name, content), suite, "bfloat16")


def test_npz_arrays_are_validated_by_name_dtype_and_shape(tmp_path: Path) -> None:
    cases = [({"x": np.zeros((2, 32), np.float32)}, "dtype float32; for --input-dtype bfloat16 give"),
             ({"x": np.zeros((2, 16), np.uint16)}, "shape \\(2, 16\\); the quantize suite takes \\(n, 32\\)"),
             ({"x": np.zeros((2, 32), np.uint16), "y": np.zeros(2)}, "holds arrays \\['x', 'y'\\]"),
             ({"codes": np.zeros((2, 32), np.uint16)}, "holds arrays \\['codes'\\]")]
    for k, (arrays, message) in enumerate(cases):
        path = tmp_path / f"{k}.npz"
        np.savez(path, **arrays)
        with pytest.raises(FileFormatError, match=message):
            gi.read_inputs(path, "quantize", "bfloat16")
    path = tmp_path / "s.npz"
    np.savez(path, x=np.zeros(3, np.uint16), scale=np.zeros(3, np.int32))
    with pytest.raises(FileFormatError, match="'scale' must be uint8"):
        gi.read_inputs(path, "encode", "bfloat16")
    pickled = tmp_path / "p.npz"
    np.savez(pickled, x=np.array([object()], dtype=object))
    with pytest.raises(FileFormatError, match="refused"):
        gi.read_inputs(pickled, "encode", "float32")


def test_links_large_files_and_zip_bombs_are_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    real = _bad(tmp_path, "real.tv", "7f 3f80\n")
    link = tmp_path / "link.tv"
    link.symlink_to(real)
    with pytest.raises(InputError, match="links are not followed"):
        gi.read_inputs(link, "encode", "bfloat16")
    with pytest.raises(InputError, match="cannot read"):
        gi.read_inputs(tmp_path / "absent.tv", "encode", "bfloat16")
    monkeypatch.setattr(gi, "MAX_FROM_BYTES", 64)
    with pytest.raises(InputError, match="at most 64 are read"):
        gi.read_inputs(_bad(tmp_path, "big.tv", "7f 3f80\n" * 20), "encode", "bfloat16")
    bomb = tmp_path / "bomb.npz"  # 60 bytes on disk, 4 MB once inflated
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", b"\0" * (4 << 20))
    monkeypatch.setattr(gi, "MAX_FROM_BYTES", 1 << 20)
    with pytest.raises(InputError, match="its arrays hold 4194304 bytes"):
        gi.read_inputs(bomb, "encode", "bfloat16")
    monkeypatch.setattr(gi, "MAX_FROM_RECORDS", {"encode": 2, "scale": 2, "quantize": 2})
    with pytest.raises(InputError, match="more than 2 records"):
        gi.read_inputs(_bad(tmp_path, "many.tv", "7f 3f80\n" * 3), "encode", "bfloat16")


def test_policies_and_formats_that_cannot_hold_the_file_are_refused(tmp_path: Path) -> None:
    src = _bad(tmp_path, "n.tv", "7f 7fc0\n")
    with pytest.raises(InputError, match="holds NaN inputs"):
        generate_from(tmp_path / "a", src, "encode", "mxfp4_e2m1", Policy(nan_to_nonan="error"), "bfloat16")
    with pytest.raises(PolicyError, match="deterministic rounding"):
        generate_from(tmp_path / "b", src, "encode", "mxfp4_e2m1", Policy(rounding="stochastic"), "bfloat16")
    with pytest.raises(InputError, match="one MX format"):
        generate_from(tmp_path / "c", src, "encode", "all", Policy(), "bfloat16")
    assert main(["golden", "gen", "--from", str(src), "--suite", "encode", "--format", "mxfp4_e2m1",
                 "--level", "L1", "--out", str(tmp_path / "d")]) == 2
    assert not (tmp_path / "a").exists()


@given(st.binary(max_size=400), st.sampled_from([".tv", ".hex", ".npz"]), st.sampled_from(gi.FROM_SUITES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_bytes_are_inputs_or_a_typed_error(tmp_path: Path, blob: bytes, suffix: str, suite: str) -> None:
    path = tmp_path / f"f{suffix}"
    path.write_bytes(blob)
    try:
        got = gi.read_inputs(path, suite, "float16")
    except MXError:
        return
    assert got.x.dtype == np.uint16 and len(got.x) >= 1
    assert got.x.shape[1:] == (() if suite == "encode" else (32,))


def test_manifest_of_a_from_set_validates_and_names_its_source(tmp_path: Path) -> None:
    src = _bad(tmp_path, "q.tv", " ".join(["3f80"] * 32) + "\n")
    out = tmp_path / "s"
    generate_from(out, src, "scale", "mxint8", Policy(), "bfloat16")
    doc = json.loads((out / "MANIFEST.json").read_text())
    assert doc["suites"] == ["scale"] and doc["formats"] == ["mxint8"]
    assert [t["count"] for t in doc["tables"]] == [1]
    # the source entry is checked by the schema: a forged one is refused
    doc["source"]["sha256"] = "xyz"
    (out / "MANIFEST.json").write_text(json.dumps(doc))
    assert any("does not match" in p for p in verify(out))
