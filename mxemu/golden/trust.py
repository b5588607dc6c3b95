"""Guards for files the golden tools read: strict names, paths confined to a set, no links, bounded reads."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath

from mxemu.errors import FileFormatError

# A field, suite or format name that may reach a generated C or SystemVerilog source, or a path.
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}")
# A file a set names: "suite/format.tv", "MANIFEST.json", "quantize/mxint8.part003of016.npz".
SET_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}(/[a-z][a-z0-9_]{0,63})?(\.[a-z0-9]{1,16}){1,2}")
JSON_LIMIT = 64 << 20  # a MANIFEST.json or SHARD.json: a few hundred kB for the largest set


def identifier(name: object, what: str) -> str:
    """`name` if it is a lowercase identifier (letter, then letters, digits, `_`; at most 64), else
    `FileFormatError`: such names are pasted into C and SystemVerilog sources and into paths.

    >>> identifier("block_exact_fp32", "field name")
    'block_exact_fp32'
    """
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise FileFormatError(f"{what} {name!r} is not an identifier (a-z, then a-z, 0-9, _; at most 64)")
    return name


def confined(root: Path, rel: object, what: str) -> Path:
    """`root / rel` for a relative set path `rel` (`SET_PATH`: no `..`, no absolute path, no backslash),
    after checking that no component below `root` is a symbolic link; else `FileFormatError`.

    >>> confined(Path("set"), "quantize/mxint8.tv", "file").as_posix()
    'set/quantize/mxint8.tv'
    """
    if not isinstance(rel, str) or not SET_PATH.fullmatch(rel):
        raise FileFormatError(f"{what} {rel!r} is not a path inside the set (suite/format.ext)")
    path = root
    for part in PurePosixPath(rel).parts:
        path = path / part
        if path.is_symlink():
            raise FileFormatError(f"{path}: a symbolic link; links inside a set are never followed")
    return path


def read_regular(path: Path, limit: int, what: str = "file", follow_links: bool = False) -> bytes:
    """The bytes of the regular file `path` (not a device or FIFO; not a link unless `follow_links`, for a
    path the user names), refused before reading when it holds more than `limit` bytes; `FileFormatError`
    otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot open the {what} ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileFormatError(f"{path}: the {what} is not a regular file")
        if info.st_size > limit:
            raise FileFormatError(f"{path}: the {what} holds {info.st_size} bytes; at most {limit} are accepted")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileFormatError(f"{path}: the {what} grew past {limit} bytes while read")
    return data
