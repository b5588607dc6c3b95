"""save/load: exact round trips for every MX format and file type; every damaged file is refused by name."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.numpy

import mxemu as mx
from mxemu.array import MXArray, load, save
from mxemu.errors import FileFormatError, InputError
from mxemu.io import METADATA_KEYS, SCHEMA_VERSION, atomic_write, format_definition
from mxemu.packing import LAYOUTS

MX_FORMATS = mx.formats(kind="mx")
SUFFIXES = [".npz", ".safetensors"]


def _quantized(fmt: str = "mxfp4_e2m1", shape: tuple[int, ...] = (3, 50), axis: int | tuple[int, int] = -1,
               policy: str | mx.Policy | None = None, seed: int = 0) -> MXArray:
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 8
    x.reshape(-1)[::7] = 0.0
    return mx.quantize(x, fmt, axis=axis, policy=policy)


def assert_same(r: MXArray, q: MXArray) -> None:
    assert r.format == q.format and r.format.name == q.format.name
    assert r.policy == q.policy and r.policy.name == q.policy.name
    assert r.axis == q.axis and r.shape == q.shape
    assert r.codes.dtype == np.uint8 and r.scales.dtype == np.uint8
    np.testing.assert_array_equal(r.codes, q.codes)
    np.testing.assert_array_equal(r.scales, q.scales)
    np.testing.assert_array_equal(r.dequantize(), q.dequantize())


# Round trips.

@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("fmt", MX_FORMATS)
@pytest.mark.clause("ext.packing")
def test_load_of_save_is_the_same_array_for_every_format_and_layout(tmp_path: Path, fmt: str, suffix: str) -> None:
    bits = mx.get_format(fmt).element.bits
    q = _quantized(fmt, seed=bits)
    for layout in (name for name, widths in LAYOUTS.items() if bits in widths):
        assert_same(load(save(q, tmp_path / f"{layout}{suffix}", layout=layout)), q)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("shape, axis", [((50, 3), 0), ((2, 33, 5), 1), ((40, 70), (0, 1)), ((7,), -1)])
def test_round_trip_keeps_axis_shape_and_a_custom_policy(tmp_path: Path, suffix: str, shape: tuple[int, ...],
                                                         axis: int | tuple[int, int]) -> None:
    policy = mx.get_policy("ocp").replace(rounding="rtz", zero_block_scale=5)
    q = _quantized("mxfp6_e3m2", shape, axis, policy)
    r = load(save(q, tmp_path / f"w{suffix}", layout="fp6_4in3"))
    assert_same(r, q)
    assert r.policy.rounding == "rtz" and r.policy.name == "custom"


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("tensor_scale", [None, "amax", 0.375])
def test_nvfp4_round_trips_with_its_tensor_scale(tmp_path: Path, suffix: str, tensor_scale: object) -> None:
    x = np.random.default_rng(4).standard_normal((3, 40)).astype(np.float32)
    q = mx.quantize(x, "nvfp4", tensor_scale=tensor_scale)
    for layout in ("byte", "nibble_lo_first"):
        r = load(save(q, tmp_path / f"{layout}{suffix}", layout=layout))
        assert_same(r, q)
        assert r.tensor_scale == q.tensor_scale
        np.testing.assert_array_equal(r.dequantize().view(np.uint32), q.dequantize().view(np.uint32))


@pytest.mark.parametrize("value, what", [
    (None, "metadata 'tensor_scale' is missing, but format 'nvfp4' has per-tensor scale"),
    ("-1.0", "is not null or a positive finite float32"),
    ("0.1", "is not null or a positive finite float32"),  # not a float32 value
    ('"amax"', "is not null or a positive finite float32"),
    ("1e400", "is not null or a positive finite float32"),  # JSON reads it as Inf
    ("[1", "not valid JSON"),
])
def test_a_wrong_nvfp4_tensor_scale_is_refused(tmp_path: Path, value: str | None, what: str) -> None:
    q = mx.quantize(np.ones((2, 32), np.float32), "nvfp4", tensor_scale=0.5)
    path = save(q, tmp_path / "w.safetensors")
    arrays, meta = _read_raw(path)
    meta.pop("tensor_scale")
    if value is not None:
        meta["tensor_scale"] = value
    _write_raw(path, arrays, meta)
    _refused(path, what)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_a_preset_policy_name(tmp_path: Path, suffix: str) -> None:
    name = next(p for p in mx.policies() if p != "ocp")
    q = _quantized("mxint8", policy=name)
    assert load(save(q, tmp_path / f"w{suffix}")).policy.name == name


def test_the_files_hold_the_documented_tensors_and_metadata(tmp_path: Path) -> None:
    q = _quantized("mxfp4_e2m1", (3, 50))
    meta = _read_raw(save(q, tmp_path / "w.safetensors", layout="nibble_lo_first"))[1]
    assert tuple(sorted(meta)) == tuple(sorted(METADATA_KEYS))
    assert meta["schema_version"] == str(SCHEMA_VERSION) == "1"
    assert meta["mxemu_version"] == mx.__version__
    assert meta["format"] == "mxfp4_e2m1" and meta["layout"] == "nibble_lo_first" and meta["block_size"] == "32"
    assert json.loads(meta["shape"]) == [3, 50] and json.loads(meta["axis"]) == [1]
    assert json.loads(meta["policy"]) == q.policy.as_dict()
    assert json.loads(meta["format_definition"]) == format_definition(q.format)
    assert json.loads(meta["format_definition"])["element"] == {
        "name": "fp4_e2m1", "kind": "float", "bits": 4, "exponent_bits": 2, "mantissa_bits": 1, "bias": 1,
        "specials": "none", "type": "ElementFormat"}
    tensors = _read_raw(tmp_path / "w.safetensors")[0]
    # codes in C order of the shape, 150 fp4 codes -> 75 bytes; element 2i in the low nibble
    assert tensors["codes"].shape == (75,)
    assert tensors["codes"][0] == q.codes[0, 0] | q.codes[0, 1] << 4
    np.testing.assert_array_equal(tensors["scales"], q.scales)
    for suffix in SUFFIXES:  # the byte layout keeps the array's shape: readable without mxemu
        np.testing.assert_array_equal(_read_raw(save(q, tmp_path / f"b{suffix}"))[0]["codes"], q.codes)


def test_save_rejects_a_layout_the_format_cannot_use_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs bits == 6"):
        save(_quantized("mxfp4_e2m1"), tmp_path / "w.npz", layout="fp6_4in3")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["w.npy", "w.pt", "w", "w.safetensor"])
def test_unsupported_extensions_are_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match=r"unsupported file type.*\.npz, \.safetensors"):
        save(_quantized(), tmp_path / name)
    with pytest.raises(InputError, match="unsupported file type"):
        load(tmp_path / name)


# Raw access to files, to damage them on purpose.

def _read_raw(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return {k: v for k, v in arrays.items() if k != "metadata"}, json.loads(arrays["metadata"].tobytes())
    with safetensors.safe_open(str(path), framework="np") as f:
        names = f.keys()
        return {k: f.get_tensor(k) for k in names}, dict(f.metadata())


def _write_raw(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, str], reseal: bool = True) -> None:
    """Write a file as `save` would, with checksums recomputed (`reseal`) so the deeper checks are reached."""
    meta = dict(meta)
    if reseal and "metadata_sha256" in meta:
        for key in ("codes", "scales"):
            if key in tensors and f"{key}_sha256" in meta:
                meta[f"{key}_sha256"] = hashlib.sha256(np.ascontiguousarray(tensors[key]).tobytes()).hexdigest()
        body = {k: v for k, v in meta.items() if k != "metadata_sha256"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        meta["metadata_sha256"] = hashlib.sha256(canonical.encode()).hexdigest()
    if path.suffix == ".npz":
        blob = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        np.savez(path, metadata=blob, **tensors)
    else:
        safetensors.numpy.save_file(tensors, str(path), metadata=meta)


@pytest.fixture(params=SUFFIXES)
def saved(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, MXArray]:
    q = _quantized("mxfp4_e2m1", (3, 40))
    return save(q, tmp_path / f"w{request.param}"), q


def _edited(saved: tuple[Path, MXArray], reseal: bool = True, tensors: dict | None = None,
            drop: str | None = None, **meta_changes: str) -> Path:
    path, _ = saved
    arrays, meta = _read_raw(path)
    meta.update(meta_changes)
    if drop:
        meta.pop(drop, None)
        arrays.pop(drop, None)
    arrays.update(tensors or {})
    out = path.with_name("edited" + path.suffix)
    _write_raw(out, arrays, meta, reseal)
    return out


def _refused(path: Path, what: str) -> None:
    with pytest.raises(FileFormatError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert what in str(info.value), str(info.value)


def test_an_unedited_raw_rewrite_loads_so_the_edit_tests_test_the_edit(saved: tuple[Path, MXArray]) -> None:
    assert_same(load(_edited(saved)), saved[1])


# Damaged files.

def test_truncated_files_are_refused_at_every_cut(saved: tuple[Path, MXArray]) -> None:
    path, _ = saved
    raw = path.read_bytes()
    cut = path.with_name("cut" + path.suffix)
    for n in sorted({0, 1, 4, 7, 8, 9, 30, 100, len(raw) // 3, len(raw) // 2, len(raw) - 100, len(raw) - 1}):
        cut.write_bytes(raw[:n])
        _refused(cut, "cannot read as")


@pytest.mark.parametrize("xor", [0xFF, 0x01, 0x20])
def test_no_flipped_byte_loads_as_a_different_array(saved: tuple[Path, MXArray], xor: int) -> None:
    """Every single byte of the file, flipped: load refuses the file or (zip fields that carry no data,
    such as timestamps) returns exactly the saved array; .safetensors refuses every flip."""
    path, q = saved
    raw = path.read_bytes()
    flipped = path.with_name("flip" + path.suffix)
    loaded = 0
    for i in range(len(raw)):
        b = bytearray(raw)
        b[i] ^= xor
        flipped.write_bytes(bytes(b))
        try:
            r = load(flipped)
        except FileFormatError as exc:
            assert str(flipped) in str(exc)
            continue
        assert_same(r, q)
        loaded += 1
    if path.suffix == ".safetensors":
        assert loaded == 0


def test_a_flipped_byte_in_the_metadata_text_is_caught(saved: tuple[Path, MXArray]) -> None:
    path, _ = saved
    raw = bytearray(path.read_bytes())
    if path.suffix == ".npz":  # inside the stored metadata member: the zip CRC catches it
        i = raw.index(b"schema_version") + 3
    else:  # inside the JSON header, still valid JSON and UTF-8: the metadata checksum catches it
        i = raw.index(b'"mxemu_version":"') + len(b'"mxemu_version":"')
    raw[i] ^= 0x01
    path.write_bytes(bytes(raw))
    _refused(path, "CRC-32" if path.suffix == ".npz" else "metadata checksum mismatch")


def test_a_changed_data_byte_is_caught_by_its_checksum(saved: tuple[Path, MXArray]) -> None:
    arrays = _read_raw(saved[0])[0]
    codes = arrays["codes"].copy()
    codes.reshape(-1)[5] ^= 0x01
    _refused(_edited(saved, reseal=False, tensors={"codes": codes}), "tensor 'codes' checksum mismatch")
    scales = arrays["scales"].copy()
    scales.reshape(-1)[0] ^= 0x01
    _refused(_edited(saved, reseal=False, tensors={"scales": scales}), "tensor 'scales' checksum mismatch")


def test_edited_metadata_without_a_new_checksum_is_caught(saved: tuple[Path, MXArray]) -> None:
    _refused(_edited(saved, reseal=False, layout="bitstream_le"), "metadata checksum mismatch")


@pytest.mark.parametrize("changes, what", [
    ({"format": "mxfp5_e2m2"}, "unknown format 'mxfp5_e2m2'"),
    ({"format": "fp4_e2m1"}, "not an MX block format"),
    ({"format": "nvfp4"}, "differs from the registered one"),
    ({"tensor_scale": "null"}, "metadata 'tensor_scale' is present, but format 'mxfp4_e2m1' has no per-tensor"),
    ({"format": "mxfp6_e2m3"}, "differs from the registered one"),
    ({"policy": json.dumps({**mx.Policy().as_dict(), "rounding": "banana"})}, "Policy.rounding = 'banana'"),
    ({"policy": json.dumps({**mx.Policy().as_dict(), "zero_block_scale": 300})}, "Policy.zero_block_scale = 300"),
    ({"policy": json.dumps({"rounding": "rne"})}, "metadata 'policy' must have the fields"),
    ({"policy": "{rounding"}, "metadata 'policy' is not valid JSON"),
    ({"shape": "[3, 41]"}, "tensor 'codes' is uint8 of shape"),
    ({"shape": "[3, 80]"}, "tensor 'codes' is uint8 of shape"),
    ({"shape": "[120]", "axis": "[0]"}, "tensor 'codes' is uint8 of shape"),
    ({"shape": "[]"}, "metadata 'shape' must be a non-empty list"),
    ({"shape": "[3, -40]"}, "metadata 'shape' must be a non-empty list"),
    ({"shape": "[3, 40.0]"}, "metadata 'shape' must be a JSON list of integers"),
    ({"axis": "[0]"}, "tensor 'scales' is uint8 of shape (3, 2)"),
    ({"axis": "[2]"}, "metadata 'axis' = [2] is not 1 or 2 distinct axes"),
    ({"axis": "[1, 1]"}, "is not 1 or 2 distinct axes"),
    ({"block_size": "16"}, "metadata 'block_size' = '16' but format 'mxfp4_e2m1' has block size 32"),
    ({"layout": "fp6_4in3"}, "metadata 'layout' = 'fp6_4in3' is not a layout of 4-bit codes"),
    ({"layout": "zip"}, "metadata 'layout' = 'zip'"),
    ({"layout": "nibble_lo_first"}, "tensor 'codes' is uint8 of shape (3, 40)"),
    ({"schema_version": "2"}, "schema version '2' is not supported"),
    ({"extra": "1"}, "unknown key(s) ['extra']"),
])
def test_wrong_metadata_is_refused_with_a_message_naming_it(saved: tuple[Path, MXArray], changes: dict,
                                                            what: str) -> None:
    _refused(_edited(saved, **changes), what)


def test_a_custom_format_definition_that_differs_is_refused(saved: tuple[Path, MXArray]) -> None:
    d = format_definition(saved[1].format)
    d["element"]["bias"] = 2
    _refused(_edited(saved, format_definition=json.dumps(d)), "differs from the registered one")


@pytest.mark.parametrize("key", ["policy", "format_definition", "metadata_sha256", "codes_sha256"])
def test_a_missing_metadata_key_is_refused(saved: tuple[Path, MXArray], key: str) -> None:
    _refused(_edited(saved, drop=key), f"metadata is missing ['{key}']")


def test_missing_or_extra_tensors_are_refused(saved: tuple[Path, MXArray]) -> None:
    _refused(_edited(saved, drop="scales"), "scales")
    _refused(_edited(saved, tensors={"bias": np.zeros(3, np.uint8)}), "bias")


def test_codes_out_of_range_are_refused(saved: tuple[Path, MXArray]) -> None:
    codes = _read_raw(saved[0])[0]["codes"].copy()
    codes[1, 2] = 0x10  # fp4 codes are 0..15
    _refused(_edited(saved, tensors={"codes": codes}), "above the largest 4-bit code")


def test_nonzero_padding_bits_in_packed_codes_are_refused(tmp_path: Path) -> None:
    path = save(_quantized("mxfp4_e2m1", (3, 5)), tmp_path / "w.safetensors", layout="nibble_lo_first")
    arrays, meta = _read_raw(path)
    codes = arrays["codes"].copy()
    codes[-1] |= 0xF0  # 15 codes: the high nibble of byte 7 is padding
    _write_raw(path, {**arrays, "codes": codes}, meta)
    _refused(path, "padding bits")


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.float32])
def test_tensors_of_the_wrong_dtype_are_refused(saved: tuple[Path, MXArray], dtype: type) -> None:
    arrays = _read_raw(saved[0])[0]
    _refused(_edited(saved, tensors={"codes": arrays["codes"].astype(dtype)}), "tensor 'codes' is")
    _refused(_edited(saved, tensors={"scales": arrays["scales"].astype(dtype)}), "tensor 'scales' is")


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("content", [b"", b"hello, world\n", b"PK\x03\x04" + bytes(40), bytes(range(256)) * 4])
def test_a_file_that_is_not_npz_or_safetensors_is_refused(tmp_path: Path, suffix: str, content: bytes) -> None:
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(content)
    _refused(path, "cannot read as")


def test_a_npy_or_a_foreign_archive_under_the_npz_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    with path.open("wb") as f:
        np.save(f, np.zeros(4, np.uint8))
    _refused(path, "not an .npz archive")
    np.savez(path, x=np.zeros(3))
    _refused(path, "the archive holds ['x']")
    safetensors.numpy.save_file({"codes": np.zeros(3, np.uint8), "scales": np.zeros(1, np.uint8)},
                                str(tmp_path / "b.safetensors"))
    _refused(tmp_path / "b.safetensors", "metadata is missing")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path / "nothing.npz", "cannot read as .npz")


UNPICKLED: list[str] = []


def _record_unpickle(tag: str) -> str:
    UNPICKLED.append(tag)
    return tag


class Trap:
    """Unpickling a Trap calls _record_unpickle: proof that something was unpickled."""

    def __reduce__(self) -> tuple:
        return (_record_unpickle, ("unpickled",))


@pytest.mark.parametrize("member", ["codes", "scales", "metadata"])
def test_an_npz_with_an_object_array_is_refused_without_unpickling(saved: tuple[Path, MXArray],
                                                                   member: str) -> None:
    path, _ = saved
    if path.suffix != ".npz":
        path = save(saved[1], path.with_suffix(".npz"))
    arrays, meta = _read_raw(path)
    trap = np.empty(2, dtype=object)
    trap[0], trap[1] = Trap(), Trap()
    members = {**arrays, "metadata": np.frombuffer(json.dumps(meta).encode(), np.uint8), member: trap}
    np.savez(path, **members)  # np.save pickles object arrays
    assert pickle.loads(pickle.dumps(Trap())) == "unpickled"  # the trap works...
    UNPICKLED.clear()
    _refused(path, "never unpickled")
    assert UNPICKLED == []  # ...and load never sprang it


# Atomic writes.

def test_a_writer_that_fails_midway_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "w.bin"
    target.write_bytes(b"old contents")

    def writer(f) -> None:
        f.write(b"new contents, half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, writer)
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.bin"]


def test_a_failed_first_write_creates_no_file(tmp_path: Path) -> None:
    def writer(f) -> None:
        f.write(b"x" * 1000)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "w.bin", writer)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_leaves_the_old_saved_file_loadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    q = _quantized("mxint8")
    path = save(q, tmp_path / "w.safetensors")
    before = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        save(_quantized("mxint8", seed=9), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
    assert_same(load(path), q)


def test_atomic_write_fsyncs_the_file_and_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else str(fd))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    atomic_write(tmp_path / "w.bin", lambda f: f.write(b"abc"))
    assert (tmp_path / "w.bin").read_bytes() == b"abc"
    assert len(synced) == 2 and synced[1] == str(tmp_path)  # the temp file, then its directory


def test_a_new_file_gets_the_umask_mode_and_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = atomic_write(tmp_path / "new.bin", lambda f: f.write(b"1"))
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path.chmod(0o600)
    atomic_write(path, lambda f: f.write(b"2"))
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_bytes() == b"2"
