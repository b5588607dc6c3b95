"""MXArray files by parts, .npz or .safetensors (no pickle), and atomic, durable writes."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from mxemu._version import __version__
from mxemu.blocking import block_geometry
from mxemu.errors import FileFormatError, InputError, MXError
from mxemu.packing import LAYOUTS, pack_codes, packed_size, unpack_codes
from mxemu.validate import is_tensor_scale

if TYPE_CHECKING:
    from mxemu.policy import Policy
    from mxemu.spec import MXFormat

SCHEMA_VERSION = 1
SUFFIXES = (".npz", ".safetensors")
TENSORS = ("codes", "scales")
METADATA_KEYS = (
    "schema_version", "mxemu_version", "format", "format_definition", "policy", "axis", "shape",
    "block_size", "layout", "codes_sha256", "scales_sha256", "metadata_sha256",
)
# Present only for formats with a per-tensor scale (NVFP4): JSON null (one level) or the float32 value.
OPTIONAL_KEYS = ("tensor_scale",)
BYTE_LAYOUTS = ("byte", "byte_msb")  # one code per byte: the codes tensor keeps the array's shape


def atomic_write(path: str | os.PathLike, writer: Callable[[BinaryIO], object]) -> Path:
    """Write a file all at once or not at all: `writer(f)` fills a temp file in the same directory,
    which is flushed, fsync'ed, renamed over `path` (os.replace) and the directory fsync'ed.

    If `writer` or any step fails the temp file is removed and `path` is left as it was (the old
    file or none). A new file gets mode 0o666 & ~umask; a replaced file keeps its mode.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> atomic_write(p, lambda f: f.write(b"abc")).read_bytes()
    b'abc'
    """
    path = Path(path)
    directory = path.parent
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
    return path


def _umask() -> int:
    """The process umask, read without changing it (Linux /proc), else the usual 0o022."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable: fsync the directory that holds it (POSIX; a no-op where unsupported)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        with contextlib.suppress(OSError):  # some filesystems do not fsync directories
            os.fsync(fd)
    finally:
        os.close(fd)


def format_definition(f: MXFormat) -> dict[str, Any]:
    """The bit-level definition of an MX format (clause text left out), as written to file metadata.

    >>> import mxemu as mx
    >>> d = format_definition(mx.get_format("mxfp4_e2m1"))
    >>> d["block_size"], d["element"]["exponent_bits"], d["scale"]["bias"]
    (32, 2, 127)
    """
    def fields(obj: Any) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(obj).items() if k != "clause"}
        out["type"] = type(obj).__name__
        return out

    return {"name": f.name, "block_size": f.block_size, "tensor_scale": f.tensor_scale,
            "element": fields(f.element), "scale": fields(f.scale)}


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported file type {path.suffix!r}; accepted: {', '.join(SUFFIXES)}")
    return suffix


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _safetensors() -> Any:
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise InputError(".safetensors files need the `safetensors` package (pip install safetensors)") from None
    return safetensors


NPZ_DATE = (1980, 1, 1, 0, 0, 0)  # every member's zip timestamp: the same arrays give the same bytes
SAFETENSORS_DTYPES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16", "int32": "I32",
                      "uint32": "U32", "int64": "I64", "uint64": "U64", "float16": "F16", "bfloat16": "BF16",
                      "float32": "F32", "float64": "F64"}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive of `arrays` (stored, fixed timestamps, no pickle): equal arrays give equal bytes.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.npz"
    >>> _ = p.write_bytes(npz_bytes({"a": np.arange(3, dtype=np.uint8)}))
    >>> read_npz(p)["a"].tolist()
    [0, 1, 2]
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, a in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(a), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=NPZ_DATE)
            info.external_attr = 0o644 << 16
            z.writestr(info, member.getvalue())
    return buf.getvalue()


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """A .safetensors file of `tensors` (little-endian, C order) and string `metadata`, keys sorted, so
    that equal inputs give equal bytes (the `safetensors` package writes its metadata in hash order).

    >>> import safetensors.numpy
    >>> safetensors.numpy.load(safetensors_bytes({"a": np.arange(3, dtype=np.uint8)}, {"k": "v"}))["a"].tolist()
    [0, 1, 2]
    """
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))}
    chunks, at = [], 0
    for name in sorted(tensors):
        a = tensors[name]
        if a.dtype.name not in SAFETENSORS_DTYPES:
            raise InputError(f"tensor {name!r} has dtype {a.dtype}; accepted: {', '.join(SAFETENSORS_DTYPES)}")
        data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[a.dtype.name], "shape": list(a.shape),
                        "data_offsets": [at, at + len(data)]}
        chunks.append(data)
        at += len(data)
    text = _canonical(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the format recommends
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


@dataclasses.dataclass(frozen=True)
class ArrayParts:
    """What a file holds of an MXArray: codes, scales, format, policy, blocked axes and tensor scale.

    `mxemu.array.save` and `mxemu.array.load` turn an MXArray into these parts and back (and check it).
    """

    codes: np.ndarray
    scales: np.ndarray
    format: MXFormat
    policy: Policy
    axis: tuple[int, ...]
    tensor_scale: float | None


def write_parts(q: ArrayParts, path: str | os.PathLike, layout: str = "byte") -> Path:
    """Write an array's parts to `path` (.npz or .safetensors by extension), atomically; returns the path.

    The file holds two uint8 tensors, `codes` (the element codes in C order of the codes' shape, packed
    in `layout`; the byte layouts keep the array's shape, the others are 1-D) and `scales`, and string
    metadata: format name and definition, policy, axis, shape, block size, layout, library and schema
    versions, SHA-256 of each tensor and of the metadata (docs/layouts.md, "File schema"). Nothing is
    pickled. Write an MXArray with `mxemu.save`, which checks it first.
    """
    path = Path(path)
    suffix = _suffix(path)
    bits = q.format.element.bits
    codes = pack_codes(q.codes, bits, layout)
    if layout in BYTE_LAYOUTS:
        codes = codes.reshape(q.codes.shape)
    scales = np.ascontiguousarray(q.scales)
    meta = {
        "schema_version": str(SCHEMA_VERSION),
        "mxemu_version": __version__,
        "format": q.format.name,
        "format_definition": _canonical(format_definition(q.format)),
        "policy": _canonical(q.policy.as_dict()),
        "axis": _canonical([int(a) for a in q.axis]),
        "shape": _canonical([int(n) for n in q.codes.shape]),
        "block_size": str(q.format.block_size),
        "layout": layout,
        "codes_sha256": _sha256(codes),
        "scales_sha256": _sha256(scales),
    }
    if q.format.tensor_scale:
        meta["tensor_scale"] = _canonical(q.tensor_scale)
    meta["metadata_sha256"] = hashlib.sha256(_canonical(meta).encode()).hexdigest()
    if suffix == ".npz":
        data = npz_bytes({"codes": codes, "scales": scales,
                          "metadata": np.frombuffer(_canonical(meta).encode("utf-8"), np.uint8)})
    else:
        data = safetensors_bytes({"codes": codes, "scales": scales}, meta)
    return atomic_write(path, lambda f: f.write(data))


def read_npz(path: str | os.PathLike, names: set[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz archive, read without pickle and without trusting the sizes it claims.

    Before any member is read, its declared sizes are checked against the archive: stored or deflated
    members only, compressed sizes that fit in the file, a stored member's size equal to its compressed
    size and a deflated one's at most `DEFLATE_MAX_RATIO` times it. Each member's .npy header (format 1.0
    or 2.0) is parsed next; an object dtype, or a shape whose bytes differ from what the member holds, is
    refused before any array is allocated, so a header claiming 2^40 elements costs nothing. The data is
    then read in pieces of `NPZ_PIECE` bytes into the array itself (no second copy). `names` (without
    ".npy"), if given, must be exactly the archive's members. Anything wrong raises `FileFormatError`
    naming the file.

    >>> import io, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.npz"
    >>> np.savez(p, a=np.arange(3, dtype=np.uint8))
    >>> read_npz(p)["a"].tolist()
    [0, 1, 2]
    """
    path = Path(path)
    return _guarded(path, lambda: _read_archive(path, path, names))


def read_npz_bytes(where: str | os.PathLike, data: bytes, names: set[str] | None = None) -> dict[str, np.ndarray]:
    """`read_npz` of an archive already in memory (`where` names it in messages)."""
    return _guarded(Path(where), lambda: _read_archive(io.BytesIO(data), Path(where), names))


def _guarded(path: Path, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except (MXError, MemoryError):
        raise
    except Exception as exc:
        # Only bytes are parsed, so any failure means a damaged or foreign file: zipfile.BadZipFile, zlib.error,
        # EOFError, ValueError (npy header), OSError, NotImplementedError / RuntimeError (zip flags, encryption).
        raise FileFormatError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from None


NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
# Deflate codes a run of 258 repeated bytes in no fewer than 2 bits, so no stream expands more than
# 1032-fold (RFC 1951 §3.2.5); a member claiming more is a lie, refused before it is inflated.
DEFLATE_MAX_RATIO = 1032
NPZ_PIECE = 16 << 20  # bytes read from a member at a time
METADATA_LIMIT = 1 << 20  # bytes of the JSON metadata of a file written by `save`


def _members(z: zipfile.ZipFile, size: int, path: Path, names: set[str] | None) -> dict[str, zipfile.ZipInfo]:
    """The archive's .npy members by name, once their declared sizes are possible for a file of `size` bytes."""
    infos = z.infolist()
    members = [i.filename for i in infos]
    if len(set(members)) != len(members) or not all(m.endswith(".npy") for m in members):
        raise FileFormatError(f"{path}: archive members {members} are not distinct .npy files")
    found = {m[: -len(".npy")] for m in members}
    if names is not None and found != names:
        raise FileFormatError(f"{path}: the archive holds {sorted(found)}; expected {sorted(names)}")
    if sum(i.compress_size for i in infos) > size:
        raise FileFormatError(f"{path}: members claim {sum(i.compress_size for i in infos)} compressed bytes in a "
                              f"{size}-byte file")
    for i in infos:
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FileFormatError(f"{path}: {i.filename}: compression method {i.compress_type} refused "
                                  f"(accepted: stored, deflated)")
        bound = i.compress_size if i.compress_type == zipfile.ZIP_STORED else DEFLATE_MAX_RATIO * i.compress_size
        if i.file_size > bound:
            raise FileFormatError(f"{path}: {i.filename}: claims {i.file_size} bytes from {i.compress_size} "
                                  f"compressed; more than its method can expand to ({bound})")
    return {i.filename[: -len(".npy")]: i for i in infos}


def _header(f: BinaryIO, info: zipfile.ZipInfo, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) of a member's .npy header, read from the open member `f` and checked
    against the member's declared size: the data it describes must be exactly what the member holds."""
    version = np.lib.format.read_magic(f)
    if version not in NPY_HEADER_READERS:
        raise FileFormatError(f"{path}: {info.filename}: .npy format {version} is not read (accepted: 1.0, 2.0)")
    shape, fortran, dtype = NPY_HEADER_READERS[version](f)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise FileFormatError(f"{path}: {info.filename}: dtype {dtype} refused (objects are never "
                              f"unpickled; accepted: bool, integer and float arrays)")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != info.file_size - f.tell():
        raise FileFormatError(f"{path}: {info.filename}: header claims shape {shape} of {dtype} "
                              f"({nbytes} bytes) but the member holds {info.file_size - f.tell()}")
    return shape, fortran, dtype


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path,
                 want: tuple[int, ...] | None = None) -> np.ndarray:
    """One member's array: header checked against the member's declared size (and against the uint8 shape
    `want`, when the caller knows it) before allocating; data read in bounded pieces."""
    with z.open(info) as f:
        shape, fortran, dtype = _header(f, info, path)
        if want is not None and (dtype != np.uint8 or tuple(shape) != want):
            raise FileFormatError(f"{path}: tensor '{info.filename[:-len('.npy')]}' is {dtype} of shape {shape}; "
                                  f"the metadata describes uint8 of shape {want} (refused before reading)")
        nbytes = math.prod(shape) * dtype.itemsize
        buf = np.empty(nbytes, np.uint8)
        at = 0
        while at < nbytes:
            got = f.readinto(memoryview(buf)[at:at + NPZ_PIECE])
            if not got:
                raise FileFormatError(f"{path}: {info.filename}: truncated ({at} of {nbytes} bytes)")
            at += got
    a = buf.view(dtype).reshape(shape, order="F" if fortran else "C")
    return np.ascontiguousarray(a) if fortran else a


def _read_archive(source: Path | BinaryIO, path: Path, names: set[str] | None) -> dict[str, np.ndarray]:
    with _npz_file(source, path) as (f, size), zipfile.ZipFile(f) as z:
        return {name: _read_member(z, info, path) for name, info in _members(z, size, path, names).items()}


@contextlib.contextmanager
def _npz_file(source: Path | BinaryIO, path: Path) -> Any:
    """(binary file, its size) of an archive on disk or in memory; a single .npy is named as such."""
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(source.open("rb")) if isinstance(source, Path) else source
        if f.read(len(np.lib.format.MAGIC_PREFIX)) == np.lib.format.MAGIC_PREFIX:
            raise FileFormatError(f"{path}: not an .npz archive (a single .npy array)")
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
        yield f, size


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors and metadata of a file written by `write_parts`: the metadata first (at most `METADATA_LIMIT`
    bytes), then the tensors, each only if its declared size is the one the metadata describes."""
    with _npz_file(path, path) as (f, size), zipfile.ZipFile(f) as z:
        members = _members(z, size, path, {*TENSORS, "metadata"})
        for info in members.values():  # every header against its member's size, before any data is read
            with z.open(info) as f:
                _header(f, info, path)
        if members["metadata"].file_size > METADATA_LIMIT:
            raise FileFormatError(f"{path}: metadata of {members['metadata'].file_size} bytes; at most "
                                  f"{METADATA_LIMIT} accepted")
        blob = _read_member(z, members["metadata"], path)
        if blob.dtype != np.uint8 or blob.ndim != 1:
            raise FileFormatError(f"{path}: 'metadata' must be a 1-D uint8 array of UTF-8 JSON, "
                                  f"got {blob.dtype} of shape {blob.shape}")
        meta = json.loads(blob.tobytes().decode("utf-8"))
        try:
            want = _describe(meta).tensor_shapes
        except MXError as exc:
            raise FileFormatError(f"{path}: {exc}") from None
        return {k: _read_member(z, members[k], path, tuple(want[k])) for k in TENSORS}, meta


def _read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    st = _safetensors()
    with st.safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        names = set(f.keys())
        if names != set(TENSORS):
            raise FileFormatError(f"{path}: the file holds tensors {sorted(names)}; expected {sorted(TENSORS)}")
        arrays = {name: np.array(f.get_tensor(name), copy=True) for name in TENSORS}
    return arrays, meta if meta is not None else {}


def read_parts(path: str | os.PathLike) -> ArrayParts:
    """The parts of an array written by `write_parts`; every field is checked, and anything wrong raises
    `FileFormatError` naming the file and the problem (truncation, corruption, unknown format or
    policy value, inconsistent shapes, codes out of range). Objects are never unpickled. Read an
    MXArray with `mxemu.load`.
    """
    path = Path(path)
    suffix = _suffix(path)
    reader = _read_npz if suffix == ".npz" else _read_safetensors
    try:
        arrays, meta = reader(path)
    except (MXError, MemoryError):
        raise
    except Exception as exc:
        # The readers only parse bytes, so any failure means a damaged or foreign file: zipfile.BadZipFile,
        # zlib.error, EOFError, ValueError (npy header, object arrays refused without unpickling), OSError,
        # NotImplementedError / RuntimeError (zip flags), json and Unicode errors, safetensors.SafetensorError.
        raise FileFormatError(f"{path}: cannot read as {suffix} ({type(exc).__name__}: {exc})") from None
    try:
        return _build(arrays, meta)
    except MXError as exc:
        raise FileFormatError(f"{path}: {exc}") from None


def _json(meta: dict[str, str], key: str) -> Any:
    try:
        return json.loads(meta[key])
    except (ValueError, TypeError, RecursionError) as exc:  # ValueError: also an integer of > 4300 digits
        raise FileFormatError(f"metadata '{key}' is not valid JSON ({type(exc).__name__}: {exc})") from None


MAX_ELEMENTS = 1 << 62  # a shape describing more elements than this (numpy's intp range) is refused


def _int_list(value: Any, key: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise FileFormatError(f"metadata '{key}' must be a JSON list of integers, got {str(value)[:80]}")
    if any(abs(v) >= MAX_ELEMENTS for v in value):
        raise FileFormatError(f"metadata '{key}' has an integer beyond {MAX_ELEMENTS}")
    return value


@dataclasses.dataclass(frozen=True)
class _Description:
    """What a file's metadata says: the array's format, policy, geometry, layout and tensor shapes."""

    format: MXFormat
    policy: Any
    shape: tuple[int, ...]
    axis: tuple[int, ...]
    layout: str
    tensor_scale: float | None
    tensor_shapes: dict[str, tuple[int, ...]]


def _describe(meta: Any) -> _Description:
    """Check a file's metadata on its own (keys, checksum, format, policy, geometry) before any tensor is read."""
    from mxemu.policy import FIELDS, LATER_FIELDS, Policy
    from mxemu.spec import MXFormat, get_format

    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise FileFormatError("metadata must be a mapping of strings to strings")
    missing = [k for k in METADATA_KEYS if k not in meta]
    if missing:
        raise FileFormatError(f"metadata is missing {missing} (not a file written by mxemu.save?)")
    unknown = sorted(set(meta) - set(METADATA_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise FileFormatError(f"metadata has unknown key(s) {unknown}; expected {list(METADATA_KEYS)}")
    body = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    if hashlib.sha256(_canonical(body).encode()).hexdigest() != meta["metadata_sha256"]:
        raise FileFormatError("metadata checksum mismatch: the metadata is corrupt or was edited")
    if meta["schema_version"] != str(SCHEMA_VERSION):
        raise FileFormatError(f"schema version {meta['schema_version']!r} is not supported; "
                              f"this mxemu reads schema {SCHEMA_VERSION}")

    name = meta["format"]
    try:
        f = get_format(name)
    except MXError:
        raise FileFormatError(f"unknown format {name!r}; register its definition (mxemu.register_formats) "
                              f"before loading; the file defines it as {meta['format_definition']}") from None
    if not isinstance(f, MXFormat):
        raise FileFormatError(f"format {name!r} is not an MX block format an MXArray can hold")
    stored, registered = _json(meta, "format_definition"), format_definition(f)
    if stored != registered:
        raise FileFormatError(f"the file's definition of format {name!r} differs from the registered one: "
                              f"file {_canonical(stored)} vs registered {_canonical(registered)}")
    if ("tensor_scale" in meta) != f.tensor_scale:
        raise FileFormatError(f"metadata 'tensor_scale' is {'present' if 'tensor_scale' in meta else 'missing'}, "
                              f"but format {name!r} {'has' if f.tensor_scale else 'has no'} per-tensor scale")
    tensor_scale = _json(meta, "tensor_scale") if f.tensor_scale else None
    if tensor_scale is not None and ((isinstance(tensor_scale, int) and abs(tensor_scale) >= 1 << 128)
                                     or not is_tensor_scale(tensor_scale)):
        raise FileFormatError(f"metadata 'tensor_scale' = {str(tensor_scale)[:80]} is not null or a positive "
                              f"finite float32")

    pdata = _json(meta, "policy")
    required = {*FIELDS, "name"} - set(LATER_FIELDS)  # a file written before a later field omits it
    if not isinstance(pdata, dict) or not required <= set(pdata) <= {*FIELDS, "name"}:
        got = sorted(pdata) if isinstance(pdata, dict) else type(pdata).__name__
        raise FileFormatError(f"metadata 'policy' must have the fields {[*FIELDS, 'name']} (of which "
                              f"{list(LATER_FIELDS)} may be missing in older files), got {got}")
    try:
        policy = Policy.from_dict(pdata)
    except MXError as exc:
        raise FileFormatError(f"metadata 'policy': {exc}") from None

    shape = tuple(_int_list(_json(meta, "shape"), "shape"))
    if not shape or min(shape) < 0 or math.prod(shape) >= MAX_ELEMENTS:
        raise FileFormatError(f"metadata 'shape' must be a non-empty list of non-negative ints with fewer than "
                              f"{MAX_ELEMENTS} elements in all, got {list(shape)}")
    axis = tuple(_int_list(_json(meta, "axis"), "axis"))
    if not 1 <= len(axis) <= 2 or len(set(axis)) != len(axis) or not all(0 <= a < len(shape) for a in axis):
        raise FileFormatError(f"metadata 'axis' = {list(axis)} is not 1 or 2 distinct axes of shape {list(shape)}")
    if meta["block_size"] != str(f.block_size):
        raise FileFormatError(f"metadata 'block_size' = {meta['block_size']!r} but format {name!r} "
                              f"has block size {f.block_size}")
    layout, bits = meta["layout"], f.element.bits
    if layout not in LAYOUTS or bits not in LAYOUTS[layout]:
        raise FileFormatError(f"metadata 'layout' = {layout!r} is not a layout of {bits}-bit codes; accepted: "
                              f"{[n for n, w in LAYOUTS.items() if bits in w]}")
    _, scale_shape = block_geometry(shape, axis, f.block_size)
    count = math.prod(shape)
    want = {"codes": shape if layout in BYTE_LAYOUTS else (packed_size(count, bits, layout),),
            "scales": tuple(scale_shape)}
    return _Description(f, policy, shape, axis, layout, None if tensor_scale is None else float(tensor_scale), want)


def _build(arrays: dict[str, np.ndarray], meta: Any) -> ArrayParts:
    """Check the metadata and tensors of a file against each other; the array parts they describe."""
    d = _describe(meta)
    for key in TENSORS:
        a = arrays[key]
        if a.dtype != np.uint8 or a.shape != tuple(d.tensor_shapes[key]):
            raise FileFormatError(f"tensor '{key}' is {a.dtype} of shape {a.shape}; shape {list(d.shape)}, axis "
                                  f"{list(d.axis)}, layout {d.layout!r} need uint8 of shape "
                                  f"{tuple(d.tensor_shapes[key])}")
        if _sha256(a) != meta[f"{key}_sha256"]:
            raise FileFormatError(f"tensor '{key}' checksum mismatch: its data is corrupt")
    bits = d.format.element.bits
    try:
        codes = unpack_codes(arrays["codes"].reshape(-1), bits, math.prod(d.shape), d.layout).reshape(d.shape)
    except MXError as exc:
        raise FileFormatError(f"tensor 'codes': {exc}") from None
    return ArrayParts(codes, np.ascontiguousarray(arrays["scales"]), d.format, d.policy, d.axis, d.tensor_scale)
