"""The recipe examples run end to end with tiny settings and write their table and figure (scikit-learn and
matplotlib come with the `test` and `examples` extras)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = {
    "dmx_digits": ["--seeds", "1", "--pretrain-steps", "20", "--steps", "10", "--targets", "5"],
    "schedule_digits": ["--seeds", "1", "--base-steps", "10", "--multiples", "1", "--fractions", "0.2", "0.5"],
    "micromix_digits": ["--seeds", "1", "--steps", "20", "--random-splits", "1"],
    "tetrajet_digits": ["--seeds", "1", "--epochs", "2", "--window", "2",
                        "--variants", "Microscaling", "TetraJet + Q-EMA(0.99)", "TetraJet + Q-Ramping"],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_writes_its_table_and_figure(name, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # a subprocess: the examples pin numba and torch to one thread, which must not leak into this process
    result = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), *TINY[name], "--out",
                             str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    table = (tmp_path / f"{name}.md").read_text(encoding="utf-8")
    assert table.count("\n|") >= 3 and "nan" not in table
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
