"""Golden sets whose float inputs are bfloat16 or float16: native coverage, widths, manifest, verify, check."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import mxemu as mx
from mxemu import oracle
from mxemu.cli import main
from mxemu.errors import InputError
from mxemu.golden import suites as gs
from mxemu.golden import writers
from mxemu.golden.check import check
from mxemu.golden.generate import generate
from mxemu.golden.verify import verify
from mxemu.policy import Policy

NATIVE = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16}
BITS = {"bfloat16": (8, 7), "float16": (5, 10)}  # exponent and mantissa bits, from the IEEE / bfloat16 layouts


@cache
def _table(suite: str, fmt: str, level: str, dtype: str) -> gs.Table:
    return gs.build(suite, fmt, Policy(), level, 0, input_dtype=dtype)


def _tags(t: gs.Table) -> set[str]:
    return {gs.TAGS[i][0] for i in np.unique(t.columns["tag"]).tolist()}


def _x(t: gs.Table, dtype: str) -> np.ndarray:
    """The X column as values of the dtype, through ml_dtypes / numpy (not the suites' own conversion)."""
    return np.asarray(t.columns["x"], np.uint16).view(NATIVE[dtype])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("suite", ["encode", "scale", "quantize"])
def test_every_input_is_a_value_of_the_dtype_and_the_outputs_are_those_of_its_float32_widening(suite, dtype):
    for fmt in gs.OCP_FORMATS:
        t = _table(suite, fmt, "L1", dtype)
        assert t.field("x").lane_bits == 16 and t.input_dtype == dtype
        x = _x(t, dtype)
        with np.errstate(invalid="ignore"):  # NaN lanes warn on the casts
            wide = x.astype(np.float32)  # exact: float32 holds every bfloat16 and float16 value
            back = wide.astype(NATIVE[dtype]).view(np.uint16)
        finite = np.isfinite(wide)
        assert np.array_equal(back[finite], np.asarray(t.columns["x"], np.uint16)[finite])
        # a second path: the same values as float32 through the kernels give the same expected outputs
        # (ocp reads Inf and NaN by class, so the input's width does not enter)
        if suite == "encode":
            s = t.columns["scale"].astype(np.int64) - 127
            assert np.array_equal(mx.encode(wide, fmt[2:] if fmt != "mxint8" else "int8", scale_exp=s),
                                  t.columns["code"])
        else:
            q = mx.quantize(wide, fmt, axis=-1)
            assert np.array_equal(np.asarray(q.scales).reshape(-1), t.columns["scale"])
            if suite == "quantize":
                assert np.array_equal(q.codes, t.columns["codes"])


@pytest.mark.parametrize("suite", ["encode", "scale", "quantize"])
def test_bfloat16_l1_sets_hold_every_coverage_tag_of_the_float32_sets_for_every_ocp_format(suite) -> None:
    for fmt in gs.OCP_FORMATS:
        f32_tags = _tags(_table(suite, fmt, "L1", "float32"))
        assert _tags(_table(suite, fmt, "L1", "bfloat16")) == f32_tags, fmt
        if suite == "quantize":  # golden.md §6.4's block models, MB9 for integer elements only
            models = {n for n, _ in gs.TAGS if n.startswith("MB")} - (set() if fmt == "mxint8" else {"MB9-int-min"})
            assert f32_tags == models


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_the_coverage_points_are_native_to_the_dtype(dtype) -> None:
    ebits, mbits = BITS[dtype]
    ones = (1 << mbits) - 1
    for fmt in gs.OCP_FORMATS:
        q = _table("quantize", fmt, "L1", dtype)
        words = np.asarray(q.columns["x"], np.int64)
        tags = q.columns["tag"]
        # amax one ulp of the dtype below a power of two: lane 0 has every mantissa bit set
        ulp = words[tags == gs.TAG_IDS["MB2-pow2-ulp"], 0]
        assert len(ulp) and np.all(ulp & ones == ones)
        # subnormals of the dtype (exponent field 0, mantissa not 0), NaN and Inf lanes
        field = (words >> mbits) & ((1 << ebits) - 1)
        assert np.any((field == 0) & (words & ones != 0))
        top = field == (1 << ebits) - 1
        assert np.any(top & (words & ones == 0)) and np.any(top & (words & ones != 0))
        # ties are ties: round-to-nearest-even and ties-away differ on the MB4 blocks
        ties = _x(q, dtype)[tags == gs.TAG_IDS["MB4-ties"]]
        assert not np.array_equal(mx.quantize(ties, fmt).codes, mx.quantize(ties, fmt, policy="ocp,rounding=rna").codes)
        # the top binade of the dtype is among the encode inputs
        e = np.asarray(_table("encode", fmt, "L1", dtype).columns["x"], np.int64)
        assert np.any(e & 0x7FFF == (((1 << ebits) - 1) << mbits) - 1)


def test_the_input_width_enters_where_the_policy_reads_it() -> None:
    """inf_as_exponent reads Inf as 2^(2^(ebits-1)): 2^16 for float16 inputs, 2^128 for bfloat16 ones; the
    gate's oracle takes the dtype from the set, so both sets pass it with their own scales."""
    pol = Policy().replace(nonfinite="inf_as_exponent")
    half = gs.build("scale", "mxfp4_e2m1", pol, "L0", 0, input_dtype="float16")
    brain = gs.build("scale", "mxfp4_e2m1", pol, "L0", 0, input_dtype="bfloat16")
    inf_h = half.columns["scale"][half.columns["tag"] == gs.TAG_IDS["SC-nonfinite"]]
    inf_b = brain.columns["scale"][brain.columns["tag"] == gs.TAG_IDS["SC-nonfinite"]]
    at_h = oracle.scale_code(np.array([np.inf], np.float16), "mxfp4_e2m1", pol)
    at_b = oracle.scale_code(np.array([np.inf], ml_dtypes.bfloat16), "mxfp4_e2m1", pol)
    assert (at_h, at_b) == (127 + 16 - 2, 127 + 128 - 2 if 128 - 2 <= 127 else 255) or at_h != at_b
    assert at_h in inf_h.tolist() and at_b not in inf_h.tolist()
    assert at_b in inf_b.tolist() and at_h not in inf_b.tolist()


def test_a_bfloat16_set_states_its_dtype_writes_16_bit_lanes_and_verifies_byte_identically(tmp_path: Path) -> None:
    out = tmp_path / "bf16"
    assert main(["golden", "gen", "--suite", "all", "--format", "mxfp8_e4m3,mxint8", "--input-dtype", "bfloat16",
                 "--out", str(out)]) == 0
    doc = json.loads((out / "MANIFEST.json").read_text())
    assert doc["input_dtype"] == "bfloat16" and "--input-dtype bfloat16" in doc["command"]
    q = next(t for t in doc["tables"] if t["name"] == "quantize/mxfp8_e4m3")
    x = next(f for f in q["fields"] if f["name"] == "x")
    assert (x["lane_bits"], x["tv_digits"]) == (16, 4)
    assert "MXG_QUANTIZE_MXFP8_E4M3_X_LANE_BITS 16u" in (out / "golden_layout.h").read_text()
    line = (out / "quantize" / "mxfp8_e4m3.hex").read_text().splitlines()[0]
    assert len(line) == q["hex_digits"] == (16 + 32 * 16 + 8 + 32 * 8 + 8 + 4 + 3) // 4
    npz = writers.read_npz(str(out / "quantize" / "mxfp8_e4m3.npz"))
    assert npz["x"].dtype == np.uint16 and npz["x"].shape == (q["count"], 32)
    assert verify(out) == []
    # the regeneration really compares: one changed input lane is found
    path = out / "quantize" / "mxfp8_e4m3.tv"
    text = path.read_text().splitlines()
    fields = text[1].split()
    fields[2] = f"{int(fields[2], 16) ^ 1:04x}"
    path.write_text("\n".join([text[0], " ".join(fields), *text[2:]]) + "\n")
    assert any("mxfp8_e4m3.tv" in p for p in verify(out))


def test_check_reads_a_bfloat16_set(tmp_path: Path) -> None:
    out = tmp_path / "s"
    generate(out, ("quantize",), ("mxfp6_e2m3",), Policy(), "L0", 0, input_dtype="bfloat16")
    tv = out / "quantize" / "mxfp6_e2m3.tv"
    assert check(out, "quantize/mxfp6_e2m3", tv).ok
    lines = tv.read_text().splitlines()
    rec = lines[1].split()
    rec[1 + 1 + 32] = f"{(int(rec[1 + 1 + 32], 16) + 1) & 0xFF:02x}"  # the scale after idx, tag and 32 lanes
    bad = tmp_path / "dut.tv"
    bad.write_text("\n".join([lines[0], " ".join(rec), *lines[2:]]) + "\n")
    res = check(out, "quantize/mxfp6_e2m3", bad)
    assert not res.ok and res.failures == 1


def test_other_suites_are_the_same_in_every_dtype_and_the_sweep_takes_float32_only(tmp_path: Path) -> None:
    for suite in ("decode", "dequantize", "convert", "pack"):
        a = gs.build(suite, "mxfp4_e2m1", Policy(), "L0", 0)
        b = gs.build(suite, "mxfp4_e2m1", Policy(), "L0", 0, input_dtype="float16")
        assert writers.npz_bytes(a) == writers.npz_bytes(b)
    with pytest.raises(InputError, match="float32 only"):
        generate(tmp_path / "x", ("sweep",), ("mxfp4_e2m1",), Policy(), "exhaustive", 0, input_dtype="bfloat16")
    with pytest.raises(InputError, match="accepted: float32, bfloat16, float16"):
        generate(tmp_path / "y", ("encode",), ("mxfp4_e2m1",), Policy(), "L0", 0, input_dtype="float64")
    assert main(["golden", "gen", "--suite", "encode", "--format", "mxfp4_e2m1", "--input-dtype", "fp8",
                 "--out", str(tmp_path / "z")]) == 2
