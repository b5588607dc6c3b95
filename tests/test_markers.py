"""The need markers: every test file is classified, and a -m expression leaves out only files it cannot select."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import conftest
import pytest
from _pytest.mark.expression import Expression

HERE = Path(__file__).resolve().parent
OPTIONAL = ("ml_dtypes", "torch", "gfloat", "torchao", "triton", "safetensors", "transformers", "brevitas", "cocotb",
            "sklearn", "matplotlib")


def test_every_test_file_is_in_the_table_and_every_entry_is_a_test_file():
    assert sorted(conftest.NEEDS) == sorted(p.name for p in HERE.glob("test_*.py"))


def test_the_table_names_only_registered_markers():
    assert all(set(needs) <= set(conftest.FILE_MARKERS) for needs in conftest.NEEDS.values())


CORE, TORCH, CUDA = ("core",), ("torch",), ("torch", "cuda")


@pytest.mark.parametrize(("expression", "markers", "selectable"), [
    ("core", CORE, True),
    ("core", TORCH, False),
    ("core and not slow", TORCH, False),
    ("not core", CORE, True),       # a test of a core file may carry a need marker of its own
    ("torch", CORE, True),          # ... such as torch
    ("slow", TORCH, True),          # a test may carry slow itself
    ("torch and not cuda", CUDA, False),
    ("not torch", TORCH, False),
    ('clause(id="6.3")', TORCH, True),
])
def test_a_file_is_left_out_only_when_no_test_of_it_can_be_selected(expression, markers, selectable):
    assert conftest._may_select(Expression.compile(expression), markers) is selectable


SCRIPT = f"""
import sys
for name in {OPTIONAL!r}:
    sys.modules[name] = None  # as if not installed: importing it raises ImportError
import pytest
sys.exit(pytest.main(["-m", "core", "--collect-only", "-q", "-p", "no:cacheprovider", sys.argv[1]]))
"""


def test_core_collects_without_any_optional_package_and_only_core_tests(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(HERE)], capture_output=True, text=True,
                          cwd=HERE.parent, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = {line.split("::", 1)[0] for line in done.stdout.splitlines() if "::" in line}
    expected = {f"tests/{name}" for name, needs in conftest.NEEDS.items()
                if not set(needs) & set(conftest.NEED_MARKERS)}
    assert collected == expected
