"""The core (numpy and numba) works without any optional package: imports, golden generation, typed refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("ml_dtypes", "torch", "gfloat", "hypothesis", "torchao", "triton", "safetensors", "transformers")

SCRIPT = f"""
import sys
for name in {OPTIONAL!r}:
    sys.modules[name] = None  # as if not installed: importing it raises ImportError
import mxemu
from mxemu.golden.generate import generate
from mxemu.golden.suites.values import INPUT_DTYPES
doc = generate(sys.argv[1], ("encode", "quantize"), ("mxfp4_e2m1",), mxemu.get_policy("ocp"), "L0", 0, progress=None,
               input_dtype="float16")
print(sum(t["count"] for t in doc["tables"]))
try:
    INPUT_DTYPES["bfloat16"].dtype
except mxemu.InputError as exc:
    print("refused:", exc)
"""


def test_the_core_generates_golden_sets_without_optional_packages_and_refuses_bfloat16_by_name(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "set")], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    count, refusal = proc.stdout.strip().splitlines()
    assert int(count) > 0
    assert refusal == ("refused: bfloat16 inputs need the ml_dtypes package (numpy has no bfloat16): "
                       "python -m pip install ml_dtypes")
