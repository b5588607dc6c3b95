"""Every spec section spec/formats.toml cites is one checked against the spec text, or says "(unverified)"."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FORMATS = tomllib.loads((ROOT / "spec" / "formats.toml").read_text(encoding="utf-8"))
CLAUSES = tomllib.loads((ROOT / "docs" / "clauses.toml").read_text(encoding="utf-8"))
VERIFIED = frozenset(CLAUSES["verified"])

# "MX v1.0 §5.2 Table 1", "OFP8 rev 1.0 §2 (unverified)": the documents cited, each section with its mark
CITATION = re.compile(r"(?P<doc>MX v1\.0|OFP8 rev 1\.0) §(?P<section>\d+(?:\.\d+)*)(?: Table \d+)?"
                      r"(?P<unverified> \(unverified\))?")


def entries() -> list[tuple[str, str]]:
    """(kind.name, clause) of every element, scale and MX format entry of spec/formats.toml."""
    return [(f"{kind}.{name}", entry["clause"]) for kind, table in FORMATS.items() for name, entry in table.items()]


def misquoted(clause: str) -> list[str]:
    """What is wrong with the citations of one `clause` string; [] when each is verified or marked."""
    found = list(CITATION.finditer(clause))
    problems = [f"a § of an unknown document in {clause!r}"] if clause.count("§") != len(found) else []
    for m in found:
        verified = m["doc"] == "MX v1.0" and m["section"] in VERIFIED
        if verified and m["unverified"]:
            problems.append(f"{m[0]!r} is marked unverified but docs/clauses.toml lists it as verified")
        if not verified and not m["unverified"]:
            problems.append(f"{m[0]!r} is not in docs/clauses.toml's verified list and is not marked (unverified)")
    return problems


@pytest.mark.parametrize(("entry", "clause"), entries())
def test_every_cited_section_is_verified_or_marked_unverified(entry: str, clause: str):
    assert misquoted(clause) == [], entry


@pytest.mark.parametrize(("clause", "why"), [
    ("MX v1.0 §5.3.4 (INT8)", "not in docs/clauses.toml's verified list"),
    ("MX v1.0 §5.2 Table 1 (unverified) (MXFP8)", "marked unverified but"),
    ("OFP8 rev 1.0 §2 (E4M3)", "not in docs/clauses.toml's verified list"),
    ("IEEE 754 §4.3 (unverified)", "unknown document"),
])
def test_the_check_refuses_an_unmarked_a_wrongly_marked_and_an_unknown_citation(clause: str, why: str):
    assert any(why in problem for problem in misquoted(clause))


def test_verified_sections_are_clauses_of_the_traceability_matrix():
    assert VERIFIED.issubset(c["id"] for c in CLAUSES["clause"])


def test_every_format_substring_of_the_matrix_still_finds_its_entries():
    clauses = [clause for _, clause in entries()]
    for c in CLAUSES["clause"]:
        for part in c.get("formats", []):
            assert any(part in clause for clause in clauses), (c["id"], part)
