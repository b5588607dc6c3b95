"""What a test needs from outside the Python packages of its extra (a simulator, a compiler, Triton).

Where it is absent the test is skipped with the command that installs it; where MXEMU_REQUIRE_ALL=1 (set by
.ci/run, which installs everything) the test fails instead, so that CI can never pass by skipping.
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType

import pytest

INSTALL_RTL_TOOLS = ("apt-get install iverilog verilator gcc g++ make (Debian, Ubuntu); brew install icarus-verilog "
                     "verilator gcc (macOS); see the README's Quickstart")
INSTALL_TRITON = 'python -m pip install "triton==3.9.0" (Triton publishes Linux wheels only)'


def _absent(what: str, install: str) -> None:
    message = f"{what} is not installed; install it with: {install}"
    if os.environ.get("MXEMU_REQUIRE_ALL") == "1":
        pytest.fail(f"{message} (MXEMU_REQUIRE_ALL=1: required here)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def tool(name: str, install: str = INSTALL_RTL_TOOLS) -> str:
    """The path of the program `name`, else a skip (a failure under MXEMU_REQUIRE_ALL=1) naming `install`."""
    path = shutil.which(name)
    if path is None:
        _absent(f"the program {name!r}", install)
    return path


def module(name: str, install: str) -> ModuleType:
    """The imported module `name`, else a skip (a failure under MXEMU_REQUIRE_ALL=1) naming `install`."""
    try:
        return importlib.import_module(name)
    except ImportError:
        _absent(f"the Python package {name!r}", install)
        raise  # unreachable: _absent raises
