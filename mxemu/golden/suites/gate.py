"""Suite dispatch and the oracle gate: every expected output recomputed by mxemu.oracle before writing."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TextIO

import numpy as np

from mxemu import oracle
from mxemu.errors import MXError
from mxemu.golden.suites.args import check_level_suites
from mxemu.golden.suites.blocks import build_divergence, build_quantize, build_scale
from mxemu.golden.suites.codec import build_decode, build_encode
from mxemu.golden.suites.convert import build_convert
from mxemu.golden.suites.dequantize import build_dequantize, oracle_dequantize
from mxemu.golden.suites.dot import build_dot, float_fields, oracle_dot_fields
from mxemu.golden.suites.pack import build_pack
from mxemu.golden.suites.sweep import build_sweep
from mxemu.golden.suites.tables import (
    CONVERT_METHODS,
    CONVERT_TARGETS,
    INPUT_SUITES,
    PACK_DATA,
    PACK_LAYOUTS,
    PACK_SCALE_LAYOUTS,
    Table,
)
from mxemu.golden.suites.values import INPUT_DTYPES, bits_to_f32, f32_bits
from mxemu.policy import Policy
from mxemu.spec import MXFormat, get_format

BUILDERS: dict[str, Callable[[MXFormat, Policy, str, int], Table]] = {
    "decode": build_decode, "encode": build_encode, "scale": build_scale, "quantize": build_quantize,
    "dequantize": build_dequantize, "divergence": build_divergence, "convert": build_convert, "dot": build_dot,
    "pack": build_pack,
}


def build(suite: str, mx_name: str, policy: Policy, level: str, seed: int, progress: TextIO | None = None,
          part: tuple[int, int] = (0, 1), input_dtype: str = "float32", models: dict[str, str] | None = None
          ) -> Table:
    """Build one suite for one MX format and gate it on the oracle (`MXError` if any case disagrees).
    `progress` gets a line every 16 chunks of a sweep (the other suites take seconds). `part` (k, n) of a
    sweep builds only the records of `sweep_part_range(k, n)`; the other suites come whole. The float
    inputs of `INPUT_SUITES` are generated in `input_dtype` (float32, bfloat16, float16). `models`
    (`dot_models`) adds the user accumulation models' fields to a dot suite."""
    mx = get_format(mx_name)
    assert isinstance(mx, MXFormat)
    check_level_suites(level, (suite,))
    if suite == "sweep":  # gated chunk by chunk inside: the codes exist only while their chunk is hashed
        return build_sweep(mx, policy, seed, part, progress)
    if suite == "dot":
        table = BUILDERS[suite](mx, policy, level, seed, models)
    elif suite in INPUT_SUITES:
        table = BUILDERS[suite](mx, policy, level, seed, INPUT_DTYPES[input_dtype])
    else:
        table = BUILDERS[suite](mx, policy, level, seed)
    return gate(table, policy)


def gate(table: Table, policy: Policy) -> Table:
    """The table, once every expected output is recomputed by mxemu.oracle and equal (else `MXError`)."""
    bad = oracle_mismatches(table, policy)
    if bad:
        raise MXError(f"{table.name}: {len(bad)} case(s) disagree with mxemu.oracle (first: case {bad[0]}); "
                      f"refusing to write the suite")
    return table


def oracle_outputs(suite: str, mx: MXFormat, policy: Policy, inputs: dict[str, np.ndarray],
                   input_dtype: str = "float32", models: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Expected output columns computed by mxemu.oracle alone from the input columns of a suite (float
    inputs X as bit patterns of `input_dtype`; a dot suite's user accumulation `models`, `dot_models`)."""
    elem = mx.element
    if suite == "decode":
        out = []
        for c in inputs["code"].tolist():
            v = oracle.decode_value(int(c), elem)
            if isinstance(v, Fraction):
                f = np.float32(float(v))
                if Fraction(float(f)) != v:
                    raise MXError(f"{elem.name} code {c:#x}: value {v} is not a float32")
                if v == 0 and c & (1 << (elem.bits - 1)) and not elem.is_int:
                    f = np.float32(-0.0)
                out.append(int(f32_bits(np.float32([f]))[0]))
            else:
                out.append(int(f32_bits(np.float32([v]))[0]))
        return {"value": np.array(out, dtype=np.uint32)}
    if suite == "dequantize":
        return {"value": np.array([oracle_dequantize(int(s), int(c), mx) for s, c in
                                   zip(inputs["scale"].tolist(), inputs["code"].tolist(), strict=True)],
                                  dtype=np.uint32)}
    if suite == "pack":
        records = [oracle.pack_block(c, int(s), elem.bits, PACK_LAYOUTS[int(k)], PACK_SCALE_LAYOUTS[int(sl)])
                   for k, sl, s, c in zip(inputs["layout"], inputs["scale_layout"], inputs["scale"], inputs["codes"],
                                          strict=True)]
        return {"data": np.stack([np.pad(r, (0, PACK_DATA - len(r))) for r in records])}
    if suite == "dot":
        return oracle_dot_fields(inputs, mx, models)
    if suite == "convert":
        pairs = [oracle.convert_block(c, int(s), mx, CONVERT_TARGETS[int(t)], CONVERT_METHODS[int(m)], policy)
                 for m, t, s, c in zip(inputs["method"], inputs["target"], inputs["src_scale"], inputs["src_codes"],
                                       strict=True)]
        return {"scale": np.array([s for _, s in pairs], np.uint8), "codes": np.stack([c for c, _ in pairs])}
    dt = INPUT_DTYPES[input_dtype]
    if suite == "encode":
        x = dt.from_bits(inputs["x"])
        s = inputs["scale"].astype(np.int64) - 127
        codes = np.empty(len(x), np.uint8)
        rnd = inputs.get("rnd")
        for e in np.unique(s).tolist():
            sel = s == e
            codes[sel] = oracle.encode_array(x[sel], elem, int(e), policy,
                                             random_bits=None if rnd is None else rnd[sel].astype(np.int64))
        return {"code": codes}
    x = dt.from_bits(inputs["x"])
    scales = np.empty(len(x), np.uint8)
    codes = np.empty(x.shape, np.uint8)
    for i, row in enumerate(x):
        if suite == "scale":
            scales[i] = oracle.scale_code(row, mx, policy)
        else:
            rnd = inputs["rnd"][i] if "rnd" in inputs else None
            codes[i], scales[i] = oracle.quantize_block(row, mx, policy, random_bits=rnd)
    return {"scale": scales} if suite == "scale" else {"scale": scales, "codes": codes}  # quantize, divergence


def oracle_mismatches(table: Table, policy: Policy) -> list[int]:
    """Case indices whose expected outputs differ from mxemu.oracle (NaN values compared as NaN)."""
    inputs = {f.name: table.columns[f.name] for f in table.fields if f.role == "input"}
    want = oracle_outputs(table.suite, table.mx, policy, inputs, table.input_dtype, table.models)
    floats = float_fields(table.models)
    bad = np.zeros(table.count, dtype=bool)
    for name, ref in want.items():
        got = table.columns[name]
        if table.suite in ("decode", "dequantize") or name in floats or name.endswith("_blk"):
            nan = np.isnan(bits_to_f32(ref)) & np.isnan(bits_to_f32(got))
            diff = (ref != got) & ~nan
        else:
            diff = ref != got
        bad |= diff.reshape(table.count, -1).any(axis=1)
    return np.flatnonzero(bad).tolist()
