"""Inputs a user gives `mxemu golden gen --from` (.npz, .hex, .tv), read as an untrusted file: bounded, validated,
typed errors naming what is accepted."""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mxemu.errors import FileFormatError, InputError
from mxemu.golden.suites import BLOCK, INPUT_DTYPES, Field, InputDtype
from mxemu.golden.writers import HEX, hex_digits

FROM_SUITES = ("encode", "scale", "quantize")
MAX_FROM_BYTES = 64 << 20  # the file (for an .npz, also its members once decompressed)
MAX_FROM_RECORDS = {"encode": 1 << 20, "scale": 1 << 16, "quantize": 1 << 16}  # the oracle checks each one
NAN_SCALE = 0xFF  # E8M0 NaN: no scale to encode at


@dataclass(frozen=True)
class Inputs:
    """The input columns of one suite: X as bit patterns of `dtype`, (n,) for encode or (n, 32) for blocks;
    SCALE (encode only) as E8M0 bytes."""

    x: np.ndarray
    scale: np.ndarray | None
    dtype: InputDtype
    sha256: str  # of the file read
    size: int  # its bytes


def input_fields(suite: str, dt: InputDtype) -> tuple[Field, ...]:
    """The input fields a --from file holds, in record order (as in the suite's layout)."""
    x = Field("x", "input", dt.bits, 1 if suite == "encode" else BLOCK)
    return (Field("scale", "input", 8), x) if suite == "encode" else (x,)


def _open_checked(path: Path) -> bytes:
    """The bytes of a regular file (not a link), at most MAX_FROM_BYTES."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise InputError(f"--from {path}: cannot read ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise InputError(f"--from {path}: not a regular file (links are not followed)")
    if st.st_size > MAX_FROM_BYTES:
        raise InputError(f"--from {path}: {st.st_size} bytes; at most {MAX_FROM_BYTES} are read")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with open(fd, "rb") as f:
        data = f.read(MAX_FROM_BYTES + 1)
    if len(data) > MAX_FROM_BYTES:
        raise InputError(f"--from {path}: grew beyond {MAX_FROM_BYTES} bytes while being read")
    return data


def _bits_of(a: np.ndarray, dt: InputDtype, name: str, where: str) -> np.ndarray:
    """An .npz array of inputs as bit patterns of dt: given as dt's own float type or as unsigned integers of
    its width (the only way to store bfloat16 in an .npz)."""
    if a.dtype == dt.dtype:
        return dt.to_bits(a).copy()
    if a.dtype == np.dtype(dt.uint):
        return a.astype(dt.uint)
    raise FileFormatError(f"{where}: array {name!r} has dtype {a.dtype}; for --input-dtype {dt.name} give "
                          f"{dt.name} values or {np.dtype(dt.uint).name} bit patterns")


def _from_npz(path: Path, suite: str, dt: InputDtype) -> tuple[np.ndarray, np.ndarray | None]:
    from mxemu.io import read_npz

    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise FileFormatError(f"{path}: cannot read as .npz ({exc})") from None
    if unpacked > MAX_FROM_BYTES:
        raise InputError(f"--from {path}: its arrays hold {unpacked} bytes; at most {MAX_FROM_BYTES} are read")
    arrays = read_npz(path)
    allowed = {"x", "scale"} if suite == "encode" else {"x"}
    if "x" not in arrays or not set(arrays) <= allowed:
        raise FileFormatError(f"{path}: holds arrays {sorted(arrays)}; the {suite} suite takes "
                              f"{' and optional '.join(sorted(allowed, key=['x', 'scale'].index))}")
    x = _bits_of(arrays["x"], dt, "x", str(path))
    want = "(n,)" if suite == "encode" else f"(n, {BLOCK})"
    if (suite == "encode" and x.ndim != 1) or (suite != "encode" and (x.ndim != 2 or x.shape[1] != BLOCK)):
        raise FileFormatError(f"{path}: array 'x' has shape {x.shape}; the {suite} suite takes {want}")
    scale = None
    if suite == "encode":
        scale = arrays.get("scale", np.full(len(x), 127, np.uint8))
        if scale.dtype != np.uint8 or scale.shape != x.shape:
            raise FileFormatError(f"{path}: array 'scale' must be uint8 E8M0 bytes of x's shape {x.shape}, got "
                                  f"{scale.dtype} {scale.shape}")
    return x, scale


def _words(text: str, where: str, form: str, tokens: int | None, limit: int) -> list[list[int]]:
    """Rows of hexadecimal tokens (# comments and blank lines skipped); `tokens` per row when given."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if tokens is not None and len(parts) != tokens:
            raise FileFormatError(f"{where}:{lineno}: {len(parts)} fields; a {form} line holds {tokens}")
        if not all(HEX.fullmatch(t) for t in parts):
            raise FileFormatError(f"{where}:{lineno}: a field is not hexadecimal (digits 0-9, a-f only)")
        rows.append([int(t, 16) for t in parts])
        if len(rows) > limit:
            raise InputError(f"--from {where}: more than {limit} records; split the file")
    return rows


def _from_text(path: Path, data: bytes, suite: str, dt: InputDtype) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise FileFormatError(f"{path}: not ASCII text") from None
    fields = input_fields(suite, dt)
    limit = MAX_FROM_RECORDS[suite]
    if path.suffix == ".hex":  # one record word per line: the input fields packed as in the golden .hex
        bits = sum(f.bits for f in fields)
        words = _words(text, str(path), ".hex", 1, limit)
        wide = next((i for i, (w,) in enumerate(words) if w >> bits), None)
        if wide is not None:
            raise FileFormatError(f"{path}: record {wide} is wider than the {bits} bits of a {suite} input word "
                                  f"({hex_digits(bits)} hex digits)")
        rows = []
        for (w,) in words:
            lanes = []
            for f in reversed(fields):  # the last field is the least significant
                lanes = [(w >> (f.lane_bits * i)) & ((1 << f.lane_bits) - 1) for i in range(f.lanes)] + lanes
                w >>= f.bits
            rows.append(lanes)
    else:  # .tv: the input fields' lanes as tokens, lane 0 first
        rows = _words(text, str(path), f"{suite} .tv", sum(f.lanes for f in fields), limit)
        top = [f.lane_bits for f in fields for _ in range(f.lanes)]
        for n, row in enumerate(rows):
            bad = next((i for i, (v, b) in enumerate(zip(row, top, strict=True)) if v >> b), None)
            if bad is not None:
                raise FileFormatError(f"{path}: record {n}: field {bad + 1} is wider than its {top[bad]} bits")
    if not rows:
        raise FileFormatError(f"{path}: no records")
    arr = np.array(rows, dtype=np.uint64)
    if suite == "encode":
        return arr[:, 1].astype(dt.uint), arr[:, 0].astype(np.uint8)
    return arr.astype(dt.uint), None


def read_inputs(path: str | Path, suite: str, input_dtype: str) -> Inputs:
    """The inputs of `suite` (encode, scale or quantize) in the file `path`, as `input_dtype` bit patterns.

    .npz: an array `x`, of the dtype itself (float32, float16) or of unsigned integers of its width (bfloat16
    needs uint16), shape (n,) for encode and (n, 32) for scale and quantize; encode may add `scale`, uint8
    E8M0 bytes of x's shape (default 0x7F, scale 1). .tv: per line the input fields' lanes as hex tokens,
    lane 0 first (encode: `scale x`; blocks: 32 x lanes). .hex: per line one word of the input fields packed
    as in a golden .hex record (first field most significant, lane i at bits [i*w, (i+1)*w)). `InputError`
    or `FileFormatError` for anything else; at most MAX_FROM_BYTES bytes and MAX_FROM_RECORDS records.
    """
    if suite not in FROM_SUITES:
        raise InputError(f"--from takes the inputs of one of the suites {', '.join(FROM_SUITES)}, got {suite!r}")
    if input_dtype not in INPUT_DTYPES:
        raise InputError(f"unknown input dtype {input_dtype!r}; accepted: {', '.join(INPUT_DTYPES)}")
    dt = INPUT_DTYPES[input_dtype]
    path = Path(path)
    if path.suffix not in (".npz", ".hex", ".tv"):
        raise InputError(f"--from {path}: give an .npz, .hex or .tv file")
    data = _open_checked(path)
    x, scale = _from_npz(path, suite, dt) if path.suffix == ".npz" else _from_text(path, data, suite, dt)
    if len(x) == 0:
        raise FileFormatError(f"{path}: no records")
    if len(x) > MAX_FROM_RECORDS[suite]:
        raise InputError(f"--from {path}: {len(x)} records; at most {MAX_FROM_RECORDS[suite]} for {suite}")
    if scale is not None and np.any(scale == NAN_SCALE):
        raise FileFormatError(f"{path}: record {int(np.argmax(scale == NAN_SCALE))} has scale 0xFF (E8M0 NaN); "
                              f"encode records take scale bytes 0x00..0xFE")
    return Inputs(np.ascontiguousarray(x), scale, dt, hashlib.sha256(data).hexdigest(), len(data))
