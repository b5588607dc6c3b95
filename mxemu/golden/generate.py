"""`mxemu golden gen` and `merge`: build, oracle-check and write a golden set (data files first, manifest and
sums last), on several processes (`jobs`) or as shards of a cluster job array merged afterwards."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import re
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import mxemu
from mxemu.errors import FileFormatError, InputError
from mxemu.golden import manifest as mf
from mxemu.golden import suites as gs
from mxemu.golden import writers as gw
from mxemu.golden.suites import sweep as gsweep
from mxemu.io import atomic_write
from mxemu.policy import Policy
from mxemu.spec import get_format

SUITE_FORMS = ("tv", "hex", "npz")
C_HEADER = "golden_layout.h"
SV_PACKAGE = "golden_pkg.sv"
SHARD = "SHARD.json"


@dataclass(frozen=True)
class Shard:
    """Part `index` of `count` (0 <= index < count): the work units k of `shard_units` with k % count == index."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """"i/N" (as in `--shard 3/8`), validated.

        >>> Shard.parse("1/4")
        Shard(index=1, count=4)
        """
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m or not 0 <= int(m[1]) < int(m[2]):
            raise InputError(f"--shard must be i/N with 0 <= i < N, got {text!r}")
        return cls(int(m[1]), int(m[2]))


def plan(suites: tuple[str, ...], formats: tuple[str, ...]) -> list[tuple[str, str]]:
    """The suite files of a set in canonical order (suite-major): the order of the manifest's tables."""
    return [(suite, fmt) for suite in suites for fmt in formats]


def shard_units(suites: tuple[str, ...], formats: tuple[str, ...]) -> list[tuple[str, str, int, int]]:
    """The work units a `--shard i/N` run deals out, unit k to shard k % N: (suite, format, part, parts), one
    per suite file and SWEEP_PARTS per sweep file (ranges of whole chunks), so that an exhaustive run splits
    into more shards than it has files.

    >>> len(shard_units(("sweep",), ("mxfp4_e2m1", "mxint8")))
    32
    """
    chunks = -(-gsweep.SWEEP_PATTERNS >> gsweep.SWEEP_CHUNK_BITS)
    out = []
    for suite, fmt in plan(suites, formats):
        parts = min(gsweep.SWEEP_PARTS, chunks) if suite == "sweep" else 1
        out.extend((suite, fmt, k, parts) for k in range(parts))
    return out


def part_path(name: str, part: int, parts: int) -> str:
    """The .npz of one part of a suite file inside a shard (`merge` joins the parts into the file)."""
    return f"{name}.part{part:03d}of{parts:03d}.npz"


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


def _build_files(task: tuple[str, str, dict[str, Any], str, int, bool, tuple[int, int]]
                 ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One suite file (or one part of one), built and oracle-checked: (its manifest entry without files, the
    bytes of each form; a part carries `part` and `parts` and only its .npz). A module-level function so that
    worker processes can run it (their stderr is the parent's)."""
    suite, fmt, policy, level, seed, progress, (part, parts) = task
    table = gs.build(suite, fmt, Policy.from_dict(policy), level, seed, sys.stderr if progress else None,
                     (part, parts))
    entry = mf.table_entry(table, {})
    if parts > 1:
        return {**entry, "part": part, "parts": parts}, {"npz": gw.npz_bytes(table)}
    return entry, {form: make() for form, make in suite_files(table).items()}


def build_all(tasks: list[tuple[str, str]] | list[tuple[str, str, int, int]], policy: Policy, level: str, seed: int,
              jobs: int = 1, progress: TextIO | None = None) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    """Build and oracle-check the suite files of `tasks` ((suite, format), or (suite, format, part, parts)
    from `shard_units`) on `jobs` processes; results in task order (the bytes do not depend on `jobs`).
    `progress` gets one line per finished suite file with a running count."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise InputError(f"--jobs must be a positive integer, got {jobs!r}")
    args = [(t[0], t[1], policy.as_dict(), level, seed, progress is not None, tuple(t[2:]) or (0, 1)) for t in tasks]

    def report(k: int, entry: dict[str, Any]) -> None:
        if progress is not None:
            part = f" part {entry['part'] + 1}/{entry['parts']}" if "part" in entry else ""
            print(f"mxemu golden: [{k}/{len(args)}] {entry['name']}{part}: {entry['count']} cases, oracle-checked",
                  file=progress, flush=True)

    if jobs == 1 or len(args) <= 1:
        out = []
        for k, a in enumerate(args, 1):
            out.append(_build_files(a))
            report(k, out[-1][0])
        return out
    # forkserver, not fork: the numba kernels may already run OpenMP threads here, which fork cannot copy;
    # the server imports the suites once, so that each worker starts from a process that has them.
    # Windows has no forkserver: spawn starts each worker afresh there.
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["mxemu.golden.suites", "mxemu.conversion", "mxemu.products"])
    else:
        ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(args)), mp_context=ctx) as pool:
        # the largest suites first keep both workers busy to the end; results go back into task order
        order = sorted(range(len(args)), key=lambda i: _cost(tasks[i]), reverse=True)
        futures = {i: pool.submit(_build_files, args[i]) for i in order}
        done: dict[int, tuple[dict[str, Any], dict[str, bytes]]] = {}
        for i in order:
            done[i] = futures[i].result()
            report(len(done), done[i][0])
    return [done[i] for i in range(len(args))]


def _cost(task: tuple[str, ...]) -> int:
    """Rough relative build time of a suite file (the oracle gate dominates), for scheduling only."""
    suite, fmt = task[0], task[1]
    weight = {"sweep": 9, "scale": 4, "quantize": 4, "encode": 3, "convert": 3, "dot": 3, "divergence": 2,
              "dequantize": 1}
    return weight.get(suite, 0) * 10 + (2 if "8" in fmt else 1)


def _check_directory(out: Path) -> None:
    """Refuse an `out` that is not a directory, or a non-empty one holding files that are not a golden set's."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    if not out.is_dir():
        return
    ours = {*gs.SUITES, mf.MANIFEST, mf.SUMS, C_HEADER, SV_PACKAGE, SHARD}
    foreign = [p.name for p in out.iterdir() if p.name not in ours and not p.name.startswith(".")]
    if foreign:
        raise InputError(f"--out {out} holds files that are not part of a golden set ({', '.join(sorted(foreign))}); "
                         f"choose an empty or new directory")


def _invalidate_directory(out: Path) -> None:
    """Create `out` and remove an older set's SHA256SUMS / MANIFEST.json / SHARD.json first, so that an
    interrupted run never leaves a directory that claims to be a complete set (or shard); also the temp
    files a killed run's atomic writes left behind (`.<name>.<random>.tmp`), so that a rerun leaves
    exactly the set."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (mf.SUMS, mf.MANIFEST, SHARD):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    for folder in (out, *(out / s for s in gs.SUITES)):
        for stale in folder.glob(".*.tmp") if folder.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Remove suite files of an older set that this one does not contain."""
    for suite_dir in gs.SUITES:
        for stale in sorted((out / suite_dir).glob("*")) if (out / suite_dir).is_dir() else []:
            if stale.is_file() and stale.relative_to(out).as_posix() not in keep:
                stale.unlink()


def _write_parts(out: Path, parts: list[tuple[dict[str, Any], dict[str, bytes]]]) -> list[dict[str, Any]]:
    """Write the data files of built suite files; their manifest entries with the `files` filled in."""
    entries = []
    for entry, blobs in parts:
        if "part" in entry:
            files = {"npz": _write(out, part_path(entry["name"], entry["part"], entry["parts"]), blobs["npz"])}
        else:
            files = {form: _write(out, f"{entry['name']}.{form}", blobs[form]) for form in SUITE_FORMS}
        entries.append({**entry, "files": files})
    return entries


def _finish(out: Path, params: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the layout exports, MANIFEST.json and SHA256SUMS (last) of a set whose data files are written."""
    exports = {
        "c_header": _write(out, C_HEADER, gw.c_header(entries).encode("ascii")),
        "sv_package": _write(out, SV_PACKAGE, gw.sv_package(entries).encode("ascii")),
    }
    written = [(f["path"], f["sha256"]) for e in entries for f in e["files"].values()]
    written += [(e["path"], e["sha256"]) for e in exports.values()]
    _remove_stale(out, {p for p, _ in written})
    doc = mf.build_manifest(**params, tables=entries, exports=exports)
    errors = mf.validate(doc)
    if errors:  # a bug in the generator, not in the user's input
        raise AssertionError("manifest does not match its schema: " + "; ".join(errors))
    data = mf.manifest_bytes(doc)
    _write(out, mf.MANIFEST, data)
    written.append((mf.MANIFEST, mf.sha256_bytes(data)))
    _write(out, mf.SUMS, mf.sums_text(written).encode("ascii"))
    return doc


def generate(out: str | Path, suites: tuple[str, ...], formats: tuple[str, ...], policy: Policy, level: str,
             seed: int, *, generator: dict[str, str] | None = None, progress: TextIO | None = None,
             jobs: int = 1, shard: Shard | None = None) -> dict:
    """Write a golden set into `out` and return its manifest. Every suite file is built and checked against
    mxemu.oracle before any file is written; MANIFEST.json and then SHA256SUMS are written last.

    `generator` overrides the recorded provenance (verify regenerates with the recorded one); `progress`
    (the CLI passes sys.stderr) gets one line per suite file; `jobs` processes build suite files in
    parallel. With `shard`, only that shard's suite files are written, with a SHARD.json instead of the
    manifest and sums; `merge` joins all shards into the set an unsharded run writes, byte for byte.

    >>> import tempfile
    >>> doc = generate(tempfile.mkdtemp(), ("decode",), ("mxfp4_e2m1",), Policy(), "L0", 0)
    >>> doc["tables"][0]["name"], doc["tables"][0]["count"]
    ('decode/mxfp4_e2m1', 16)
    """
    gs.check_policy(policy, suites)
    gs.check_level(level)
    gs.check_level_suites(level, suites)
    gs.check_seed(seed)
    if not suites or not formats:
        raise InputError("give at least one suite and one format")
    out = Path(out)
    _check_directory(out)
    gen = generator or {"name": "mxemu", "library_version": mxemu.__version__, "git_revision": mf.git_revision()}
    params = {"generator": gen, "policy": policy.as_dict(), "seed": seed, "level": level, "suites": suites,
              "formats": formats}
    tasks: list = plan(suites, formats)
    if shard is not None:
        tasks = shard_units(suites, formats)[shard.index::shard.count]
    parts = build_all(tasks, policy, level, seed, jobs, progress)  # everything checked before writing
    _invalidate_directory(out)
    entries = _write_parts(out, parts)
    if shard is None:
        return _finish(out, params, entries)
    _remove_stale(out, {f["path"] for e in entries for f in e["files"].values()})
    doc = {"shard": shard.index, "shards": shard.count, "params": {**params, "suites": list(suites),
                                                                   "formats": list(formats)},
           "tables": entries}
    _write(out, SHARD, mf.manifest_bytes(doc))
    return doc


def _read_shard(directory: Path) -> dict[str, Any]:
    try:
        doc = json.loads((directory / SHARD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileFormatError(f"{directory}: no {SHARD}; not a complete shard (interrupted, or not a shard)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{directory / SHARD}: cannot read ({exc})") from None
    if not isinstance(doc, dict) or not {"shard", "shards", "params", "tables"} <= set(doc):
        raise FileFormatError(f"{directory / SHARD}: not a shard description")
    return doc


def _shard_file(d: Path, file: dict[str, Any]) -> bytes:
    """A file a SHARD.json lists, checked against its SHA-256 there."""
    data = (d / file["path"]).read_bytes()
    if mf.sha256_bytes(data) != file["sha256"]:
        raise FileFormatError(f"{d / file['path']}: SHA-256 differs from {d / SHARD}")
    return data


def _join_parts(name: str, items: list[tuple[Path, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One suite file from the shards: a whole one as written, or the columns of its parts (each an .npz of
    consecutive records) concatenated in part order and written again, as the unsharded run writes it."""
    if len(items) == 1 and "part" not in items[0][1]:
        d, entry = items[0]
        return ({k: v for k, v in entry.items() if k != "files"},
                {form: _shard_file(d, entry["files"][form]) for form in SUITE_FORMS})
    items = sorted(items, key=lambda it: it[1].get("part", -1))
    parts = items[0][1].get("parts")
    if [it[1].get("part") for it in items] != list(range(parts or 0)) or any(it[1].get("parts") != parts
                                                                             for it in items):
        raise FileFormatError(f"{name}: the shards do not hold each part of it exactly once")
    suite, fmt = name.split("/")
    mx = get_format(fmt)
    fields = gs.layout(suite, mx)
    arrays = []
    for d, entry in items:
        _shard_file(d, entry["files"]["npz"])
        arrays.append(gw.read_npz(str(d / entry["files"]["npz"]["path"])))
    table = gs.Table(suite, mx, fields, {f.name: np.concatenate([a[f.name] for a in arrays]) for f in fields})
    return mf.table_entry(table, {}), {form: make() for form, make in suite_files(table).items()}


def merge(out: str | Path, shard_dirs: list[str | Path], progress: TextIO | None = None) -> dict:
    """Join the shards written by `generate(..., shard=Shard(i, N))` for every i into one set at `out`,
    byte-identical to the unsharded run; `FileFormatError` for a missing, repeated, foreign or altered shard.

    >>> import tempfile
    >>> a, b, c = (tempfile.mkdtemp() for _ in range(3))
    >>> for i, d in enumerate((a, b)):
    ...     _ = generate(d, ("decode",), ("mxfp4_e2m1", "mxint8"), Policy(), "L0", 0, shard=Shard(i, 2))
    >>> [t["name"] for t in merge(c, [a, b])["tables"]]
    ['decode/mxfp4_e2m1', 'decode/mxint8']
    """
    if not shard_dirs:
        raise InputError("merge needs the shard directories")
    shards = [(Path(d), _read_shard(Path(d))) for d in shard_dirs]
    params = shards[0][1]["params"]
    count = shards[0][1]["shards"]
    seen = sorted(s["shard"] for _, s in shards)
    if any(s["params"] != params or s["shards"] != count for _, s in shards):
        raise FileFormatError("the shards come from different commands (parameters or shard counts differ)")
    if seen != list(range(count)):
        raise FileFormatError(f"shards 0..{count - 1} are each needed once; got {seen}")
    by_name: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for d, s in shards:
        for t in s["tables"]:
            by_name.setdefault(t["name"], []).append((d, t))
    names = [f"{suite}/{fmt}" for suite, fmt in plan(tuple(params["suites"]), tuple(params["formats"]))]
    if sorted(by_name) != sorted(names):
        raise FileFormatError("the shards do not hold exactly the suite files of the command")
    out = Path(out)
    _check_directory(out)
    loaded = []
    for name in names:
        loaded.append(_join_parts(name, by_name[name]))
        if progress is not None:
            where = ", ".join(sorted({str(d) for d, _ in by_name[name]}))
            print(f"mxemu golden: merged {name} from {where}", file=progress, flush=True)
    _invalidate_directory(out)
    entries = _write_parts(out, loaded)
    return _finish(out, {**params, "suites": tuple(params["suites"]), "formats": tuple(params["formats"])}, entries)


def default_jobs() -> int:
    """Processes `--jobs 0` means: the CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
