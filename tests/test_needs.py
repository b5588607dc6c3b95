"""Tests that need a program or Triton skip with the install command where it is absent, and fail in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _rtl_tests_without_tools(tmp_path: Path, require_all: bool) -> subprocess.CompletedProcess:
    # an empty PATH: no iverilog and no gcc, as on a fresh machine (the tests start Python by its full path)
    env = {**os.environ, "PATH": str(tmp_path), "MXEMU_REQUIRE_ALL": "1" if require_all else "0"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "test_rtl.py")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_rtl_tests_skip_with_the_install_command_where_the_tools_are_absent(tmp_path: Path) -> None:
    res = _rtl_tests_without_tools(tmp_path, require_all=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "passed" not in res.stdout.splitlines()[-1] and "skipped" in res.stdout.splitlines()[-1]
    assert "SKIPPED" in res.stdout
    assert "is not installed; install it with: apt-get install iverilog verilator gcc g++ make" in res.stdout


def test_rtl_tests_fail_where_the_tools_are_absent_and_required(tmp_path: Path) -> None:
    res = _rtl_tests_without_tools(tmp_path, require_all=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "skipped" not in res.stdout.splitlines()[-1]
    assert "MXEMU_REQUIRE_ALL=1: required here" in res.stdout


@pytest.mark.parametrize("require_all", [False, True])
def test_a_missing_module_skips_or_fails_at_module_level(tmp_path: Path, require_all: bool) -> None:
    (tmp_path / "test_mod.py").write_text("import needs\n\nneeds.module('no_such_module_anywhere', 'pip install x')\n\n"
                                          "def test_never_runs():\n    raise AssertionError\n")
    (tmp_path / "test_other.py").write_text("def test_runs():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "MXEMU_REQUIRE_ALL": "1" if require_all else "0"}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    last = res.stdout.splitlines()[-1]
    if require_all:
        assert res.returncode != 0 and "error" in last, res.stdout
    else:
        assert res.returncode == 0 and "1 passed, 1 skipped" in last, res.stdout
    assert "the Python package 'no_such_module_anywhere' is not installed; install it with: pip install x" in res.stdout
