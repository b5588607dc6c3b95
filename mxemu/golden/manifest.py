"""MANIFEST.json of a golden set: contents, JSON Schema, a small validator, and SHA256SUMS."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from mxemu.errors import FileFormatError
from mxemu.golden import trust
from mxemu.golden.suites import (
    CHECK_CLASSES,
    CONVERT_METHODS,
    CONVERT_TARGETS,
    DOT_ACCUMULATIONS,
    DOT_SUM_LSB,
    EVENT_NAMES,
    EVENTS,
    INPUT_DTYPE_NAMES,
    LEVELS,
    PACK_LAYOUTS,
    PACK_SCALE_LAYOUTS,
    SUITES,
    TAGS,
    Table,
    divergence_presets,
)
from mxemu.golden.writers import hex_digits
from mxemu.policy import FIELDS, LATER_FIELDS
from mxemu.spec import SPEC_DIR

SCHEMA_VERSION = 1
SPEC_VERSION = "OCP MX v1.0"
MANIFEST = "MANIFEST.json"
SUMS = "SHA256SUMS"
PRNG = ("Philox4x32-10 (mxemu.oracle.random_ints), key = seed; counter = (stream << 32) + i with stream = "
        "first 3 bytes of SHA-256 of the purpose string")

_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_FILE = {"type": "object", "required": ["path", "sha256", "bytes"], "additionalProperties": False,
         "properties": {"path": {"type": "string", "pattern": "^[A-Za-z0-9_./-]+$"}, "sha256": _HEX64,
                        "bytes": {"type": "integer", "minimum": 0}}}
_FIELD = {"type": "object", "required": ["name", "role", "lane_bits", "lanes", "bits", "offset", "tv_digits"],
          "additionalProperties": False,
          "properties": {"name": {"type": "string"}, "role": {"enum": ["meta", "input", "output"]},
                         "lane_bits": {"type": "integer", "minimum": 1}, "lanes": {"type": "integer", "minimum": 1},
                         "bits": {"type": "integer", "minimum": 1}, "offset": {"type": "integer", "minimum": 0},
                         "tv_digits": {"type": "integer", "minimum": 1}}}
_TABLE = {"type": "object", "additionalProperties": False,
          "required": ["name", "suite", "format", "element", "count", "record_bits", "hex_digits", "output_bits",
                       "lane_order", "fields", "files"],
          "properties": {"name": {"type": "string"}, "suite": {"enum": list(SUITES)}, "format": {"type": "string"},
                         "element": {"type": "string"}, "count": {"type": "integer", "minimum": 1},
                         "record_bits": {"type": "integer", "minimum": 1},
                         "hex_digits": {"type": "integer", "minimum": 1},
                         "output_bits": {"type": "integer", "minimum": 1}, "lane_order": {"const": "lane0_lsb"},
                         "fields": {"type": "array", "items": _FIELD},
                         "files": {"type": "object", "required": ["tv", "hex", "npz"], "additionalProperties": False,
                                   "properties": {"tv": _FILE, "hex": _FILE, "npz": _FILE}}}}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "mxemu.golden.manifest/1",
    "title": "mxemu golden vector set manifest",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "spec_version", "generator", "policy", "seed", "level", "prng", "suites",
                 "formats", "command", "check_classes", "events", "tags", "presets", "convert_targets",
                 "convert_methods", "pack_layouts", "pack_scale_layouts", "dot_accumulations", "tables",
                 "exports"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "spec_version": {"const": SPEC_VERSION},
        "generator": {"type": "object", "required": ["name", "library_version", "git_revision"],
                      "additionalProperties": False,
                      "properties": {"name": {"const": "mxemu"}, "library_version": {"type": "string"},
                                     "git_revision": {"type": "string"}}},
        "policy": {"type": "object", "required": [*(f for f in FIELDS if f not in LATER_FIELDS), "name"],
                   "properties": {f: {"type": ["string", "integer"]} for f in (*FIELDS, "name")},
                   "additionalProperties": False},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
        # "from": the records hold exactly the inputs of `source` (`golden gen --from`), no level's cases
        "level": {"enum": [*LEVELS, "from"]},
        # the type of the float inputs X (absent in sets written before it existed: float32)
        "input_dtype": {"enum": list(INPUT_DTYPE_NAMES)},
        "source": {"type": "object", "required": ["file", "sha256", "bytes"], "additionalProperties": False,
                   "properties": {"file": {"type": "string"}, "sha256": _HEX64,
                                  "bytes": {"type": "integer", "minimum": 0}}},
        "prng": {"type": "string"},
        "suites": {"type": "array", "items": {"enum": list(SUITES)}, "minItems": 1},
        "formats": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "command": {"type": "string"},
        "check_classes": {"type": "object", "additionalProperties": {"type": "string"}},
        "events": {"type": "object", "additionalProperties": {"type": "string"}},
        "tags": {"type": "array", "items": {
            "type": "object", "required": ["id", "name", "description"], "additionalProperties": False,
            "properties": {"id": {"type": "integer", "minimum": 0}, "name": {"type": "string"},
                           "description": {"type": "string"}}}},
        "presets": {"type": "array", "items": {"type": "string"}},
        "convert_targets": {"type": "array", "items": {"type": "string"}},
        "convert_methods": {"type": "array", "items": {"type": "string"}},
        "pack_layouts": {"type": "array", "items": {"type": "string"}},
        "pack_scale_layouts": {"type": "array", "items": {"type": "string"}},
        "dot_accumulations": {"type": "object", "additionalProperties": {"type": "string"}},
        "dot_sum_lsb": {"type": "object", "additionalProperties": {"type": "integer"}},
        # the user accumulation models of `golden gen --accumulation`: field name -> accumulation string
        "dot_models": {"type": "object", "additionalProperties": {"type": "string", "pattern": "^[a-z0-9_.:]+$"}},
        "tables": {"type": "array", "items": _TABLE, "minItems": 1},
        "exports": {"type": "object", "required": ["c_header", "sv_package"], "additionalProperties": False,
                    "properties": {"c_header": _FILE, "sv_package": _FILE}},
    },
}


def schema_text() -> str:
    """The schema as written to golden/schema/manifest.schema.json."""
    return json.dumps(SCHEMA, indent=2) + "\n"


# ----------------------------------------------------------------------------------------------------------
# A small JSON Schema validator (the subset SCHEMA uses)
# ----------------------------------------------------------------------------------------------------------

_TYPES = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def validate(doc: Any, schema: dict[str, Any] = SCHEMA, where: str = "$") -> list[str]:
    """Every violation of `schema` by `doc`, as "path: message" strings (empty when valid). Supports type,
    const, enum, required, properties, additionalProperties, items, minItems, pattern, minimum, maximum."""
    errors: list[str] = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(doc, t) for t in types):
            return [f"{where}: expected {' or '.join(types)}, got {type(doc).__name__}"]
    if "const" in schema and doc != schema["const"]:
        errors.append(f"{where}: must be {schema['const']!r}, got {doc!r}")
    if "enum" in schema and doc not in schema["enum"]:
        errors.append(f"{where}: {doc!r} is not one of {schema['enum']}")
    if isinstance(doc, str) and "pattern" in schema and not re.search(schema["pattern"], doc):
        errors.append(f"{where}: {doc!r} does not match {schema['pattern']}")
    if _is_type(doc, "integer"):
        if "minimum" in schema and doc < schema["minimum"]:
            errors.append(f"{where}: {doc} < minimum {schema['minimum']}")
        if "maximum" in schema and doc > schema["maximum"]:
            errors.append(f"{where}: {doc} > maximum {schema['maximum']}")
    if isinstance(doc, dict):
        for key in schema.get("required", []):
            if key not in doc:
                errors.append(f"{where}: missing required key {key!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, value in doc.items():
            if key in props:
                errors.extend(validate(value, props[key], f"{where}.{key}"))
            elif extra is False:
                errors.append(f"{where}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                errors.extend(validate(value, extra, f"{where}.{key}"))
    if isinstance(doc, list):
        if len(doc) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for i, item in enumerate(doc):
                errors.extend(validate(item, schema["items"], f"{where}[{i}]"))
    return errors


# ----------------------------------------------------------------------------------------------------------
# Building, reading, checksums
# ----------------------------------------------------------------------------------------------------------


def git_revision() -> str:
    """HEAD of the git checkout holding mxemu, else "unknown"; "-dirty" when the code or format data that
    make vectors (the package and spec/) have uncommitted changes. Committed golden sets being rewritten
    do not count: regenerating one set must not mark the next as dirty."""
    here = Path(__file__).resolve().parent
    sources = [str(here.parent), str(SPEC_DIR)]
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--",
                                *sources], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not re.fullmatch(r"[0-9a-f]{40}", head):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def file_entry(path: str, data: bytes) -> dict[str, Any]:
    """The manifest entry of one written file."""
    return {"path": path, "sha256": sha256_bytes(data), "bytes": len(data)}


def table_entry(t: Table, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The manifest entry of one suite file set: layout, counts, files."""
    offsets = t.offsets()
    return {
        "name": t.name, "suite": t.suite, "format": t.mx.name, "element": t.mx.element.name, "count": t.count,
        "record_bits": t.record_bits, "hex_digits": hex_digits(t.record_bits),
        "output_bits": sum(f.bits for f in t.outputs()), "lane_order": "lane0_lsb",
        "fields": [{"name": f.name, "role": f.role, "lane_bits": f.lane_bits, "lanes": f.lanes, "bits": f.bits,
                    "offset": offsets[f.name], "tv_digits": f.digits} for f in t.fields],
        "files": files,
    }


def build_manifest(*, generator: dict[str, str], policy: dict[str, Any], seed: int, level: str,
                   suites: tuple[str, ...], formats: tuple[str, ...], tables: list[dict[str, Any]],
                   exports: dict[str, dict[str, Any]], input_dtype: str = "float32",
                   source: dict[str, Any] | None = None, dot_models: dict[str, str] | None = None) -> dict[str, Any]:
    """The MANIFEST.json document; `source` (file name, SHA-256, bytes) for a set of given inputs;
    `dot_models` (field -> accumulation string) for the user models of the dot suite."""
    dtype = "" if input_dtype == "float32" else f" --input-dtype {input_dtype}"
    models = f" --accumulation {','.join(dot_models.values())}" if dot_models else ""
    if source is None:
        what = f"--level {level} --seed {seed}"
    else:
        what = f"--from {source['file']}"
    return {
        "schema_version": SCHEMA_VERSION, "spec_version": SPEC_VERSION, "generator": generator,
        "policy": policy, "seed": seed, "level": level, "input_dtype": input_dtype,
        **({} if source is None else {"source": source}), "prng": PRNG, "suites": list(suites),
        "formats": list(formats),
        "command": (f"mxemu golden gen --suite {','.join(suites)} --format {','.join(formats)} "
                    f"--policy {policy['name']}{dtype}{models} {what} --out DIR"),
        "check_classes": {str(k): v for k, v in CHECK_CLASSES.items()},
        "events": {f"bit{k} {EVENT_NAMES[k]}": v for k, v in EVENTS.items()},
        "tags": [{"id": i, "name": n, "description": d} for i, (n, d) in enumerate(TAGS)],
        "presets": list(divergence_presets()),
        "convert_targets": list(CONVERT_TARGETS), "convert_methods": list(CONVERT_METHODS),
        "pack_layouts": list(PACK_LAYOUTS), "pack_scale_layouts": list(PACK_SCALE_LAYOUTS),
        "dot_accumulations": dict(DOT_ACCUMULATIONS),
        "dot_sum_lsb": dict(DOT_SUM_LSB),  # BLOCK_SUM counts units of 2^(dot_sum_lsb[A] + dot_sum_lsb[B])
        **({"dot_models": dict(dot_models)} if dot_models else {}),
        "tables": tables, "exports": exports,
    }


def manifest_bytes(doc: dict[str, Any]) -> bytes:
    """Canonical JSON text of a manifest."""
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def parse_json(data: bytes, path: Path) -> Any:
    """A JSON document from the bytes of `path`; `FileFormatError` for bad UTF-8 or JSON, integers of more
    digits than Python converts (ValueError) and nesting deeper than the parser recurses."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FileFormatError(f"{path}: cannot read as JSON ({type(exc).__name__}: {exc})") from None


def read_manifest(directory: Path) -> dict[str, Any]:
    """MANIFEST.json of a set (a regular file, not a link, at most `trust.JSON_LIMIT` bytes), schema-checked;
    `FileFormatError` naming every violation."""
    path = directory / MANIFEST
    if not path.exists() and not path.is_symlink():
        raise FileFormatError(f"{path}: no MANIFEST.json; not a complete golden set")
    doc = parse_json(trust.read_regular(path, trust.JSON_LIMIT, "manifest"), path)
    errors = validate(doc)
    if errors:
        raise FileFormatError(f"{path}: does not match the manifest schema: " + "; ".join(errors[:10]))
    return doc


def sums_text(entries: list[tuple[str, str]]) -> str:
    """SHA256SUMS text (`sha256sum -c` format: hash, two spaces, path), sorted by path."""
    return "".join(f"{h}  {p}\n" for p, h in sorted(entries))


def check_sums(directory: Path) -> list[str]:
    """Problems found re-checking SHA256SUMS: unreadable lines, missing or changed files, unlisted files."""
    path = directory / SUMS
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{SUMS}: cannot read ({exc})"]
    problems, listed = [], set()
    for n, line in enumerate(text.splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64})  (\S+)", line)
        if not m:
            problems.append(f"{SUMS}:{n}: not a 'sha256  path' line")
            continue
        digest, name = m.groups()
        listed.add(name)
        try:  # a listed path is confined to the set and read only if it is a regular file, no link
            target = trust.confined(directory, name, f"{SUMS} entry")
            data = trust.read_regular(target, target.lstat().st_size, "listed file")
        except (FileFormatError, OSError) as exc:
            problems.append(f"{name}: listed in {SUMS} but not readable as a file of the set ({exc})")
            continue
        if sha256_bytes(data) != digest:
            problems.append(f"{name}: SHA-256 differs from {SUMS}")
    for f in sorted(directory.rglob("*")):
        rel = f.relative_to(directory).as_posix()
        if f.is_file() and rel != SUMS and rel not in listed:
            problems.append(f"{rel}: not listed in {SUMS}")
    return problems
