"""The golden tools and the .npz reader treat files from outside as hostile: hostile SHARD.json, MANIFEST.json,
SHA256SUMS and DUT dumps, symbolic links, traversal names, injection attempts and zip bombs are refused with a
typed error; nothing is written or read outside the set, nothing deleted that the set did not write."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import mxemu as mx
from mxemu.array import save
from mxemu.errors import FileFormatError, InputError, MXError
from mxemu.golden import manifest as mf
from mxemu.golden import writers as gw
from mxemu.golden.check import check
from mxemu.golden.generate import SHARD, Shard, generate, merge
from mxemu.io import read_npz
from mxemu.policy import Policy

FORMATS = ("mxfp4_e2m1", "mxint8")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small set and its two shards, built once; tests work on copies."""
    root = tmp_path_factory.mktemp("pristine")
    generate(root / "set", ("decode", "encode"), FORMATS, Policy(), "L0", 0)
    for i in range(2):
        generate(root / f"s{i}", ("decode", "encode"), FORMATS, Policy(), "L0", 0, shard=Shard(i, 2))
    return root


@pytest.fixture
def work(pristine: Path, tmp_path: Path) -> Path:
    for name in ("set", "s0", "s1"):
        shutil.copytree(pristine / name, tmp_path / name)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "precious.tv").write_text("not part of any set\n")
    return tmp_path


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every path below `root` with its bytes (or link target): what a test compares before and after."""
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink() or not p.is_file():
            out[rel] = f"-> {os.readlink(p)}" if p.is_symlink() else oct(p.stat().st_mode)
        else:
            size = p.stat().st_size
            out[rel] = p.read_bytes() if size < 1 << 24 else f"{size} bytes"
    return out


def _edit_json(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


# ----------------------------------------------------------------------------------------------------------
# golden merge: SHARD.json
# ----------------------------------------------------------------------------------------------------------


def _merge_refused(work: Path, match: str, error: type[MXError] = FileFormatError) -> None:
    before = {k: v for k, v in _tree(work).items() if not k.startswith("out")}
    with pytest.raises(error, match=match):
        merge(work / "out", [work / "s0", work / "s1"])
    after = {k: v for k, v in _tree(work).items() if not k.startswith("out")}
    assert after == before  # nothing written, changed or deleted outside --out
    assert not (work / "out" / mf.MANIFEST).exists()


def test_the_unedited_shards_merge_into_the_set(work: Path) -> None:
    merge(work / "out", [work / "s0", work / "s1"])
    assert _tree(work / "out") == _tree(work / "set")


@pytest.mark.parametrize("name", ["../../outside/evil", "mxint8/../../x", "/tmp/evil", "mxint8\n$system(\"id\")",
                                  "mxfp4_e2m1 ", "no_such_format", "fp4_e2m1"])
def test_a_shard_naming_a_format_that_is_not_a_registered_mx_format_is_refused(work: Path, name: str) -> None:
    for s in ("s0", "s1"):
        _edit_json(work / s / SHARD, lambda d: d["params"]["formats"].__setitem__(1, name))
    _merge_refused(work, "format")


@pytest.mark.parametrize("name", ["decode/../../outside/precious", "/abs/x", "decode/mxint8\n// $system",
                                  "quantize/mxint8"])
def test_a_shard_table_name_outside_the_command_is_refused(work: Path, name: str) -> None:
    _edit_json(work / "s1" / SHARD, lambda d: d["tables"][0].__setitem__("name", name))
    _merge_refused(work, "does not list exactly the suite files")


@pytest.mark.parametrize("path", ["/etc/hostname", "../outside/precious.tv", "decode/mxint8.tv", ""])
def test_a_shard_file_path_other_than_the_canonical_one_is_never_read(work: Path, path: str) -> None:
    _edit_json(work / "s0" / SHARD, lambda d: d["tables"][0]["files"]["npz"].__setitem__("path", path))
    _merge_refused(work, "does not list its .npz at")


def test_an_injected_field_name_never_reaches_the_generated_sources(work: Path) -> None:
    evil = 'value;\n  initial $system("touch pwned");\n  logic x'
    for s in ("s0", "s1"):
        _edit_json(work / s / SHARD, lambda d: [f.__setitem__("name", evil) for t in d["tables"] for f in t["fields"]
                                                if f["name"] == "value"])
    merge(work / "out", [work / "s0", work / "s1"])  # the layout comes from the suite registry, not the shard
    for export in ("golden_pkg.sv", "golden_layout.h", mf.MANIFEST):
        assert "$system" not in (work / "out" / export).read_text()
    assert _tree(work / "out") == _tree(work / "set")


@pytest.mark.parametrize("entry_edit, match", [
    (lambda t: t.__setitem__("suite", "decode\n$system"), "not an identifier"),
    (lambda t: t.__setitem__("name", "decode/mxint8 */ #include </etc/passwd> /*"), "unfit for a layout export"),
    (lambda t: t["fields"][0].__setitem__("name", "tag\n  initial $finish;"), "not an identifier"),
    (lambda t: t["fields"][0].__setitem__("offset", "0; $system"), "unfit for a layout export"),
])
@pytest.mark.parametrize("export", [gw.c_header, gw.sv_package])
def test_layout_exports_refuse_names_that_are_not_identifiers(work: Path, entry_edit, match, export) -> None:
    entries = json.loads((work / "set" / mf.MANIFEST).read_text())["tables"]
    assert "localparam" in gw.sv_package(entries) and "#define" in gw.c_header(entries)
    entry_edit(entries[1])
    with pytest.raises(FileFormatError, match=match):
        export(entries)


def test_shard_files_behind_links_are_refused(work: Path) -> None:
    npz = work / "s0" / "decode" / "mxfp4_e2m1.npz"
    (work / "outside" / "copy.npz").write_bytes(npz.read_bytes())
    npz.unlink()
    npz.symlink_to(work / "outside" / "copy.npz")  # same bytes: only the link is wrong
    _merge_refused(work, "symbolic link")
    npz.unlink()
    npz.symlink_to("/dev/zero")
    _merge_refused(work, "symbolic link")


def test_a_linked_shard_folder_or_shard_json_is_refused(work: Path) -> None:
    shutil.move(work / "s0" / "decode", work / "outside" / "decode")
    (work / "s0" / "decode").symlink_to(work / "outside" / "decode")
    _merge_refused(work, "symbolic link")
    (work / "s0" / "decode").unlink()
    shutil.move(work / "outside" / "decode", work / "s0" / "decode")
    shutil.move(work / "s1" / SHARD, work / "outside" / SHARD)
    (work / "s1" / SHARD).symlink_to(work / "outside" / SHARD)
    _merge_refused(work, "cannot open")


def test_a_shard_json_that_is_a_device_or_huge_is_refused_before_reading(work: Path) -> None:
    (work / "s1" / SHARD).unlink()
    os.mkfifo(work / "s1" / SHARD)  # a reader that opened it would block forever
    _merge_refused(work, "not a regular file")
    (work / "s1" / SHARD).unlink()
    with (work / "s1" / SHARD).open("wb") as f:
        f.truncate(1 << 40)  # sparse: 1 TiB claimed, nothing stored
    _merge_refused(work, "holds 1099511627776 bytes")


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.__setitem__("shards", 10**30), r"shards 0\.\.9{30} are each needed once"),
    (lambda d: d.__setitem__("shard", -1), "is not i of N"),
    (lambda d: d.__setitem__("shards", True), "is not i of N"),
    (lambda d: d["params"].__setitem__("seed", 2**64), "maximum"),
    (lambda d: d["params"].__setitem__("level", "L9"), "is not one of"),
    (lambda d: d["params"].__setitem__("suites", ["decode", "rm -rf"]), "is not one of"),
    (lambda d: d["params"].__setitem__("extra", 1), "params must be an object with the keys"),
    (lambda d: d["params"].pop("policy"), "params must be an object with the keys"),
    (lambda d: d["params"]["policy"].__setitem__("rounding", "banana"), "rounding"),
    (lambda d: d["params"]["generator"].__setitem__("name", "x\n$system"), "must be 'mxemu'"),
    (lambda d: d["tables"].append({"name": ["not", "a", "string"]}), "does not list exactly"),
    (lambda d: d["tables"][0].__setitem__("part", "0"), "does not list exactly"),
    (lambda d: d.__setitem__("tables", "x"), "tables must be a list"),
    (lambda d: d.pop("params"), "not a shard description"),
])
def test_hostile_shard_descriptions_are_file_format_errors(work: Path, edit, match: str) -> None:
    for s in ("s0", "s1"):
        _edit_json(work / s / SHARD, edit)
    _merge_refused(work, match)


@pytest.mark.parametrize("text, match", [("{\"shard\": 1" + "0" * 5000 + "}", "Exceeds the limit"),
                                         ("[" * 100000 + "]" * 100000, "RecursionError"),
                                         ("\xff\xfe", "cannot read as JSON")])
def test_unparseable_shard_json_is_a_file_format_error(work: Path, text: str, match: str) -> None:
    (work / "s1" / SHARD).write_bytes(text.encode("latin-1"))
    _merge_refused(work, match)


def test_an_altered_shard_column_is_refused_even_with_a_matching_checksum(work: Path) -> None:
    """A shard whose .npz carries a value wider than its field, with the SHA-256 in SHARD.json updated."""
    npz = work / "s0" / "decode" / "mxfp4_e2m1.npz"
    arrays = read_npz(npz)
    arrays["chk"] = arrays["chk"].copy()
    arrays["chk"][0] = 0xFF  # a 4-bit field
    blob = mx.io.npz_bytes(arrays)
    npz.write_bytes(blob)
    _edit_json(work / "s0" / SHARD, lambda d: d["tables"][0]["files"].__setitem__("npz", mf.file_entry(
        "decode/mxfp4_e2m1.npz", blob)))
    _merge_refused(work, "field 'chk' is not")


def test_merge_never_writes_through_a_linked_folder_of_out(work: Path) -> None:
    (work / "out").mkdir()
    (work / "out" / "decode").symlink_to(work / "outside", target_is_directory=True)
    _merge_refused(work, "symbolic links", InputError)


# ----------------------------------------------------------------------------------------------------------
# golden gen: deleting an older set's files
# ----------------------------------------------------------------------------------------------------------


def test_gen_refuses_a_linked_suite_folder_and_deletes_nothing_through_it(work: Path) -> None:
    (work / "outside" / "mxint8.tv").write_text("someone else's file\n")
    shutil.rmtree(work / "set" / "decode")
    (work / "set" / "decode").symlink_to(work / "outside", target_is_directory=True)
    before = _tree(work / "outside")
    with pytest.raises(InputError, match="symbolic links"):
        generate(work / "set", ("decode",), ("mxfp4_e2m1",), Policy(), "L0", 0)
    assert _tree(work / "outside") == before


def test_gen_deletes_only_regular_files_an_older_set_wrote(work: Path) -> None:
    decode = work / "set" / "decode"
    (decode / "notes.txt").write_text("mine\n")  # not a name a set writes
    (decode / "mxint8.tv.orig").write_text("mine too\n")
    (work / "outside" / "target.hex").write_text("linked\n")
    (decode / "mxint8.hex").unlink()
    (decode / "mxint8.hex").symlink_to(work / "outside" / "target.hex")  # a link named like a set file
    generate(work / "set", ("decode",), ("mxfp4_e2m1",), Policy(), "L0", 0)
    left = sorted(p.name for p in decode.iterdir())
    assert left == ["mxfp4_e2m1.hex", "mxfp4_e2m1.npz", "mxfp4_e2m1.tv", "mxint8.hex", "mxint8.tv.orig",
                    "notes.txt"]  # the older set's mxint8 .tv and .npz removed; the link and foreign files kept
    assert (decode / "mxint8.hex").is_symlink() and (work / "outside" / "target.hex").read_text() == "linked\n"
    assert not (work / "set" / "encode" / "mxint8.tv").exists()  # stale suite folders are cleared too


# ----------------------------------------------------------------------------------------------------------
# golden check: MANIFEST.json, the suite files it names, and DUT dumps
# ----------------------------------------------------------------------------------------------------------


def _dut(work: Path, name: str = "decode/mxint8") -> Path:
    dut = work / "dut.tv"
    dut.write_text((work / "set" / f"{name}.tv").read_text())
    return dut


def test_the_unedited_set_checks(work: Path) -> None:
    assert check(work / "set", "decode/mxint8", _dut(work)).ok


@pytest.mark.parametrize("path", ["/dev/zero", "/etc/hostname", "../outside/precious.tv", "decode/../../x.tv",
                                  "decode//mxint8.tv", "./decode/mxint8.tv"])
def test_a_manifest_path_outside_the_set_is_never_read(work: Path, path: str) -> None:
    _edit_json(work / "set" / mf.MANIFEST, lambda d: d["tables"][1]["files"]["tv"].__setitem__("path", path))
    with pytest.raises(FileFormatError, match="is not a path inside the set"):
        check(work / "set", "decode/mxint8", _dut(work))


@pytest.mark.parametrize("target", ["/dev/zero", "outside"])
def test_a_suite_file_behind_a_link_is_never_read(work: Path, target: str) -> None:
    tv, dut = work / "set" / "decode" / "mxint8.tv", _dut(work)
    if target == "outside":
        shutil.copy(tv, work / "outside" / "mxint8.tv")
        target = str(work / "outside" / "mxint8.tv")
    tv.unlink()
    tv.symlink_to(target)
    with pytest.raises(FileFormatError, match="symbolic link"):
        check(work / "set", "decode/mxint8", dut)


def test_a_linked_or_special_manifest_is_refused(work: Path) -> None:
    manifest = work / "set" / mf.MANIFEST
    manifest.unlink()
    manifest.symlink_to("/dev/zero")
    with pytest.raises(FileFormatError, match="cannot open the manifest"):
        check(work / "set", "decode/mxint8", _dut(work))
    manifest.unlink()
    with manifest.open("wb") as f:
        f.truncate(1 << 40)
    with pytest.raises(FileFormatError, match="at most 67108864 are accepted"):
        check(work / "set", "decode/mxint8", _dut(work))


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.__setitem__("count", 10**30), "not cases 0.."),
    (lambda t: t.__setitem__("count", t["count"] + 1), "not cases 0.."),
    (lambda t: t["files"]["tv"].__setitem__("bytes", 10), "at most 10 are accepted"),
    (lambda t: t["fields"][2].__setitem__("lane_bits", 10**6), "lane"),
    (lambda t: t["fields"][2].__setitem__("name", "value\n$system"), "not an identifier"),
    (lambda t: t["fields"][0].__setitem__("name", "chk"), "not distinct suite fields"),
    (lambda t: t.__setitem__("record_bits", 7), "record_bits"),
    (lambda t: t.__setitem__("format", "mxfp5_e9"), "not registered"),
])
def test_hostile_manifest_tables_are_file_format_errors(work: Path, edit, match: str) -> None:
    _edit_json(work / "set" / mf.MANIFEST, lambda d: edit(d["tables"][1]))
    with pytest.raises(FileFormatError, match=match):
        check(work / "set", "decode/mxint8", _dut(work))


def test_a_manifest_integer_of_5000_digits_is_a_file_format_error(work: Path) -> None:
    manifest = work / "set" / mf.MANIFEST
    manifest.write_text(manifest.read_text().replace('"seed": 0', '"seed": 1' + "0" * 5000))
    with pytest.raises(FileFormatError, match="Exceeds the limit"):
        check(work / "set", "decode/mxint8", _dut(work))


def test_a_suite_file_with_an_unknown_tag_is_refused_even_with_a_matching_checksum(work: Path) -> None:
    tv = work / "set" / "decode" / "mxint8.tv"
    lines = tv.read_text().splitlines()
    t = lines[1].split()
    t[1] = "ffff"
    lines[1] = " ".join(t)
    data = ("\n".join(lines) + "\n").encode()
    tv.write_bytes(data)
    _edit_json(work / "set" / mf.MANIFEST, lambda d: d["tables"][1]["files"].__setitem__(
        "tv", mf.file_entry("decode/mxint8.tv", data)))
    with pytest.raises(FileFormatError, match="a tag or check class the manifest does not define"):
        check(work / "set", "decode/mxint8", _dut(work))


def test_hostile_dut_dumps(work: Path) -> None:
    dut = _dut(work)
    lines = dut.read_text().splitlines()
    dut.write_text("\n".join([*lines, lines[3]]) + "\n")
    with pytest.raises(FileFormatError, match="appears more than once"):
        check(work / "set", "decode/mxint8", dut)
    far = lines[3].split()
    far[0] = "f" * 16  # the largest index a .tv field holds: named as no case, never indexed
    dut.write_text("\n".join([*lines, " ".join(far)]) + "\n")
    res = check(work / "set", "decode/mxint8", dut)
    assert res.extra == 1 and res.failures == 1 and "name no case of the suite" in res.lines[-1]
    with pytest.raises(FileFormatError, match="not a regular file"):
        check(work / "set", "decode/mxint8", "/dev/zero")
    dut.unlink()
    with dut.open("wb") as f:
        f.truncate(1 << 40)
    with pytest.raises(FileFormatError, match="at most"):
        check(work / "set", "decode/mxint8", dut)
    dut.write_bytes(b"\xff\xfe00\n")
    with pytest.raises(FileFormatError, match="not ASCII"):
        check(work / "set", "decode/mxint8", dut)


def test_sha256sums_entries_outside_the_set_are_reported_not_read(work: Path) -> None:
    sums = work / "set" / mf.SUMS
    digest = mf.sha256_bytes((work / "outside" / "precious.tv").read_bytes())
    sums.write_text(sums.read_text() + f"{digest}  ../outside/precious.tv\n{digest}  /etc/hostname\n")
    (work / "set" / "decode" / "mxint8.npz").unlink()
    (work / "set" / "decode" / "mxint8.npz").symlink_to("/dev/zero")
    problems = mf.check_sums(work / "set")
    assert any(p.startswith("../outside/precious.tv: listed in SHA256SUMS but not readable") for p in problems)
    assert any(p.startswith("/etc/hostname: listed in SHA256SUMS but not readable") for p in problems)
    assert any(p.startswith("decode/mxint8.npz: listed") and "symbolic link" in p for p in problems)


# ----------------------------------------------------------------------------------------------------------
# mx.load / read_npz: declared sizes checked before reading
# ----------------------------------------------------------------------------------------------------------


def _saved(tmp_path: Path) -> Path:
    return save(mx.quantize(np.linspace(-1, 1, 64, dtype=np.float32), "mxint8"), tmp_path / "w.npz")


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _claim_size(blob: bytes, size: int) -> bytes:
    """The archive with every member's declared uncompressed size (local header and central directory) set
    to `size`: what a zip bomb or a forged archive declares."""
    out = bytearray(blob)
    for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = out.find(sig)
        while start >= 0:
            struct.pack_into("<I", out, start + at, size)
            start = out.find(sig, start + 4)
    return bytes(out)


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_bomb_member_consistent_with_its_npy_header_is_refused_by_load_before_inflating(tmp_path: Path) -> None:
    """256 MiB of zeros behind a matching .npy header, deflated to a few hundred kB, in place of the codes of
    a valid file: its metadata describes 64 codes, so load refuses the member before reading it."""
    members = _members(_saved(tmp_path))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (1 << 28,)})
    members["codes.npy"] = header.getvalue() + bytes(1 << 28)
    bomb = tmp_path / "bomb.npz"
    bomb.write_bytes(_zip(members, zipfile.ZIP_DEFLATED))
    del members
    assert bomb.stat().st_size < 1 << 20

    def load() -> None:
        with pytest.raises(FileFormatError, match=r"tensor 'codes' is uint8 of shape \(268435456,\); the metadata "
                                                  r"describes uint8 of shape \(64,\) \(refused before reading\)"):
            mx.load(bomb)

    assert _peak(load) < 1 << 20


@pytest.mark.parametrize("compression, claim, match", [
    (zipfile.ZIP_STORED, 1 << 31, "more than its method can expand to"),
    (zipfile.ZIP_DEFLATED, (1 << 32) - 1, "more than its method can expand to"),
])
def test_declared_sizes_beyond_what_the_archive_can_hold_are_refused_before_reading(
        tmp_path: Path, compression: int, claim: int, match: str) -> None:
    path = tmp_path / "forged.npz"
    path.write_bytes(_claim_size(_zip(_members(_saved(tmp_path)), compression), claim))

    def read() -> None:
        for reader in (mx.load, read_npz):
            with pytest.raises(FileFormatError, match=match):
                reader(path)

    assert _peak(read) < 1 << 20


def test_other_compression_methods_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "lzma.npz"
    path.write_bytes(_zip(_members(_saved(tmp_path)), zipfile.ZIP_LZMA))
    with pytest.raises(FileFormatError, match="compression method 14 refused"):
        mx.load(path)


def test_a_deflated_archive_within_bounds_still_loads(tmp_path: Path) -> None:
    saved = _saved(tmp_path)
    path = tmp_path / "deflated.npz"
    path.write_bytes(_zip(_members(saved), zipfile.ZIP_DEFLATED))
    q, r = mx.load(saved), mx.load(path)
    assert np.array_equal(q.codes, r.codes) and np.array_equal(q.scales, r.scales)


def _resealed(tmp_path: Path, **changes: str) -> Path:
    members = _members(_saved(tmp_path))
    meta = json.loads(np.load(io.BytesIO(members["metadata.npy"])).tobytes())
    meta.update(changes)
    body = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    meta["metadata_sha256"] = mx.io.hashlib.sha256(mx.io._canonical(body).encode()).hexdigest()
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    members["metadata.npy"] = buf.getvalue()
    path = tmp_path / "edited.npz"
    path.write_bytes(_zip(members))
    return path


@pytest.mark.parametrize("shape, match", [
    ("[1" + "0" * 5000 + "]", "metadata 'shape' is not valid JSON .ValueError: Exceeds the limit"),
    ("[1" + "0" * 4000 + "]", "metadata 'shape' has an integer beyond"),
    ("[4611686018427387904]", "metadata 'shape' has an integer beyond"),
    ("[2147483648, 2147483648]", "fewer than 4611686018427387904 elements"),
    ("[" * 100000 + "]" * 100000, "RecursionError"),
])
def test_metadata_with_huge_integers_is_a_file_format_error(tmp_path: Path, shape: str, match: str) -> None:
    with pytest.raises(FileFormatError, match=match):
        mx.load(_resealed(tmp_path, shape=shape))
