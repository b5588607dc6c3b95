"""The code on the home, getting-started and tutorial pages runs as written.

Each page's ```python blocks run in order in one namespace, and its ```bash blocks in a shell, all in
a fresh directory; `mxemu` on the shell's PATH runs this tree's CLI. Blocks in other languages
(```shell for install commands, ```text, ```systemverilog) are shown, not run.
"""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["index.md", "getting-started.md", "tutorials/rtl-golden.md", "tutorials/kernel-check.md", "tutorials/mfqat.md",
         "tutorials/gemm.md", "tutorials/drive-your-own-design.md"]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(page: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the page, in order."""
    return FENCE.findall((ROOT / "docs" / page).read_text(encoding="utf-8"))


def _shell_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "_bin"
    bin_dir.mkdir()
    shim = bin_dir / "mxemu"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mxemu.cli "$@"\n', encoding="utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def test_every_page_has_runnable_blocks():
    for page in PAGES:
        assert any(lang in ("python", "bash") for lang, _ in blocks(page)), page


def _shown_output(page: str, after_line: str) -> str:
    """The ```text block that follows the line `after_line` of the page: the output the page shows."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    rest = text[text.index(after_line):]
    return rest[rest.index("```text\n") + len("```text\n"):rest.index("\n```", rest.index("```text\n"))] + "\n"


def _check_gemm(namespace: dict, printed: str) -> None:
    # the accumulation models part ways on these operands, and the page shows exactly what the code prints
    differ = {name: int((c != namespace["out"]["exact"]).sum()) for name, c in namespace["out"].items()}
    assert differ.pop("exact") == 0
    assert all(n > namespace["out"]["exact"].size // 2 for n in differ.values()), differ
    assert _shown_output("tutorials/gemm.md", "which prints") in printed


def _check_mfqat(namespace: dict, printed: str) -> None:
    # 2-bit weights cost ordinary QAT accuracy, and training with them among the formats wins part of it back
    r = namespace["results"]
    assert r["QAT, MXINT8 only", "mxint2"] < r["QAT, MXINT8 only", "mxint8"] - 0.1, r
    assert r["MF-QAT", "mxint2"] > r["QAT, MXINT8 only", "mxint2"] + 0.02, r


CHECKS = {"tutorials/gemm.md": _check_gemm, "tutorials/mfqat.md": _check_mfqat}


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    env = _shell_env(tmp_path)
    for n, (lang, code) in enumerate(blocks(page)):
        if lang == "python":
            exec(compile(code, f"{page}[block {n}]", "exec"), namespace)
        elif lang == "bash":
            done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"{page} block {n} failed:\n{code}\n{done.stdout}\n{done.stderr}"
    if page in CHECKS:
        CHECKS[page](namespace, capsys.readouterr().out)
