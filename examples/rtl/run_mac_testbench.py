"""Run the mx_mac testbench with Icarus Verilog or Verilator on every dot suite file of a golden set.

    python examples/rtl/run_mac_testbench.py SET                      # every format, 40 and 32 bits, 4 roundings
    python examples/rtl/run_mac_testbench.py SET mxfp8_e4m3 --width 40 --rounding rne --simulator verilator

For each file, accumulator width and product rounding the testbench compares mx_mac's S23.8 word with the
field fx<WIDTH>_<rounding>_s23_8 and its exact block sums with BLOCK_SUM. The record layout is read from the
set's MANIFEST.json and passed as parameters. Exit status 0 when every run passes, 1 otherwise (also when the
set has no dot suite).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTBENCH = HERE / "tb_mx_mac.v"
DUT = HERE / "mx_mac.v"
FMT_SELECT = {"mxfp8_e4m3": 0, "mxfp8_e5m2": 1, "mxfp6_e3m2": 2, "mxfp6_e2m3": 3, "mxfp4_e2m1": 4, "mxint8": 5}
ROUNDINGS = ("rtz", "rdn", "rup", "rne")  # the rnd input of mx_mac: 0, 1, 2, 3
WIDTHS = (40, 32)


def parameters(table: dict, width: int) -> dict[str, int]:
    """Testbench parameters of one manifest table entry, for one accumulator width."""
    off = {f["name"]: f["offset"] for f in table["fields"]}
    lane = {f["name"]: f["lane_bits"] for f in table["fields"]}
    return {"COUNT": table["count"], "RECORD_BITS": table["record_bits"], "WIDTH": width, "SA_OFFSET": off["sa"],
            "A_OFFSET": off["a"], "A_BITS": lane["a"], "B_FORMAT_OFFSET": off["b_format"], "SB_OFFSET": off["sb"],
            "B_OFFSET": off["b"], "NBLK_OFFSET": off["nblk"], "SUM_OFFSET": off["block_sum"]}


def build(table: dict, width: int, simulator: str, directory: Path, dut: Path) -> list[str]:
    """Compile the testbench for one suite file and width; the command that runs it."""
    params = parameters(table, width)
    if simulator == "icarus":
        exe = directory / "tb"
        subprocess.run(["iverilog", "-g2005", "-o", str(exe),
                        *[a for k, v in params.items() for a in ("-P", f"tb_mx_mac.{k}={v}")], str(TESTBENCH),
                        str(dut)], check=True, capture_output=True, text=True)
        return ["vvp", "-n", str(exe)]
    subprocess.run(["verilator", "--binary", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "tb_mx_mac",
                    "-Mdir", str(directory), *[f"-G{k}={v}" for k, v in params.items()], str(TESTBENCH), str(dut)],
                   check=True, capture_output=True, text=True)
    return [str(directory / "Vtb_mx_mac")]


def run(directory: Path, table: dict, width: int, roundings: tuple[str, ...], build_dir: Path, dut: Path = DUT,
        simulator: str = "icarus") -> list[tuple[str, bool, str]]:
    """Build the testbench for one suite file and width, run it per rounding; (rounding, passed, output)."""
    command = build(table, width, simulator, build_dir, dut)
    offsets = {f["name"]: f["offset"] for f in table["fields"]}
    out = []
    for rounding in roundings:
        vectors = directory / table["files"]["hex"]["path"]
        word = offsets[f"fx{width}_{rounding}_s23_8"]
        proc = subprocess.run([*command, f"+vectors={vectors}", f"+fmt={FMT_SELECT[table['format']]}",
                               f"+rnd={ROUNDINGS.index(rounding)}", f"+word_offset={word}"], capture_output=True,
                              text=True)
        text = proc.stdout + proc.stderr
        out.append((rounding, proc.returncode == 0 and f"PASS {table['count']} cases" in text and "FAIL" not in text,
                    text))
    return out


def main(argv: list[str]) -> int:
    """Run every (or the named) dot suite file of a set under the asked widths and roundings."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("set", type=Path)
    p.add_argument("formats", nargs="*")
    p.add_argument("--width", type=int, choices=WIDTHS, action="append")
    p.add_argument("--rounding", choices=ROUNDINGS, action="append")
    p.add_argument("--dut", type=Path, default=DUT, help="the mx_mac source to test (default: the example's)")
    p.add_argument("--simulator", choices=("icarus", "verilator"), default="icarus")
    args = p.parse_args(argv)
    doc = json.loads((args.set / "MANIFEST.json").read_text())
    tables = [t for t in doc["tables"] if t["suite"] == "dot" and t["format"] in FMT_SELECT
              and (not args.formats or t["format"] in args.formats)]
    if not tables:
        print(f"FAIL {args.set}: no dot suite file of an OCP format to run")
        return 1
    ok = True
    with tempfile.TemporaryDirectory(prefix="mx-mac-tb-") as tmp:
        for table in tables:
            for width in args.width or WIDTHS:
                build_dir = Path(tmp) / f"{table['format']}_{width}"
                build_dir.mkdir()
                for rounding, passed, text in run(args.set, table, width, tuple(args.rounding or ROUNDINGS), build_dir,
                                                  args.dut, args.simulator):
                    ok &= passed
                    print(f"{table['name']} fx{width}_{rounding}: {'PASS' if passed else 'FAIL'}")
                    if not passed:
                        print(text.rstrip())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
