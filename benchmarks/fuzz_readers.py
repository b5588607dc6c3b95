"""Coverage-guided fuzzing (atheris) of every file reader: any exception other than MXError is a finding.

    pip install atheris
    python benchmarks/fuzz_readers.py --reader npz --seconds 120
    python benchmarks/fuzz_readers.py --reader all --seconds 120    # each reader in turn, 120 s each

Readers: npz, safetensors (mxemu.load), anchor (mxemu.torch.qat.load_anchor), manifest, sums, tv,
golden_npz, dut (mxemu.golden), toml (format definitions). Each run starts from a valid file the
library wrote (the seed corpus) and mutates it; the reader runs in this process, so a crash, a hang
(-timeout) or a huge allocation (-rss_limit_mb) stops the run with the input saved as crash-*.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

READERS = ("npz", "safetensors", "anchor", "manifest", "sums", "tv", "golden_npz", "dut", "toml")
TOML_SEED = (b'[element.fz_e2m1]\nexponent_bits = 2\nmantissa_bits = 1\nbias = 1\nspecials = "none"\n\n'
             b'[mx.mxfz]\nelement = "fz_e2m1"\nscale = "e8m0"\nblock_size = 32\n')


def _seeds(work: Path) -> tuple[dict[str, bytes], Path]:
    """A valid file of each kind, written by the library, and the golden set they come from."""
    import numpy as np
    import torch

    import mxemu as mx
    from mxemu.golden.generate import generate
    from mxemu.torch import qat

    q = mx.quantize(np.linspace(-4, 4, 80, dtype=np.float32).reshape(2, 40), "mxfp4_e2m1", axis=1)
    golden = work / "set"
    generate(golden, ("encode",), ("mxfp4_e2m1",), mx.Policy(), "L0", 1)
    return {
        "npz": mx.save(q, work / "q.npz", layout="nibble_lo_first").read_bytes(),
        "safetensors": mx.save(q, work / "q.safetensors").read_bytes(),
        "anchor": qat.save_anchor(torch.nn.Sequential(torch.nn.Linear(32, 2)), work / "a.safetensors").read_bytes(),
        "manifest": (golden / "MANIFEST.json").read_bytes(),
        "sums": (golden / "SHA256SUMS").read_bytes(),
        "tv": (golden / "encode" / "mxfp4_e2m1.tv").read_bytes(),
        "golden_npz": (golden / "encode" / "mxfp4_e2m1.npz").read_bytes(),
        "dut": (golden / "encode" / "mxfp4_e2m1.hex").read_bytes(),
        "toml": TOML_SEED,
    }, golden


def _target(reader: str, work: Path, golden: Path):
    """The function atheris calls with each input: run the reader, let only MXError through."""
    import shutil

    import torch

    import mxemu as mx
    from mxemu.errors import MXError
    from mxemu.golden import check as gc
    from mxemu.golden import manifest as mf
    from mxemu.golden.writers import parse_tv, read_npz
    from mxemu.spec import SPEC_DIR, Registry
    from mxemu.torch import qat

    fields = gc._fields(json.loads((golden / "MANIFEST.json").read_text())["tables"][0])
    scratch = work / "scratch"
    if reader in ("manifest", "sums"):
        shutil.copytree(golden, scratch)
    path = {"npz": work / "in.npz", "safetensors": work / "in.safetensors", "anchor": work / "in.safetensors",
            "manifest": scratch / "MANIFEST.json", "sums": scratch / "SHA256SUMS", "golden_npz": work / "in.npz",
            "dut": work / "dut.hex", "toml": work / "in.toml", "tv": work / "in.tv"}[reader]
    model = torch.nn.Sequential(torch.nn.Linear(32, 2))
    run = {
        "npz": lambda: mx.load(path),
        "safetensors": lambda: mx.load(path),
        "anchor": lambda: qat.load_anchor(model, path),
        "manifest": lambda: mf.read_manifest(scratch),
        "sums": lambda: mf.check_sums(scratch),
        "tv": lambda: parse_tv(path.read_bytes().decode("ascii", "replace"), fields, "in.tv"),
        "golden_npz": lambda: read_npz(str(path)),
        "dut": lambda: gc.check(golden, "encode/mxfp4_e2m1", path),
        "toml": lambda: _load_toml(Registry, SPEC_DIR, path),
    }[reader]

    def one(data: bytes) -> None:
        path.write_bytes(data)
        with contextlib.suppress(MXError):
            run()

    return one


def _load_toml(registry_cls, spec_dir: Path, path: Path) -> None:
    registry = registry_cls()
    registry.load(spec_dir / "formats.toml")
    registry.load(path)


def _instrument_library(atheris) -> None:
    """Coverage feedback from the library's Python functions; the numba kernels stay as they are (jitted)."""
    import inspect

    import mxemu.golden.check
    import mxemu.io
    import mxemu.spec
    import mxemu.torch.qat  # noqa: F401

    for name, mod in list(sys.modules.items()):
        if not name.startswith("mxemu") or name.startswith("mxemu.kernels"):
            continue
        for attr, fn in list(vars(mod).items()):
            if inspect.isfunction(fn) and fn.__module__ == name:
                setattr(mod, attr, atheris.instrument_func(fn))


def fuzz(reader: str, seconds: int) -> None:
    """Fuzz one reader in this process for `seconds` (atheris / libFuzzer flags below)."""
    import atheris

    _instrument_library(atheris)
    with tempfile.TemporaryDirectory(prefix="mxemu-fuzz-") as tmp:
        work = Path(tmp)
        seeds, golden = _seeds(work)
        corpus = work / "corpus"
        corpus.mkdir()
        (corpus / "seed").write_bytes(seeds[reader])
        target = _target(reader, work, golden)
        artifacts = Path.cwd() / "fuzz-findings" / reader
        artifacts.mkdir(parents=True, exist_ok=True)
        argv = [sys.argv[0], str(corpus), f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
                "-max_len=65536", f"-artifact_prefix={artifacts}/", "-print_final_stats=1"]
        atheris.Setup(argv, target)
        atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reader", choices=[*READERS, "all"], required=True)
    parser.add_argument("--seconds", type=int, default=120, help="fuzzing time per reader (default 120)")
    args = parser.parse_args()
    if args.reader != "all":
        fuzz(args.reader, args.seconds)
        return 0
    failed = []
    for reader in READERS:  # one process each: libFuzzer exits the process when a run ends
        print(f"== {reader}: {args.seconds} s", flush=True)
        rc = subprocess.call([sys.executable, __file__, "--reader", reader, "--seconds", str(args.seconds)],
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        if rc:
            failed.append(reader)
    print("findings in: " + (", ".join(failed) if failed else "none"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
