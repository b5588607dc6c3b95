"""MicroMix on scikit-learn's digits: calibrated MXFP4/6/8 channel split vs uniform formats and a random split,
on an MLP whose hidden activations carry injected x20 outlier channels (post-training, W+A quantized)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from recipe_common import FIGURES, digits, evaluate, figure, mlp, write_table

import mxemu.torch as mxt

WIDTHS = [64, 128, 128, 10]
LINEARS = ["0", "2", "4"]


def trained(seed: int, data: tuple[torch.Tensor, ...], steps: int, outliers: int, factor: float) -> torch.nn.Module:
    """Float MLP; then `outliers` hidden units per hidden layer scaled up by `factor` (and the next layer's
    weight columns down by it: ReLU is positively homogeneous, so the float function is unchanged)."""
    xtr, ytr = data[0], data[1]
    model = mlp(WIDTHS, seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(xtr), (64,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
        opt.step()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for a, b in (("0", "2"), ("2", "4")):
            units = torch.as_tensor(rng.choice(model.get_submodule(a).out_features, outliers, replace=False))
            model.get_submodule(a).weight[units] *= factor
            model.get_submodule(a).bias[units] *= factor
            model.get_submodule(b).weight[:, units] /= factor
    return model


def quantized(model: torch.nn.Module, plans: dict[str, mxt.MicroMixPlan]) -> torch.nn.Module:
    """A copy of `model` with each linear layer a MicroMixLinear with its plan."""
    import copy

    q = copy.deepcopy(model)
    mxt.apply_micromix(q, plans)
    return q


def uniform(model: torch.nn.Module, fmt: str) -> dict[str, mxt.MicroMixPlan]:
    """One-segment plans: every channel in `fmt`."""
    plans = {}
    for n in LINEARS:
        c = model.get_submodule(n).in_features
        plans[n] = mxt.MicroMixPlan(np.arange(c), c, 0, 0, (fmt, "mxfp6_e3m2", "mxfp8_e4m3"))
    return plans


def avg_bits(model: torch.nn.Module, plans: dict[str, mxt.MicroMixPlan]) -> float:
    """Element bits averaged over all weights (= over the MACs of one token)."""
    sizes = {n: model.get_submodule(n).weight.numel() for n in plans}
    return sum(sizes[n] * p.average_bits for n, p in plans.items()) / sum(sizes.values())


def main(argv: list[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--outliers", type=int, default=4)
    parser.add_argument("--factor", type=float, default=20.0)
    parser.add_argument("--align", type=int, default=32)
    parser.add_argument("--random-splits", type=int, default=5)
    parser.add_argument("--out", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    res: dict[str, list[tuple[float, float]]] = {}
    splits: dict[str, str] = {}
    for seed in range(args.seeds):
        data = digits(seed)
        model = trained(seed, data, args.steps, args.outliers, args.factor)
        res.setdefault("float", []).append((evaluate(model, data[2], data[3])[0], 32.0))
        with mxt.MicroMixCalibrator(model, LINEARS) as cal:
            model(data[0])  # calibration: the training inputs
        for variant in ("main", "iclr"):
            plans = {n: mxt.micromix_split(cal.stats[n], variant, align=args.align) for n in LINEARS}
            if seed == 0:
                splits[f"MicroMix ({variant})"] = ", ".join(f"{p.p4}/{p.p6}/{p.p8}" for p in plans.values())
            res.setdefault(f"MicroMix ({variant})", []).append(
                (evaluate(quantized(model, plans), data[2], data[3])[0], avg_bits(model, plans)))
            for r in range(args.random_splits):
                rnd = {n: mxt.random_plan(p, seed=1000 * seed + r) for n, p in plans.items()}
                res.setdefault(f"random split ({variant} sizes)", []).append(
                    (evaluate(quantized(model, rnd), data[2], data[3])[0], avg_bits(model, rnd)))
        for fmt in ("mxfp4_e2m1", "mxfp6_e3m2", "mxfp8_e4m3"):
            plans = uniform(model, fmt)
            res.setdefault(f"all {fmt}", []).append(
                (evaluate(quantized(model, plans), data[2], data[3])[0], avg_bits(model, plans)))
    rows = []
    for name, r in res.items():
        acc, bits = np.array(r).T
        rows.append([name, f"{bits.mean():.2f}", f"{acc.mean():.1f} ± {acc.std():.1f}", splits.get(name, "–")])
    text = write_table(args.out / "micromix_digits.md",
                       ["model", "avg bits", "test acc. (%)", "p4/p6/p8 per layer (seed 0)"], rows,
                       f"MLP {WIDTHS}, {args.outliers} hidden units per hidden layer x{args.factor:g}, "
                       f"W+A post-training quantization, align {args.align}, {args.seeds} seeds "
                       f"({args.random_splits} random splits each)")
    print(text)
    fig, ax = figure()
    for name, r in res.items():
        if name == "float":
            ax.axhline(np.mean([a for a, _ in r]), color="gray", ls=":", label="float")
            continue
        acc, bits = np.array(r).T
        ax.errorbar(bits.mean(), acc.mean(), yerr=acc.std(), fmt="o", capsize=3, label=name)
    ax.set_xlabel("average element bits")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("MicroMix vs uniform MXFP and random splits (digits MLP)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "micromix_digits.png")
    return rows


if __name__ == "__main__":
    main()
