"""MicroMix: calibration of linear-layer inputs, the MXFP4/6/8 channel-split rule, and the mixed-format linear."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

import mxemu as mx
from mxemu.errors import InputError
from mxemu.policy import Policy
from mxemu.torch.functional import check_tensor, fake_quantize, from_numpy, to_numpy
from mxemu.torch.nn import _mx_name, _parent, share_linear

VARIANTS = ("iclr", "main")
# Element max normals of E4M3, E3M2, E2M1 (MX v1.0 §5.3), the constants of the main-branch rule.
E4M3_MAX, E3M2_MAX, E2M1_MAX = 448.0, 28.0, 6.0


def thresholds(variant: str, lam: float = 1.0) -> tuple[float, float]:
    """(c4, c6) with per-row thresholds T4 = c4·m_t and T6 = c6·m_t, m_t = max_c |x_tc| (MicroMix code).

    iclr: c4 = (2/254)·(8/6), c6 = (8/254)·(32/28) (`micromix` branch, E3M2 as MXFP6);
    main: c4 = λ·(448/6)/2^10, c6 = λ·(448/28)/2^6 (`main` branch). `lam` only scales `main`.

    >>> thresholds("main")
    (0.07291666666666667, 0.25)
    """
    if variant not in VARIANTS:
        raise InputError(f"variant must be one of {', '.join(repr(v) for v in VARIANTS)}, got {variant!r}")
    if variant == "iclr":
        return (2 / 254) * (8 / 6), (8 / 254) * (32 / 28)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam > 0:
        raise InputError(f"lam must be a positive number, got {lam!r}")
    return lam * (E4M3_MAX / E2M1_MAX) / 2**10, lam * (E4M3_MAX / E3M2_MAX) / 2**6


@dataclass
class ChannelStats:
    """Calibration statistics of one linear layer's input (C channels).

    `importance[c]` = max over batches of mean_t |x_tc|; `below4` / `below6` count the elements with
    |x| < T4_t and |x| < T6_t of their row t (for each variant); `count` is the number of elements.
    """

    importance: np.ndarray
    count: int
    below4: dict[str, int]
    below6: dict[str, int]

    def ratios(self, variant: str) -> tuple[float, float, float]:
        """(r4, r6, r8): the element fractions below T4, in [T4, T6), and at or above T6.

        >>> ChannelStats(np.ones(4), 100, {"main": 50, "iclr": 0}, {"main": 75, "iclr": 0}).ratios("main")
        (0.5, 0.25, 0.25)
        """
        thresholds(variant)
        r4 = self.below4[variant] / self.count
        r6 = self.below6[variant] / self.count - r4
        return r4, r6, 1.0 - r4 - r6


def _update(stats: ChannelStats | None, x: np.ndarray, lam: float) -> ChannelStats:
    rows = np.abs(x.reshape(-1, x.shape[-1]).astype(np.float64))
    imp = rows.mean(axis=0)
    m = rows.max(axis=1, keepdims=True)
    zero_row = m == 0  # an all-zero row is exact in every format: count it as MXFP4 (our choice)
    b4, b6 = {}, {}
    for v in VARIANTS:
        c4, c6 = thresholds(v, lam)
        b4[v] = int(np.sum((rows < c4 * m) | zero_row))
        b6[v] = int(np.sum((rows < c6 * m) | zero_row))
    if stats is None:
        return ChannelStats(imp, rows.size, b4, b6)
    if stats.importance.shape != imp.shape:
        raise InputError(f"calibration batches disagree on the channel count: {stats.importance.shape[0]} "
                         f"vs {imp.shape[0]}")
    return ChannelStats(np.maximum(stats.importance, imp), stats.count + rows.size,
                        {v: stats.below4[v] + b4[v] for v in VARIANTS},
                        {v: stats.below6[v] + b6[v] for v in VARIANTS})


class MicroMixCalibrator:
    """Forward hooks on the nn.Linear layers of `model` collecting `ChannelStats` of their inputs.

    >>> model = torch.nn.Sequential(torch.nn.Linear(64, 8))
    >>> with MicroMixCalibrator(model) as cal:
    ...     _ = model(torch.randn(4, 64))
    >>> cal.stats["0"].importance.shape, cal.stats["0"].count
    ((64,), 256)
    """

    def __init__(self, model: nn.Module, names: Sequence[str] | None = None, lam: float = 1.0) -> None:
        if not isinstance(model, nn.Module):
            raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        thresholds("main", lam)
        self.lam = float(lam)
        found = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        chosen = list(found) if names is None else list(names)
        missing = [n for n in chosen if n not in found]
        if missing or not chosen:
            raise InputError(f"no nn.Linear named {missing or chosen}; found {list(found)}")
        self.stats: dict[str, ChannelStats] = {}
        self._handles = [found[n].register_forward_pre_hook(self._hook(n)) for n in chosen]

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            x = to_numpy(check_tensor(args[0], "input"))
            self.stats[name] = _update(self.stats.get(name), x, self.lam)
        return hook

    def remove(self) -> None:
        """Remove the hooks (the statistics stay)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> MicroMixCalibrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


@dataclass(frozen=True)
class MicroMixPlan:
    """A channel permutation and three consecutive segments of the permuted channels: the first `p4`
    in `formats[0]`, the next `p6` in `formats[1]`, the last `p8` in `formats[2]`.

    `perm` lists input channels by ascending importance (outlier channels last).

    >>> import numpy as np
    >>> plan = MicroMixPlan(perm=np.array([2, 0, 3, 1]), p4=2, p6=1, p8=1)
    >>> plan.segments, plan.average_bits
    ([('mxfp4_e2m1', 0, 2), ('mxfp6_e3m2', 2, 3), ('mxfp8_e4m3', 3, 4)], 5.5)
    >>> plan.channel_formats()
    ['mxfp4_e2m1', 'mxfp8_e4m3', 'mxfp4_e2m1', 'mxfp6_e3m2']
    """

    perm: np.ndarray
    p4: int
    p6: int
    p8: int
    formats: tuple[str, str, str] = ("mxfp4_e2m1", "mxfp6_e3m2", "mxfp8_e4m3")

    def __post_init__(self) -> None:
        c = len(self.perm)
        if sorted(self.perm.tolist()) != list(range(c)):
            raise InputError("perm must be a permutation of range(C)")
        if min(self.p4, self.p6, self.p8) < 0 or self.p4 + self.p6 + self.p8 != c:
            raise InputError(f"segment sizes {self.p4}, {self.p6}, {self.p8} must be >= 0 and sum to {c}")
        if len(self.formats) != 3:
            raise InputError("formats must be three MX formats (low, middle, high)")
        for f in self.formats:
            _mx_name(f, "each segment format")

    @property
    def segments(self) -> list[tuple[str, int, int]]:
        """(format, start, stop) of each non-empty segment in permuted-channel order."""
        bounds = np.cumsum([0, self.p4, self.p6, self.p8])
        return [(f, int(a), int(b)) for f, a, b in zip(self.formats, bounds[:-1], bounds[1:], strict=True) if b > a]

    @property
    def average_bits(self) -> float:
        """Element bits averaged over the channels."""
        bits = [mx.get_format(f).element.bits for f in self.formats]
        return (self.p4 * bits[0] + self.p6 * bits[1] + self.p8 * bits[2]) / len(self.perm)

    def channel_formats(self) -> list[str]:
        """The format of every input channel, in original channel order."""
        out = [""] * len(self.perm)
        for f, a, b in self.segments:
            for c in self.perm[a:b]:
                out[int(c)] = f
        return out


def micromix_split(stats: ChannelStats, variant: str = "main", align: int = 128,
                   formats: tuple[str, str, str] = ("mxfp4_e2m1", "mxfp6_e3m2", "mxfp8_e4m3")) -> MicroMixPlan:
    """The MicroMix split: p8 = ⌈C·r8/align⌉·align, p6 = ⌈C·r6/align⌉·align, p4 = C − p8 − p6 (p6, then
    p8, cut back when they overflow C); channels sorted by ascending importance, the last p8 in
    MXFP8, the p6 before them in MXFP6, the rest in MXFP4.

    >>> st = ChannelStats(np.arange(64.0), 6400, {"main": 3200, "iclr": 0}, {"main": 6000, "iclr": 0})
    >>> plan = micromix_split(st, "main", align=32); (plan.p4, plan.p6, plan.p8)
    (0, 32, 32)
    """
    if isinstance(align, bool) or not isinstance(align, int) or align < 1:
        raise InputError(f"align must be a positive integer, got {align!r}")
    c = len(stats.importance)
    _, r6, r8 = stats.ratios(variant)
    p8 = min(math.ceil(c * r8 / align - 1e-12) * align, c)
    p6 = min(math.ceil(c * r6 / align - 1e-12) * align, c - p8)
    perm = np.argsort(stats.importance, kind="stable")
    return MicroMixPlan(perm, c - p8 - p6, p6, p8, tuple(formats))  # type: ignore[arg-type]


def random_plan(plan: MicroMixPlan, seed: int = 0) -> MicroMixPlan:
    """The same segment sizes and formats as `plan` over a random channel permutation (an ablation).

    >>> p = random_plan(MicroMixPlan(np.arange(64), 32, 0, 32), seed=1); (p.p4, p.p8)
    (32, 32)
    """
    perm = np.random.default_rng(seed).permutation(len(plan.perm))
    return MicroMixPlan(perm, plan.p4, plan.p6, plan.p8, plan.formats)


class MicroMixLinear(nn.Linear):
    """nn.Linear whose GEMM is the sum of one MX GEMM per segment of a `MicroMixPlan`:

        y = Σ_s Q_s(x[..., P_s]) · Q_s(W[:, P_s])ᵀ + b

    with P_s the segment's channels (in permuted order) and Q_s its format, blocks along the
    reduction dimension inside each segment. With `accumulation=None` each segment GEMM runs on
    fake-quantized operands in the tensor's dtype (differentiable, straight-through estimator); with
    an `mx.matmul` accumulation name (e.g. "exact") each segment is an `mx.matmul` of the quantized
    operands (inference only), the segment partials summed in float32 in segment order.

    >>> plan = MicroMixPlan(np.arange(64), 32, 0, 32)
    >>> MicroMixLinear(64, 4, plan)(torch.randn(2, 64)).shape
    torch.Size([2, 4])
    """

    def __init__(self, in_features: int, out_features: int, plan: MicroMixPlan, bias: bool = True,
                 policy: str | Policy | None = None, accumulation: str | None = None,
                 device: Any = None, dtype: torch.dtype | None = None) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if not isinstance(plan, MicroMixPlan) or len(plan.perm) != in_features:
            raise InputError(f"plan must be a MicroMixPlan over {in_features} channels")
        self.plan = plan
        self.policy = mx.get_policy(policy)
        self.accumulation = accumulation
        self.register_buffer("perm", torch.as_tensor(plan.perm, dtype=torch.long), persistent=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear, plan: MicroMixPlan, **options: Any) -> MicroMixLinear:
        """A MicroMixLinear sharing `linear`'s weight and bias Parameters.

        >>> lin = torch.nn.Linear(64, 4)
        >>> MicroMixLinear.from_linear(lin, MicroMixPlan(np.arange(64), 64, 0, 0)).weight is lin.weight
        True
        """
        m = share_linear(linear, lambda n_in, n_out, bias: cls(n_in, n_out, plan, bias=bias, device="meta",
                                                               **options))
        m.perm = m.perm.to(linear.weight.device)
        return m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "input")
        xp = x.index_select(-1, self.perm)
        wp = self.weight.index_select(1, self.perm)
        if self.accumulation is not None:
            return self._mx_matmul(xp, wp)
        y = None
        for f, a, b in self.plan.segments:
            part = functional.linear(fake_quantize(xp[..., a:b], f, axis=-1, policy=self.policy),
                                     fake_quantize(wp[:, a:b], f, axis=-1, policy=self.policy))
            y = part if y is None else y + part
        assert y is not None
        return y if self.bias is None else y + self.bias

    def _mx_matmul(self, xp: torch.Tensor, wp: torch.Tensor) -> torch.Tensor:
        x2 = to_numpy(xp.reshape(-1, xp.shape[-1]))
        w = to_numpy(wp)
        y = np.zeros((x2.shape[0], w.shape[0]), np.float32)
        for f, a, b in self.plan.segments:
            qa = mx.quantize(np.ascontiguousarray(x2[:, a:b]), f, axis=1, policy=self.policy)
            qb = mx.quantize(np.ascontiguousarray(w[:, a:b].T), f, axis=0, policy=self.policy)
            y += mx.matmul(qa, qb, self.accumulation)
        if self.bias is not None:
            y += to_numpy(self.bias.detach().float())
        return from_numpy(y).to(xp.dtype).reshape(*xp.shape[:-1], w.shape[0])

    def extra_repr(self) -> str:
        p = self.plan
        return (f"{super().extra_repr()}, p4={p.p4}, p6={p.p6}, p8={p.p8}, formats={p.formats}, "
                f"accumulation={self.accumulation}")


def apply_micromix(model: nn.Module, plans: dict[str, MicroMixPlan], **options: Any) -> dict[str, MicroMixLinear]:
    """Replace each nn.Linear named in `plans` by a MicroMixLinear with that plan (sharing Parameters).

    >>> model = torch.nn.Sequential(torch.nn.Linear(64, 4))
    >>> list(apply_micromix(model, {"0": MicroMixPlan(np.arange(64), 64, 0, 0)}))
    ['0']
    """
    if not isinstance(model, nn.Module) or isinstance(model, nn.Linear):
        raise InputError("model must be a torch.nn.Module containing nn.Linear layers (not a layer itself)")
    found = dict(model.named_modules())
    new = {}
    for n, plan in plans.items():
        m = found.get(n)
        if not isinstance(m, nn.Linear) or isinstance(m, MicroMixLinear):
            raise InputError(f"{n!r} is not an nn.Linear of the model")
        new[n] = MicroMixLinear.from_linear(m, plan, **options)
    for n, m in new.items():
        parent, child = _parent(model, n)
        setattr(parent, child, m)
    return new
