"""Every file reader, fed mutated files, returns a result or raises MXError: no other crash, hang or huge allocation.

Each reader starts from a valid file the library wrote, which hypothesis mutates (bytes flipped,
inserted, deleted, the file truncated or extended). The coverage-guided run over the same readers
is benchmarks/fuzz_readers.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import re
import resource
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu.errors import FileFormatError, MXError
from mxemu.golden import check as gc
from mxemu.golden import manifest as mf
from mxemu.golden.generate import generate
from mxemu.golden.writers import parse_tv, read_npz
from mxemu.spec import SPEC_DIR, Registry
from mxemu.torch import qat

FUZZ = settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """`base` after 1-4 random edits: flip a byte, insert or delete bytes, truncate, append."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "append", "set_int"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[at:]
        elif op == "append":
            data += draw(st.binary(min_size=1, max_size=64))
        elif op == "set_int" and len(data) >= 8:
            # a huge little-endian length or count where a size field may sit
            data[at:at + 8] = draw(st.sampled_from([2**40, 2**63 - 1, 2**32, 0xFFFFFFFF])).to_bytes(8, "little")
    return bytes(data)


def _file(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


@pytest.fixture(scope="module")
def base_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("base")
    x = np.linspace(-4, 4, 80, dtype=np.float32).reshape(2, 40)
    q = mx.quantize(x, "mxfp4_e2m1", axis=1)
    model = torch.nn.Sequential(torch.nn.Linear(32, 2))
    golden = d / "set"
    generate(golden, ("encode",), ("mxfp4_e2m1",), mx.Policy(), "L0", 1)
    return {
        "npz": mx.save(q, d / "q.npz", layout="nibble_lo_first").read_bytes(),
        "safetensors": mx.save(q, d / "q.safetensors").read_bytes(),
        "anchor": qat.save_anchor(model, d / "a.safetensors").read_bytes(),
        "manifest": (golden / mf.MANIFEST).read_bytes(),
        "sums": (golden / mf.SUMS).read_bytes(),
        "tv": (golden / "encode" / "mxfp4_e2m1.tv").read_bytes(),
        "hex": (golden / "encode" / "mxfp4_e2m1.hex").read_bytes(),
        "golden_npz": (golden / "encode" / "mxfp4_e2m1.npz").read_bytes(),
        "toml": b'[element.fz_e2m1]\nexponent_bits = 2\nmantissa_bits = 1\nbias = 1\nspecials = "none"\n\n'
                b'[mx.mxfz]\nelement = "fz_e2m1"\nscale = "e8m0"\nblock_size = 32\n',
        "golden_dir": str(golden).encode(),
    }


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("kind", ["npz", "safetensors"])
def test_mxarray_load_of_a_mutated_file_is_an_mxarray_or_a_file_format_error(base_files, tmp_path, kind, data):
    blob = data.draw(mutated(base_files[kind]))
    path = _file(tmp_path, f"q.{kind}", blob)
    try:
        q = mx.load(path)
    except FileFormatError:
        return
    # a mutation that survived every checksum must have left the file's meaning intact
    assert q.shape == (2, 40) and q.codes.dtype == np.uint8


@FUZZ
@given(data=st.data())
def test_anchor_load_of_a_mutated_checkpoint_loads_or_raises_file_format_error(base_files, tmp_path, data):
    path = _file(tmp_path, "a.safetensors", data.draw(mutated(base_files["anchor"])))
    model = torch.nn.Sequential(torch.nn.Linear(32, 2))
    with contextlib.suppress(FileFormatError):
        qat.load_anchor(model, path)


def _golden_copy(base_files: dict[str, bytes], tmp: Path, name: str, blob: bytes) -> Path:
    import shutil

    d = tmp / "set"
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(base_files["golden_dir"].decode(), d)
    (d / name).write_bytes(blob)
    return d


@FUZZ
@given(data=st.data())
def test_manifest_reader_of_a_mutated_manifest_is_a_dict_or_a_file_format_error(base_files, tmp_path, data):
    d = _golden_copy(base_files, tmp_path, mf.MANIFEST, data.draw(mutated(base_files["manifest"])))
    try:
        doc = mf.read_manifest(d)
    except FileFormatError:
        return
    assert mf.validate(doc) == []


@FUZZ
@given(data=st.data())
def test_sums_check_of_a_mutated_sums_file_lists_problems_without_raising(base_files, tmp_path, data):
    blob = data.draw(mutated(base_files["sums"]))
    d = _golden_copy(base_files, tmp_path, mf.SUMS, blob)
    problems = mf.check_sums(d)
    assert isinstance(problems, list)
    if blob != base_files["sums"]:
        assert problems


@FUZZ
@given(data=st.data())
def test_golden_tv_parser_of_mutated_text_gives_columns_or_a_file_format_error(base_files, data):
    doc = json.loads(base_files["manifest"])
    entry = doc["tables"][0]
    text = data.draw(mutated(base_files["tv"])).decode("ascii", "replace")
    try:
        cols = parse_tv(text, gc._fields(entry), "fuzz.tv")
    except FileFormatError:
        return
    assert set(cols) >= {"idx"}


@FUZZ
@given(data=st.data())
def test_golden_npz_reader_of_a_mutated_archive_gives_arrays_or_a_file_format_error(base_files, tmp_path, data):
    path = _file(tmp_path, "g.npz", data.draw(mutated(base_files["golden_npz"])))
    try:
        arrays = read_npz(str(path))
    except FileFormatError:
        return
    assert all(a.dtype != object for a in arrays.values())


@FUZZ
@given(data=st.data(), form=st.sampled_from(["tv", "hex"]))
def test_dut_dump_check_of_a_mutated_dump_gives_a_result_or_an_mxerror(base_files, tmp_path, data, form):
    dump = _file(tmp_path, f"dut.{form}", data.draw(mutated(base_files[form])))
    try:
        res = gc.check(base_files["golden_dir"].decode(), "encode/mxfp4_e2m1", dump)
    except MXError:
        return
    assert res.compared >= 0 and res.failures >= 0


@FUZZ
@given(data=st.data())
def test_golden_check_with_a_mutated_expected_tv_gives_a_result_or_an_mxerror(base_files, tmp_path, data):
    d = _golden_copy(base_files, tmp_path, "encode/mxfp4_e2m1.tv", data.draw(mutated(base_files["tv"])))
    dump = _file(tmp_path, "dut.tv", base_files["tv"])
    with contextlib.suppress(MXError):
        gc.check(d, "encode/mxfp4_e2m1", dump)


@FUZZ
@given(data=st.data())
def test_format_toml_loader_of_mutated_text_registers_or_raises_spec_error(base_files, tmp_path, data):
    path = _file(tmp_path, "custom.toml", data.draw(mutated(base_files["toml"])))
    registry = Registry()
    registry.load(SPEC_DIR / "formats.toml")
    with contextlib.suppress(MXError):
        registry.load(path)


# -------------------------------------------------------------------------------------------------------------
# Targeted hostile files: huge claimed sizes, pickles, zip bombs
# -------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["1" + "0" * 16, "-5", "0x1f", "1_0", "+7", "wide"])
def test_a_tv_field_that_is_not_plain_hex_or_wider_than_its_lanes_is_a_file_format_error(base_files, token):
    # found by benchmarks/fuzz_readers.py: a 17-digit field overflowed the uint64 column (OverflowError)
    entry = json.loads(base_files["manifest"])["tables"][0]
    lines = [ln for ln in base_files["tv"].decode().splitlines() if ln and not ln.startswith("#")]
    tokens = lines[0].split()
    fields = gc._fields(entry)
    tokens[1] = format(1 << fields[0].lane_bits, "x") if token == "wide" else token
    with pytest.raises(FileFormatError, match=r"hexadecimal|wider than"):
        parse_tv(" ".join(tokens), fields, "x.tv")


def _npy(header_shape: tuple[int, ...], dtype: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": header_shape})
    return buf.getvalue() + payload


def _npz(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(f"{name}.npy", data)
    return buf.getvalue()


def _peak_traced(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("shape", [(2**40,), (2**20, 2**20), (2**62,)])
def test_an_npz_header_claiming_a_huge_array_is_refused_before_allocating(tmp_path, shape):
    blob = _npz({"codes": _npy(shape, "|u1", b"\0" * 64), "scales": _npy((2,), "|u1", b"\0\0"),
                 "metadata": _npy((2,), "|u1", b"{}")})
    path = _file(tmp_path, "huge.npz", blob)

    def load() -> None:
        with pytest.raises(FileFormatError, match="header claims shape"):
            mx.load(path)

    assert _peak_traced(load) < 1 << 20
    with pytest.raises(FileFormatError, match="header claims shape"):
        read_npz(str(path))


def test_a_deflated_member_that_expands_beyond_its_header_is_refused(tmp_path):
    # a member whose zip entry claims 64 MiB of zeros behind a 16-byte array header
    blob = _npz({"codes": _npy((16,), "|u1", b"\0" * (64 << 20))}, zipfile.ZIP_DEFLATED)
    path = _file(tmp_path, "bomb.npz", blob)
    assert path.stat().st_size < 1 << 20

    def load() -> None:
        with pytest.raises(FileFormatError, match="header claims shape"):
            read_npz(str(path))

    assert _peak_traced(load) < 1 << 20


def test_a_safetensors_header_claiming_a_huge_tensor_is_refused(tmp_path):
    header = json.dumps({"codes": {"dtype": "U8", "shape": [2**40], "data_offsets": [0, 2**40]},
                         "scales": {"dtype": "U8", "shape": [2], "data_offsets": [2**40, 2**40 + 2]}}).encode()
    path = _file(tmp_path, "huge.safetensors", len(header).to_bytes(8, "little") + header + b"\0" * 64)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(FileFormatError):
        mx.load(path)
    with pytest.raises(FileFormatError):
        qat.load_anchor(torch.nn.Sequential(torch.nn.Linear(32, 2)), path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 256 << 10  # KiB: no 1 TiB read


class _Boom:
    def __reduce__(self) -> tuple:
        return (pytest.fail, ("a reader unpickled an object from a file",))


def test_pickled_object_members_are_refused_by_every_npz_reader(tmp_path):
    obj = np.empty(1, object)
    obj[0] = _Boom()
    buf = io.BytesIO()
    np.lib.format.write_array(buf, obj, allow_pickle=True)
    assert b"pytest" in pickle.dumps(_Boom())
    path = _file(tmp_path, "p.npz", _npz({"codes": buf.getvalue(), "scales": buf.getvalue(),
                                           "metadata": buf.getvalue()}))
    with pytest.raises(FileFormatError, match="never unpickled"):
        mx.load(path)
    with pytest.raises(FileFormatError, match="never unpickled"):
        read_npz(str(path))


def test_no_reader_calls_pickle_or_torch_load():
    root = Path(mx.__file__).parent
    for src in root.rglob("*.py"):
        text = src.read_text()
        # (the numba cache guard names pickle.UnpicklingError, numba's own error; nothing here unpickles)
        for banned in ("from pickle import", "pickle.load", "torch.load(", "allow_pickle=True", "np.load(", "exec("):
            assert banned not in text, f"{src.name} calls {banned}"
        # ast.literal_eval reads Python literals only (no names, no calls): allowed; any other eval is not
        assert not re.search(r"(?<!literal_)eval\(", text), f"{src.name} calls eval("
