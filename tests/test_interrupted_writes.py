"""A writer killed (SIGKILL) at any point leaves the old complete file or nothing, never a truncated file that loads.

Each case runs the writer in a child process whose os.fdopen / os.fsync / os.replace are wrapped to
kill the process at a chosen point: part-way through the bytes, before the data fsync, before the
rename, before the directory fsync. The parent then reads what is on disk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import mxemu as mx
from mxemu.golden.generate import generate
from mxemu.golden.verify import verify
from mxemu.torch import qat

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    import numpy as np
    import mxemu as mx

    kind, point, target = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    where, n = point.split(":")
    n = int(n)
    calls = {"fsync": 0, "replace": 0, "bytes": 0}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_fsync, real_replace, real_fdopen = os.fsync, os.replace, os.fdopen

    def fsync(fd):
        calls["fsync"] += 1
        if where == "fsync" and calls["fsync"] == n:
            die()
        real_fsync(fd)

    def replace(a, b):
        calls["replace"] += 1
        if where == "replace" and calls["replace"] == n:
            die()
        real_replace(a, b)

    class Dying:
        """A file that flushes what it was given, then dies once n bytes in total were written."""
        def __init__(self, f):
            self.f = f
        def write(self, b):
            left = n - calls["bytes"]
            if where == "bytes" and len(b) >= left:
                self.f.write(bytes(b)[:left])
                self.f.flush()
                die()
            calls["bytes"] += len(b)
            return self.f.write(b)
        def __getattr__(self, name):
            return getattr(self.f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    os.fsync, os.replace = fsync, replace
    os.fdopen = lambda *a, **k: Dying(real_fdopen(*a, **k))

    if kind == "save":
        q = mx.quantize(np.linspace(-2, 2, 4096, dtype=np.float32), "mxfp8_e4m3")
        mx.save(q, target)
    elif kind == "anchor":
        import torch
        from mxemu.torch import qat
        torch.manual_seed(1)
        qat.save_anchor(torch.nn.Sequential(torch.nn.Linear(64, 16)), target)
    else:
        from mxemu.golden.generate import generate
        generate(target, ("encode", "scale"), ("mxfp4_e2m1",), mx.Policy(), "L0", 2)
''')


def _run(kind: str, point: str, target: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", CHILD, kind, point, str(target)], cwd=ROOT, env=env,
                          capture_output=True, timeout=300).returncode


def _new_bytes(kind: str, tmp: Path, name: str) -> bytes:
    """The file the child writes when it is not interrupted (run once, in a child as well)."""
    target = tmp / "complete" / name
    target.parent.mkdir()
    assert _run(kind, "none:0", target) == 0
    return target.read_bytes()


SLOW = pytest.mark.slow
SAVE_POINTS = [("bytes:700", ".npz"), ("replace:1", ".npz"), ("fsync:2", ".npz"), ("bytes:700", ".safetensors"),
               pytest.param("bytes:1", ".npz", marks=SLOW), pytest.param("fsync:1", ".npz", marks=SLOW),
               *[pytest.param(p, ".safetensors", marks=SLOW) for p in ("bytes:1", "fsync:1", "replace:1", "fsync:2")]]


@pytest.mark.parametrize(("point", "suffix"), SAVE_POINTS)
def test_killed_save_leaves_the_old_file_or_the_new_one(tmp_path, point, suffix):
    new = _new_bytes("save", tmp_path, f"q{suffix}")
    target = tmp_path / f"q{suffix}"
    mx.save(mx.quantize(np.ones(64, np.float32), "mxint8"), target)
    old = target.read_bytes()
    assert _run("save", point, target) == -signal.SIGKILL
    # the rename is the commit point: before it the old file, after it the complete new one
    assert target.read_bytes() == (new if point == "fsync:2" else old)
    mx.load(target)
    # with no old file: nothing, or the complete new file (temp files are hidden, never named like the target)
    fresh = tmp_path / "fresh" / f"q{suffix}"
    fresh.parent.mkdir()
    assert _run("save", point, fresh) == -signal.SIGKILL
    assert (fresh.read_bytes() == new) if point == "fsync:2" else not fresh.exists()
    assert all(p.name.startswith(".") for p in fresh.parent.iterdir() if p.name != fresh.name)


def test_killed_anchor_save_leaves_the_old_checkpoint(tmp_path):
    target = tmp_path / "a.safetensors"
    torch.manual_seed(0)
    old_model = torch.nn.Sequential(torch.nn.Linear(64, 16))
    qat.save_anchor(old_model, target)
    old = target.read_bytes()
    for point in ("bytes:1500",):
        assert _run("anchor", point, target) == -signal.SIGKILL
        assert target.read_bytes() == old
        model = torch.nn.Sequential(torch.nn.Linear(64, 16))
        qat.load_anchor(model, target)
        assert torch.equal(model[0].bias, old_model[0].bias)


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_interrupted_golden_generation_never_verifies_and_a_rerun_repairs_it(tmp_path):
    out = tmp_path / "set"
    generate(out, ("encode",), ("mxfp4_e2m1",), mx.Policy(), "L0", 1)  # an older, complete set
    assert verify(out) == []
    # replace:k kills before the k-th file is renamed into place: 6 data files, 2 exports, manifest, sums
    for point in ("bytes:5000", "replace:10"):
        assert _run("golden", point, out) == -signal.SIGKILL, point
        assert verify(out), f"an interrupted generation ({point}) verifies"
    assert _run("golden", "none:0", out) == 0
    assert verify(out) == []
    complete = tmp_path / "complete"
    assert _run("golden", "none:0", complete) == 0
    assert _files(out) == _files(complete)


def test_every_file_the_library_writes_goes_through_atomic_write():
    import re

    # opening for writing (reads, such as the bounded readers' os.fdopen(fd, "rb"), are not writes)
    pattern = re.compile(r"write_bytes\(|write_text\(|open\([^)]*['\"][wax]b?['\"]|np\.save|save_file\(")
    root = ROOT / "mxemu"
    offenders = []
    for src in root.rglob("*.py"):
        if src.parent.name == "kernels":  # numba's cache stamp, not a user file
            continue
        for lineno, line in enumerate(src.read_text().splitlines(), 1):
            if pattern.search(line) and not line.lstrip().startswith((">>>", "#")):
                offenders.append(f"{src.relative_to(ROOT)}:{lineno}: {line.strip()}")
    # the one place that opens a file for writing is atomic_write's temp file
    assert [o for o in offenders if not o.startswith("mxemu/io.py") or "os.fdopen(fd" not in o] == []
    assert len(offenders) == 1
