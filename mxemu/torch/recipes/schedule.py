"""Compute-optimal QAT: fused and classic learning-rate / QAT-phase schedules, tokens per parameter byte."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mxemu.errors import InputError

SHAPES = ("linear", "cosine", "sqrt")


def _positive_int(v: object, what: str, zero: bool = False) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < (0 if zero else 1):
        raise InputError(f"{what} must be a{' non-negative' if zero else ' positive'} integer, got {v!r}")
    return int(v)


def _fraction(v: object, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not 0.0 <= v <= 1.0:
        raise InputError(f"{what} must be a number in [0, 1], got {v!r}")
    return float(v)


def decay(progress: float, shape: str) -> float:
    """The cooldown multiplier at `progress` in [0, 1]: 1 at the start, 0 at the end.

    linear: 1 − p; cosine: (1 + cos πp)/2; sqrt: 1 − √p (the square-root cooldown).

    >>> decay(0.5, "linear"), decay(0.25, "sqrt")
    (0.5, 0.5)
    """
    if shape not in SHAPES:
        raise InputError(f"shape must be one of {', '.join(repr(s) for s in SHAPES)}, got {shape!r}")
    p = min(max(float(progress), 0.0), 1.0)
    if shape == "linear":
        return 1.0 - p
    if shape == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    return 1.0 - math.sqrt(p)


def _wsd(step: int, length: int, warmup: int, cooldown: int, peak: float, final: float, shape: str) -> float:
    """Warmup-stable-decay over `length` steps: linear warmup reaching `peak` on step warmup − 1, constant,
    then a cooldown over the last `cooldown` steps reaching `final` on the last step."""
    if step < warmup:
        return peak * (step + 1) / warmup
    start = length - cooldown
    if cooldown == 0 or step < start:
        return peak
    progress = (step - start + 1) / cooldown
    return final + (peak - final) * decay(progress, shape)


@dataclass(frozen=True)
class QATSchedule:
    """Learning rate and QAT switch per step for a two-phase (float, then QAT) training run.

    `fused=True` (Dremov et al., arXiv 2509.22935): one warmup-stable-decay schedule over all
    `total_steps`; QAT switches on at step `qat_start = total_steps − round(qat_fraction · total_steps)`
    and the whole learning-rate cooldown lies inside the QAT phase: it lasts
    min(round(cooldown_fraction · total_steps), QAT steps) and ends at `final_lr` on the last step.
    `fused=False` (the classic pipeline): the float phase runs its own warmup-stable-decay schedule
    (cooldown = round(cooldown_fraction · float steps)) down to `final_lr`, then QAT restarts with a
    warmup of `qat_warmup_steps` to `peak_lr` and decays to `final_lr` over the rest of its steps.
    Warmup is linear and reaches `peak_lr` on step `warmup_steps − 1`.

    >>> s = QATSchedule(100, qat_fraction=0.2, warmup_steps=10, cooldown_fraction=0.1, peak_lr=1.0)
    >>> s.qat_start, s(79), s(80), s(99)
    (80, (1.0, False), (1.0, True), (0.0, True))
    """

    total_steps: int
    qat_fraction: float
    warmup_steps: int = 0
    cooldown_fraction: float = 0.2
    peak_lr: float = 1e-3
    final_lr: float = 0.0
    shape: str = "linear"
    fused: bool = True
    qat_warmup_steps: int = 0

    def __post_init__(self) -> None:
        _positive_int(self.total_steps, "total_steps")
        _fraction(self.qat_fraction, "qat_fraction")
        _fraction(self.cooldown_fraction, "cooldown_fraction")
        _positive_int(self.warmup_steps, "warmup_steps", zero=True)
        _positive_int(self.qat_warmup_steps, "qat_warmup_steps", zero=True)
        decay(0.0, self.shape)
        for name in ("peak_lr", "final_lr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise InputError(f"{name} must be a finite non-negative number, got {v!r}")
        float_steps = self.total_steps if self.fused else self.qat_start
        if float_steps and self.warmup_steps > float_steps:
            raise InputError(f"warmup_steps={self.warmup_steps} is longer than the {float_steps} steps it warms up")
        if self.qat_warmup_steps > self.qat_steps:
            raise InputError(f"qat_warmup_steps={self.qat_warmup_steps} is longer than the QAT phase "
                             f"({self.qat_steps} steps)")

    @property
    def qat_steps(self) -> int:
        """Number of QAT steps: round(qat_fraction · total_steps)."""
        return round(self.qat_fraction * self.total_steps)

    @property
    def qat_start(self) -> int:
        """First step with QAT on."""
        return self.total_steps - self.qat_steps

    def lr(self, step: int) -> float:
        """The learning rate of step `step` (0-based)."""
        return self(step)[0]

    def qat(self, step: int) -> bool:
        """Whether QAT is on at step `step`."""
        return self(step)[1]

    def __call__(self, step: int) -> tuple[float, bool]:
        """(learning rate, QAT on) of step `step` in [0, total_steps)."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step < self.total_steps:
            raise InputError(f"step must be an integer in [0, {self.total_steps}), got {step!r}")
        step = int(step)
        on = step >= self.qat_start
        if self.fused:
            cooldown = min(round(self.cooldown_fraction * self.total_steps), self.qat_steps)
            return _wsd(step, self.total_steps, self.warmup_steps, cooldown, self.peak_lr, self.final_lr,
                        self.shape), on
        if not on:
            cooldown = round(self.cooldown_fraction * self.qat_start)
            return _wsd(step, self.qat_start, self.warmup_steps, cooldown, self.peak_lr, self.final_lr,
                        self.shape), on
        q = step - self.qat_start
        return _wsd(q, self.qat_steps, self.qat_warmup_steps, self.qat_steps - self.qat_warmup_steps,
                    self.peak_lr, self.final_lr, self.shape), on


def tokens_per_parameter_byte(tokens: float, params: float, bits: float) -> float:
    """S = D / (N · B / 8): training tokens (samples) per byte of quantized weights (Dremov et al.).

    >>> tokens_per_parameter_byte(8e9, 1e9, 4)
    16.0
    """
    for name, v in (("tokens", tokens), ("params", params), ("bits", bits)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v > 0 \
                or not math.isfinite(v):
            raise InputError(f"{name} must be a finite positive number, got {v!r}")
    return float(tokens) / (float(params) * float(bits) / 8.0)


@dataclass(frozen=True)
class FStarFit:
    """A least-squares fit f*(S) = clip(a + b · log10 S, 0, 1) of the best QAT fraction on the user's sweep.

    The paper predicts f* from S but its fitted law was not available; this is a pluggable
    log-linear stand-in to be fitted on one's own (S, best f) pairs.

    >>> fit = FStarFit.fit([1.0, 10.0, 100.0], [0.1, 0.2, 0.3])
    >>> round(fit(1000.0), 6)
    0.4
    """

    a: float
    b: float

    @classmethod
    def fit(cls, s: Sequence[float], f: Sequence[float]) -> FStarFit:
        """Fit a and b to pairs (S_i, f_i); needs two distinct S values."""
        s_arr = np.asarray(s, dtype=np.float64)
        f_arr = np.asarray(f, dtype=np.float64)
        if s_arr.ndim != 1 or s_arr.shape != f_arr.shape or len(np.unique(s_arr)) < 2 or np.any(s_arr <= 0):
            raise InputError("fit needs equal-length 1-D sequences with at least two distinct positive S values")
        b, a = np.polyfit(np.log10(s_arr), f_arr, 1)
        return cls(float(a), float(b))

    def __call__(self, s: float) -> float:
        """Predicted best QAT fraction at tokens per parameter byte `s`."""
        if not s > 0:
            raise InputError(f"s must be positive, got {s!r}")
        return float(min(max(self.a + self.b * math.log10(s), 0.0), 1.0))
