"""Run mx_dequant under Verilator on every dequantize suite file of a golden set, checked by `mxemu golden check`.

    python examples/rtl/run_verilator.py golden/L0            # all formats of the set
    python examples/rtl/run_verilator.py golden/L0 mxfp4_e2m1

The C++ driver (verilator_mx_dequant.cpp) is built once; for each suite file it reads the .hex records,
drives the DUT and writes a dump of output words, which `mxemu golden check` compares with the suite. The
record layout comes from the set's MANIFEST.json. Exit status 0 when every file passes, 1 otherwise (also
when the set has no dequantize suite), 2 when Verilator is missing or the build fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mxemu.cli import main as mxemu

HERE = Path(__file__).resolve().parent
FMT_SELECT = {"mxfp8_e4m3": 0, "mxfp8_e5m2": 1, "mxfp6_e3m2": 2, "mxfp6_e2m3": 3, "mxfp4_e2m1": 4, "mxint8": 5}


def build(build_dir: Path) -> Path:
    """Verilate mx_dequant.v with the driver (-Wall: the RTL is lint-clean) and compile it; the executable."""
    subprocess.run(["verilator", "--cc", "--exe", "--build", "-Wall", "-j", "2", "--Mdir", str(build_dir),
                    "-o", "vmx_dequant", str(HERE / "mx_dequant.v"), str(HERE / "verilator_mx_dequant.cpp")],
                   check=True, capture_output=True, text=True)
    return build_dir / "vmx_dequant"


def run_table(exe: Path, directory: Path, table: dict, dump: Path, fmt: str | None = None) -> int:
    """Drive the DUT with one suite file's records (as format `fmt`, default the table's own) and check the
    dump: the exit status of `mxemu golden check`."""
    off = {f["name"]: f["offset"] for f in table["fields"]}
    bits = {f["name"]: f["lane_bits"] for f in table["fields"]}
    vectors = directory / table["files"]["hex"]["path"]
    subprocess.run([str(exe), str(vectors), str(FMT_SELECT[fmt or table["format"]]), str(off["scale"]),
                    str(off["code"]), str(bits["code"]), str(dump)], check=True, capture_output=True, text=True)
    return mxemu(["golden", "check", str(directory), "--suite", table["name"], "--dut", str(dump)])


def main(argv: list[str]) -> int:
    """Run every (or the named) dequantize suite file of the set in argv[0]."""
    directory = Path(argv[0])
    wanted = set(argv[1:])
    doc = json.loads((directory / "MANIFEST.json").read_text())
    tables = [t for t in doc["tables"] if t["suite"] == "dequantize" and (not wanted or t["format"] in wanted)]
    if not tables:
        print(f"FAIL {directory}: no dequantize suite file to run")
        return 1
    if shutil.which("verilator") is None:
        print("FAIL verilator is not installed (Debian: apt-get install verilator)")
        return 2
    ok = True
    with tempfile.TemporaryDirectory(prefix="mx-dequant-verilator-") as tmp:
        try:
            exe = build(Path(tmp) / "obj_dir")
        except subprocess.CalledProcessError as exc:
            print(f"FAIL verilator build:\n{exc.stdout}{exc.stderr}")
            return 2
        for table in tables:
            passed = run_table(exe, directory, table, Path(tmp) / "dump.hex") == 0
            ok &= passed
            print(f"{table['name']}: {'PASS' if passed else 'FAIL'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
