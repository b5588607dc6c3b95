"""TetraJet: MXFP4 for all six GEMM operands of a linear layer, Q-EMA, Q-Ramping and oscillation statistics."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import mxemu as mx
from mxemu.errors import InputError
from mxemu.policy import Policy
from mxemu.torch.functional import check_tensor, fake_quantize, from_numpy, to_numpy
from mxemu.torch.nn import _mx_name, _parent, share_linear


@dataclass(frozen=True)
class TetraJetConfig:
    """The quantizers of a `TetraJetLinear`.

    Forward Q1 (input) and Q2 (weight) use `forward_policy`, blocks along the reduction dimension K.
    Backward Q3..Q6 use `backward_policy`: ∇X = Q3(∇Y)·Q4(W′) with ∇Y blocked along the output
    features and W′ along the output features; ∇W = Q5(∇Y)ᵀ·Q6(X′) with both blocked along the
    batch (token) axis. With `double_quant`, W′ = Q2(W) and X′ = Q1(X) (the forward-quantized
    operands are quantized again, TetraJet); without, W′ = W and X′ = X (the Microscaling baseline).

    >>> TetraJetConfig.tetrajet().backward_policy.rounding, TetraJetConfig.microscaling().double_quant
    ('stochastic', False)
    """

    fmt: str = "mxfp4_e2m1"
    forward_policy: Policy = dataclasses.field(default_factory=lambda: mx.get_policy("ocp"))
    backward_policy: Policy = dataclasses.field(default_factory=lambda: mx.get_policy("ocp"))
    double_quant: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "fmt", _mx_name(self.fmt, "fmt"))
        for name in ("forward_policy", "backward_policy"):
            object.__setattr__(self, name, mx.get_policy(getattr(self, name)))

    @classmethod
    def tetrajet(cls, fmt: str = "mxfp4_e2m1") -> TetraJetConfig:
        """TetraJet: truncation-free scale 2^⌈log2(amax/max_normal)⌉ (`rceil`, exact), RNE forward,
        stochastic rounding backward, double quantization."""
        fwd = mx.get_policy("ocp").replace(scale_rule="rceil")
        return cls(fmt, fwd, fwd.replace(rounding="stochastic"), True)

    @classmethod
    def microscaling(cls, fmt: str = "mxfp4_e2m1") -> TetraJetConfig:
        """The Microscaling baseline: OCP floor scale, RNE everywhere, backward re-quantizes the float X and W."""
        return cls(fmt, mx.get_policy("ocp"), mx.get_policy("ocp"), False)


def backward_seeds(seed: int, call: int) -> tuple[int, int, int, int]:
    """The stochastic-rounding seeds of Q3, Q4, Q5, Q6 for the `call`-th training forward of a layer.

    >>> backward_seeds(0, 0) == backward_seeds(0, 0) != backward_seeds(0, 1)
    True
    """
    s = np.random.default_rng([seed, call]).integers(0, 2**63, size=4)
    return int(s[0]), int(s[1]), int(s[2]), int(s[3])


def ema_quantize(w: torch.Tensor, ema: torch.Tensor, fmt: str, policy: Policy) -> torch.Tensor:
    """Q-EMA rounding: the block scale from the current `w`; each element rounded to whichever of its
    two neighbouring grid points q1 ≤ w ≤ q2 (rounding down / up at that scale) is closer to `ema`
    (q1 on a tie). No gradient.

    >>> w = torch.tensor([1.2] + [6.0] * 31); ema = torch.tensor([1.45] + [6.0] * 31)
    >>> ema_quantize(w, ema, "mxfp4_e2m1", mx.get_policy("ocp"))[0].item()
    1.5
    """
    x = to_numpy(w)
    lo = mx.fake_quantize(x, fmt, -1, policy.replace(rounding="rdn"))
    hi = mx.fake_quantize(x, fmt, -1, policy.replace(rounding="rup"))
    e = to_numpy(ema).astype(x.dtype)
    return from_numpy(np.where(np.abs(e - lo) <= np.abs(e - hi), lo, hi))


class _SixGEMM(torch.autograd.Function):
    """y = Q1(x)·Q2(W)ᵀ; the backward GEMMs quantize ∇Y, W′ and X′ as `TetraJetConfig` says."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, wq: torch.Tensor, cfg: TetraJetConfig,
                seeds: tuple[int, int, int, int]) -> torch.Tensor:
        xq = fake_quantize(x, cfg.fmt, axis=-1, policy=cfg.forward_policy)
        ctx.save_for_backward(xq if cfg.double_quant else x, wq if cfg.double_quant else w)
        ctx.cfg, ctx.seeds = cfg, seeds
        return xq @ wq.t()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x_src, w_src = ctx.saved_tensors
        cfg, (s3, s4, s5, s6) = ctx.cfg, ctx.seeds
        pol, fmt = cfg.backward_policy, cfg.fmt
        g = g.contiguous()
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = fake_quantize(g, fmt, axis=-1, policy=pol, seed=s3) @ fake_quantize(w_src, fmt, axis=0, policy=pol,
                                                                                      seed=s4)
        if ctx.needs_input_grad[1]:
            gw = fake_quantize(g, fmt, axis=0, policy=pol, seed=s5).t() @ fake_quantize(x_src, fmt, axis=0,
                                                                                         policy=pol, seed=s6)
        return gx, gw, None, None, None


class TetraJetLinear(nn.Linear):
    """nn.Linear trained with all six GEMM operands MX-quantized (`TetraJetConfig`); optionally with
    the Q-EMA weight quantizer (`ema_weight` buffer set and `use_ema` on, see `QEMA`).

    Each training forward takes the stochastic-rounding seeds `backward_seeds(seed, calls)` and
    increments `calls`. Leading input dimensions are flattened into the token axis.

    >>> layer = TetraJetLinear(64, 32, TetraJetConfig.tetrajet())
    >>> layer(torch.randn(8, 64)).sum().backward(); layer.weight.grad.shape
    torch.Size([32, 64])
    """

    def __init__(self, in_features: int, out_features: int, config: TetraJetConfig | None = None,
                 bias: bool = True, seed: int = 0, device: Any = None, dtype: torch.dtype | None = None) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.config = TetraJetConfig.tetrajet() if config is None else config
        if not isinstance(self.config, TetraJetConfig):
            raise InputError(f"config must be a TetraJetConfig, got {type(config).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed, self.calls = seed, 0
        self.ema_weight: torch.Tensor | None = None
        self.use_ema = False

    @classmethod
    def from_linear(cls, linear: nn.Linear, config: TetraJetConfig | None = None, seed: int = 0) -> TetraJetLinear:
        """A TetraJetLinear sharing `linear`'s weight and bias Parameters.

        >>> lin = torch.nn.Linear(32, 4)
        >>> TetraJetLinear.from_linear(lin).weight is lin.weight
        True
        """
        return share_linear(linear, lambda n_in, n_out, bias: cls(n_in, n_out, config, bias=bias, seed=seed,
                                                                  device="meta"))

    @torch.no_grad()
    def quantized_weight(self) -> torch.Tensor:
        """Q2(W) as the forward uses it (EMA-guided rounding when `use_ema`)."""
        cfg = self.config
        if self.use_ema and self.ema_weight is not None:
            return ema_quantize(self.weight, self.ema_weight, cfg.fmt, cfg.forward_policy)
        return fake_quantize(self.weight, cfg.fmt, axis=-1, policy=cfg.forward_policy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "input")
        x2 = x.reshape(-1, x.shape[-1])
        seeds = backward_seeds(self.seed, self.calls)
        if torch.is_grad_enabled():
            self.calls += 1
        y = _SixGEMM.apply(x2, self.weight, self.quantized_weight(), self.config, seeds)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        c = self.config
        return (f"{super().extra_repr()}, fmt={c.fmt}, forward={c.forward_policy.scale_rule}/"
                f"{c.forward_policy.rounding}, backward={c.backward_policy.scale_rule}/{c.backward_policy.rounding}, "
                f"double_quant={c.double_quant}, use_ema={self.use_ema}")


def tetrajet_layers(model: nn.Module) -> dict[str, TetraJetLinear]:
    """Every TetraJetLinear of `model` by qualified name.

    >>> list(tetrajet_layers(torch.nn.Sequential(TetraJetLinear(32, 4))))
    ['0']
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {n: m for n, m in model.named_modules() if isinstance(m, TetraJetLinear)}


def to_tetrajet(model: nn.Module, config: TetraJetConfig | None = None, names: Sequence[str] | None = None,
                seed: int = 0) -> dict[str, TetraJetLinear]:
    """Replace the nn.Linear layers of `model` (all, or `names`) by TetraJetLinear layers sharing their
    Parameters; layer j gets seed `seed + j`.

    >>> model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    >>> sorted(to_tetrajet(model, TetraJetConfig.microscaling()))
    ['0', '2']
    """
    if not isinstance(model, nn.Module) or isinstance(model, nn.Linear):
        raise InputError("model must be a torch.nn.Module containing nn.Linear layers (not a layer itself)")
    found = {n: m for n, m in model.named_modules() if n and type(m) is nn.Linear}
    chosen = list(found) if names is None else list(names)
    missing = [n for n in chosen if n not in found]
    if missing or not chosen:
        raise InputError(f"no plain nn.Linear named {missing or chosen}; found {list(found)}")
    new = {n: TetraJetLinear.from_linear(found[n], config, seed + j) for j, n in enumerate(chosen)}
    for n, m in new.items():
        parent, child = _parent(model, n)
        setattr(parent, child, m)
    return new


class QEMA:
    """The Q-EMA quantizer: W_EMA ← β·W_EMA + (1 − β)·W after every optimizer step (`update`), and the
    forward weight rounded towards W_EMA (`ema_quantize`) once `start_after` updates have been made.

    >>> model = torch.nn.Sequential(TetraJetLinear(32, 4))
    >>> q = QEMA(model, beta=0.5, start_after=1); q.update(); model[0].use_ema
    True
    """

    def __init__(self, model: nn.Module, beta: float = 0.998, start_after: int = 10) -> None:
        if isinstance(beta, bool) or not isinstance(beta, float) or not 0.0 <= beta < 1.0:
            raise InputError(f"beta must be a float in [0, 1), got {beta!r}")
        if isinstance(start_after, bool) or not isinstance(start_after, int) or start_after < 0:
            raise InputError(f"start_after must be a non-negative integer, got {start_after!r}")
        self.layers = list(tetrajet_layers(model).values())
        if not self.layers:
            raise InputError("model holds no TetraJetLinear layer")
        self.beta, self.start_after, self.updates = beta, start_after, 0
        for m in self.layers:
            m.ema_weight = m.weight.detach().clone()
            m.use_ema = start_after == 0

    @torch.no_grad()
    def update(self) -> None:
        """One EMA step for every layer (call right after `optimizer.step()`)."""
        self.updates += 1
        for m in self.layers:
            assert m.ema_weight is not None
            m.ema_weight.mul_(self.beta).add_(m.weight.detach(), alpha=1.0 - self.beta)
            m.use_ema = self.updates >= self.start_after


class OscillationTracker:
    """Per-element Σ_t |ΔQ(w)| and Σ_t |Δw| of every TetraJetLinear weight between `record()` calls,
    the oscillation ratio R_w = Σ|ΔQ(w)| / Σ|Δw| (0 where w never moved), the rate of change
    r(Q(W)) = mean_t ‖Q_t − Q_{t−1}‖_F / ‖Q_{t−1}‖_F, and the number of reversals of each quantized
    weight (a change of Q(w) opposite in sign to its previous non-zero change).

    >>> model = torch.nn.Sequential(TetraJetLinear(32, 4))
    >>> tr = OscillationTracker(model); tr.record(); tr.oscillating_fraction()
    0.0
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = tetrajet_layers(model)
        if not self.layers:
            raise InputError("model holds no TetraJetLinear layer")
        self.reset()

    def reset(self) -> None:
        """Forget the history; the current weights become the reference."""
        self._prev = {n: (m.weight.detach().clone(), m.quantized_weight()) for n, m in self.layers.items()}
        self.dist_w = {n: torch.zeros_like(m.weight, dtype=torch.float64) for n, m in self.layers.items()}
        self.dist_q = {n: torch.zeros_like(m.weight, dtype=torch.float64) for n, m in self.layers.items()}
        self.reversals = {n: torch.zeros_like(m.weight, dtype=torch.int64) for n, m in self.layers.items()}
        self._last_sign = {n: torch.zeros_like(m.weight) for n, m in self.layers.items()}
        self._rate: list[float] = []

    @torch.no_grad()
    def record(self) -> None:
        """Add the change since the previous record (call after `optimizer.step()`)."""
        num = den = 0.0
        for n, m in self.layers.items():
            w, q = m.weight.detach().clone(), m.quantized_weight()
            w0, q0 = self._prev[n]
            self.dist_w[n] += (w - w0).abs().double()
            self.dist_q[n] += (q - q0).abs().double()
            sign = torch.sign(q - q0)
            self.reversals[n] += (sign * self._last_sign[n] < 0).long()
            self._last_sign[n] = torch.where(sign != 0, sign, self._last_sign[n])
            num += float((q - q0).double().square().sum())
            den += float(q0.double().square().sum())
            self._prev[n] = (w, q)
        self._rate.append((num ** 0.5) / den ** 0.5 if den > 0 else 0.0)

    def ratios(self) -> dict[str, torch.Tensor]:
        """R_w per element of each layer."""
        return {n: torch.where(self.dist_w[n] > 0, self.dist_q[n] / self.dist_w[n].clamp_min(1e-300),
                               torch.zeros_like(self.dist_w[n])) for n in self.layers}

    def oscillating_fraction(self, threshold: float = 16.0) -> float:
        """Fraction of all weight elements with R_w > `threshold`."""
        r = torch.cat([v.reshape(-1) for v in self.ratios().values()])
        return float((r > threshold).double().mean())

    def reversing_fraction(self, at_least: int = 2) -> float:
        """Fraction of all weight elements whose quantized value reversed direction `at_least` times."""
        r = torch.cat([v.reshape(-1) for v in self.reversals.values()])
        return float((r >= at_least).double().mean())

    def rate_of_change(self) -> float:
        """r(Q(W)) averaged over the recorded steps (the Frobenius norms taken over all layers together)."""
        return float(np.mean(self._rate)) if self._rate else 0.0


class RampingAdamW(torch.optim.Optimizer):
    """AdamW with a per-element update period p (`state[param]["period"]`, all 1 = plain AdamW):
    each element accumulates its gradient for p steps, then makes one Adam moment update with the
    mean gradient and a step ×(steps accumulated); decoupled weight decay is applied every step
    (TetraJet's Q-Ramping optimizer). Bias correction counts each element's own updates.

    >>> p = torch.nn.Parameter(torch.ones(3)); opt = RampingAdamW([p], lr=0.1)
    >>> p.grad = torch.ones(3); opt.step(); [round(v, 4) for v in p.tolist()]
    [0.9, 0.9, 0.9]
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if not lr >= 0 or not eps >= 0 or not weight_decay >= 0 or not all(0 <= b < 1 for b in betas):
            raise InputError("RampingAdamW needs lr, eps, weight_decay >= 0 and betas in [0, 1)")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def _state(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        st = self.state[p]
        if not st:
            st.update(acc=torch.zeros_like(p), count=torch.zeros_like(p), m=torch.zeros_like(p),
                      v=torch.zeros_like(p), t=torch.zeros_like(p), period=torch.ones_like(p))
        return st

    def set_period(self, p: torch.Tensor, period: torch.Tensor) -> None:
        """Set the per-element update period of parameter `p` (integers >= 1, p's shape)."""
        if period.shape != p.shape or bool((period < 1).any()) or bool((period != period.round()).any()):
            raise InputError("period must hold integers >= 1 in the parameter's shape")
        self._state(p)["period"] = period.to(p.dtype)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One optimizer step."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self._state(p)
                if wd:
                    p.mul_(1.0 - lr * wd)
                st["acc"] += p.grad
                st["count"] += 1
                ready = st["count"] >= st["period"]
                if not bool(ready.any()):
                    continue
                g = torch.where(ready, st["acc"] / st["count"], torch.zeros_like(p))
                st["m"] = torch.where(ready, b1 * st["m"] + (1 - b1) * g, st["m"])
                st["v"] = torch.where(ready, b2 * st["v"] + (1 - b2) * g * g, st["v"])
                st["t"] += ready.to(p.dtype)
                t = st["t"].clamp_min(1)
                upd = (st["m"] / (1 - b1 ** t)) / ((st["v"] / (1 - b2 ** t)).sqrt() + eps)
                p.sub_(torch.where(ready, lr * st["count"] * upd, torch.zeros_like(p)))
                st["acc"] = torch.where(ready, torch.zeros_like(p), st["acc"])
                st["count"] = torch.where(ready, torch.zeros_like(p), st["count"])
        return loss


def ramping_periods(ratio: torch.Tensor, k1: float = 16.0, k2: int = 5, n_max: int = 64) -> torch.Tensor:
    """p_w = min(k2·⌊R_w/k1⌋ + 1, N_max) (TetraJet Alg. 2).

    >>> ramping_periods(torch.tensor([0.0, 15.9, 16.0, 40.0, 1e6]), n_max=20).tolist()
    [1.0, 1.0, 6.0, 11.0, 20.0]
    """
    if not k1 > 0 or not isinstance(k2, int) or k2 < 0 or not isinstance(n_max, int) or n_max < 1:
        raise InputError("ramping_periods needs k1 > 0, an integer k2 >= 0 and an integer n_max >= 1")
    return torch.clamp(k2 * torch.floor(ratio / k1) + 1, max=n_max).to(torch.float32)


class QRamping:
    """Q-Ramping: `calibrate(step)` saves the model and optimizer, runs `window` steps of `step()` (one
    training step: forward, backward, `optimizer.step()`) with every period 1 while an
    `OscillationTracker` records, restores both, and sets each TetraJetLinear weight's periods to
    `ramping_periods(R_w)`. Call it every T_update steps (TetraJet: every epoch).

    >>> model = torch.nn.Sequential(TetraJetLinear(32, 4)); opt = RampingAdamW(model.parameters())
    >>> ramp = QRamping(model, opt, window=2)
    >>> def step():
    ...     opt.zero_grad(); model(torch.randn(8, 32)).square().mean().backward(); opt.step()
    >>> ramp.calibrate(step); sorted(ramp.periods)
    ['0']
    """

    def __init__(self, model: nn.Module, optimizer: RampingAdamW, window: int = 30, k1: float = 16.0, k2: int = 5,
                 n_max: int = 64) -> None:
        if not isinstance(optimizer, RampingAdamW):
            raise InputError(f"optimizer must be a RampingAdamW, got {type(optimizer).__name__}")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InputError(f"window must be a positive integer, got {window!r}")
        ramping_periods(torch.zeros(1), k1, k2, n_max)
        self.model, self.optimizer, self.window = model, optimizer, window
        self.k1, self.k2, self.n_max = k1, k2, n_max
        self.layers = tetrajet_layers(model)
        if not self.layers:
            raise InputError("model holds no TetraJetLinear layer")
        self.periods: dict[str, torch.Tensor] = {}

    def calibrate(self, step: Callable[[], Any]) -> None:
        """Measure R_w over `window` probe steps and set the periods (model and optimizer restored)."""
        saved_model = copy.deepcopy(self.model.state_dict())
        saved_opt = copy.deepcopy(self.optimizer.state_dict())
        saved_ema = {n: None if m.ema_weight is None else m.ema_weight.clone() for n, m in self.layers.items()}
        for m in self.layers.values():
            self.optimizer.set_period(m.weight, torch.ones_like(m.weight))
        tracker = OscillationTracker(self.model)
        for _ in range(self.window):
            step()
            tracker.record()
        self.model.load_state_dict(saved_model)
        self.optimizer.load_state_dict(saved_opt)
        for n, m in self.layers.items():
            m.ema_weight = saved_ema[n]
        for n, r in tracker.ratios().items():
            self.periods[n] = ramping_periods(r, self.k1, self.k2, self.n_max)
            self.optimizer.set_period(self.layers[n].weight, self.periods[n])
