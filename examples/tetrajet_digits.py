"""TetraJet on scikit-learn's digits: MXFP4 training from scratch with all six GEMM operands quantized;
Microscaling baseline vs TetraJet, with and without Q-EMA and Q-Ramping (accuracy and weight oscillation)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from recipe_common import FIGURES, digits, evaluate, figure, mlp, write_table

import mxemu.torch as mxt

WIDTHS = [64, 64, 64, 10]
BATCH = 32


def train(variant: str, data: tuple[torch.Tensor, ...], epochs: int, seed: int,
          window: int) -> tuple[float, float, float, float]:
    """(test accuracy, % weights with R_w > 16 and % weights whose Q(w) reversed direction at least twice,
    both over the last epoch, r(Q(W)) over the last epoch).

    `variant`: "Microscaling", "TetraJet", "TetraJet + Q-EMA(<beta>)" or "TetraJet + Q-Ramping"."""
    xtr, ytr, xte, yte = data
    model = mlp(WIDTHS, seed)
    config = mxt.TetraJetConfig.microscaling() if variant == "Microscaling" else mxt.TetraJetConfig.tetrajet()
    mxt.to_tetrajet(model, config, seed=seed)
    opt = mxt.RampingAdamW(model.parameters(), lr=2e-3)
    ema = mxt.QEMA(model, beta=float(variant.split("(")[1].rstrip(")"))) if "Q-EMA" in variant else None
    ramp = mxt.QRamping(model, opt, window=window) if "Q-Ramping" in variant else None
    per_epoch = len(xtr) // BATCH
    total = epochs * per_epoch
    g = torch.Generator().manual_seed(seed)

    def one_step(step: int) -> None:
        for group in opt.param_groups:
            group["lr"] = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / total))
        idx = torch.randint(0, len(xtr), (BATCH,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
        opt.step()

    tracker = None
    for epoch in range(epochs):
        if ramp is not None and epoch > 0:
            probe = torch.Generator().manual_seed(seed + 10_000 + epoch)

            def probe_step(probe: torch.Generator = probe, at: int = epoch * per_epoch) -> None:
                idx = torch.randint(0, len(xtr), (BATCH,), generator=probe)
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
                for group in opt.param_groups:
                    group["lr"] = 2e-3 * 0.5 * (1 + math.cos(math.pi * at / total))
                opt.step()

            ramp.calibrate(probe_step)
        if epoch == epochs - 1:
            tracker = mxt.OscillationTracker(model)
        for k in range(per_epoch):
            one_step(epoch * per_epoch + k)
            if ema is not None:
                ema.update()
            if tracker is not None:
                tracker.record()
    assert tracker is not None
    acc = evaluate(model, xte, yte)[0]
    return (acc, 100 * tracker.oscillating_fraction(16.0), 100 * tracker.reversing_fraction(2),
            tracker.rate_of_change())


def main(argv: list[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--variants", nargs="+",
                        default=["Microscaling", "TetraJet", "TetraJet + Q-EMA(0.998)", "TetraJet + Q-EMA(0.99)",
                                 "TetraJet + Q-Ramping"])
    parser.add_argument("--out", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    res = {v: [train(v, digits(s), args.epochs, s, args.window) for s in range(args.seeds)]
           for v in args.variants}
    rows = []
    for v, r in res.items():
        acc, osc, rev, rate = np.array(r).T
        rows.append([v, f"{acc.mean():.1f} ± {acc.std():.1f}", f"{osc.mean():.2f}", f"{rev.mean():.2f}",
                     f"{rate.mean():.4f}"])
    text = write_table(args.out / "tetrajet_digits.md",
                       ["variant", "test acc. (%)", "% weights R_w > 16", "% weights with >= 2 reversals of Q(w)",
                        "r(Q(W))"],
                       rows, f"MLP {WIDTHS} from scratch, all six GEMM operands MXFP4, {args.epochs} epochs of "
                       f"{BATCH}-sample steps, AdamW with cosine LR, Q-Ramping window {args.window} steps every epoch, "
                       f"{args.seeds} seeds; oscillation statistics over the last epoch")
    print(text)
    fig, axes = figure()
    x = np.arange(len(rows))
    axes.bar(x - 0.2, [float(r[2]) for r in rows], 0.4, label="R_w > 16")
    axes.bar(x + 0.2, [float(r[3]) for r in rows], 0.4, label=">= 2 reversals")
    axes.set_ylabel("% weights (last epoch)")
    axes.legend(fontsize=7, loc="upper left")
    axes.set_xticks(x, [r[0].replace(" + ", "\n+ ") for r in rows], fontsize=7)
    twin = axes.twinx()
    twin.plot(x, [np.mean([r[0] for r in res[v]]) for v in res], "ko-", label="test acc.")
    twin.set_ylabel("test accuracy (%)")
    axes.set_title("MXFP4 training: oscillation and accuracy (digits MLP)")
    fig.tight_layout()
    fig.savefig(args.out / "tetrajet_digits.png")
    return rows


if __name__ == "__main__":
    main()
