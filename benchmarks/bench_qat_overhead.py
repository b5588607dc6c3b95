"""Benchmark: one training step (forward, backward, SGD step) of an MXLinear MLP against nn.Linear on CPU."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

import mxemu.torch as mxt

FORMATS = ("mxfp8_e4m3", "mxfp4_e2m1")


def mlp(width: int, layers: int) -> torch.nn.Sequential:
    """`layers` Linear(width, width) layers with ReLU between them, seeded."""
    torch.manual_seed(0)
    mods: list[torch.nn.Module] = []
    for i in range(layers):
        mods.append(torch.nn.Linear(width, width))
        if i < layers - 1:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def step_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> object:
    """A closure running one SGD training step of `model` on (x, y) with an MSE loss."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    return step


def interleaved(steps: dict[str, Callable[[], None]], rounds: int) -> dict[str, tuple[float, float]]:
    """Median (wall, process CPU) seconds per step of each variant, timed in rounds (one step of each
    variant per round, after a warm-up round) so that a change of machine load hits all of them."""
    for fn in steps.values():
        fn()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - w, time.process_time() - c))
    return {name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
            for name, ts in times.items()}


def main() -> None:
    """Print the median step time of nn.Linear and of MXLinear (weights + activations) per format."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--ste", choices=["identity", "masked"], default="identity")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, args.width, generator=g)
    y = torch.randn(args.batch, args.width, generator=g)
    steps = {"nn.Linear": step_fn(mlp(args.width, args.layers), x, y)}
    for fmt in FORMATS:
        model = mlp(args.width, args.layers)
        mxt.quantize_model(model, {"*": {"weight_format": fmt, "input_format": fmt, "ste": args.ste}})
        steps[f"MXLinear {fmt} (W + A)"] = step_fn(model, x, y)
    load = os.getloadavg()[0]
    res = interleaved(steps, args.rounds)
    print(f"train step, {args.layers}-layer MLP width {args.width}, batch {args.batch}, median of {args.rounds} "
          f"interleaved rounds; ste {args.ste}; torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"{'layer':<30} {'wall ms':>9} {'x nn.Linear':>12} {'CPU ms':>9} {'x nn.Linear':>12}")
    bw, bc = res["nn.Linear"]
    for name, (w, c) in res.items():
        print(f"{name:<30} {w * 1e3:9.1f} {w / bw:12.2f} {c * 1e3:9.1f} {c / bc:12.2f}")


if __name__ == "__main__":
    main()
