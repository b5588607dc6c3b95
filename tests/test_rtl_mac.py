"""The example fixed-point MAC (examples/rtl/mx_mac.v) under Icarus Verilog and Verilator equals the dot suite's
standard datapaths (S23.8 words of fx40 / fx32, all four product roundings) and exact block sums, on a set
generated here for every OCP format; a wrong expected bit or a wrong rounding in the RTL fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import needs
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "examples" / "rtl" / "run_mac_testbench.py"
DUT = ROOT / "examples" / "rtl" / "mx_mac.v"
ROUNDINGS = ("rtz", "rdn", "rup", "rne")


def _run(*args: str) -> subprocess.CompletedProcess:
    needs.tool("iverilog")  # absent: skipped with the install command (CI: a failure)
    if "verilator" in args:
        needs.tool("verilator")  # absent: skipped with the install command (CI: a failure)
    return subprocess.run([sys.executable, str(RUNNER), *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def dot_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("golden") / "set"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "mxemu.cli", "golden", "gen", "--suite", "dot", "--format", "all",
                    "--level", "L0", "--out", str(out)], check=True, capture_output=True, text=True, env=env,
                   timeout=1800)
    return out


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_the_mac_equals_every_datapath_of_its_rounding(dot_set, rounding):
    proc = _run(str(dot_set), "--rounding", rounding)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": PASS") == 6 * 2 and "FAIL" not in proc.stdout


def test_the_mac_under_verilator_equals_the_datapaths_of_every_rounding(dot_set):
    # A Verilator build takes a minute: the two formats with the widest sums and with Inf and NaN lanes.
    proc = _run(str(dot_set), "mxfp8_e5m2", "mxint8", "--width", "40", "--simulator", "verilator")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": PASS") == 2 * 4 and "FAIL" not in proc.stdout


def _flip(path: Path, line_no: int, bit: int) -> None:
    """Flip bit `bit` (0: the record's least significant) of the record on line `line_no` of a .hex file."""
    lines = path.read_text().splitlines()
    digits = list(lines[line_no])
    at = len(digits) - 1 - bit // 4
    digits[at] = f"{int(digits[at], 16) ^ (1 << (bit % 4)):x}"
    lines[line_no] = "".join(digits)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("field", ["fx40_rne_s23_8", "block_sum"])
def test_one_wrong_expected_bit_fails(dot_set, tmp_path, field):
    copy = tmp_path / "set"
    shutil.copytree(dot_set, copy)
    table = next(t for t in json.loads((copy / "MANIFEST.json").read_text())["tables"] if t["format"] == "mxint8")
    offset = next(f["offset"] for f in table["fields"] if f["name"] == field)
    path = copy / table["files"]["hex"]["path"]
    path.chmod(0o644)
    _flip(path, 3, offset)
    proc = _run(str(copy), "mxint8", "--width", "40", "--rounding", "rne")
    assert proc.returncode == 1 and "MISMATCH case 3" in proc.stdout


@pytest.mark.parametrize(("mutation", "rounding"), [
    ("RDN: rshift = fl;", "rdn"),  # floor taken as truncation toward zero
    ("RUP: rshift = (rem != 0) ? fl + 1 : fl;", "rup"),
    ("default: rshift = (rem > half || (rem == half && fl[0])) ? fl + 1 : fl;", "rne"),
])
def test_a_mutated_product_rounding_fails(dot_set, tmp_path, mutation, rounding):
    source = DUT.read_text()
    assert mutation in source
    wrong = {"rdn": "RDN: rshift = (v < 0 && rem != 0) ? fl + 1 : fl;", "rup": "RUP: rshift = fl + 1;",
             "rne": "default: rshift = (rem >= half) ? fl + 1 : fl;"}[rounding]
    dut = tmp_path / "mx_mac.v"
    dut.write_text(source.replace(mutation, wrong))
    proc = _run(str(dot_set), "--rounding", rounding, "--dut", str(dut))
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout
