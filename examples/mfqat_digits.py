"""MF-QAT on scikit-learn's digits: one model for every MX width vs single-format QAT specialists.

Protocol (METHODS.md / docs/torch.md): MLP 64-64-64-10, 70/30 stratified split, FP pre-training
(Adam, batch 64, lr 3e-3, cosine, 40 epochs), then QAT fine-tuning from that checkpoint (lr 1e-3,
cosine, 20 epochs) with single-format QAT at each training format, MF-QAT `sample`, `sum` and
`sample` + slice-aware. Every model is evaluated in float, at every format of the family (training
formats and unseen widths) by direct cast, and by Slice-and-Scale from its 8-bit anchor checkpoint.

    python examples/mfqat_digits.py --seeds 5 --out docs/img/mfqat_digits

writes `<out>.md` (mean ± std over seeds), `<out>.png` and `<out>.json` (every seed's numbers).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mxemu.torch as mxt

FAMILIES = {  # training formats, every evaluated format (widest first), anchor
    "int": (["mxint8", "mxint6", "mxint4", "mxint2"],
            ["mxint8", "mxint7", "mxint6", "mxint5", "mxint4", "mxint3", "mxint2"], "mxint8"),
    "fp": (["mxfp8_e4m3", "mxfp6_e2m3", "mxfp4_e2m1"],
           ["mxfp8_e4m3", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1"], "mxfp8_e4m3"),
}
BATCH = 64


def data(seed: int) -> tuple[torch.Tensor, ...]:
    """Digits (8x8 images scaled to [0, 1]), split 70/30 stratified by `seed`."""
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=0.3, random_state=seed, stratify=y)
    return (torch.tensor(xtr, dtype=torch.float32), torch.tensor(ytr), torch.tensor(xte, dtype=torch.float32),
            torch.tensor(yte))


def mlp(seed: int) -> torch.nn.Sequential:
    """A float 64-64-64-10 ReLU MLP with He-initialised weights."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 10))
    for m in model:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    return model


def train(model: torch.nn.Module, recipe: mxt.MFQATRecipe | None, xtr: torch.Tensor, ytr: torch.Tensor,
          epochs: int, lr: float, seed: int) -> None:
    """Adam with a cosine learning rate; `recipe=None` trains in float."""
    steps = epochs * math.ceil(len(xtr) / BATCH)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    step = 0
    for _ in range(epochs):
        for idx in torch.randperm(len(xtr), generator=g).split(BATCH):
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad()
            loss_fn = lambda xb=xb, yb=yb: torch.nn.functional.cross_entropy(model(xb), yb)
            (loss_fn() if recipe is None else recipe.loss(model, step, loss_fn)).backward()
            opt.step()
            sched.step()
            step += 1


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Test accuracy in percent."""
    return (model(x).argmax(-1) == y).float().mean().item() * 100


def evaluate(model: torch.nn.Module, evals: list[str], anchor: str, x: torch.Tensor, y: torch.Tensor,
             tmp: Path) -> dict[str, float]:
    """Accuracy in float, at every format by direct cast, and sliced from the model's anchor checkpoint."""
    out = {}
    with mxt.use_format(model, None):
        out["fp32"] = accuracy(model, x, y)
    for f in evals:
        with mxt.use_format(model, f):
            out[f] = accuracy(model, x, y)
    path = mxt.save_anchor(model, tmp / "anchor.safetensors", fmt=anchor)
    for f in evals[1:]:
        served = copy.deepcopy(model)
        mxt.load_anchor(served, path, runtime_format=f)
        out[f"{f} sliced"] = accuracy(served, x, y)
    return out


def recipes(family: str, seed: int) -> dict[str, mxt.MFQATRecipe | None]:
    """The compared training recipes: PTQ of the float model, one specialist per format, MF-QAT variants."""
    train_formats, _, anchor = FAMILIES[family]
    out: dict[str, mxt.MFQATRecipe | None] = {"FP (PTQ only)": None}
    out.update({f"QAT {f}": mxt.MFQATRecipe([f]) for f in train_formats})
    out["MF-QAT sample"] = mxt.MFQATRecipe(train_formats, rule="sample", seed=seed)
    out["MF-QAT sum"] = mxt.MFQATRecipe(train_formats, rule="sum")
    out["MF-QAT sample + slice-aware"] = mxt.MFQATRecipe(train_formats, rule="sample", seed=seed, slice_aware=True,
                                                         anchor=anchor)
    return out


def run_seed(family: str, seed: int, activations: str | None, fp_epochs: int, qat_epochs: int,
             tmp: Path) -> dict[str, dict[str, float]]:
    """Every recipe of one seed: {recipe name: {evaluation column: accuracy}}."""
    _, evals, anchor = FAMILIES[family]
    xtr, ytr, xte, yte = data(seed)
    base = mlp(seed)
    train(base, None, xtr, ytr, fp_epochs, 3e-3, seed)
    results = {}
    for name, recipe in recipes(family, seed).items():
        model = copy.deepcopy(base)
        fmt = recipe.formats[0] if recipe is not None else evals[0]
        mxt.quantize_model(model, {"*": {"weight_format": fmt, "input_format": activations}})
        if recipe is not None:
            train(model, recipe, xtr, ytr, qat_epochs, 1e-3, seed + 1)
        results[name] = evaluate(model, evals, anchor, xte, yte, tmp)
    return results


def table(runs: list[dict[str, dict[str, float]]], family: str, unseen: set[str]) -> str:
    """Markdown: mean ± std over seeds; cells 'direct / sliced' for every format below the anchor."""
    _, evals, anchor = FAMILIES[family]
    head = ["model \\ eval", "fp32"] + [f + ("*" if f in unseen else "") for f in evals]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(name: str, key: str) -> str:
        v = np.array([r[name][key] for r in runs])
        return f"{v.mean():.1f} ± {v.std():.1f}"

    for name in runs[0]:
        row = [name, cell(name, "fp32")]
        for f in evals:
            row.append(cell(name, f) if f == anchor else f"{cell(name, f)} / {cell(name, f + ' sliced')}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def figure(runs: list[dict[str, dict[str, float]]], family: str, path: Path, title: str) -> None:
    """Mean accuracy against the evaluated format, direct cast (left) and sliced from the anchor (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, evals, _ = FAMILIES[family]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    xs = np.arange(len(evals))
    for ax, sliced in zip(axes, (False, True), strict=True):
        for i, name in enumerate(runs[0]):
            keys = [f if (not sliced or j == 0) else f + " sliced" for j, f in enumerate(evals)]
            mean = [np.mean([r[name][k] for r in runs]) for k in keys]
            style = {"lw": 2.5, "marker": "o"} if name.startswith("MF-QAT") else {"lw": 1, "marker": ".", "ls": "--"}
            ax.plot(xs, mean, color=f"C{i}", label=name, **style)
        ax.set_xticks(xs, evals, fontsize=8)
        ax.set_title("sliced from the anchor" if sliced else "direct cast", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%), mean over seeds")
    low = min(r[n][k] for r in runs for n in r for k in r[n])
    axes[0].set_ylim(max(0.0, low - 2), 100)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    """Run every recipe over the seeds; print and write the table and the figure."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=sorted(FAMILIES), default="int")
    parser.add_argument("--activations", default=None, help="also fake-quantize activations in this format")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fp-epochs", type=int, default=40)
    parser.add_argument("--qat-epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="write <out>.md, <out>.png and <out>.json")
    args = parser.parse_args()
    # 64-wide layers: one thread each for torch and the numba kernels beats the cost of starting threads
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    train_formats, evals, anchor = FAMILIES[args.family]
    unseen = set(evals) - set(train_formats)
    t0 = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            runs.append(run_seed(args.family, seed, args.activations, args.fp_epochs, args.qat_epochs, Path(tmp)))
            print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    what = "weights" + (f" + activations ({args.activations})" if args.activations else " only")
    title = f"digits, MX{args.family.upper()} {what}, {args.seeds} seeds"
    md = (f"{title}; test accuracy (%) mean ± std; cells: direct cast / sliced from the {anchor} anchor; "
          f"* = not a training format of MF-QAT\n\n{table(runs, args.family, unseen)}\n")
    print(md)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(md)
        args.out.with_suffix(".json").write_text(json.dumps(runs, indent=1) + "\n")
        figure(runs, args.family, args.out.with_suffix(".png"), title)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
