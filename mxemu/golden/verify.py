"""`mxemu golden verify`: checksums, manifest schema, and a byte-for-byte regeneration of a golden set."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mxemu
from mxemu.errors import FileFormatError, InputError, MXError
from mxemu.golden import manifest as mf
from mxemu.golden.generate import generate, generate_from
from mxemu.golden.writers import read_npz
from mxemu.io import atomic_write, npz_bytes
from mxemu.policy import Policy


def find_sets(directory: str | Path) -> list[Path]:
    """The golden sets in `directory`: itself if it holds a MANIFEST.json or SHA256SUMS, else every directory
    below it that does (sorted), else itself (so that `verify` reports what is missing).

    >>> find_sets("no/such/dir")
    [PosixPath('no/such/dir')]
    """
    directory = Path(directory)
    if (directory / mf.MANIFEST).exists() or (directory / mf.SUMS).exists() or not directory.is_dir():
        return [directory]
    found = sorted({p.parent for name in (mf.MANIFEST, mf.SUMS) for p in directory.rglob(name)})
    return found or [directory]


def verify(directory: str | Path, notes: list[str] | None = None, jobs: int = 1) -> list[str]:
    """Every problem with the set in `directory` (empty when it verifies): SHA256SUMS mismatches, schema
    violations, and files that differ from a regeneration with the manifest's parameters (on `jobs`
    processes). Differences in the running library's version or git revision from the recorded ones are
    appended to `notes`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory")
    problems = mf.check_sums(directory)
    try:
        doc = mf.read_manifest(directory)
    except FileFormatError as exc:
        return [*problems, str(exc)]
    try:
        policy = Policy.from_dict(doc["policy"])
    except MXError as exc:
        return [*problems, f"{mf.MANIFEST}: policy: {exc}"]
    gen = doc["generator"]
    if notes is not None:
        if gen["library_version"] != mxemu.__version__:
            notes.append(f"set written by mxemu {gen['library_version']}, checking with {mxemu.__version__}")
        current = mf.git_revision()
        if gen["git_revision"] != current:
            notes.append(f"set written at git revision {gen['git_revision']}, checking at {current}")
    with tempfile.TemporaryDirectory(prefix="mxemu-golden-verify-") as tmp:
        again = Path(tmp) / "set"
        try:
            _regenerate(directory, doc, policy, again, jobs)
        except MXError as exc:
            return [*problems, f"cannot regenerate the set from its manifest: {exc}"]
        fresh = {p.relative_to(again).as_posix(): p for p in again.rglob("*") if p.is_file()}
        have = {p.relative_to(directory).as_posix(): p for p in directory.rglob("*") if p.is_file()}
        for rel in sorted(fresh):
            if rel not in have:
                problems.append(f"{rel}: missing (the regenerated set has it)")
            elif fresh[rel].read_bytes() != have[rel].read_bytes():
                problems.append(f"{rel}: differs from the regenerated file")
        for rel in sorted(set(have) - set(fresh)):
            problems.append(f"{rel}: not part of the regenerated set")
    return sorted(set(problems), key=problems.index)


def _regenerate(directory: Path, doc: dict, policy: Policy, out: Path, jobs: int) -> None:
    """Write the set the manifest describes into `out`: by level and seed, or (a `--from` set) from the
    inputs its own .npz holds, which SHA256SUMS has just checked."""
    dtype = doc.get("input_dtype", "float32")
    if "source" not in doc:
        generate(out, tuple(doc["suites"]), tuple(doc["formats"]), policy, doc["level"], doc["seed"],
                 generator=doc["generator"], progress=None, jobs=jobs, input_dtype=dtype,
                 accumulation=tuple(doc.get("dot_models", {}).values()))
        return
    if len(doc["tables"]) != 1:
        raise FileFormatError(f"{mf.MANIFEST}: a --from set holds one suite file, the manifest lists "
                              f"{len(doc['tables'])}")
    table = doc["tables"][0]
    npz = directory / table["files"]["npz"]["path"]
    if ".." in Path(table["files"]["npz"]["path"]).parts or npz.is_symlink():
        raise FileFormatError(f"{mf.MANIFEST}: {npz} is not a file of the set")
    columns = read_npz(npz)
    inputs = {k: columns[k] for k in ("x", "scale") if k in columns and (k == "x" or table["suite"] == "encode")}
    with tempfile.TemporaryDirectory(prefix="mxemu-golden-inputs-") as tmp:
        again = Path(tmp) / "inputs.npz"
        atomic_write(again, lambda f: f.write(npz_bytes(inputs)))
        generate_from(out, again, table["suite"], table["format"], policy, dtype, generator=doc["generator"],
                      recorded=doc["source"])
