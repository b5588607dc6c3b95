"""File forms of a suite (.tv text, $readmemh .hex, .npz of bit patterns) and the C / SystemVerilog layout exports."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from mxemu.errors import FileFormatError
from mxemu.golden.suites import (
    CHECK_CLASSES,
    CONVERT_METHODS,
    CONVERT_TARGETS,
    EVENT_NAMES,
    PACK_LAYOUTS,
    PACK_SCALE_LAYOUTS,
    TAGS,
    Field,
    Table,
    divergence_presets,
)
from mxemu.golden.trust import identifier


def _lanes(table: Table, f: Field) -> np.ndarray:
    """The field's values as an (n, lanes) uint64 array."""
    return np.asarray(table.columns[f.name], dtype=np.uint64).reshape(table.count, f.lanes)


def tv_header(table: Table) -> str:
    """The `#` comment line describing the .tv fields."""
    parts = ["idx(8)"]
    for f in table.fields:
        lanes = f"[0..{f.lanes - 1}]" if f.lanes > 1 else ""
        parts.append(f"{f.name}{lanes}({f.digits})")
    return (f"# mxemu golden {table.name}: one case per line, lowercase hex, fixed width (digits in parentheses), "
            f"vector fields lane 0 first: {' '.join(parts)}")


def tv_lines(table: Table) -> Iterable[str]:
    """The .tv text: header, then one case per line."""
    yield tv_header(table)
    cols = [(f, _lanes(table, f).tolist()) for f in table.fields]
    for i in range(table.count):
        tokens = [f"{i:08x}"]
        for f, values in cols:
            tokens.extend(f"{v:0{f.digits}x}" for v in values[i])
        yield " ".join(tokens)


def pack(table: Table, fields: tuple[Field, ...] | None = None) -> list[int]:
    """One packed integer per case: the fields concatenated, the first most significant; lane i of a
    vector field at bits [i*w +: w] of that field."""
    fields = table.fields if fields is None else fields
    words = [0] * table.count
    for f in fields:
        values = _lanes(table, f).tolist()
        for i, lanes in enumerate(values):
            v = 0
            for lane in reversed(lanes):
                v = (v << f.lane_bits) | lane
            words[i] = (words[i] << f.bits) | v
    return words


def hex_digits(bits: int) -> int:
    """Hex digits of a word of `bits` bits."""
    return (bits + 3) // 4


def hex_lines(table: Table) -> Iterable[str]:
    """The $readmemh text: one record word per line, no comments, no addresses."""
    d = hex_digits(table.record_bits)
    for w in pack(table):
        yield f"{w:0{d}x}"


def text_bytes(lines: Iterable[str]) -> bytes:
    """Lines joined with LF, ending in LF, as ASCII."""
    return ("\n".join(lines) + "\n").encode("ascii")


def npz_bytes(table: Table) -> bytes:
    """An .npz (stored, fixed timestamps) with one unsigned-integer array per field, (n,) or (n, lanes)."""
    from mxemu.io import npz_bytes as archive

    arrays = {}
    for f in table.fields:
        a = np.ascontiguousarray(np.asarray(table.columns[f.name]).astype(f.dtype.newbyteorder("<")))
        arrays[f.name] = a.reshape(table.count, f.lanes) if f.lanes > 1 else a.reshape(table.count)
    return archive(arrays)


def read_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of a suite .npz (no pickle; sizes checked before allocating: `mxemu.io.read_npz`)."""
    from mxemu.io import read_npz as read

    return read(path)


HEX = re.compile(r"[0-9a-fA-F]+")


def parse_tv(text: str, table_fields: tuple[Field, ...], where: str) -> dict[str, np.ndarray]:
    """Columns of a .tv text (header lines starting with # and blank lines skipped); `FileFormatError` on
    a line that does not have the suite's fields."""
    widths = [(f, f.lanes) for f in table_fields]
    ntok = 1 + sum(n for _, n in widths)
    # the case index, then every lane: at most its lane_bits (the index at most 64 bits)
    limits = [64] + [f.lane_bits for f, n in widths for _ in range(n)]
    rows: list[list[int]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) != ntok:
            raise FileFormatError(f"{where}:{lineno}: {len(tokens)} fields, expected {ntok}")
        if not all(HEX.fullmatch(t) for t in tokens):
            raise FileFormatError(f"{where}:{lineno}: a field is not hexadecimal (digits 0-9, a-f only)")
        row = [int(t, 16) for t in tokens]
        wide = [i for i, (v, bits) in enumerate(zip(row, limits, strict=True)) if v >> bits]
        if wide:
            raise FileFormatError(f"{where}:{lineno}: field {wide[0] + 1} ({tokens[wide[0]]}) is wider than its "
                                  f"{limits[wide[0]]} bits")
        rows.append(row)
    arr = np.array(rows, dtype=np.uint64).reshape(len(rows), ntok)
    out = {"idx": arr[:, 0]}
    at = 1
    for f, n in widths:
        out[f.name] = arr[:, at:at + n] if n > 1 else arr[:, at]
        at += n
    return out


# ----------------------------------------------------------------------------------------------------------
# C and SystemVerilog layout exports
# ----------------------------------------------------------------------------------------------------------


def _ident(entry: dict) -> str:
    return f"{entry['suite']}_{entry['format']}".upper()


def _checked(entries: list[dict]) -> list[dict]:
    """`entries`, once every name they paste into a generated source is an identifier (`trust.identifier`),
    every table name is its suite/format and every number an integer: text from a shard or manifest never
    becomes C or SystemVerilog code."""
    for t in entries:
        stem = f"{identifier(t['suite'], 'suite')}/{identifier(t['format'], 'format')}"
        numbers = [t["count"], t["record_bits"], t["hex_digits"],
                   *(f[k] for f in t["fields"] for k in ("offset", "lane_bits", "lanes"))]
        if t["name"] != stem or not all(type(v) is int and v >= 0 for v in numbers):
            raise FileFormatError(f"suite file {str(t['name'])[:80]!r}: name or numbers unfit for a layout export")
        for f in t["fields"]:
            identifier(f["name"], f"{stem}: field name")
    return entries


def _constants() -> list[tuple[str, int, bool]]:
    """The named constants both layout exports define: (name, value, whether it is the bit number of a flag)."""
    return [
        *((f"CHK_{text.split(':')[0].upper()}", k, False) for k, text in CHECK_CLASSES.items()),
        *((f"EV_{name.upper()}", bit, True) for bit, name in enumerate(EVENT_NAMES)),
        *((f"TAG_{name.replace('-', '_').upper()}", i, False) for i, (name, _) in enumerate(TAGS)),
        # bit i of a divergence record's DIFFERS field
        *((f"PRESET_{name.upper()}_BIT", i, False) for i, name in enumerate(divergence_presets())),
        # the TARGET and METHOD fields of a convert record (TARGET also names the B_FORMAT of a dot record),
        # the LAYOUT and SCALE_LAYOUT fields of a pack record
        *((f"CONVERT_TARGET_{name.upper()}", i, False) for i, name in enumerate(CONVERT_TARGETS)),
        *((f"CONVERT_METHOD_{name.upper()}", i, False) for i, name in enumerate(CONVERT_METHODS)),
        *((f"PACK_LAYOUT_{name.upper()}", i, False) for i, name in enumerate(PACK_LAYOUTS)),
        *((f"PACK_SCALE_LAYOUT_{name.upper()}", i, False) for i, name in enumerate(PACK_SCALE_LAYOUTS)),
    ]


def c_header(entries: list[dict]) -> str:
    """golden_layout.h from the manifest's table entries: record widths, field offsets and lane widths of
    every suite file, plus the check-class and events constants."""
    out = ["/* golden_layout.h: record layouts of an mxemu golden set (generated; do not edit).",
           " * A .hex record is one word of RECORD_BITS bits: fields concatenated, the first field most",
           " * significant. A field starts at bit <FIELD>_OFFSET (from the least significant bit); lane i of a",
           " * vector field occupies bits [OFFSET + i*LANE_BITS, OFFSET + (i+1)*LANE_BITS). */",
           "#ifndef MXEMU_GOLDEN_LAYOUT_H", "#define MXEMU_GOLDEN_LAYOUT_H", ""]
    for name, value, is_bit in _constants():
        out.append(f"#define MXG_{name} {f'(1u << {value})' if is_bit else f'{value}u'}")
    out.append("")
    for t in _checked(entries):
        p = f"MXG_{_ident(t)}"
        out.append(f"/* {t['name']}: {t['count']} cases */")
        out.append(f"#define {p}_COUNT {t['count']}u")
        out.append(f"#define {p}_RECORD_BITS {t['record_bits']}u")
        out.append(f"#define {p}_HEX_DIGITS {t['hex_digits']}u")
        for f in t["fields"]:
            q = f"{p}_{f['name'].upper()}"
            out.append(f"#define {q}_OFFSET {f['offset']}u")
            out.append(f"#define {q}_LANE_BITS {f['lane_bits']}u")
            out.append(f"#define {q}_LANES {f['lanes']}u")
        out.append("")
    out.append("#endif /* MXEMU_GOLDEN_LAYOUT_H */")
    return "\n".join(out) + "\n"


def sv_package(entries: list[dict]) -> str:
    """golden_pkg.sv from the manifest's table entries: localparams and one `typedef struct packed` per
    suite file, matching the .hex records (load a record with $readmemh into logic [RECORD_BITS-1:0] and
    cast it to the struct)."""
    out = ["// golden_pkg.sv: record layouts of an mxemu golden set (generated; do not edit).",
           "// Packed structs list fields most significant first, as the .hex words do; a vector field",
           "// logic [LANES-1:0][LANE_BITS-1:0] puts lane i at bits [i*LANE_BITS +: LANE_BITS].",
           "// Constants are `localparam int` (every value is below 2^31; Icarus Verilog 11 has no int unsigned).",
           "package golden_pkg;", ""]
    for name, value, is_bit in _constants():
        out.append(f"  localparam int {name} = {f'1 << {value}' if is_bit else value};")
    out.append("")
    for t in _checked(entries):
        p = _ident(t)
        out.append(f"  // {t['name']}: {t['count']} cases")
        out.append(f"  localparam int {p}_COUNT = {t['count']};")
        out.append(f"  localparam int {p}_RECORD_BITS = {t['record_bits']};")
        for f in t["fields"]:
            q = f"{p}_{f['name'].upper()}"
            out.append(f"  localparam int {q}_OFFSET = {f['offset']};")
            out.append(f"  localparam int {q}_LANE_BITS = {f['lane_bits']};")
            out.append(f"  localparam int {q}_LANES = {f['lanes']};")
        out.append("  typedef struct packed {")
        for f in t["fields"]:
            lanes, w = f["lanes"], f["lane_bits"]
            dims = f"[{lanes - 1}:0][{w - 1}:0]" if lanes > 1 else f"[{w - 1}:0]"
            out.append(f"    logic {dims} {f['name']};")
        out.append(f"  }} {p.lower()}_t;")
        out.append("")
    out.append("endpackage : golden_pkg")
    return "\n".join(out) + "\n"
