"""MF-QAT on a Hugging Face transformers Llama: one model for every MX width vs single-format QAT specialists.

A 2-layer Llama (width 64) built from a `LlamaConfig` (no download) is trained as a character-level
language model on the Python standard library's own sources, then fine-tuned with QAT: one
specialist per training format, MF-QAT `sample`, and `sample` + slice-aware. Every model is
evaluated (held-out cross-entropy, nats per character) in float, at every format by direct cast,
and after `save_anchor` + `load_anchor` at each lower format (Slice-and-Scale from the 8-bit anchor).
Two tables: weights only (MXINT 8/6/4/2 trained), and weights + activations (MXINT pairs W=A,
8/6/4 trained); unseen widths in between.

    python examples/mfqat_transformer.py --seeds 2 --out docs/img/mfqat_transformer

writes `<out>.md`, `<out>.png` and `<out>.json` (every seed's numbers).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sysconfig
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is built from a config: nothing to download

import numba
import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

import mxemu.torch as mxt

# name: (training formats, evaluated formats (widest first), anchor); a pair is (weights, activations)
TABLES = {
    "weights only": (["mxint8", "mxint6", "mxint4", "mxint2"],
                     ["mxint8", "mxint7", "mxint6", "mxint5", "mxint4", "mxint3", "mxint2"], "mxint8"),
    "weights + activations": ([("mxint8", "mxint8"), ("mxint6", "mxint6"), ("mxint4", "mxint4")],
                              [("mxint8", "mxint8"), ("mxint7", "mxint7"), ("mxint6", "mxint6"),
                               ("mxint5", "mxint5"), ("mxint4", "mxint4")], "mxint8"),
}
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))  # printable ASCII; everything else is one token
VOCAB = len(CHARS) + 1
SEQ, BATCH = 64, 16


def corpus(n_chars: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n_chars` characters of the standard library's top-level .py files (sorted by name) as
    token ids; the last tenth is the held-out split."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    text = []
    for p in sorted(lib.glob("*.py")):
        text.append(p.read_text(encoding="utf-8", errors="replace"))
        if sum(map(len, text)) >= n_chars:
            break
    table = {c: i for i, c in enumerate(CHARS)}
    ids = torch.tensor([table.get(c, len(CHARS)) for c in "".join(text)[:n_chars]])
    cut = len(ids) * 9 // 10
    return ids[:cut], ids[cut:]


def llama(seed: int) -> LlamaForCausalLM:
    """A small float Llama from a config: 2 layers, width 64, 4 heads, MLP width 128."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=SEQ,
                      tie_word_embeddings=False, attn_implementation="eager")
    return LlamaForCausalLM(cfg)


def batches(ids: torch.Tensor, steps: int, seed: int) -> list[torch.Tensor]:
    """`steps` batches of random windows of SEQ + 1 characters."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(ids) - SEQ - 1, (steps, BATCH), generator=g)
    return [torch.stack([ids[s:s + SEQ + 1] for s in row.tolist()]) for row in starts]


def lm_loss(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=batch[:, :-1]).logits
    return torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))


def train(model: torch.nn.Module, recipe: mxt.MFQATRecipe | None, data: list[torch.Tensor], lr: float) -> None:
    """AdamW with a cosine learning rate; `recipe=None` trains in float."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, len(data))
    model.train()
    for step, batch in enumerate(data):
        opt.zero_grad()
        loss_fn = lambda batch=batch: lm_loss(model, batch)
        (loss_fn() if recipe is None else recipe.loss(model, step, loss_fn)).backward()
        opt.step()
        sched.step()
    model.eval()


@torch.no_grad()
def nats(model: torch.nn.Module, held_out: list[torch.Tensor]) -> float:
    """Mean held-out cross-entropy, nats per character."""
    return float(np.mean([lm_loss(model, b).item() for b in held_out]))


def split(fmt: str | tuple[str, str]) -> tuple[str, str | None]:
    return fmt if isinstance(fmt, tuple) else (fmt, None)


def label(fmt: str | tuple[str, str]) -> str:
    w, a = split(fmt)
    return w if a is None else f"W{w[5:]}A{a[5:]}"


def evaluate(model: torch.nn.Module, evals: list, anchor: str, held_out: list[torch.Tensor],
             tmp: Path) -> dict[str, float]:
    """Held-out loss in float, at every format by direct cast, and served from the model's anchor checkpoint."""
    out = {}
    with mxt.use_format(model, None, input_format=None):
        out["float"] = nats(model, held_out)
    for f in evals:
        w, a = split(f)
        with mxt.use_format(model, w, input_format=a):
            out[label(f)] = nats(model, held_out)
    path = mxt.save_anchor(model, tmp / "anchor.safetensors", fmt=anchor)
    for f in evals[1:]:
        w, a = split(f)
        served = copy.deepcopy(model)
        mxt.load_anchor(served, path, runtime_format=w, input_format=a)
        out[f"{label(f)} sliced"] = nats(served, held_out)
    return out


def recipes(table: str, seed: int) -> dict[str, mxt.MFQATRecipe | None]:
    """FP (PTQ of the float model), one specialist per training format, MF-QAT sample and slice-aware."""
    train_formats, _, anchor = TABLES[table]
    out: dict[str, mxt.MFQATRecipe | None] = {"FP (PTQ only)": None}
    out.update({f"QAT {label(f)}": mxt.MFQATRecipe([f]) for f in train_formats})
    out["MF-QAT sample"] = mxt.MFQATRecipe(train_formats, rule="sample", seed=seed)
    out["MF-QAT sample + slice-aware"] = mxt.MFQATRecipe(train_formats, rule="sample", seed=seed, slice_aware=True,
                                                         anchor=anchor)
    return out


def run_seed(seed: int, fp_steps: int, qat_steps: int, chars: int, tmp: Path) -> dict[str, dict]:
    """Both tables for one seed: {table: {recipe: {evaluation column: nats}}}."""
    train_ids, test_ids = corpus(chars)
    held_out = batches(test_ids, 8, 10_000)
    base = llama(seed)
    train(base, None, batches(train_ids, fp_steps, seed), 3e-3)
    results: dict[str, dict] = {}
    for table, (_, evals, anchor) in TABLES.items():
        results[table] = {}
        for name, recipe in recipes(table, seed).items():
            model = copy.deepcopy(base)
            w, a = split(recipe.formats[0] if recipe is not None else evals[0])
            mxt.quantize_model(model, {"*": {"weight_format": w, "input_format": a}})
            if recipe is not None:
                train(model, recipe, batches(train_ids, qat_steps, seed + 1), 1e-3)
            results[table][name] = evaluate(model, evals, anchor, held_out, tmp)
    return results


def markdown(runs: list[dict], table: str) -> str:
    """Mean over seeds; cells 'direct / sliced' for every format below the anchor; * = unseen by MF-QAT."""
    train_formats, evals, _ = TABLES[table]
    seen = {label(f) for f in train_formats}
    cols = [label(f) for f in evals]
    head = ["model \\ eval", "float"] + [c + ("" if c in seen else "*") for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    mean = lambda n, k: float(np.mean([r[table][n][k] for r in runs]))
    for name in runs[0][table]:
        row = [name, f"{mean(name, 'float'):.3f}"]
        for c in cols:
            row.append(f"{mean(name, c):.3f}" if c == label(evals[0]) else
                       f"{mean(name, c):.3f} / {mean(name, c + ' sliced'):.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def figure(runs: list[dict], path: Path) -> None:
    """Held-out loss against the served format, sliced from the anchor, one panel per table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TABLES), figsize=(12, 4.5))
    for ax, (table, (_, evals, _)) in zip(axes, TABLES.items(), strict=True):
        cols = [label(f) for f in evals]
        keys = [cols[0]] + [c + " sliced" for c in cols[1:]]
        xs = np.arange(len(cols))
        for i, name in enumerate(runs[0][table]):
            mean = [np.mean([r[table][name][k] for r in runs]) for k in keys]
            style = {"lw": 2.5, "marker": "o"} if name.startswith("MF-QAT") else {"lw": 1, "marker": ".", "ls": "--"}
            ax.plot(xs, mean, color=f"C{i}", label=name, **style)
        ax.set_xticks(xs, cols, fontsize=8)
        ax.set_title(f"{table}, served from the MXINT8 anchor", fontsize=10)
        ax.set_ylabel("held-out loss (nats/char), mean over seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def time_compile(steps: int = 30, warmup: int = 10) -> None:
    """Median training-step time of the W4A4 model, eager and compiled with inductor (the first
    `warmup` steps, compilation included, are not counted)."""
    import statistics

    train_ids, _ = corpus(200_000)
    data = batches(train_ids, steps, 0)
    for mode in ("eager", "inductor"):
        model = llama(0)
        mxt.quantize_model(model, {"*": {"weight_format": "mxint4", "input_format": "mxint4"}})
        run = torch.compile(model) if mode == "inductor" else model
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        times = []
        for i, batch in enumerate(data):
            t = time.perf_counter()
            opt.zero_grad()
            lm_loss(run, batch).backward()
            opt.step()
            if i >= warmup:
                times.append(time.perf_counter() - t)
        print(f"{mode}: median training step {statistics.median(times) * 1000:.0f} ms over {len(times)} steps")


def main() -> None:
    """Run both tables over the seeds; print and write the tables and the figure."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--fp-steps", type=int, default=600)
    parser.add_argument("--qat-steps", type=int, default=150)
    parser.add_argument("--chars", type=int, default=400_000, help="characters of standard-library source used")
    parser.add_argument("--out", type=Path, default=None, help="write <out>.md, <out>.png and <out>.json")
    parser.add_argument("--time-compile", action="store_true", help="only time a training step, eager vs inductor")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small matrices: one thread each for torch and the numba kernels
    numba.set_num_threads(1)
    if args.time_compile:
        time_compile()
        return
    t0 = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            runs.append(run_seed(seed, args.fp_steps, args.qat_steps, args.chars, Path(tmp)))
            print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    md = "".join(f"**{table}** (held-out nats/char, mean of {args.seeds} seeds; cells: direct cast / served from "
                 f"the {TABLES[table][2]} anchor; * = unseen by MF-QAT)\n\n{markdown(runs, table)}\n\n"
                 for table in TABLES)
    print(md)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(md)
        args.out.with_suffix(".json").write_text(json.dumps(
            {"args": {k: v for k, v in vars(args).items() if k != "out"}, "runs": runs}, indent=1) + "\n")
        figure(runs, args.out.with_suffix(".png"))
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
