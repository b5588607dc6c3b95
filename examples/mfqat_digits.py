"""MF-QAT on scikit-learn's digits: one MXINT model for 8/6/4/2 bits vs single-format QAT specialists."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mxemu.torch as mxt

FORMATS = ["mxint8", "mxint6", "mxint4", "mxint2"]


def data(seed: int) -> tuple[torch.Tensor, ...]:
    """Digits (8x8 images scaled to [0, 1]) split 75/25."""
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=0.25, random_state=seed, stratify=y)
    return (torch.tensor(xtr, dtype=torch.float32), torch.tensor(ytr), torch.tensor(xte, dtype=torch.float32),
            torch.tensor(yte))


def mlp(seed: int) -> torch.nn.Module:
    """A 64-128-128-10 MLP with every linear layer MX weight-quantized (weight-only QAT)."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    mxt.quantize_model(model, "mxint8")
    return model


def train(model: torch.nn.Module, recipe: mxt.MFQATRecipe, xtr: torch.Tensor, ytr: torch.Tensor,
          steps: int, seed: int) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, len(xtr), (64,), generator=g)
        xb, yb = xtr[idx], ytr[idx]
        opt.zero_grad()
        recipe.loss(model, step, lambda xb=xb, yb=yb: torch.nn.functional.cross_entropy(model(xb), yb)).backward()
        opt.step()


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, fmt: str) -> float:
    with mxt.use_format(model, fmt):
        return (model(x).argmax(-1) == y).float().mean().item() * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    xtr, ytr, xte, yte = data(args.seed)
    recipes = {f"QAT {f}": mxt.MFQATRecipe([f]) for f in ("mxint8", "mxint2")}
    recipes["MF-QAT sample"] = mxt.MFQATRecipe(FORMATS, rule="sample", seed=args.seed)
    recipes["MF-QAT sum"] = mxt.MFQATRecipe(FORMATS, rule="sum")
    print(f"{'test accuracy (%)':<22}" + "".join(f"{f:>9}" for f in FORMATS) + "   anchor->int4  anchor->int2")
    for name, recipe in recipes.items():
        model = mlp(args.seed)
        train(model, recipe, xtr, ytr, args.steps, args.seed)
        row = "".join(f"{accuracy(model, xte, yte, f):9.1f}" for f in FORMATS)
        with tempfile.TemporaryDirectory() as tmp:  # store once as an MXINT8 anchor, slice at load time
            path = mxt.save_anchor(model, Path(tmp) / "anchor.safetensors", fmt="mxint8")
            sliced = []
            for runtime in ("mxint4", "mxint2"):
                mxt.load_anchor(model, path, runtime_format=runtime)
                sliced.append(accuracy(model, xte, yte, runtime))
        print(f"{name:<22}{row}   {sliced[0]:12.1f}  {sliced[1]:12.1f}")


if __name__ == "__main__":
    main()
