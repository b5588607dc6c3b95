"""Compute-optimal QAT on scikit-learn's digits: fused vs classic schedules across QAT fractions and budgets."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch
from recipe_common import FIGURES, digits, evaluate, figure, mlp, write_table

import mxemu.torch as mxt

WIDTHS = [64, 64, 64, 10]
BATCH = 32


def run(data: tuple[torch.Tensor, ...], steps: int, fraction: float, fused: bool, fmt: str,
        seed: int) -> tuple[float, float]:
    """Train from scratch under one schedule; (test accuracy, test loss) with the weights in `fmt`."""
    xtr, ytr, xte, yte = data
    model = mlp(WIDTHS, seed)
    mxt.quantize_model(model, {"*": {"weight_format": fmt}})
    sched = mxt.QATSchedule(steps, fraction, warmup_steps=max(1, steps // 20), cooldown_fraction=0.2,
                            peak_lr=3e-3, final_lr=0.0, shape="linear", fused=fused,
                            qat_warmup_steps=0 if fused else round(fraction * steps) // 10)
    opt = torch.optim.Adam(model.parameters(), lr=sched.peak_lr)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        lr, qat = sched(step)
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(xtr), (BATCH,), generator=g)
        opt.zero_grad()
        with mxt.use_format(model, fmt if qat else None):
            torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
        opt.step()
    return evaluate(model, xte, yte)


def main(argv: list[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--base-steps", type=int, default=50)
    parser.add_argument("--multiples", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.35, 0.5, 0.7])
    parser.add_argument("--format", default="mxint2")
    parser.add_argument("--out", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    params = sum(a * b for a, b in itertools.pairwise(WIDTHS))
    bits = int(args.format.removeprefix("mxint")) if args.format.startswith("mxint") else 4
    loss = {}
    acc = {}
    for mult in args.multiples:
        steps = args.base_steps * mult
        for fused in (True, False):
            for f in args.fractions:
                res = [run(digits(s), steps, f, fused, args.format, s) for s in range(args.seeds)]
                acc[mult, fused, f] = np.mean([r[0] for r in res])
                loss[mult, fused, f] = np.mean([r[1] for r in res])
    rows = []
    for mult in args.multiples:
        steps = args.base_steps * mult
        s = mxt.tokens_per_parameter_byte(steps * BATCH, params, bits)
        for fused in (True, False):
            best = min(args.fractions, key=lambda f, m=mult, fu=fused: loss[m, fu, f])
            cells = [f"{loss[mult, fused, f]:.3f} / {acc[mult, fused, f]:.1f}" for f in args.fractions]
            rows.append([f"{steps}", f"{s:.1f}", "fused" if fused else "classic", *cells, f"{best:g}"])
    text = write_table(args.out / "schedule_digits.md",
                       ["steps", "S (samples/param byte)", "schedule", *(f"f={f:g}" for f in args.fractions),
                        "best f (loss)"], rows,
                       f"MLP {WIDTHS}, weights {args.format}, cells: test loss / test acc. (%), mean of "
                       f"{args.seeds} seeds")
    print(text)
    fig, ax = figure()
    for mult in args.multiples:
        for fused, style in ((True, "-o"), (False, "--s")):
            ax.plot(args.fractions, [loss[mult, fused, f] for f in args.fractions], style,
                    label=f"{args.base_steps * mult} steps, {'fused' if fused else 'classic'}")
    ax.set_xlabel("QAT fraction f")
    ax.set_ylabel(f"test loss ({args.format} weights)")
    ax.set_title("Fused vs classic cooldown + QAT (digits MLP)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "schedule_digits.png")
    return rows


if __name__ == "__main__":
    main()
