"""numba's kernel cache never breaks mxemu: no writable cache folder means no cache, a damaged one is rebuilt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mxemu

ROOT = Path(mxemu.__file__).resolve().parent.parent
# decode of the E4M3 codes 0x38 (1.0), 0x7e (448) and 0x01 (2^-9): one small kernel to compile
CALL = ("import numpy as np, mxemu as mx; "
        "print(mx.decode(np.array([0x38, 0x7e, 0x01], np.uint8), 'fp8_e4m3').tolist())")
EXPECTED = str([1.0, 448.0, 2.0 ** -9])


def _copy_package(tmp: Path) -> Path:
    """A copy of mxemu and its spec data with no compiled kernels in it."""
    root = tmp / "src"
    shutil.copytree(ROOT / "mxemu", root / "mxemu", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "spec", root / "spec")
    return root


def _run(root: Path, env: dict[str, str], code: str = CALL) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=600,
                          env={**clean, "PYTHONPATH": str(root), **env})


def _unwritable(tmp: Path) -> dict[str, str]:
    """Every cache folder numba tries, blocked by a regular file in the way (root ignores permission bits)."""
    wall = tmp / "wall"
    wall.write_text("a file, so no folder can be made below it")
    return {"NUMBA_CACHE_DIR": str(wall / "numba"), "XDG_CACHE_HOME": str(wall / "cache"), "HOME": str(wall)}


def test_import_and_call_work_when_no_cache_folder_is_writable(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    for pkg in ("mxemu", "mxemu/kernels"):
        (root / pkg / "__pycache__").write_text("a file where numba wants its cache folder")
    res = _run(root, _unwritable(tmp_path))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == EXPECTED
    assert "no writable numba cache folder" in res.stderr
    assert "Set NUMBA_CACHE_DIR to a writable folder" in res.stderr


def test_without_the_fallback_numba_itself_refuses_the_import(tmp_path: Path) -> None:
    # the failure the fallback exists for: the same environment, the fallback switched off before mxemu loads
    root = _copy_package(tmp_path)
    for pkg in ("mxemu", "mxemu/kernels"):
        (root / pkg / "__pycache__").write_text("a file where numba wants its cache folder")
    res = _run(root, _unwritable(tmp_path), "from numba.core import caching; caching._mxemu_guard = True; " + CALL)
    assert res.returncode != 0
    assert "no locator available" in res.stderr


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_cache_is_detected_and_rebuilt(tmp_path: Path, damage: str) -> None:
    root = _copy_package(tmp_path)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first = _run(root, env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("mxemu: compiling kernels, one time") == 1  # said once, however many kernels
    files = [p for p in (tmp_path / "cache").rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert any(p.suffix == ".nbi" for p in files) and any(p.suffix == ".nbc" for p in files)
    for p in files:
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x80\x05garbage" * 8)
    second = _run(root, env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == EXPECTED
    assert "damaged numba cache entry" in second.stderr
    third = _run(root, env)  # rebuilt: read back without a word
    assert third.returncode == 0, third.stderr
    assert third.stdout.strip() == EXPECTED
    assert "damaged" not in third.stderr
    assert "compiling" not in third.stderr  # loaded from the cache: nothing to say


def test_damaged_cache_without_the_guard_fails_every_call(tmp_path: Path) -> None:
    # the failure the guard exists for: the same damage, the guard switched off before mxemu loads
    root = _copy_package(tmp_path)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    assert _run(root, env).returncode == 0
    for p in (tmp_path / "cache").rglob("*.nbi"):
        p.write_bytes(p.read_bytes()[:-20])
    res = _run(root, env, "from numba.core import caching; caching._mxemu_guard = True; " + CALL)
    assert res.returncode != 0
    assert "Error" in res.stderr.splitlines()[-1]
