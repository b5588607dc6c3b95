"""Run the mx_dequant testbench with Icarus Verilog on every dequantize suite file of a golden set.

    python examples/rtl/run_testbench.py golden/L0            # all formats of the set
    python examples/rtl/run_testbench.py golden/L0 mxfp4_e2m1

The record layout (count, width, field offsets) is read from the set's MANIFEST.json and passed to the
testbench as parameters; the vectors are loaded by the testbench itself with $readmemh. Exit status 0
when every file passes, 1 otherwise (also when the set has no dequantize suite).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = (HERE / "tb_mx_dequant.v", HERE / "mx_dequant.v")
FMT_SELECT = {"mxfp8_e4m3": 0, "mxfp8_e5m2": 1, "mxfp6_e3m2": 2, "mxfp6_e2m3": 3, "mxfp4_e2m1": 4, "mxint8": 5}


def parameters(table: dict) -> dict[str, int]:
    """Testbench parameters of one manifest table entry."""
    off = {f["name"]: f["offset"] for f in table["fields"]}
    bits = {f["name"]: f["bits"] for f in table["fields"]}
    return {"COUNT": table["count"], "RECORD_BITS": table["record_bits"], "SCALE_OFFSET": off["scale"],
            "CODE_OFFSET": off["code"], "CODE_BITS": bits["code"], "VALUE_OFFSET": off["value"],
            "CHK_OFFSET": off["chk"]}


def run_table(directory: Path, table: dict, build: Path) -> tuple[bool, str]:
    """Compile the testbench for one suite file and run it; (passed, simulator output)."""
    params = [arg for k, v in parameters(table).items() for arg in ("-P", f"tb_mx_dequant.{k}={v}")]
    exe = build / f"tb_{table['format']}"
    subprocess.run(["iverilog", "-g2005", "-Wall", "-o", str(exe), *params, *map(str, SOURCES)], check=True,
                   capture_output=True, text=True)
    vectors = directory / table["files"]["hex"]["path"]
    proc = subprocess.run(["vvp", "-n", str(exe), f"+vectors={vectors}", f"+fmt={FMT_SELECT[table['format']]}"],
                          capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    passed = proc.returncode == 0 and f"PASS {table['count']} cases" in out and "FAIL" not in out
    return passed, out


def main(argv: list[str]) -> int:
    """Run every (or the named) dequantize suite file of the set in argv[0]."""
    directory = Path(argv[0])
    wanted = set(argv[1:])
    doc = json.loads((directory / "MANIFEST.json").read_text())
    tables = [t for t in doc["tables"] if t["suite"] == "dequantize" and (not wanted or t["format"] in wanted)]
    if not tables:
        print(f"FAIL {directory}: no dequantize suite file to run")
        return 1
    ok = True
    with tempfile.TemporaryDirectory(prefix="mx-dequant-tb-") as tmp:
        for table in tables:
            passed, out = run_table(directory, table, Path(tmp))
            ok &= passed
            print(f"{table['name']}: {'PASS' if passed else 'FAIL'}")
            if not passed:
                print(out.rstrip())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
