"""`mxemu golden check`: compare a device-under-test dump with a suite and explain each mismatch by field."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mxemu.errors import FileFormatError, InputError
from mxemu.golden import manifest as mf
from mxemu.golden.suites import Field
from mxemu.golden.writers import HEX, hex_digits, parse_tv


@dataclass
class CheckResult:
    """Outcome of a DUT comparison: cases compared, failing cases, and one explanation line per failure."""

    table: str
    compared: int
    failures: int = 0
    lines: list[str] = field(default_factory=list)
    by_tag: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """True when every compared case matched and the dump covered every case."""
        return self.failures == 0


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


def _split(word: int, fields: tuple[Field, ...]) -> dict[str, list[int]]:
    """Field lanes of a packed word whose fields are `fields`, the first most significant."""
    out: dict[str, list[int]] = {}
    at = sum(f.bits for f in fields)
    for f in fields:
        at -= f.bits
        v = word >> at
        out[f.name] = [(v >> (i * f.lane_bits)) & ((1 << f.lane_bits) - 1) for i in range(f.lanes)]
    return out


def read_dut(path: Path, entry: dict) -> dict[int, dict[str, list[int]]]:
    """Field lanes per case index from a DUT dump: .tv lines (case index in the first field; tag and inputs
    kept so they can be compared too), or one hex word per line in case order (the output fields packed, or
    the whole .hex record; outputs only)."""
    fields = _fields(entry)
    outputs = tuple(f for f in fields if f.role == "output")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the DUT dump {path}: {exc}") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise FileFormatError(f"{path}: no cases in the DUT dump")
    if len(lines[0].split()) > 1:
        cols = parse_tv("\n".join(lines), fields, str(path))
        keep = [f for f in fields if f.role != "meta" or f.name == "tag"]  # inputs too: misaligned dumps show
        return {int(i): {f.name: np.asarray(cols[f.name][k]).reshape(-1).tolist() for f in keep}
                for k, i in enumerate(cols["idx"].tolist())}
    out_digits = hex_digits(sum(f.bits for f in outputs))
    rec_digits = hex_digits(entry["record_bits"])
    result = {}
    for n, line in enumerate(lines):
        token = line.strip()
        if not HEX.fullmatch(token):
            raise FileFormatError(f"{path}: line {n + 1} is not a hex word (digits 0-9, a-f only)")
        word = int(token, 16)
        if len(token) == out_digits:
            result[n] = _split(word, outputs)
        elif len(token) == rec_digits:
            result[n] = {k: v for k, v in _split(word, fields).items() if k in {f.name for f in outputs}}
        else:
            raise FileFormatError(f"{path}: line {n + 1} has {len(token)} hex digits; expected {out_digits} "
                                  f"(output word) or {rec_digits} (whole record)")
    return result


def _expected(directory: Path, entry: dict, fields: tuple[Field, ...]) -> dict[str, np.ndarray]:
    """The suite's .tv columns, once its bytes match the SHA-256 the manifest records (a damaged or edited
    expected file is refused, never compared against)."""
    tv = directory / entry["files"]["tv"]["path"]
    try:
        data = tv.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"{tv}: cannot read the suite file ({exc})") from None
    if mf.sha256_bytes(data) != entry["files"]["tv"]["sha256"]:
        raise FileFormatError(f"{tv}: SHA-256 differs from {mf.MANIFEST}; the set is damaged "
                              f"(run `mxemu golden verify`)")
    return parse_tv(data.decode("ascii"), fields, str(tv))


def _is_nan32(v: int) -> bool:
    return (v >> 23) & 0xFF == 0xFF and v & 0x7FFFFF != 0


def check(directory: str | Path, suite: str, dut: str | Path, fmt: str | None = None,
          max_errors: int = 20) -> CheckResult:
    """Compare the DUT dump with the suite's expected outputs, honouring check classes (nan: any NaN value;
    codes_dont_care: element codes ignored). Events are informative and not compared."""
    directory = Path(directory)
    doc = mf.read_manifest(directory)
    entry = resolve_table(doc, suite, fmt)
    fields = _fields(entry)
    outputs = tuple(f for f in fields if f.role == "output")
    expected = _expected(directory, entry, fields)
    tags = [t["name"] for t in doc["tags"]]
    got = read_dut(Path(dut), entry)
    n = entry["count"]
    res = CheckResult(entry["name"], compared=0)
    missing = [i for i in range(n) if i not in got]
    extra = sorted(i for i in got if not 0 <= i < n)
    for i in range(n):
        if i not in got:
            continue
        res.compared += 1
        chk = int(expected["chk"][i])
        tag = tags[int(expected["tag"][i])]
        diffs = []
        for f in fields:
            if f.role == "output" or f.name not in got[i]:
                continue
            want = np.asarray(expected[f.name][i]).reshape(-1).tolist()
            bad = [k for k, (w, h) in enumerate(zip(want, got[i][f.name], strict=True)) if w != h]
            if bad:
                diffs.append(f"input {f.name}{f' lane {bad[0]}' if f.lanes > 1 else ''} differs from the suite "
                             f"(a misaligned or foreign dump?)")
        for f in outputs:
            if chk == 2 and f.name == "codes":
                continue
            want = np.asarray(expected[f.name][i]).reshape(-1).tolist()
            have = got[i][f.name]
            if chk == 1 and f.lane_bits == 32 and _is_nan32(want[0]):  # a float32 result: any NaN will do
                if not _is_nan32(have[0]):
                    diffs.append(f"{f.name}: expected a NaN, got {have[0]:0{f.digits}x}")
                continue
            for lane, (w, h) in enumerate(zip(want, have, strict=True)):
                if w != h:
                    where = f"{f.name} lane {lane}" if f.lanes > 1 else f.name
                    diffs.append(f"{where}: expected {w:0{f.digits}x} got {h:0{f.digits}x} (bits {w ^ h:#x} differ)")
        if diffs:
            res.failures += 1
            res.by_tag[tag] += 1
            if len(res.lines) < max_errors:
                res.lines.append(f"case {i} [{tag}] chk={chk}: " + "; ".join(diffs))
    if missing:
        res.failures += len(missing)
        res.lines.append(f"{len(missing)} case(s) missing from the DUT dump (first: case {missing[0]})")
    if extra:
        res.failures += len(extra)
        res.lines.append(f"{len(extra)} DUT line(s) name no case of the suite (first: index {extra[0]})")
    return res
