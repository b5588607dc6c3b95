"""Shared pieces of the recipe examples: scikit-learn digits, a small MLP, evaluation, table and figure output."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numba
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"

# The tensors here are tiny (a few thousand elements): threaded numba kernels and torch ops cost more
# in thread start-up and synchronisation than they save, by more than 10x on a busy 2-core machine.
numba.set_num_threads(1)
torch.set_num_threads(1)


def digits(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits (8x8 images scaled to [0, 1]) split 75/25, stratified: x_train, y_train, x_test, y_test."""
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=0.25, random_state=seed, stratify=y)
    return (torch.tensor(xtr, dtype=torch.float32), torch.tensor(ytr), torch.tensor(xte, dtype=torch.float32),
            torch.tensor(yte))


def mlp(widths: Sequence[int], seed: int) -> torch.nn.Sequential:
    """Linear/ReLU stack with the given layer widths (input first, classes last)."""
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy %, mean cross-entropy) of `model` on (x, y)."""
    logits = model(x)
    return ((logits.argmax(-1) == y).float().mean().item() * 100,
            torch.nn.functional.cross_entropy(logits, y).item())


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]], note: str = "") -> str:
    """Write a markdown table (and an optional note line above it) to `path`; returns the text."""
    lines = ([note, ""] if note else []) + ["| " + " | ".join(header) + " |",
                                            "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text


def figure() -> tuple[object, object]:
    """A headless matplotlib figure and axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 4), dpi=100)
