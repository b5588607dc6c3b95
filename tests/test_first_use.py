"""First use: the version and the format table, the warmup, and a pytest plugin that never gets in the way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mxemu
import mxemu.golden.verify as golden_verify
from mxemu import cli

ROOT = Path(mxemu.__file__).resolve().parent.parent


def test_version_option_prints_the_package_version(capsys) -> None:
    try:
        cli.main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"mxemu {mxemu.__version__}"


def test_format_table_says_min_positive_not_min_subnormal_for_integer_formats() -> None:
    table = cli.format_table()
    assert "subnormal" not in table
    header = table.splitlines()[0].split()
    assert header[4:7] == ["max", "min", "positive"]
    int4 = next(line for line in table.splitlines() if line.startswith("int4 "))
    assert int4.split()[4:6] == ["1.75", "0.25"]  # k * 2^-2 for k in [-7, 7]: one step is 0.25


def test_warmup_makes_every_call_and_reports_it(capsys) -> None:
    assert cli.main(["warmup"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("mxemu warmup: kernels ready")
    for name in ("encode float32", "quantize float16", "nvfp4 float64", "convert", "matmul", "dequantize"):
        assert f"mxemu warmup: {name}: " in captured.err


def test_verify_says_a_note_shared_by_many_sets_once(monkeypatch, capsys, tmp_path: Path) -> None:
    sets = [tmp_path / f"set{i}" for i in range(11)]

    def fake_verify(directory, notes, jobs=1):
        notes.append("set written at git revision abc-dirty, checking at def")
        return []

    monkeypatch.setattr(golden_verify, "find_sets", lambda directory: sets)
    monkeypatch.setattr(golden_verify, "verify", fake_verify)
    assert cli.main(["golden", "verify", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.count("git revision abc-dirty") == 1


def test_gen_of_one_suite_file_says_file_not_files(tmp_path: Path, capsys) -> None:
    assert cli.main(["golden", "gen", "--suite", "decode", "--format", "mxfp4_e2m1", "--out", str(tmp_path / "g")]) == 0
    assert "wrote 1 suite file (" in capsys.readouterr().err


def test_warmup_covers_every_input_dtype() -> None:
    import importlib.util

    from mxemu.warmup import _calls

    names = {name for name, _ in _calls()}
    dtypes = ["float32", "float64", "float16"]
    if importlib.util.find_spec("ml_dtypes"):  # numpy's own types have no bfloat16; ml_dtypes brings it
        dtypes.append("bfloat16")
    else:
        assert not any("bfloat16" in name for name in names)
    for dt in dtypes:
        assert {f"encode {dt}", f"quantize {dt}", f"fake_quantize {dt}", f"nvfp4 {dt}"} <= names


# --- the pytest plugin, seen from a project that does not use mxemu ---------------------------------------------

FOREIGN_TESTS = """
def test_unrelated():
    assert 1 + 1 == 2

def test_asks_for_the_fixture(mx_conformance):
    pass
"""


def _foreign_project(tmp_path: Path, broken_mxemu: bool) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_foreign.py").write_text(FOREIGN_TESTS)
    shutil.copy(ROOT / "_mxemu_pytestplugin.py", project)
    if broken_mxemu:  # what an interpreter where mxemu cannot load sees (a missing dependency, say)
        (project / "mxemu").mkdir()
        (project / "mxemu" / "__init__.py").write_text("raise ImportError('simulated: mxemu cannot load here')\n")
    return project


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "_mxemu_pytestplugin", "-p", "no:cacheprovider",
                           "-q", *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_plugin_where_mxemu_cannot_load_leaves_other_tests_alone(tmp_path: Path) -> None:
    project = _foreign_project(tmp_path, broken_mxemu=True)
    res = _pytest(project, "test_foreign.py::test_unrelated")
    assert res.returncode == 0, res.stdout + res.stderr
    res = _pytest(project)
    assert res.returncode == 1, res.stdout + res.stderr  # a test failed; pytest itself ran (not exit 3 or 4)
    assert "1 passed, 1 error" in res.stdout  # the fixture fails at setup, with the reason
    assert "the mx_conformance fixture needs mxemu.testing" in res.stdout
    assert "simulated: mxemu cannot load here" in res.stdout
    assert 'pip install -e ".[testing]"' in res.stdout


def test_plugin_imports_nothing_of_mxemu_until_the_fixture_is_used() -> None:
    code = "import _mxemu_pytestplugin, sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'mxemu'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"


def test_jobs_work_where_the_os_has_no_forkserver(monkeypatch, tmp_path: Path) -> None:
    # Windows offers spawn only; the set must be the same bytes as a single-process run
    import multiprocessing

    args = ["golden", "gen", "--suite", "decode", "--format", "mxfp4_e2m1,mxint8"]
    assert cli.main([*args, "--out", str(tmp_path / "one")]) == 0
    real = multiprocessing.get_context

    def windows_context(method=None):
        if method in ("fork", "forkserver"):
            raise ValueError(f"cannot find context for {method!r}")  # what Windows says
        return real(method)

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(multiprocessing, "get_context", windows_context)
    assert cli.main([*args, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert one == two and len(one) > 4
