"""dMX on scikit-learn's digits: learned per-layer MXFP formats under a bit budget vs uniform formats."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from recipe_common import FIGURES, digits, evaluate, figure, mlp, write_table

import mxemu.torch as mxt

LADDER = ["mxfp4_e2m1", "mxfp6_e2m3", "mxfp8_e4m3"]
WIDTHS = [64, 64, 64, 64, 10]


def pretrain(seed: int, steps: int, data: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """Float training; returns the state dict every variant starts from."""
    xtr, ytr = data[0], data[1]
    model = mlp(WIDTHS, seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(xtr), (64,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
        opt.step()
    return model.state_dict()


def finetune(model: torch.nn.Module, data: tuple[torch.Tensor, ...], steps: int, seed: int,
             target: float | None = None, strength: float = 0.0) -> int:
    """QAT fine-tuning; with DMXLinear layers also the offsets (annealed, budget-regularized).
    Returns how many times a layer's hard format changed during training."""
    xtr, ytr = data[0], data[1]
    layers = list(mxt.dmx.dmx_layers(model).values()) if target is not None else []
    offsets = [m.offset for m in layers]
    params = [p for n, p in model.named_parameters() if not n.endswith("offset")]
    groups = [{"params": params, "lr": 1e-3}] + ([{"params": offsets, "lr": 0.05}] if offsets else [])
    opt = torch.optim.Adam(groups)
    g = torch.Generator().manual_seed(seed + 1)
    crossings, last = 0, [m.hard_format() for m in layers]
    for step in range(steps):
        if layers:
            mxt.set_temperature(model, mxt.temperature_at(step, steps, 1.0, 0.01, 0.1))
        idx = torch.randint(0, len(xtr), (64,), generator=g)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
        if layers:
            loss = loss + mxt.bit_budget_loss(model, target, strength)
        loss.backward()
        opt.step()
        if layers:
            mxt.clamp_offsets(model)
            now = [m.hard_format() for m in layers]
            crossings += sum(a != b for a, b in zip(last, now, strict=True))
            last = now
    return crossings


def weight_bits(fmap: dict[str, str], model: torch.nn.Module) -> float:
    """Element bits averaged over the quantized weights (parameter-count weighted)."""
    import mxemu as mx

    sizes = {n: model.get_submodule(n).weight.numel() for n in fmap}
    return sum(sizes[n] * mx.get_format(f).element.bits for n, f in fmap.items()) / sum(sizes.values())


def main(argv: list[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--targets", type=float, nargs="+", default=[4.5, 5.0, 6.0, 7.0])
    parser.add_argument("--strength", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    results: dict[str, list[tuple[float, float, int]]] = {}
    maps: dict[str, list[str]] = {}
    for seed in range(args.seeds):
        data = digits(seed)
        state = pretrain(seed, args.pretrain_steps, data)
        for fmt in LADDER:
            model = mlp(WIDTHS, seed)
            model.load_state_dict(state)
            mxt.quantize_model(model, {"*": {"weight_format": fmt, "input_format": fmt}})
            finetune(model, data, args.steps, seed)
            bits = mxt.FormatLadder(LADDER).bits[LADDER.index(fmt)]
            results.setdefault(f"uniform {fmt}", []).append((evaluate(model, data[2], data[3])[0], bits, 0))
        for target in args.targets:
            model = mlp(WIDTHS, seed)
            model.load_state_dict(state)
            mxt.to_dmx(model, mxt.FormatLadder(LADDER), init_offset=1.9, quantize_input=True)
            crossings = finetune(model, data, args.steps, seed, target, args.strength)
            fmap = mxt.freeze(model)
            name = f"dMX target {target:g}"
            results.setdefault(name, []).append((evaluate(model, data[2], data[3])[0], weight_bits(fmap, model),
                                                 crossings))
            maps.setdefault(name, []).append("/".join(f.split("_")[1] for f in fmap.values()))
    rows = []
    for name, res in results.items():
        acc, bits, cross = np.array(res).T
        rows.append([name, f"{bits.mean():.2f}", f"{acc.mean():.1f} ± {acc.std():.1f}",
                     f"{cross.mean():.1f}" if name.startswith("dMX") else "–", "; ".join(maps.get(name, ["–"]))])
    text = write_table(args.out / "dmx_digits.md",
                       ["model", "avg weight bits", "test acc. (%)", "format changes", "per-layer formats (seeds)"],
                       rows, f"MLP {WIDTHS}, W+A quantized, {args.seeds} seeds, {args.steps} QAT steps")
    print(text)
    fig, ax = figure()
    for name, res in results.items():
        acc, bits, _ = np.array(res).T
        ax.errorbar(bits.mean(), acc.mean(), yerr=acc.std(), fmt="o" if name.startswith("dMX") else "s",
                    label=name, capsize=3)
    ax.set_xlabel("average weight element bits")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("dMX vs uniform MXFP formats (digits MLP)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "dmx_digits.png")
    return rows


if __name__ == "__main__":
    main()
