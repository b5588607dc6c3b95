"""MF-QAT under torch.distributed DistributedDataParallel: 2 CPU processes (gloo) vs one process."""

from __future__ import annotations

import datetime
import faulthandler
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as tmp_mp
from torch.nn.parallel import DistributedDataParallel

import mxemu.torch as mxt

WORLD = 2
#: Seconds after which a rank prints its stack and exits, and after which its launcher stops waiting for it:
#: a stuck collective or a stuck import becomes a failure that shows where it stood, never a hang of the suite.
RANK_DEADLINE = 420
ROOT = Path(__file__).resolve().parents[1]
STEPS = 6
GLOBAL_BATCH = 16
LR = 0.05
# weights and activations MXINT/MXFP: the master weights must stay bit-identical through the quantized forward
CONFIGS = {
    "sample": {"formats": ["mxint8", "mxint6", "mxint4", "mxint2"], "rule": "sample", "seed": 3},
    "sum": {"formats": ["mxint8", "mxint4"], "rule": "sum", "weights": [1.0, 0.5]},
    "sample_slice_aware": {"formats": ["mxint8", "mxint6", "mxint4", "mxint2"], "rule": "sample", "seed": 5,
                           "slice_aware": True},
}


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((STEPS, GLOBAL_BATCH, 64)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, (STEPS, GLOBAL_BATCH)))
    return x, y


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    mxt.quantize_model(model, {"*": {"weight_format": "mxint8", "input_format": "mxfp8_e4m3"}})
    return model


def _flat(model: torch.nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().view(np.uint32).copy()


def _step(model: torch.nn.Module, recipe: mxt.MFQATRecipe, step: int, x: torch.Tensor, y: torch.Tensor,
          used: list[str]) -> None:
    """Backward of the recipe's loss on (x, y); records the weight format each forward ran in."""
    layer = mxt.mx_layers(model)[0]

    def compute_loss() -> torch.Tensor:
        used.append(layer.weight_format)
        return torch.nn.functional.cross_entropy(model(x), y)

    recipe.loss(model, step, compute_loss).backward()


def _worker(rank: int, store: str, out: str) -> None:
    """One DDP rank: every config from the same initial model on its half of each global batch."""
    faulthandler.dump_traceback_later(RANK_DEADLINE, exit=True, file=sys.stderr)
    # Both ranks live on this machine: gloo talks over the loopback interface, whatever the host name resolves to.
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.set_num_threads(1)
    # One numba thread per rank (the bytes do not depend on it: tests/test_determinism.py): no kernel
    # thread pool beside gloo's threads. A bounded gloo timeout turns a stuck rank into a failure, not a hang.
    numba.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=RANK_DEADLINE // 2))
    try:
        torch.manual_seed(100 + rank)  # different global RNG state per rank: the recipe must not depend on it
        np.random.seed(100 + rank)
        x, y = _data()
        shard = slice(rank * GLOBAL_BATCH // WORLD, (rank + 1) * GLOBAL_BATCH // WORLD)
        results: dict[str, np.ndarray] = {}
        for name, cfg in CONFIGS.items():
            model = DistributedDataParallel(_model())
            recipe = mxt.MFQATRecipe(**cfg)
            opt = torch.optim.SGD(model.parameters(), lr=LR)
            used: list[str] = []
            for step in range(STEPS):
                opt.zero_grad()
                _step(model, recipe, step, x[step, shard], y[step, shard], used)
                opt.step()
            results[f"{name}.weights"] = _flat(model.module)
            results[f"{name}.formats"] = np.array(used)
        np.savez(Path(out) / f"rank{rank}.npz", **results)
    finally:
        dist.destroy_process_group()
    # Leave without running destructors: freeing DDP's Reducer (under the GIL) destroys the gloo process group,
    # which joins its worker thread, and that thread may be freeing a finished work item whose thread-local
    # state needs the GIL to drop a Python reference, a deadlock inside torch (both stacks seen with
    # py-spy --native: ~ProcessGroupGloo in std::thread::join; runLoop -> ~AsyncWork -> gil_scoped_acquire).
    # The results are on disk; exit code 0 tells the launcher this rank succeeded.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _single(cfg: dict, split: bool) -> tuple[np.ndarray, list[list[str]]]:
    """One process, the same global batches. split=True reproduces DDP's reduction: the two halves'
    gradients are computed separately, summed (one addition, so order-free) and halved (exact).
    Returns the weights and, per batch part, the formats its forwards ran in."""
    torch.set_num_threads(1)
    x, y = _data()
    model, recipe = _model(), mxt.MFQATRecipe(**cfg)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    used: list[list[str]] = [[] for _ in range(WORLD if split else 1)]
    for step in range(STEPS):
        opt.zero_grad()
        if split:
            half = GLOBAL_BATCH // WORLD
            for r in range(WORLD):
                part = slice(r * half, (r + 1) * half)
                _step(model, recipe, step, x[step, part], y[step, part], used[r])
            for p in model.parameters():
                p.grad.mul_(1.0 / WORLD)
        else:
            _step(model, recipe, step, x[step], y[step], used[0])
        opt.step()
    return _flat(model), used


def _launch(out: Path) -> None:
    """Run the ranks and wait for them, at most RANK_DEADLINE (+ a minute for their imports); a rank that is
    late gets SIGABRT, which makes it print its stack (PYTHONFAULTHANDLER), and the launch fails."""
    os.environ["PYTHONFAULTHANDLER"] = "1"
    ranks = tmp_mp.start_processes(_worker, args=(str(out / "store"), str(out)), nprocs=WORLD, join=False,
                                   start_method="spawn")
    deadline = time.monotonic() + RANK_DEADLINE + 60
    while not ranks.join(timeout=5):  # raises if a rank failed
        if time.monotonic() > deadline:
            for process in ranks.processes:
                if process.is_alive():
                    os.kill(process.pid, signal.SIGABRT)
            time.sleep(5)
            sys.exit(f"the {WORLD} DDP ranks did not finish within {RANK_DEADLINE + 60} s (their stacks are above)")


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, np.ndarray]]:
    # The ranks start from a fresh interpreter (this file run as a script), not from the test process: what
    # the tests before have left in this process (pools, trackers, threads) cannot reach them.
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        run = subprocess.run([sys.executable, __file__, str(out)], env=env, capture_output=True, text=True,
                             timeout=RANK_DEADLINE + 180)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the DDP launcher did not return: {exc.stderr!s:.4000}")
    assert run.returncode == 0, run.stderr[-6000:]
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(WORLD)]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_both_ranks_end_with_bit_identical_weights_and_formats(ddp_results, name):
    r0, r1 = ddp_results
    assert r0[f"{name}.weights"].tobytes() == r1[f"{name}.weights"].tobytes()
    np.testing.assert_array_equal(r0[f"{name}.formats"], r1[f"{name}.formats"])


def test_sample_rule_draws_the_recipe_formats_on_every_rank(ddp_results):
    recipe = mxt.MFQATRecipe(**CONFIGS["sample"])
    expected = [recipe.formats_for_step(s)[0][0] for s in range(STEPS)]
    assert len(set(expected)) > 1  # the run does switch formats
    for r in ddp_results:
        assert r["sample.formats"].tolist() == expected


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_ddp_equals_one_process_with_the_same_gradient_reduction_bit_for_bit(ddp_results, name):
    weights, used = _single(CONFIGS[name], split=True)
    assert ddp_results[0][f"{name}.weights"].tobytes() == weights.tobytes()
    assert ddp_results[0][f"{name}.formats"].tolist() == used[0] == used[1]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_ddp_matches_one_process_on_the_whole_global_batch_to_float_rounding(ddp_results, name):
    # One batch of 16 averages its 16 per-row gradients in one reduction; DDP averages two means of 8.
    # Both round the same real number differently (a few float32 ulps of each gradient), and SGD moves
    # a weight by LR * grad per step, so the weights (|w| < 0.15) part by a few ulps of w, unless the
    # difference flips a quantized code in some forward, which these data do not trigger: measured
    # <= 1.5e-8 on 6-8 % of the weights; atol 1e-7 leaves 7x room.
    weights, used = _single(CONFIGS[name], split=False)
    ddp = ddp_results[0][f"{name}.weights"].view(np.float32)
    one = weights.view(np.float32)
    assert ddp_results[0][f"{name}.formats"].tolist() == used[0]
    np.testing.assert_allclose(ddp, one, rtol=0, atol=1e-7)


if __name__ == "__main__":
    _launch(Path(sys.argv[1]))
