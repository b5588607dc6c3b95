"""Run the cocotb test of mx_dequant (cocotb_mx_dequant.py) under Icarus Verilog on every dequantize suite file
of a golden set.

    python examples/rtl/run_cocotb.py golden/L0            # all formats of the set
    python examples/rtl/run_cocotb.py golden/L0 mxfp4_e2m1

cocotb (pip install cocotb; the `test` extra pins it) supports Icarus Verilog 11+ and Verilator 5.036+;
Debian's Verilator is older, so this runner uses Icarus. Exit status 0 when every file passes, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path

from cocotb_tools.runner import get_results, get_runner

HERE = Path(__file__).resolve().parent
FMT_SELECT = {"mxfp8_e4m3": 0, "mxfp8_e5m2": 1, "mxfp6_e3m2": 2, "mxfp6_e2m3": 3, "mxfp4_e2m1": 4, "mxint8": 5}


def run(directory: Path, tables: list[dict], build_dir: Path, fmt: str | None = None) -> dict[str, bool]:
    """Build mx_dequant once, then run the cocotb test on each suite file (driven as format `fmt`, default the
    table's own); passed or not, per suite file."""
    runner = get_runner("icarus")
    runner.build(sources=[HERE / "mx_dequant.v"], hdl_toplevel="mx_dequant", build_dir=build_dir,
                 timescale=("1ns", "1ps"))
    out = {}
    for table in tables:
        results = build_dir / f"{table['format']}.xml"
        with contextlib.suppress(SystemExit):  # under pytest, the runner exits on a failing test instead of returning
            runner.test(hdl_toplevel="mx_dequant", test_module="cocotb_mx_dequant", test_dir=HERE,
                        build_dir=build_dir, results_xml=str(results),
                        extra_env={"MXEMU_GOLDEN_SET": str(directory.resolve()), "MXEMU_SUITE": table["name"],
                                   "MXEMU_FMT": str(FMT_SELECT[fmt or table["format"]])})
        tests, failed = get_results(results) if results.is_file() else (0, 0)
        out[table["name"]] = tests == 1 and failed == 0
    return out


def main(argv: list[str]) -> int:
    """Run every (or the named) dequantize suite file of the set in argv[0]."""
    directory = Path(argv[0])
    wanted = set(argv[1:])
    doc = json.loads((directory / "MANIFEST.json").read_text())
    tables = [t for t in doc["tables"] if t["suite"] == "dequantize" and (not wanted or t["format"] in wanted)]
    if not tables:
        print(f"FAIL {directory}: no dequantize suite file to run")
        return 1
    with tempfile.TemporaryDirectory(prefix="mx-dequant-cocotb-") as tmp:
        results = run(directory, tables, Path(tmp))
    for name, passed in results.items():
        print(f"{name}: {'PASS' if passed else 'FAIL'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
