"""The README and the pages a new user reads first cannot drift: commands, install lines, printed output, numbers."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
NUMBER_WORDS = {9: "nine", 10: "ten", 11: "eleven", 12: "twelve", 13: "thirteen", 14: "fourteen"}


def _blocks(text: str, lang: str) -> list[str]:
    return [code for language, code in FENCE.findall(text) if language == lang]


def _readme_commands() -> list[str]:
    """The command lines of the README's Quickstart block (comments dropped)."""
    return [line for line in _blocks(README, "bash")[0].splitlines() if line and not line.startswith("#")]


def test_readme_has_the_two_commands_main_job_then_tests() -> None:
    main, tests = _readme_commands()
    assert main.startswith("python -m pip install -e . && mxemu golden gen ") and "mxemu golden verify" in main
    assert tests.startswith("python -m pip install ") and tests.endswith("&& python -m pytest")


def test_getting_started_quotes_the_readme_commands_verbatim() -> None:
    text = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    for command in _readme_commands():
        assert command in text, f"docs/getting-started.md lacks the README command:\n{command}"


def test_readme_use_snippet_runs_and_prints_what_it_computed() -> None:
    (snippet,) = _blocks(README, "python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "README.md[Use]", "exec"), {"__name__": "__readme__"})
    printed = out.getvalue()
    assert printed.startswith("MXArray(mxfp4_e2m1, shape=(4, 64), axis=(1,), scales=(4, 2), policy=ocp)\n")
    assert "->" in printed and "exact accumulation:" in printed
    assert len(printed) < 400  # a summary, not the arrays


def _project_texts() -> dict[str, str]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "mxemu").rglob("*.py"))]
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in files}


def test_install_instructions_use_the_checkout_not_a_package_name() -> None:
    # mxemu is not on a package index: `pip install mxemu[...]` cannot work; from a checkout `-e ".[...]"` does
    by_name = re.compile(r"""pip install ['"]?mxemu\b""")
    offenders = [name for name, text in _project_texts().items() if by_name.search(text)]
    assert not offenders


def test_readme_lists_every_extra_of_pyproject() -> None:
    from mxemu._compat import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    table = {m.group(1) for m in re.finditer(r"^\| `(\w+)` \|", README, re.MULTILINE)}
    assert set(extras) - {"fuzz"} <= table, "README's extras table misses some of pyproject.toml's extras"


def test_readme_says_what_the_rtl_tests_need_outside_pip() -> None:
    from needs import INSTALL_RTL_TOOLS

    assert "apt-get install iverilog verilator gcc g++ make" in README
    assert "apt-get install iverilog verilator gcc g++ make" in INSTALL_RTL_TOOLS
    assert "--index-url https://download.pytorch.org/whl/cpu" in README


# --- docs/golden.md: the committed sets' numbers, read from their manifests --------------------------------------


def _manifest(directory: Path) -> tuple[int, int]:
    doc = json.loads((directory / "MANIFEST.json").read_text(encoding="utf-8"))
    return len(doc["tables"]), sum(t["count"] for t in doc["tables"])


def test_golden_page_numbers_are_those_of_the_committed_manifests() -> None:
    page = (ROOT / "docs" / "golden.md").read_text(encoding="utf-8")
    golden = ROOT / "golden"
    size = sum(p.stat().st_size for p in golden.rglob("*") if p.is_file())
    expected = [f"`golden/` holds {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB) of sets"]
    for name in ("L0", "L1", "L0-bfloat16", "L1-bfloat16"):
        files, cases = _manifest(golden / name)
        expected.append(f"--out golden/{name}` | {files} | {cases:,} |")
    files, cases = _manifest(golden / "L1")
    expected.append(f"({files} suite files, {cases:,} cases)")
    divergence = {_manifest(d) for d in sorted((golden / "divergence").iterdir()) if (d / "MANIFEST.json").exists()}
    assert len(divergence) == 1, "the divergence sets of the presets differ in size; the page gives one row"
    ((files, cases),) = divergence
    expected.append(f"--out golden/divergence/<preset>` | {files} | {cases:,} |")
    sets = len(list(golden.rglob("MANIFEST.json")))
    expected.append(f"checks all {NUMBER_WORDS[sets]}")
    missing = [line for line in expected if line not in page]
    assert not missing, f"docs/golden.md should say (from the committed manifests): {missing}"
