"""Policy identification: which preset, or which Policy, an implementation behaves like, verified before it is named."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mxemu.policy import CHOICES, Policy
from mxemu.spec import MXFormat
from mxemu.testing.compare import COMPARISONS, FAILURE_CLASSES, PASSES_UNDER, Outputs, accepted, classify
from mxemu.testing.coverage import coverage_blocks
from mxemu.testing.discriminating import (
    candidate_presets,
    discriminating_blocks,
    field_values,
    pair_blocks,
    spread_blocks,
)
from mxemu.testing.runner import E8M0_NAN, Target, check_arguments, expected, lane_classes

__all__ = ["Identification", "discriminating_blocks", "identify"]

# Counterexample-guided rounds: blocks of the verification set that the found policy misses join the
# search set, and the search runs again.
ROUNDS = 3
REFINE_BLOCKS = 64
#: One-field moves tried with a second field where no single field improves the search (`_descend`).
PAIR_BEAM = 8


@dataclass
class Identification:
    """What an implementation matches, checked on `blocks` blocks: presets ("preset"), a policy no
    preset equals ("policy"), or nothing in mxemu's policy space ("none", with the closest candidate,
    the number of blocks it differs on and those blocks' failure classes).

    >>> print(Identification("mxfp4_e2m1", ["ocp"], Policy(), "preset", 100))
    mxfp4_e2m1: matches preset(s) ocp (all ocp defaults), verified on 100 blocks
    """

    format: str
    presets: list[str]
    policy: Policy
    status: str = "preset"
    blocks: int = 0
    differing: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    closest: str = ""
    comparison: str = "bits"
    unexplained: list[str] = field(default_factory=list)

    @property
    def fields(self) -> str:
        """The policy's fields that differ from ocp, as field=value."""
        default = Policy()
        changed = [f"{f}={getattr(self.policy, f)}" for f in (*CHOICES, "zero_block_scale")
                   if getattr(self.policy, f) != getattr(default, f)]
        return ", ".join(changed) or "all ocp defaults"

    @property
    def passes_under(self) -> str | None:
        """The comparison class under which the closest candidate would match, if one would."""
        needed = [PASSES_UNDER.get(c) for c in self.classes]
        if not needed or None in needed:
            return None
        return max(needed, key=COMPARISONS.index)

    def __str__(self) -> str:
        if self.status == "preset":
            return f"{self.format}: matches preset(s) {', '.join(self.presets)} ({self.fields}), " \
                   f"verified on {self.blocks} blocks"
        if self.status == "policy":
            return f"{self.format}: matches policy {self.fields}, verified on {self.blocks} blocks (no preset " \
                   f"equals it)"
        classes = ", ".join(f"{c} ({n} blocks)" for c, n in self.classes.items())
        text = (f"{self.format}: no policy in mxemu's space reproduces this function under comparison "
                f"{self.comparison!r}; the closest is {self.closest}, which differs on {self.differing} of "
                f"{self.blocks} blocks in these classes: {classes}")
        if self.passes_under:
            text += f"; it would match under comparison={self.passes_under!r}"
        return text


class _Scorer:
    """Counts a policy's mismatching lanes against the target's recorded outputs on a set of blocks."""

    def __init__(self, target: Target, x: np.ndarray, got: Outputs, comparison: str) -> None:
        self.target, self.x, self.got, self.comparison = target, x, got, comparison
        self.nan_scale = E8M0_NAN if target.kind == "quantize" else None
        self.ok = [i for i, n in enumerate(FAILURE_CLASSES) if accepted(n, comparison)]
        self._cache: dict[Policy, np.ndarray] = {}

    def lanes(self, policy: Policy) -> np.ndarray:
        """(N, K) bool: the lanes where the policy's results differ from the target's."""
        if policy not in self._cache:
            want = expected(self.x, self.target.fmt, policy, self.target.kind)
            nowhere = np.full(want.values.shape, np.nan)
            cls = classify(want, self.got, (nowhere, nowhere), self.nan_scale)
            self._cache[policy] = (cls >= 0) & ~np.isin(cls, self.ok)
        return self._cache[policy]

    def score(self, policy: Policy) -> int:
        return int(self.lanes(policy).sum())

    def blocks(self, policy: Policy) -> np.ndarray:
        return self.lanes(policy).any(axis=1)


def _neighbours(policy: Policy, zero_scales: list[int], kind: str) -> list[Policy]:
    """Every policy one field away (values results of `kind` can be checked under; candidate all-zero-block
    scales)."""
    out = []
    for name in CHOICES:
        out += [policy.replace(**{name: v}) for v in field_values(name, kind) if v != getattr(policy, name)]
    out += [policy.replace(zero_block_scale=s) for s in zero_scales if s != policy.zero_block_scale]
    return out


def _descend(scorer: _Scorer, start: Policy, zero_scales: list[int], kind: str) -> Policy:
    """Steepest descent on mismatching lanes, one field at a time. Scoring lanes, not blocks, keeps a
    quirk that touches every block (say the sign of zero) from hiding the progress of other fields.

    Where no single field lowers the score, the best `PAIR_BEAM` one-field moves are tried with a second
    field: two fields that decide one thing together (the sign of an integer zero: zero_sign and
    fake_int_zero) show no progress one at a time."""
    best, best_score = start, scorer.score(start)
    while best_score:
        near = sorted(_neighbours(best, zero_scales, kind), key=scorer.score)
        candidate = near[0]
        if scorer.score(candidate) >= best_score:
            candidate = min((p for n in near[:PAIR_BEAM] for p in _neighbours(n, zero_scales, kind)), key=scorer.score)
        if scorer.score(candidate) >= best_score:
            break
        best, best_score = candidate, scorer.score(candidate)
    return best


def _simplest(scorer: _Scorer, policy: Policy) -> Policy:
    """The policy with every field that makes no difference on the blocks put back to ocp's value."""
    default = Policy()
    for name in (*CHOICES, "zero_block_scale"):
        trial = policy.replace(**{name: getattr(default, name)})
        if getattr(policy, name) != getattr(default, name) and not scorer.score(trial):
            policy = trial
    return policy


def identify(fn: Callable, fmt: str | MXFormat, kind: str = "quantize", *, tensor: str = "numpy",
             device: str = "cpu", dtype: object = np.float32, comparison: str = "bits", batched: bool = False,
             kwargs: Mapping[str, object] | None = None, verify_blocks: int = 2048) -> Identification:
    """Name the preset, or the Policy, that `fn` behaves like, and check the answer before giving it.

    The search runs on discriminating blocks (named boundary blocks, and a block for every pair of
    values of every policy field); every answer is then verified on those plus `verify_blocks`
    generated and random blocks. Presets that match every block are named; otherwise a field-by-field
    search from the closest presets looks for a policy that does (blocks it misses join the search,
    up to three rounds); otherwise the answer is "no policy", with the closest candidate and the
    classes of its differences. `fn` is called as in `check_quantizer`.

    >>> import mxemu as mx
    >>> print(identify(lambda x: mx.fake_quantize(x, "mxfp4_e2m1", policy="torchao_rceil"), "mxfp4_e2m1",
    ...                kind="fake_quantize", batched=True, verify_blocks=200).presets)
    ['torchao_rceil']
    """
    f, _, dt = check_arguments(fmt, None, dtype, verify_blocks, comparison)
    target = Target(fn, f, kind, tensor, device, batched, dict(kwargs or {}))
    named = discriminating_blocks(f) + pair_blocks(f, kind)[0]
    search_x = np.stack([x for _, x in named])
    with np.errstate(all="ignore"):
        x = np.concatenate([search_x, coverage_blocks(f, verify_blocks // 2, seed=3),
                            spread_blocks(f, verify_blocks - verify_blocks // 2, seed=1)]).astype(dt)
    got = target.outputs(x)
    verify = _Scorer(target, x, got, comparison)
    n = x.shape[0]

    presets = candidate_presets(kind)
    matching = [name for name, p in presets.items() if not verify.blocks(p).any()]
    if matching:
        return Identification(f.name, matching, presets[matching[0]], "preset", n, comparison=comparison)

    zero_scales = sorted({0, 1, 127, *([] if got.scales is None else [int(s) for s in got.scales[
        (x.astype(np.float64) == 0).all(axis=1)][:1]])})
    rows = np.arange(search_x.shape[0])
    best = None
    for _ in range(ROUNDS):
        search = _Scorer(target, x[rows], Outputs(None if got.scales is None else got.scales[rows],
                                                   got.values[rows], got.bits[rows]), comparison)
        starts = sorted(presets.values(), key=search.score)[:3]
        best = min((_descend(search, p, zero_scales, kind) for p in starts), key=verify.score)
        missed = np.flatnonzero(verify.blocks(best))
        if not missed.size:
            policy = _simplest(verify, best)
            return Identification(f.name, [], policy, "policy", n, comparison=comparison)
        rows = np.union1d(rows, missed[:REFINE_BLOCKS])

    closest_preset = min(presets, key=lambda name: int(verify.blocks(presets[name]).sum()))
    candidates = {f"preset {closest_preset}": presets[closest_preset], "policy": best}
    label, policy = min(candidates.items(), key=lambda kv: int(verify.blocks(kv[1]).sum()))
    lanes = lane_classes(target, x, policy, got)
    lanes = np.where(np.isin(lanes, verify.ok), -1, lanes)
    classes = {name: int((lanes == i).any(axis=1).sum()) for i, name in enumerate(FAILURE_CLASSES)
               if (lanes == i).any()}
    result = Identification(f.name, [], policy, "none", n, int((lanes >= 0).any(axis=1).sum()), classes,
                            comparison=comparison)
    result.closest = label if label != "policy" else f"the policy {result.fields}"
    result.unexplained = [name for (name, _), miss in zip(named, verify.blocks(policy)[:len(named)], strict=True)
                          if miss]
    return result
