"""`mxemu golden gen` and `merge`: build, oracle-check and write a golden set (data files first, manifest and
sums last), on several processes (`jobs`) or as shards of a cluster job array merged afterwards."""

from __future__ import annotations

import contextlib
import inspect
import multiprocessing as mp
import os
import re
import stat
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import mxemu
from mxemu.errors import FileFormatError, InputError, MXError, PolicyError, UnknownNameError
from mxemu.golden import manifest as mf
from mxemu.golden import suites as gs
from mxemu.golden import trust
from mxemu.golden import writers as gw
from mxemu.golden.inputs import read_inputs
from mxemu.golden.suites import sweep as gsweep
from mxemu.io import atomic_write, read_npz_bytes
from mxemu.policy import Policy
from mxemu.spec import MXFormat, get_format

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


def _build_files(task: tuple[str, str, dict[str, Any], str, int, bool, tuple[int, int], str, dict[str, str]]
                 ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One suite file (or one part of one), built and oracle-checked: (its manifest entry without files, the
    bytes of each form; a part carries `part` and `parts` and only its .npz). A module-level function so that
    worker processes can run it (their stderr is the parent's)."""
    suite, fmt, policy, level, seed, progress, (part, parts), input_dtype, models = task
    table = gs.build(suite, fmt, Policy.from_dict(policy), level, seed, sys.stderr if progress else None,
                     (part, parts), input_dtype, models)
    entry = mf.table_entry(table, {})
    if parts > 1:
        return {**entry, "part": part, "parts": parts}, {"npz": gw.npz_bytes(table)}
    return entry, {form: make() for form, make in suite_files(table).items()}


def build_all(tasks: list[tuple[str, str]] | list[tuple[str, str, int, int]], policy: Policy, level: str, seed: int,
              jobs: int = 1, progress: TextIO | None = None, input_dtype: str = "float32",
              models: dict[str, str] | None = None) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    """Build and oracle-check the suite files of `tasks` ((suite, format), or (suite, format, part, parts)
    from `shard_units`) on `jobs` processes; results in task order (the bytes do not depend on `jobs`).
    `progress` gets one line per finished suite file with a running count; `models` (`gs.dot_models`) adds
    the user accumulation models' fields to the dot suite files."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise InputError(f"--jobs must be a positive integer, got {jobs!r}")
    args = [(t[0], t[1], policy.as_dict(), level, seed, progress is not None, tuple(t[2:]) or (0, 1), input_dtype,
             dict(models or {})) for t in tasks]

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
    links = [p.name for p in out.iterdir() if p.is_symlink()]
    if links:  # a set is written, and an older one's files removed, only in real folders, never through links
        raise InputError(f"--out {out} holds symbolic links ({', '.join(sorted(links))}); a set never writes "
                         f"or deletes through a link")
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


STALE = re.compile(r"[a-z][a-z0-9_]{0,63}\.(tv|hex|npz|part\d{3}of\d{3}\.npz)")  # names only a set writes


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Remove suite files of an older set that this one does not contain: only regular files (no links)
    named as a set names its suite files (`STALE`: a format, then .tv, .hex, .npz or a part's .npz), in
    suite folders that are real folders of `out`. Nothing is deleted through a link, and a file a set
    would not have written stays (`_check_directory` already refused links and foreign files at the top)."""
    for suite_dir in gs.SUITES:
        folder = out / suite_dir
        if folder.is_symlink() or not folder.is_dir():
            continue
        for stale in sorted(folder.iterdir()):
            rel = stale.relative_to(out).as_posix()
            if rel not in keep and STALE.fullmatch(stale.name) and stat.S_ISREG(stale.lstat().st_mode):
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
             jobs: int = 1, shard: Shard | None = None, input_dtype: str = "float32",
             accumulation: tuple[str, ...] = ()) -> dict:
    """Write a golden set into `out` and return its manifest. Every suite file is built and checked against
    mxemu.oracle before any file is written; MANIFEST.json and then SHA256SUMS are written last.

    `generator` overrides the recorded provenance (verify regenerates with the recorded one); `progress`
    (the CLI passes sys.stderr) gets one line per suite file; `jobs` processes build suite files in
    parallel. With `shard`, only that shard's suite files are written, with a SHARD.json instead of the
    manifest and sums; `merge` joins all shards into the set an unsharded run writes, byte for byte.
    `input_dtype` (float32, bfloat16, float16) is the type the float inputs of the encode, scale, quantize
    and divergence suites are generated and written in. `accumulation` (accumulation strings, as dot takes
    them) adds one output field per model to the dot suite, acc0, acc1, ... (`gs.dot_models`), recorded in the
    manifest's `dot_models`.

    >>> import tempfile
    >>> doc = generate(tempfile.mkdtemp(), ("decode",), ("mxfp4_e2m1",), Policy(), "L0", 0)
    >>> doc["tables"][0]["name"], doc["tables"][0]["count"]
    ('decode/mxfp4_e2m1', 16)
    """
    gs.check_policy(policy, suites)
    gs.check_level(level)
    gs.check_level_suites(level, suites)
    gs.check_seed(seed)
    gs.check_input_dtype(input_dtype, suites)
    if not suites or not formats:
        raise InputError("give at least one suite and one format")
    for name in formats:
        if isinstance(fmt := get_format(name), MXFormat):
            gs.check_block_size(fmt)
    models = gs.dot_models(accumulation) if accumulation else {}
    if models and "dot" not in suites:
        raise InputError("--accumulation adds fields to the dot suite; give --suite with dot")
    if models and shard is not None:
        raise InputError("--accumulation does not combine with --shard; generate the set in one run")
    out = Path(out)
    _check_directory(out)
    gen = generator or {"name": "mxemu", "library_version": mxemu.__version__, "git_revision": mf.git_revision()}
    params = {"generator": gen, "policy": policy.as_dict(), "seed": seed, "level": level, "suites": suites,
              "formats": formats, "input_dtype": input_dtype, **({"dot_models": models} if models else {})}
    tasks: list = plan(suites, formats)
    if shard is not None:
        tasks = shard_units(suites, formats)[shard.index::shard.count]
    parts = build_all(tasks, policy, level, seed, jobs, progress, input_dtype, models)  # all checked before writing
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


def generate_from(out: str | Path, source: str | Path, suite: str, fmt: str, policy: Policy,
                  input_dtype: str = "float32", *, generator: dict[str, str] | None = None,
                  recorded: dict[str, Any] | None = None) -> dict:
    """Write a golden set of exactly the inputs in the file `source` (`mxemu.golden.inputs.read_inputs`: .npz,
    .hex or .tv) for one suite (encode, scale or quantize) and MX format, oracle-checked, with the manifest,
    sums and file forms of `generate`; the manifest's `source` names the file and its SHA-256 (`recorded`
    overrides it: verify regenerates from the set's own inputs). Returns the manifest."""
    names = gs.parse_formats(fmt)
    if len(names) != 1:
        raise InputError(f"--from takes one MX format, got {fmt!r}")
    name = names[0]
    mx = get_format(name)
    if gs.stochastic(policy):  # the records would repeat each input with its draws: no longer the file's inputs
        raise PolicyError("--from takes a policy with a deterministic rounding; under stochastic rounding use "
                          "`golden gen --level` (its encode and quantize records carry the random integers)")
    inputs = read_inputs(source, suite, input_dtype)
    dt = inputs.dtype
    if policy.nan_to_nonan == "error" and not mx.element.has_nan and np.isnan(dt.from_bits(inputs.x)).any():
        raise InputError(f"--from {source}: holds NaN inputs, which {mx.element.name} cannot encode under "
                         f"nan_to_nonan='error'; remove them or choose another nan_to_nonan")
    tags = np.full(len(inputs.x), gs.TAG_IDS["FROM-file"], np.uint16)
    if suite == "encode":
        table = gs.encode_table(mx, policy, inputs.x, inputs.scale, tags, dt)
    else:
        table = gs.blocks_table(suite, mx, policy, dt.from_bits(inputs.x), tags)
    gs.gate(table, policy)
    entry = mf.table_entry(table, {})
    files = {form: make() for form, make in suite_files(table).items()}
    if recorded is None:
        recorded = {"file": Path(source).name, "sha256": inputs.sha256, "bytes": inputs.size}
    out = Path(out)
    _check_directory(out)
    gen = generator or {"name": "mxemu", "library_version": mxemu.__version__, "git_revision": mf.git_revision()}
    params = {"generator": gen, "policy": policy.as_dict(), "seed": 0, "level": "from", "suites": (suite,),
              "formats": (name,), "input_dtype": input_dtype, "source": recorded}
    _invalidate_directory(out)
    return _finish(out, params, _write_parts(out, [(entry, files)]))


SHARD_LIMIT = 1 << 20  # bytes of a SHARD.json: one entry per suite file


def _read_shard(directory: Path) -> dict[str, Any]:
    """A shard's SHARD.json (a regular file, no link, bounded), with its structure checked: the shard
    index and count, and parameters that the manifest schema accepts, naming registered suites and formats."""
    path = directory / SHARD
    if not path.exists() and not path.is_symlink():
        raise FileFormatError(f"{directory}: no {SHARD}; not a complete shard (interrupted, or not a shard)")
    doc = mf.parse_json(trust.read_regular(path, SHARD_LIMIT, SHARD), path)
    if not isinstance(doc, dict) or set(doc) != {"shard", "shards", "params", "tables"}:
        raise FileFormatError(f"{path}: not a shard description")
    index, count = doc["shard"], doc["shards"]
    if not all(type(v) is int for v in (index, count)) or not 0 <= index < count:
        raise FileFormatError(f"{path}: shard {index!r} of {count!r} is not i of N with 0 <= i < N")
    signature = inspect.signature(mf.build_manifest).parameters
    allowed = set(signature) - {"tables", "exports"}
    required = {k for k in allowed if signature[k].default is inspect.Parameter.empty}
    params = doc["params"]
    if not isinstance(params, dict) or not required <= set(params) <= allowed:
        raise FileFormatError(f"{path}: params must be an object with the keys {sorted(required)} "
                              f"(and optionally {sorted(allowed - required)})")
    errors = [e for k, v in params.items() if k in mf.SCHEMA["properties"]
              for e in mf.validate(v, mf.SCHEMA["properties"][k], f"{SHARD}.params.{k}")]
    if errors:
        raise FileFormatError(f"{path}: " + "; ".join(errors[:5]))
    for name in params.get("formats", []):
        trust.identifier(name, f"{path}: format")
        try:
            if not isinstance(get_format(name), MXFormat):
                raise FileFormatError(f"{path}: {name!r} is not an MX format")
        except UnknownNameError:
            raise FileFormatError(f"{path}: format {name!r} is not registered") from None
    suites, formats = params.get("suites", []), params.get("formats", [])
    if not suites or not formats or len(set(suites)) != len(suites) or len(set(formats)) != len(formats):
        raise FileFormatError(f"{path}: params name no suite or format, or one twice")
    try:
        Policy.from_dict(params["policy"])
    except (MXError, TypeError) as exc:
        raise FileFormatError(f"{path}: params.policy is not a policy ({exc})") from None
    if not isinstance(doc["tables"], list) or not all(isinstance(t, dict) for t in doc["tables"]):
        raise FileFormatError(f"{path}: tables must be a list of objects")
    return doc


def _shard_bytes(d: Path, entry: dict[str, Any], form: str, rel: str) -> bytes:
    """The bytes of the `form` file a SHARD.json lists at the canonical path `rel` (a regular file inside the
    shard, no link, no larger than the size listed), checked against the SHA-256 listed there."""
    file = entry.get("files", {}).get(form) if isinstance(entry.get("files"), dict) else None
    if not isinstance(file, dict) or file.get("path") != rel or type(file.get("bytes")) is not int:
        raise FileFormatError(f"{d / SHARD}: {entry.get('name')!r} does not list its .{form} at {rel!r}")
    path = trust.confined(d, rel, f"{SHARD} file")
    data = trust.read_regular(path, file["bytes"], "shard file")
    if mf.sha256_bytes(data) != file.get("sha256"):
        raise FileFormatError(f"{path}: SHA-256 differs from {d / SHARD}")
    return data


def _join_parts(name: str, parts: int, items: list[tuple[Path, dict[str, Any]]]
                ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One suite file from the shards: the columns of its .npz parts (a whole file is one part), concatenated
    in part order and checked against the suite's record layout; its manifest entry and every file form are
    derived from those columns, as the unsharded run writes them, never copied from a shard's description."""
    items = sorted(items, key=lambda it: it[1].get("part", 0) if type(it[1].get("part", 0)) is int else -1)
    if [it[1].get("part", 0) for it in items] != list(range(parts)) or any(
            it[1].get("parts", 1) != parts for it in items):
        raise FileFormatError(f"{name}: the shards do not hold each part of it exactly once")
    suite, fmt = name.split("/")
    mx = get_format(fmt)
    fields = gs.layout(suite, mx)  # a sweep: the only suite split into parts, whose inputs are not floats
    arrays = []
    for d, entry in items:
        rel = f"{name}.npz" if parts == 1 else part_path(name, entry.get("part", 0), parts)
        a = read_npz_bytes(d / rel, _shard_bytes(d, entry, "npz", rel))
        if set(a) != {f.name for f in fields}:
            raise FileFormatError(f"{d / rel}: holds {sorted(a)}; {name} has the fields {[f.name for f in fields]}")
        n = len(a["tag"])
        for f in fields:
            shape = (n, f.lanes) if f.lanes > 1 else (n,)
            if a[f.name].dtype != f.dtype or a[f.name].shape != shape or (n and int(a[f.name].max()) >> f.lane_bits):
                raise FileFormatError(f"{d / rel}: field {f.name!r} is not {n} case(s) of {f.lanes} lane(s) of "
                                      f"{f.lane_bits} bits")
        arrays.append(a)
    table = gs.Table(suite, mx, fields, {f.name: np.concatenate([a[f.name] for a in arrays]) for f in fields})
    if table.count == 0:
        raise FileFormatError(f"{name}: the shards hold no case of it")
    files = {form: make() for form, make in suite_files(table).items()}
    if parts == 1:  # a whole file's other forms, as the shard wrote them, must be the ones its columns give
        d, entry = items[0]
        for form in ("tv", "hex"):
            if _shard_bytes(d, entry, form, f"{name}.{form}") != files[form]:
                raise FileFormatError(f"{d / name}.{form}: differs from the file its .npz columns give")
    return mf.table_entry(table, {}), files


def merge(out: str | Path, shard_dirs: list[str | Path], progress: TextIO | None = None) -> dict:
    """Join the shards written by `generate(..., shard=Shard(i, N))` for every i into one set at `out`,
    byte-identical to the unsharded run; `FileFormatError` for a missing, repeated, foreign or altered shard.

    A shard is read as hostile input: its SHARD.json must name registered suites and formats and list
    exactly the work units of its index; only the .npz files at their canonical paths are read (regular
    files inside the shard, no links, sizes bounded); every written name and path is derived from the
    registry, so nothing is written outside `out` and no text of a shard reaches a generated source.

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
    if any(s["params"] != params or s["shards"] != count for _, s in shards):
        raise FileFormatError("the shards come from different commands (parameters or shard counts differ)")
    seen = sorted(s["shard"] for _, s in shards)
    if seen != list(range(len(shards))) or count != len(shards):
        raise FileFormatError(f"shards 0..{count - 1} are each needed once; got {seen}")
    suites, formats = tuple(params["suites"]), tuple(params["formats"])
    units = shard_units(suites, formats)
    by_name: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for d, s in shards:
        held = [(t.get("name"), t.get("part", 0)) for t in s["tables"]]
        if not all(isinstance(n, str) and type(k) is int for n, k in held) or sorted(held) != sorted(
                (f"{u[0]}/{u[1]}", u[2]) for u in units[s["shard"]::count]):
            raise FileFormatError(f"{d / SHARD}: does not list exactly the suite files of shard {s['shard']} "
                                  f"(each part of it exactly once)")
        for t in s["tables"]:
            by_name.setdefault(t["name"], []).append((d, t))
    parts = {f"{u[0]}/{u[1]}": u[3] for u in units}
    out = Path(out)
    _check_directory(out)
    loaded = []
    for name in (f"{suite}/{fmt}" for suite, fmt in plan(suites, formats)):
        loaded.append(_join_parts(name, parts[name], by_name[name]))
        if progress is not None:
            where = ", ".join(sorted({str(d) for d, _ in by_name[name]}))
            print(f"mxemu golden: merged {name} from {where}", file=progress, flush=True)
    _invalidate_directory(out)
    entries = _write_parts(out, loaded)
    return _finish(out, {**params, "suites": suites, "formats": formats}, entries)


def default_jobs() -> int:
    """Processes `--jobs 0` means: the CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
