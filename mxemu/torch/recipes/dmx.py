"""dMX: per-layer learnable MX format offsets on a format ladder, temperature annealing, bit budget, freezing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional

import mxemu as mx
from mxemu.errors import InputError
from mxemu.policy import Policy
from mxemu.spec import MXFormat
from mxemu.torch.functional import check_tensor, fake_quantize
from mxemu.torch.nn import MXLinear, _mx_name, _parent, share_linear


class FormatLadder:
    """An ordered list of MX formats F_0 < … < F_n (strictly increasing element bits) that an offset θ ∈ [0, n]
    indexes: rung i = format i.

    >>> ladder = FormatLadder(["mxfp4_e2m1", "mxfp6_e2m3", "mxfp8_e4m3"])
    >>> ladder.bits, ladder.top
    ([4, 6, 8], 2)
    """

    def __init__(self, formats: Sequence[str | MXFormat]) -> None:
        if isinstance(formats, str) or not isinstance(formats, Sequence) or len(formats) < 2:
            raise InputError(f"a format ladder needs at least two MX formats, got {formats!r}")
        self.formats = [_mx_name(f, "each ladder format") for f in formats]
        self.bits = [mx.get_format(f).element.bits for f in self.formats]
        if any(b1 >= b2 for b1, b2 in zip(self.bits, self.bits[1:], strict=False)):
            raise InputError(f"ladder formats must have strictly increasing element bits, got {self.bits}")

    @property
    def top(self) -> int:
        """The largest offset, n = len(formats) − 1."""
        return len(self.formats) - 1

    def __repr__(self) -> str:
        return f"FormatLadder({self.formats})"


def blend_weight(offset: torch.Tensor, top: int, temperature: float) -> tuple[int, torch.Tensor]:
    """(i, α) for offset θ clamped to [0, top]: i = min(⌊θ⌋, top − 1), t = θ − i,
    α = σ((t − ½)/T); T = 0 gives the hard step α = [t ≥ ½] (θ rounded half up to a rung).

    >>> i, a = blend_weight(torch.tensor(1.7), 2, 0.0); (i, a.item())
    (1, 1.0)
    """
    theta = offset.clamp(0.0, float(top))
    i = min(math.floor(theta.item()), top - 1)
    t = theta - i
    if temperature == 0:
        return i, (t >= 0.5).to(theta.dtype)
    return i, torch.sigmoid((t - 0.5) / temperature)


class DMXLinear(nn.Linear):
    """nn.Linear whose weight (and, with `quantize_input`, input) is fake-quantized in a blend of two
    neighbouring rungs of a format ladder chosen by one learnable offset θ (the `offset` Parameter):

        W̃ = (1 − α)·Q_{F_i}(W) + α·Q_{F_{i+1}}(W),   (i, α) = blend_weight(θ, n, T)

    with the straight-through estimator inside each Q; θ receives the gradient through α. The
    `temperature` attribute T is set by the training loop (`set_temperature`); T = 0 is the hard
    assignment, bit-identical to an MXLinear in `hard_format()`.

    >>> layer = DMXLinear(64, 8, FormatLadder(["mxfp4_e2m1", "mxfp8_e4m3"]), init_offset=0.5)
    >>> layer(torch.randn(2, 64)).shape
    torch.Size([2, 8])
    """

    def __init__(self, in_features: int, out_features: int, ladder: FormatLadder, init_offset: float | None = None,
                 bias: bool = True, quantize_input: bool = False, policy: str | Policy | None = None,
                 temperature: float = 1.0, device: Any = None, dtype: torch.dtype | None = None) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if not isinstance(ladder, FormatLadder):
            raise InputError(f"ladder must be a FormatLadder, got {type(ladder).__name__}")
        self.ladder = ladder
        init = ladder.top / 2 if init_offset is None else init_offset
        if isinstance(init, bool) or not isinstance(init, (int, float)) or not 0 <= init <= ladder.top:
            raise InputError(f"init_offset must be a number in [0, {ladder.top}], got {init_offset!r}")
        self.offset = nn.Parameter(torch.tensor(float(init), dtype=dtype, device=None if device == "meta" else device))
        self.quantize_input = bool(quantize_input)
        self.policy = mx.get_policy(policy)
        self.temperature = _check_temperature(temperature)

    @classmethod
    def from_linear(cls, linear: nn.Linear, ladder: FormatLadder, **options: Any) -> DMXLinear:
        """A DMXLinear sharing `linear`'s weight and bias Parameters.

        >>> lin = torch.nn.Linear(32, 4)
        >>> DMXLinear.from_linear(lin, FormatLadder(["mxint4", "mxint8"])).weight is lin.weight
        True
        """
        m = share_linear(linear, lambda n_in, n_out, bias: cls(n_in, n_out, ladder, bias=bias, device="meta",
                                                               **options))
        m.offset = nn.Parameter(m.offset.detach().to(linear.weight.device, linear.weight.dtype))
        return m

    def blend(self) -> tuple[int, torch.Tensor]:
        """(i, α) of the current offset and temperature."""
        return blend_weight(self.offset, self.ladder.top, self.temperature)

    def expected_bits(self) -> torch.Tensor:
        """(1 − α)·b_i + α·b_{i+1}, differentiable in θ."""
        i, a = self.blend()
        return (1 - a) * self.ladder.bits[i] + a * self.ladder.bits[i + 1]

    def hard_format(self) -> str:
        """The format θ rounds to (half up): the format of the T = 0 assignment."""
        i, a = blend_weight(self.offset.detach(), self.ladder.top, 0.0)
        return self.ladder.formats[i + int(a.item())]

    def _mix(self, t: torch.Tensor, i: int, a: torch.Tensor) -> torch.Tensor:
        lo, hi = self.ladder.formats[i], self.ladder.formats[i + 1]
        if self.temperature == 0:  # hard: only the chosen rung is evaluated (bit-identical to MXLinear)
            return fake_quantize(t, hi if a.item() else lo, axis=-1, policy=self.policy)
        return (1 - a) * fake_quantize(t, lo, axis=-1, policy=self.policy) + a * fake_quantize(
            t, hi, axis=-1, policy=self.policy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "input")
        i, a = self.blend()
        if self.quantize_input:
            x = self._mix(x, i, a)
        return functional.linear(x, self._mix(self.weight, i, a), self.bias)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, ladder={self.ladder.formats}, offset={self.offset.item():.3f}, "
                f"temperature={self.temperature}, quantize_input={self.quantize_input}")


def _check_temperature(t: object) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise InputError(f"temperature must be a finite number >= 0, got {t!r}")
    return float(t)


def dmx_layers(model: nn.Module) -> dict[str, DMXLinear]:
    """Every DMXLinear of `model` by qualified name.

    >>> list(dmx_layers(torch.nn.Sequential(DMXLinear(32, 2, FormatLadder(["mxint4", "mxint8"])))))
    ['0']
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {n: m for n, m in model.named_modules() if isinstance(m, DMXLinear)}


def to_dmx(model: nn.Module, ladder: FormatLadder, names: Sequence[str] | None = None,
           **options: Any) -> dict[str, DMXLinear]:
    """Replace the nn.Linear layers of `model` (all, or those in `names`) by DMXLinear layers sharing
    their Parameters; returns the new layers by name.

    >>> model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    >>> sorted(to_dmx(model, FormatLadder(["mxfp4_e2m1", "mxfp8_e4m3"])))
    ['0', '2']
    """
    if not isinstance(model, nn.Module) or isinstance(model, nn.Linear):
        raise InputError("model must be a torch.nn.Module containing nn.Linear layers (not a layer itself)")
    found = {n: m for n, m in model.named_modules()
             if n and isinstance(m, nn.Linear) and not isinstance(m, (DMXLinear, MXLinear))}
    chosen = list(found) if names is None else list(names)
    missing = [n for n in chosen if n not in found]
    if missing or not chosen:
        raise InputError(f"no convertible nn.Linear named {missing or chosen}; found {list(found)}")
    new = {n: DMXLinear.from_linear(found[n], ladder, **options) for n in chosen}
    for n, m in new.items():
        parent, child = _parent(model, n)
        setattr(parent, child, m)
    return new


def set_temperature(model: nn.Module, temperature: float) -> None:
    """Set T on every DMXLinear of `model` (T = 0: hard assignment).

    >>> model = torch.nn.Sequential(DMXLinear(32, 2, FormatLadder(["mxint4", "mxint8"])))
    >>> set_temperature(model, 0.05); model[0].temperature
    0.05
    """
    t = _check_temperature(temperature)
    layers = dmx_layers(model)
    if not layers:
        raise InputError("model holds no DMXLinear layer")
    for m in layers.values():
        m.temperature = t


def clamp_offsets(model: nn.Module) -> None:
    """Clamp every offset into [0, n] in place (call after the optimizer step).

    >>> model = torch.nn.Sequential(DMXLinear(32, 2, FormatLadder(["mxint4", "mxint8"])))
    >>> _ = model[0].offset.data.fill_(3.0); clamp_offsets(model); model[0].offset.item()
    1.0
    """
    with torch.no_grad():
        for m in dmx_layers(model).values():
            m.offset.clamp_(0.0, float(m.ladder.top))


def expected_bits(model: nn.Module) -> torch.Tensor:
    """Average element bits b̄ = Σ_l n_l·bits_l / Σ_l n_l over the DMXLinear weights (n_l = weight
    elements), differentiable in the offsets.

    >>> model = torch.nn.Sequential(DMXLinear(32, 2, FormatLadder(["mxint4", "mxint8"]), init_offset=1.0))
    >>> set_temperature(model, 0.0); expected_bits(model).item()
    8.0
    """
    layers = list(dmx_layers(model).values())
    if not layers:
        raise InputError("model holds no DMXLinear layer")
    n = [m.weight.numel() for m in layers]
    return sum(k * m.expected_bits() for k, m in zip(n, layers, strict=True)) / sum(n)


def bit_budget_loss(model: nn.Module, target_bits: float, strength: float = 1.0,
                    two_sided: bool = False) -> torch.Tensor:
    """R = μ·max(0, b̄ − b_target)² (or μ·(b̄ − b_target)² when `two_sided`), b̄ = `expected_bits(model)`.

    >>> model = torch.nn.Sequential(DMXLinear(32, 2, FormatLadder(["mxint4", "mxint8"]), init_offset=1.0))
    >>> set_temperature(model, 0.0); bit_budget_loss(model, 6.0, 0.5).item()
    2.0
    """
    if isinstance(target_bits, bool) or not isinstance(target_bits, (int, float)) or not target_bits > 0:
        raise InputError(f"target_bits must be a positive number, got {target_bits!r}")
    gap = expected_bits(model) - float(target_bits)
    return strength * (gap.square() if two_sided else functional.relu(gap).square())


def temperature_at(step: int, total_steps: int, t0: float = 1.0, t_end: float = 0.01,
                   hard_fraction: float = 0.1) -> float:
    """Exponential annealing T_k = T0·(T_end/T0)^(k/K) over the first K = total − hard steps, then 0
    (hard) for the last round(hard_fraction·total) steps.

    >>> temperature_at(0, 100), round(temperature_at(45, 100, 1.0, 0.01), 6), temperature_at(95, 100)
    (1.0, 0.1, 0.0)
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise InputError(f"total_steps must be a positive integer, got {total_steps!r}")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < total_steps:
        raise InputError(f"step must be an integer in [0, {total_steps}), got {step!r}")
    if not (t0 > 0 and t_end > 0) or not 0 <= hard_fraction <= 1:
        raise InputError("t0 and t_end must be positive and hard_fraction in [0, 1]")
    soft = total_steps - round(hard_fraction * total_steps)
    if step >= soft:
        return 0.0
    return t0 * (t_end / t0) ** (step / soft)


def freeze(model: nn.Module) -> dict[str, str]:
    """Replace every DMXLinear by an MXLinear in its hard format (sharing the Parameters; the input is
    quantized in the same format when the layer had `quantize_input`); returns the per-layer format map.

    >>> model = torch.nn.Sequential(DMXLinear(32, 2, FormatLadder(["mxint4", "mxint8"]), init_offset=0.8))
    >>> freeze(model), type(model[0]).__name__
    ({'0': 'mxint8'}, 'MXLinear')
    """
    layers = dmx_layers(model)
    if not layers or "" in layers:
        raise InputError("freeze needs a model holding DMXLinear layers (not a DMXLinear itself)")
    fmap = {}
    for n, m in layers.items():
        fmt = m.hard_format()
        fmap[n] = fmt
        lin = MXLinear.from_linear(m, weight_format=fmt, weight_policy=m.policy,
                                   input_format=fmt if m.quantize_input else None, input_policy=m.policy)
        parent, child = _parent(model, n)
        setattr(parent, child, lin)
    return fmap
