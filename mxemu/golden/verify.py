"""`mxemu golden verify`: checksums, manifest schema, and a byte-for-byte regeneration of a golden set."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mxemu
from mxemu.errors import FileFormatError, InputError, MXError
from mxemu.golden import manifest as mf
from mxemu.golden.generate import generate
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
        try:
            generate(tmp, tuple(doc["suites"]), tuple(doc["formats"]), policy, doc["level"], doc["seed"],
                     generator=gen, progress=None, jobs=jobs)
        except MXError as exc:
            return [*problems, f"cannot regenerate the set from its manifest: {exc}"]
        fresh = {p.relative_to(tmp).as_posix(): p for p in Path(tmp).rglob("*") if p.is_file()}
        have = {p.relative_to(directory).as_posix(): p for p in directory.rglob("*") if p.is_file()}
        for rel in sorted(fresh):
            if rel not in have:
                problems.append(f"{rel}: missing (the regenerated set has it)")
            elif fresh[rel].read_bytes() != have[rel].read_bytes():
                problems.append(f"{rel}: differs from the regenerated file")
        for rel in sorted(set(have) - set(fresh)):
            problems.append(f"{rel}: not part of the regenerated set")
    return sorted(set(problems), key=problems.index)
