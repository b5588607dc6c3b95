"""cocotb test of mx_dequant: every case of one dequantize suite file of an mxemu golden set, lane by lane.

The set is read through mxemu's own reader (`mxemu.golden.check.read_table`: manifest checked, SHA-256
verified), so the testbench needs no parser of its own. run_cocotb.py builds the RTL and runs this module
with the environment variables MXEMU_GOLDEN_SET (the set's directory), MXEMU_SUITE (e.g.
dequantize/mxfp4_e2m1) and MXEMU_FMT (mx_dequant's fmt select).
"""

from __future__ import annotations

import os

import cocotb
from cocotb.triggers import Timer

from mxemu.golden.check import read_table

CHK_NAN = 1  # check class nan: any float32 NaN is accepted (golden_layout.h: MXG_CHK_NAN)
MAX_REPORTED = 20


def _is_nan32(v: int) -> bool:
    return (v >> 23) & 0xFF == 0xFF and v & 0x7FFFFF != 0


@cocotb.test()
async def dequantize_suite(dut) -> None:
    """Drive every (scale, code) of the suite file and compare the float32 bits of `value` with the set."""
    cols = read_table(os.environ["MXEMU_GOLDEN_SET"], os.environ["MXEMU_SUITE"])
    dut.fmt.value = int(os.environ["MXEMU_FMT"])
    value = dut["value"]  # by name: `dut.value` would be the handle's own value attribute
    failures = []
    for i, (scale, code, want, chk) in enumerate(zip(cols["scale"].tolist(), cols["code"].tolist(),
                                                      cols["value"].tolist(), cols["chk"].tolist(), strict=True)):
        dut.scale.value = scale
        dut.code.value = code
        await Timer(1, unit="ns")
        got = int(value.value)
        if got != want and not (chk == CHK_NAN and _is_nan32(want) and _is_nan32(got)):
            failures.append(f"case {i}: scale {scale:02x} code {code:02x}: expected {want:08x} got {got:08x}")
    for line in failures[:MAX_REPORTED]:
        dut._log.error(line)
    assert not failures, f"{len(failures)} of {len(cols['idx'])} cases differ"
    dut._log.info(f"PASS {len(cols['idx'])} cases")
