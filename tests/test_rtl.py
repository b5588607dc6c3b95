"""The committed golden vectors in the tools hardware teams use: the Verilog MX dequantizer and its $readmemh
testbench under Icarus Verilog, and a C program built on the exported golden_layout.h."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import needs
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "examples" / "rtl" / "run_testbench.py"
C_SOURCE = ROOT / "examples" / "c" / "check_dequantize.c"
SETS = [ROOT / "golden" / "L0", ROOT / "golden" / "L1"]
FORMATS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8")


def _tool(name: str) -> str:
    return needs.tool(name)  # absent: skipped with the install command (CI: a failure)


def _testbench(directory: Path, *formats: str) -> subprocess.CompletedProcess:
    _tool("iverilog")
    return subprocess.run([sys.executable, str(RUNNER), str(directory), *formats], capture_output=True,
                          text=True, timeout=600)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    return dst


def _alter_value(path: Path, line_no: int) -> None:
    """Flip the lowest bit of the expected float32 value (bits [12, 44) of the record) on one line."""
    lines = path.read_text().splitlines()
    word = int(lines[line_no], 16) ^ (1 << 12)
    lines[line_no] = f"{word:0{len(lines[line_no])}x}"
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("directory", SETS, ids=lambda d: d.name)
def test_verilog_dequantizer_passes_every_committed_dequantize_vector(directory: Path) -> None:
    proc = _testbench(directory)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [ln for ln in proc.stdout.splitlines() if ln.endswith("PASS")] == [
        f"dequantize/{f}: PASS" for f in FORMATS]


def test_verilog_testbench_fails_when_one_vector_line_is_altered(tmp_path: Path) -> None:
    copy = _copy(SETS[0], tmp_path / "set")
    _alter_value(copy / "dequantize" / "mxfp8_e4m3.hex", 200)
    proc = _testbench(copy, "mxfp8_e4m3", "mxfp4_e2m1")
    assert proc.returncode == 1
    assert "dequantize/mxfp8_e4m3: FAIL" in proc.stdout and "dequantize/mxfp4_e2m1: PASS" in proc.stdout
    assert "MISMATCH case 200:" in proc.stdout and "FAIL 1 of 5120 cases" in proc.stdout


def test_verilog_testbench_fails_on_a_short_or_long_vector_file(tmp_path: Path) -> None:
    copy = _copy(SETS[0], tmp_path / "set")
    short = copy / "dequantize" / "mxfp4_e2m1.hex"
    short.write_text("".join(short.read_text().splitlines(keepends=True)[:-1]))
    long = copy / "dequantize" / "mxfp6_e2m3.hex"
    long.write_text(long.read_text() * 2)
    empty = copy / "dequantize" / "mxint8.hex"
    empty.write_text("")
    proc = _testbench(copy, "mxfp4_e2m1", "mxfp6_e2m3", "mxint8")
    assert proc.returncode == 1
    assert "record 319 missing or unreadable (320 expected)" in proc.stdout
    assert "holds more than COUNT = 1280 records" in proc.stdout
    assert "record 0 missing or unreadable" in proc.stdout
    assert "PASS" not in proc.stdout


def _c_checker(tmp_path: Path, directory: Path) -> subprocess.CompletedProcess:
    exe = tmp_path / "check_dequantize"
    subprocess.run([_tool("gcc"), "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(directory), str(C_SOURCE),
                    "-lm", "-o", str(exe)], check=True, capture_output=True, text=True)
    return subprocess.run([str(exe), str(directory)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("directory", SETS, ids=lambda d: d.name)
def test_c_program_on_the_exported_header_passes_the_dequantize_suite(tmp_path: Path, directory: Path) -> None:
    proc = _c_checker(tmp_path, directory)
    assert proc.returncode == 0, proc.stdout
    assert sorted(ln.split(":")[0] for ln in proc.stdout.splitlines()) == sorted(f"PASS {f}" for f in FORMATS)


def test_c_program_fails_when_one_vector_line_is_altered(tmp_path: Path) -> None:
    copy = _copy(SETS[0], tmp_path / "set")
    _alter_value(copy / "dequantize" / "mxint8.hex", 77)
    proc = _c_checker(tmp_path, copy)
    assert proc.returncode == 1
    assert "MISMATCH mxint8 case 77:" in proc.stdout and "FAIL mxint8: 5120 cases, 1 mismatches" in proc.stdout


def test_systemverilog_package_struct_reads_the_records_as_the_tv_lists_them(tmp_path: Path) -> None:
    """golden_pkg.sv compiles under Icarus Verilog (-g2012) and its packed struct, assigned a $readmemh
    record, yields the tag, scale, codes (lane 0 first) and check class of the .tv line."""
    exe = tmp_path / "tb_pkg"
    subprocess.run([_tool("iverilog"), "-g2012", "-o", str(exe), str(SETS[0] / "golden_pkg.sv"),
                    str(ROOT / "examples" / "rtl" / "tb_golden_pkg.sv")], check=True, capture_output=True, text=True)
    tv = (SETS[0] / "quantize" / "mxfp4_e2m1.tv").read_text().splitlines()[1:]
    for case in (0, 3, len(tv) - 1):
        proc = subprocess.run(["vvp", "-n", str(exe), f"+vectors={SETS[0] / 'quantize' / 'mxfp4_e2m1.hex'}",
                               f"+case={case}"], capture_output=True, text=True, timeout=60)
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("case "))
        t = tv[case].split()  # idx tag x0..x31 scale c0..c31 ev chk
        codes = " ".join(f"{int(c, 16):x}" for c in t[35:67])
        assert line == f"case {case} tag {int(t[1], 16)} scale {t[34]} codes {codes} chk {int(t[-1], 16)}"
