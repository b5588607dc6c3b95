"""`mxemu golden gen`: build, oracle-check and write a golden set (data files first, manifest and sums last)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import mxemu
from mxemu.errors import InputError
from mxemu.golden import manifest as mf
from mxemu.golden import suites as gs
from mxemu.golden import writers as gw
from mxemu.io import atomic_write
from mxemu.policy import Policy

SUITE_FORMS = ("tv", "hex", "npz")
C_HEADER = "golden_layout.h"
SV_PACKAGE = "golden_pkg.sv"


def _write(directory: Path, rel: str, data: bytes) -> dict[str, Any]:
    path = directory / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(data))
    return mf.file_entry(rel, data)


def suite_files(table: gs.Table) -> dict[str, Callable[[], bytes]]:
    """The file forms of one table, as thunks producing their bytes."""
    return {
        "tv": lambda: gw.text_bytes(gw.tv_lines(table)),
        "hex": lambda: gw.text_bytes(gw.hex_lines(table)),
        "npz": lambda: gw.npz_bytes(table),
    }


def _check_directory(out: Path) -> None:
    """Refuse an `out` that is not a directory, or a non-empty one holding files that are not a golden set's."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    if not out.is_dir():
        return
    ours = {*gs.SUITES, mf.MANIFEST, mf.SUMS, C_HEADER, SV_PACKAGE}
    foreign = [p.name for p in out.iterdir() if p.name not in ours and not p.name.startswith(".")]
    if foreign:
        raise InputError(f"--out {out} holds files that are not part of a golden set ({', '.join(sorted(foreign))}); "
                         f"choose an empty or new directory")


def _invalidate_directory(out: Path) -> None:
    """Create `out` and remove an older set's MANIFEST.json / SHA256SUMS first, so that an interrupted run
    never leaves a directory that claims to be a complete set; also the temp files a killed run's
    atomic writes left behind (`.<name>.<random>.tmp`), so that a rerun leaves exactly the set."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (mf.SUMS, mf.MANIFEST):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    for folder in (out, *(out / s for s in gs.SUITES)):
        for stale in folder.glob(".*.tmp") if folder.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


def generate(out: str | Path, suites: tuple[str, ...], formats: tuple[str, ...], policy: Policy, level: str,
             seed: int, *, generator: dict[str, str] | None = None, progress: TextIO | None = None) -> dict:
    """Write a golden set into `out` and return its manifest. Every table is built and checked against
    mxemu.oracle before any file is written; MANIFEST.json and then SHA256SUMS are written last.

    `generator` overrides the recorded provenance (verify regenerates with the recorded one); `progress`
    (the CLI passes sys.stderr) gets one line per suite file."""
    gs.check_policy(policy)
    gs.check_level(level)
    gs.check_seed(seed)
    if not suites or not formats:
        raise InputError("give at least one suite and one format")
    out = Path(out)
    _check_directory(out)
    gen = generator or {"name": "mxemu", "library_version": mxemu.__version__, "git_revision": mf.git_revision()}
    tables: list[gs.Table] = []
    for suite in suites:  # build and oracle-check everything before touching the directory
        for fmt in formats:
            tables.append(gs.build(suite, fmt, policy, level, seed))
            if progress is not None:
                print(f"mxemu golden: {tables[-1].name}: {tables[-1].count} cases, oracle-checked",
                      file=progress, flush=True)
    _invalidate_directory(out)
    written: list[tuple[str, str]] = []
    entries: list[dict[str, Any]] = []
    for table in tables:
        files = {}
        for form, make in suite_files(table).items():
            entry = _write(out, f"{table.name}.{form}", make())
            files[form] = entry
            written.append((entry["path"], entry["sha256"]))
        entries.append(mf.table_entry(table, files))
    exports = {
        "c_header": _write(out, C_HEADER, gw.c_header(tables).encode("ascii")),
        "sv_package": _write(out, SV_PACKAGE, gw.sv_package(tables).encode("ascii")),
    }
    written += [(e["path"], e["sha256"]) for e in exports.values()]
    # remove files of an older set that this one does not contain
    keep = {p for p, _ in written}
    for suite_dir in gs.SUITES:
        for stale in sorted((out / suite_dir).glob("*")) if (out / suite_dir).is_dir() else []:
            if stale.is_file() and stale.relative_to(out).as_posix() not in keep:
                stale.unlink()
    doc = mf.build_manifest(generator=gen, policy=policy.as_dict(), seed=seed, level=level, suites=suites,
                            formats=formats, tables=entries, exports=exports)
    errors = mf.validate(doc)
    if errors:  # a bug in the generator, not in the user's input
        raise AssertionError("manifest does not match its schema: " + "; ".join(errors))
    data = mf.manifest_bytes(doc)
    _write(out, mf.MANIFEST, data)
    written.append((mf.MANIFEST, mf.sha256_bytes(data)))
    _write(out, mf.SUMS, mf.sums_text(written).encode("ascii"))
    return doc
