"""`mxemu golden check`: compare a device-under-test dump with a suite and explain each mismatch by field."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mxemu.errors import FileFormatError, InputError, MXError
from mxemu.golden import manifest as mf
from mxemu.golden import trust
from mxemu.golden.suites import CHECK_CLASSES, CONVERT_TARGETS, Field
from mxemu.golden.writers import HEX, hex_digits, parse_tv
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, get_format

NAN_MODES = ("exact", "any")  # --nan: exact codes, or any NaN code of a lane's format equals any other
FLOAT32_SUITES = ("decode", "dequantize", "dot")  # their 32-bit outputs are float32 bit patterns
MAX_LANE_BITS, MAX_LANES, MAX_FIELDS = 64, 4096, 64  # bounds of a record layout a manifest may declare
DUT_SLACK = 1 << 20  # a DUT dump may exceed 4x the suite's .tv by this much (comments, wider spacing)


# ----------------------------------------------------------------------------------------------------------
# Lane formats: which NaN codes, zeros and value classes a lane's bits have
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaneFormat:
    """The value class of every code of a lane ("zero", "subnormal", "normal", "max", "inf", "nan")."""

    name: str
    classes: dict[int, str]

    def of(self, code: int) -> str:
        """The value class of `code` ("normal" where the table has no entry, as for float32)."""
        return self.classes.get(code, "normal")


def _float32_class(v: int) -> str:
    exp, man = (v >> 23) & 0xFF, v & 0x7FFFFF
    if exp == 0xFF:
        return "nan" if man else "inf"
    if exp == 0:
        return "subnormal" if man else "zero"
    return "max" if v & 0x7FFFFFFF == 0x7F7FFFFF else "normal"


class _Float32(LaneFormat):
    def of(self, code: int) -> str:
        return _float32_class(code)


FLOAT32 = _Float32("float32", {})


def element_lanes(elem: ElementFormat) -> LaneFormat:
    """Value classes of every code of an element format, from its bit layout (OCP MX v1.0 §5.3)."""
    sign = 1 << (elem.bits - 1)
    special = {*elem.nan_codes, *elem.inf_codes}
    magnitudes = [c & (sign - 1) for c in range(1 << elem.bits) if c not in special]
    top = max(magnitudes)
    classes = {}
    for c in range(1 << elem.bits):
        mag = c & (sign - 1)
        if c in elem.nan_codes:
            classes[c] = "nan"
        elif c in elem.inf_codes:
            classes[c] = "inf"
        elif (c if elem.is_int else mag) == 0:
            classes[c] = "zero"
        elif elem.is_int:
            classes[c] = "max" if c in (top, sign) else "normal"  # +max and the most negative code
        else:
            classes[c] = "max" if mag == top else "subnormal" if mag >> elem.mantissa_bits == 0 else "normal"
    return LaneFormat(elem.name, classes)


def scale_lanes(scale: ScaleFormat | ElementFormat) -> LaneFormat:
    """Value classes of the scale codes: E8M0 has one NaN code and its two range ends (§5.4)."""
    if isinstance(scale, ElementFormat):
        return element_lanes(scale)
    top = (1 << scale.exponent_bits) - 1
    return LaneFormat(scale.name, {scale.nan_code: "nan", 0: "min", top - 1: "max"})


# ----------------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    """One systematic difference shared by every mismatch of a field: `kind` (offset, zero_sign, nan_code,
    value_class, lane, tag), its value, and a sentence."""

    kind: str
    value: Any
    text: str


@dataclass
class FieldSummary:
    """The mismatches of one output field: failing cases, differing lanes, and the patterns they all share."""

    cases: int = 0
    lanes: int = 0
    patterns: list[Pattern] = field(default_factory=list)

    def line(self, name: str) -> str:
        """One line of the text report."""
        what = "; ".join(p.text for p in self.patterns) or "no single pattern"
        return f"{name}: {self.cases} case(s), {self.lanes} lane(s) differ: {what}"


@dataclass
class CheckResult:
    """Outcome of a DUT comparison: cases compared, failing cases, cases the dump does not hold (failures
    unless `only_present`), one explanation line per failure and a per-field summary of what they share."""

    table: str
    compared: int
    failures: int = 0
    lines: list[str] = field(default_factory=list)
    by_tag: Counter = field(default_factory=Counter)
    not_driven: int = 0
    extra: int = 0
    fields: tuple[str, ...] = ()
    nan: str = "exact"
    only_present: bool = False
    summary: dict[str, FieldSummary] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every compared case matched and the dump covered every case (or `only_present`)."""
        return self.failures == 0

    def report(self) -> list[str]:
        """The text report `mxemu golden check` prints."""
        out = list(self.lines)
        out += [f"  {tag}: {n} failing case(s)" for tag, n in sorted(self.by_tag.items())]
        out += [f"  pattern {s.line(name)}" for name, s in self.summary.items() if s.cases]
        tail = f", {self.not_driven} not driven (absent from the dump)" if self.only_present else ""
        out.append(f"{self.table}: {self.compared} case(s) compared, {self.failures} failure(s){tail}")
        return out

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable report (`--json`): counts, options, mismatches (the first `max_errors`),
        failing cases per coverage tag and the per-field patterns."""
        return {
            "table": self.table, "ok": self.ok, "compared": self.compared, "failures": self.failures,
            "not_driven": self.not_driven, "extra": self.extra, "only_present": self.only_present,
            "fields": list(self.fields), "nan": self.nan, "by_tag": dict(sorted(self.by_tag.items())),
            "summary": {name: {"cases": s.cases, "lanes": s.lanes,
                               "patterns": [{"kind": p.kind, "value": p.value, "text": p.text} for p in s.patterns]}
                        for name, s in self.summary.items()},
            "mismatches": self.mismatches,
        }


# ----------------------------------------------------------------------------------------------------------
# Reading the set and the dump
# ----------------------------------------------------------------------------------------------------------


def resolve_table(doc: dict, suite: str, fmt: str | None) -> dict:
    """The manifest table named by `suite` ("quantize/mxfp4_e2m1", or "quantize" with `fmt` or a single format)."""
    names = [t["name"] for t in doc["tables"]]
    name = suite if "/" in suite else (f"{suite}/{fmt}" if fmt else None)
    if name is None:
        matches = [n for n in names if n.split("/")[0] == suite]
        if len(matches) != 1:
            raise InputError(f"--suite {suite!r} is ambiguous or absent; name one of: {', '.join(names)}")
        name = matches[0]
    for t in doc["tables"]:
        if t["name"] == name:
            return t
    raise InputError(f"no suite {name!r} in this set; suites: {', '.join(names)}")


def _fields(entry: dict) -> tuple[Field, ...]:
    return tuple(Field(f["name"], f["role"], f["lane_bits"], f["lanes"]) for f in entry["fields"])


def _checked_layout(entry: dict) -> tuple[Field, ...]:
    """The record layout of a manifest table, refused unless it is one a suite can have: identifier field
    names, each once, with tag and chk; lane widths and counts within bounds; consistent totals."""
    where = f"{mf.MANIFEST} table {entry['name']!r}"
    names = [trust.identifier(f["name"], f"{where}: field name") for f in entry["fields"]]
    if len(set(names)) != len(names) or not 2 <= len(names) <= MAX_FIELDS or not {"tag", "chk"} <= set(names):
        raise FileFormatError(f"{where}: fields {names} are not distinct suite fields with tag and chk")
    for f in entry["fields"]:
        if f["lane_bits"] > MAX_LANE_BITS or f["lanes"] > MAX_LANES or f["bits"] != f["lane_bits"] * f["lanes"]:
            raise FileFormatError(f"{where}: field {f['name']!r} declares {f['lanes']} lane(s) of "
                                  f"{f['lane_bits']} bits in {f['bits']} (at most {MAX_LANES} of {MAX_LANE_BITS})")
    fields = _fields(entry)
    if entry["record_bits"] != sum(f.bits for f in fields):
        raise FileFormatError(f"{where}: record_bits {entry['record_bits']} is not the sum of its fields' bits")
    return fields


def read_dut(path: Path, entry: dict, limit: int | None = None) -> dict[int, dict[str, list[int]]]:
    """Field lanes per case index from a DUT dump: .tv lines (case index in the first field; tag and inputs
    kept so they can be compared too), or one hex word per line in case order (the output fields packed, or
    the whole .hex record; outputs only). A case given twice, or a dump over `limit` bytes, is refused."""
    fields = _fields(entry)
    outputs = tuple(f for f in fields if f.role == "output")
    data = trust.read_regular(path, limit if limit is not None else 1 << 40, "DUT dump", follow_links=True)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: the DUT dump is not ASCII text ({exc})") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise FileFormatError(f"{path}: no cases in the DUT dump")
    if len(lines[0].split()) > 1:
        cols = parse_tv("\n".join(lines), fields, str(path))
        index = cols["idx"].tolist()
        seen: set[int] = set()
        for i in index:
            if i in seen:
                raise FileFormatError(f"{path}: case {i} appears more than once in the DUT dump")
            seen.add(i)
        keep = [f for f in fields if f.role != "meta" or f.name == "tag"]  # inputs too: misaligned dumps show
        return {int(i): {f.name: np.asarray(cols[f.name][k]).reshape(-1).tolist() for f in keep}
                for k, i in enumerate(index)}
    out_digits = hex_digits(sum(f.bits for f in outputs))
    rec_digits = hex_digits(entry["record_bits"])
    names = {f.name for f in outputs}
    result = {}
    for n, line in enumerate(lines):
        token = line.strip()
        if not HEX.fullmatch(token):
            raise FileFormatError(f"{path}: line {n + 1} is not a hex word (digits 0-9, a-f only)")
        if len(token) == out_digits:
            result[n] = _split(int(token, 16), outputs)
        elif len(token) == rec_digits:
            result[n] = {k: v for k, v in _split(int(token, 16), fields).items() if k in names}
        else:
            raise FileFormatError(f"{path}: line {n + 1} has {len(token)} hex digits; expected {out_digits} "
                                  f"(output word) or {rec_digits} (whole record)")
    return result


def _split(word: int, fields: tuple[Field, ...]) -> dict[str, list[int]]:
    """Field lanes of a packed word whose fields are `fields`, the first most significant."""
    out: dict[str, list[int]] = {}
    at = sum(f.bits for f in fields)
    for f in fields:
        at -= f.bits
        v = word >> at
        out[f.name] = [(v >> (i * f.lane_bits)) & ((1 << f.lane_bits) - 1) for i in range(f.lanes)]
    return out


def _expected(directory: Path, entry: dict, fields: tuple[Field, ...], tags: int) -> dict[str, np.ndarray]:
    """The suite's .tv columns, once its bytes match the SHA-256 the manifest records (a damaged or edited
    expected file is refused, never compared against) and its rows are cases 0..count-1 with known tags
    and check classes. The file is a regular file inside the set, read only up to the size recorded."""
    spec = entry["files"]["tv"]
    tv = trust.confined(directory, spec["path"], f"{mf.MANIFEST} file")
    data = trust.read_regular(tv, spec["bytes"], "suite file")
    if mf.sha256_bytes(data) != spec["sha256"]:
        raise FileFormatError(f"{tv}: SHA-256 differs from {mf.MANIFEST}; the set is damaged "
                              f"(run `mxemu golden verify`)")
    try:
        cols = parse_tv(data.decode("ascii"), fields, str(tv))
    except UnicodeDecodeError:
        raise FileFormatError(f"{tv}: not ASCII text") from None
    n = entry["count"]
    if len(cols["idx"]) != n or not np.array_equal(cols["idx"], np.arange(n, dtype=np.uint64)):
        raise FileFormatError(f"{tv}: holds {len(cols['idx'])} rows, not cases 0..{n - 1} as {mf.MANIFEST} says")
    if n and (int(cols["tag"].max()) >= tags or not set(np.unique(cols["chk"]).tolist()) <= set(CHECK_CLASSES)):
        raise FileFormatError(f"{tv}: a tag or check class the manifest does not define")
    return cols


def read_table(directory: str | Path, name: str) -> dict[str, np.ndarray]:
    """The columns of suite file `name` ("dequantize/mxfp4_e2m1") of the set in `directory`, read as `check`
    reads them: manifest schema-checked, path confined, no links, size bounded, SHA-256 verified. Testbenches
    (a cocotb test, a Python model) use it to drive a design with the set's cases.

    >>> import tempfile
    >>> from mxemu.golden.generate import generate
    >>> from mxemu.policy import Policy
    >>> _ = generate(d := tempfile.mkdtemp(), ("dequantize",), ("mxfp4_e2m1",), Policy(), "L0", 0)
    >>> cols = read_table(d, "dequantize/mxfp4_e2m1")
    >>> len(cols["idx"]), sorted(cols)[:3]
    (320, ['chk', 'code', 'ev'])
    """
    directory = Path(directory)
    doc = mf.read_manifest(directory)
    entry = resolve_table(doc, name, None)
    return _expected(directory, entry, _checked_layout(entry), len(doc["tags"]))


def _lane_formats(entry: dict, outputs: tuple[Field, ...], expected: dict[str, np.ndarray]
                  ) -> dict[str, list[LaneFormat | None]]:
    """The lane format of every output field per case (None: raw bits, such as packed bytes or digests)."""
    n = entry["count"]
    try:
        mx = get_format(entry["format"])
        elem = get_format(entry["element"])
    except MXError:
        raise FileFormatError(f"{mf.MANIFEST} table {entry['name']!r}: format {entry['format']!r} or element "
                              f"{entry['element']!r} is not registered") from None
    if not isinstance(mx, MXFormat) or not isinstance(elem, ElementFormat):
        raise FileFormatError(f"{mf.MANIFEST} table {entry['name']!r}: {entry['format']!r} is not an MX format")
    suite = entry["suite"]
    out: dict[str, list[LaneFormat | None]] = {}
    for f in outputs:
        if suite in FLOAT32_SUITES and f.lane_bits == 32:
            out[f.name] = [FLOAT32] * n
        elif f.name == "scale":
            out[f.name] = [scale_lanes(mx.scale)] * n
        elif f.name in ("code", "codes") and suite == "convert":  # codes of the case's target format
            targets = {t: element_lanes(get_format(name).element) for t, name in enumerate(CONVERT_TARGETS)}
            out[f.name] = [targets.get(int(t)) for t in expected["target"].tolist()]
        elif f.name in ("code", "codes"):
            out[f.name] = [element_lanes(elem)] * n
        else:
            out[f.name] = [None] * n
    return out


# ----------------------------------------------------------------------------------------------------------
# Comparing
# ----------------------------------------------------------------------------------------------------------


def _patterns(name: str, found: list[tuple[int, int, int, int, LaneFormat | None]],
              case_tags: dict[int, str], vector: bool) -> list[Pattern]:
    """What every mismatch (case, lane, want, have, lane format) of one field has in common; nothing for a
    single mismatch, which its own line explains."""
    if len(found) < 2:
        return []
    out = []
    fmts = [fmt for *_, fmt in found]
    if all(fmts):
        want_cls = [fmt.of(w) for (_, _, w, _, fmt) in found]
        have_cls = [fmt.of(h) for (_, _, _, h, fmt) in found]
        if set(want_cls) == set(have_cls) == {"zero"}:
            out.append(Pattern("zero_sign", None, "sign of zero only"))
        elif set(want_cls) == set(have_cls) == {"nan"}:
            out.append(Pattern("nan_code", None, "NaN code only (--nan any accepts it)"))
        elif len(set(want_cls)) == 1:
            out.append(Pattern("value_class", want_cls[0], f"only where a {want_cls[0]} value is expected"))
    offsets = {h - w for (_, _, w, h, _) in found}
    if len(offsets) == 1:
        d = offsets.pop()
        what = "scale offset" if name == "scale" else "offset"
        out.append(Pattern("offset", d, f"constant {what} {d:+d} (got = expected {d:+d} in every mismatch)"))
    lanes = {lane for (_, lane, *_) in found}
    if vector and len(lanes) == 1:
        out.append(Pattern("lane", next(iter(lanes)), f"only lane {next(iter(lanes))}"))
    where = {case_tags[case] for (case, *_) in found}
    if len(where) == 1:
        out.append(Pattern("tag", next(iter(where)), f"only coverage tag {next(iter(where))}"))
    return out


def check(directory: str | Path, suite: str, dut: str | Path, fmt: str | None = None, max_errors: int = 20, *,
          only_present: bool = False, fields: tuple[str, ...] | None = None, nan: str = "exact") -> CheckResult:
    """Compare the DUT dump with the suite's expected outputs, honouring check classes (nan: any NaN value;
    codes_dont_care: element codes ignored). Events are informative and not compared.

    `only_present`: cases absent from the dump are counted as not driven, not as failures. `fields`: compare
    only these output fields (a design implementing one accumulation model of the dot suite). `nan="any"`:
    an expected NaN code matches any NaN code of the lane's format (E5M2 0x7E and 0x7F; every float32 NaN).
    The result also summarises, per field, a pattern all its mismatches share (constant offset, sign of
    zero, NaN code, one value class, lane or coverage tag)."""
    if nan not in NAN_MODES:
        raise InputError(f"--nan must be one of {', '.join(NAN_MODES)}, got {nan!r}")
    directory = Path(directory)
    doc = mf.read_manifest(directory)
    entry = resolve_table(doc, suite, fmt)
    layout = _checked_layout(entry)
    outputs = tuple(f for f in layout if f.role == "output")
    names = tuple(f.name for f in outputs)
    if fields is not None:
        unknown = [f for f in fields if f not in names]
        if unknown or not fields:
            raise InputError(f"--fields {','.join(fields)!r}: {entry['name']} has the output fields "
                             f"{', '.join(names)}")
        outputs = tuple(f for f in outputs if f.name in fields)
    tags = [t["name"] for t in doc["tags"]]
    expected = _expected(directory, entry, layout, len(tags))
    lane_fmts = _lane_formats(entry, outputs, expected)
    got = read_dut(Path(dut), entry, 4 * entry["files"]["tv"]["bytes"] + DUT_SLACK)
    n = entry["count"]
    res = CheckResult(entry["name"], compared=0, fields=tuple(f.name for f in outputs), nan=nan,
                      only_present=only_present)
    found: dict[str, list[tuple[int, int, int, int, LaneFormat | None]]] = {f.name: [] for f in outputs}
    case_tags: dict[int, str] = {}
    for i in sorted(k for k in got if k < n):
        res.compared += 1
        chk = int(expected["chk"][i])
        tag = case_tags[i] = tags[int(expected["tag"][i])]
        diffs, records = [], []
        for f in layout:
            if f.role == "output" or f.name not in got[i]:
                continue
            want = np.asarray(expected[f.name][i]).reshape(-1).tolist()
            bad = [k for k, (w, h) in enumerate(zip(want, got[i][f.name], strict=True)) if w != h]
            if bad:
                diffs.append(f"input {f.name}{f' lane {bad[0]}' if f.lanes > 1 else ''} differs from the suite "
                             f"(a misaligned or foreign dump?)")
                records.append({"field": f.name, "lane": bad[0], "input": True})
        for f in outputs:
            if chk == 2 and f.name in ("code", "codes"):
                continue
            want = np.asarray(expected[f.name][i]).reshape(-1).tolist()
            have = got[i][f.name]
            lanes_fmt = lane_fmts[f.name][i]
            for lane, (w, h) in enumerate(zip(want, have, strict=True)):
                if w == h:
                    continue
                if lanes_fmt is not None and lanes_fmt.of(w) == "nan" and (
                        nan == "any" or (chk == 1 and lanes_fmt is FLOAT32)):
                    if lanes_fmt.of(h) == "nan":
                        continue
                    diffs.append(f"{f.name}: expected a NaN, got {h:0{f.digits}x}")
                else:
                    where = f"{f.name} lane {lane}" if f.lanes > 1 else f.name
                    diffs.append(f"{where}: expected {w:0{f.digits}x} got {h:0{f.digits}x} (bits {w ^ h:#x} differ)")
                found[f.name].append((i, lane, w, h, lanes_fmt))
                records.append({"field": f.name, "lane": lane, "expected": w, "got": h})
        if diffs:
            res.failures += 1
            res.by_tag[tag] += 1
            if len(res.lines) < max_errors:
                res.lines.append(f"case {i} [{tag}] chk={chk}: " + "; ".join(diffs))
                res.mismatches.append({"case": i, "tag": tag, "chk": chk, "diffs": records})
    for f in outputs:
        rows = found[f.name]
        res.summary[f.name] = FieldSummary(len({c for c, *_ in rows}), len(rows),
                                           _patterns(f.name, rows, case_tags, f.lanes > 1))
    missing = n - sum(1 for i in got if i < n)
    res.extra = len(got) - (n - missing)
    if missing and only_present:
        res.not_driven = missing
    elif missing:
        res.failures += missing
        first = next(i for i in range(n) if i not in got)
        res.lines.append(f"{missing} case(s) missing from the DUT dump (first: case {first})")
    if res.extra:
        res.failures += res.extra
        res.lines.append(f"{res.extra} DUT line(s) name no case of the suite (first: index "
                         f"{min(i for i in got if i >= n)})")
    return res
