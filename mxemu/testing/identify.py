"""Policy identification: which preset, or which Policy field values, an implementation behaves like."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mxemu.errors import InputError
from mxemu.ops import decode
from mxemu.policy import CHOICES, PRESETS, Policy
from mxemu.spec import MXFormat, get_format
from mxemu.testing.runner import KINDS, TENSORS, call, compare

F32 = np.float32


def discriminating_blocks(fmt: MXFormat) -> list[tuple[str, np.ndarray]]:
    """Named blocks on which the policies part ways, for the element format of `fmt`.

    >>> import mxemu as mx
    >>> blocks = dict(discriminating_blocks(mx.get_format("mxfp8_e4m3")))
    >>> blocks["NaN lane"].shape, bool(np.isnan(blocks["NaN lane"][3]))
    ((32,), True)
    """
    e = fmt.element
    k = fmt.block_size
    lane = np.linspace(-1, 1, k, dtype=F32)
    top = F32(float(e.max_normal))
    # Element values (block scale 1: the largest lane is max_normal, in the top binade) and the
    # midpoints between neighbours, where rne, rna and rtz part ways; below half the smallest quantum,
    # the largest float32 (a float32 "floor(|t| + 0.5)" rounding would take it up).
    values = np.unique(np.abs(decode(np.arange(e.num_codes, dtype=np.uint8), e.name, dtype=np.float64)))
    values = values[values <= float(e.max_normal)]  # not NaN/Inf, nor the asymmetric integer minimum
    mids = (values[:-1] + values[1:]) / 2
    mids = mids[np.linspace(0, mids.size - 1, k - 1).round().astype(int)]
    signs = np.where(np.arange(k - 1) % 2, -1.0, 1.0)
    below_half = np.nextafter(F32(values[1] / 2), F32(0))

    def put(name: str, i: int, value: float, base: np.ndarray = lane) -> tuple[str, np.ndarray]:
        row = base.astype(F32)
        with np.errstate(over="ignore"):
            row[i] = value
        return name, row

    rows = [
        ("ties at element precision", np.concatenate([[values[-1]], mids * signs]).astype(F32)),
        ("just below half the smallest quantum", np.where(np.arange(k) == 0, top, below_half).astype(F32)),
        put("NaN lane", 3, np.nan), put("Inf lane", 3, np.inf), put("-Inf lane", 5, -np.inf),
        ("all zero", np.zeros(k, F32)), ("all -0", -np.zeros(k, F32)),
        ("FP32-subnormal amax", lane * F32(1e-39)),
        ("tiny normal amax", lane * F32(2.0 ** -120)),
        put("-1.999 (integer range)", 0, -1.999, np.full(k, 0.5, F32)),
        ("saturation window", lane * top * F32(2.0 ** (1 - e.emax)) * F32(1.9)),
    ]
    for exp in (-100, -3, 10, 60):
        p = F32(2.0) ** exp
        rows.append(put(f"amax one ulp below 2^{exp}", 0, float(np.nextafter(p, F32(0)))))
        at = top * F32(2.0) ** (exp - e.emax)
        rows.append(put(f"amax one ulp above max_normal·2^{exp - e.emax} (RCEIL)", 0,
                        float(np.nextafter(at, F32(np.inf))), lane * at / 4))
    rng = np.random.default_rng(0)  # fixed data: only the discriminating power matters here
    for i in range(8):
        rows.append((f"random block {i}", (rng.standard_normal(k) * 2.0 ** rng.integers(-40, 40)).astype(F32)))
    return rows


@dataclass
class Identification:
    """What an implementation matches: presets that explain every block, or the closest policy.

    >>> print(Identification("mxfp4_e2m1", ["ocp"], Policy()))
    mxfp4_e2m1: matches preset(s) ocp (all ocp defaults)
    """

    format: str
    presets: list[str]
    policy: Policy
    unexplained: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        default = Policy()
        fields = ", ".join(f"{f}={getattr(self.policy, f)}" for f in CHOICES
                           if getattr(self.policy, f) != getattr(default, f)) or "all ocp defaults"
        if self.presets:
            return f"{self.format}: matches preset(s) {', '.join(self.presets)} ({fields})"
        if not self.unexplained:
            return f"{self.format}: matches no preset, but matches the policy {fields}"
        lines = [f"{self.format}: no preset matches; closest policy: {fields}",
                 "blocks no policy explains:"] + [f"  - {b}" for b in self.unexplained]
        return "\n".join(lines)


def identify(fn: Callable, fmt: str | MXFormat, kind: str = "quantize", *, tensor: str = "numpy",
             device: str = "cpu") -> Identification:
    """Name the preset (or the Policy field values) that `fn` behaves like on discriminating blocks.

    `fn` is called as in `check_quantizer`: one block of shape (1, block_size) at a time.

    >>> import mxemu as mx
    >>> print(identify(lambda x: mx.fake_quantize(x, "mxfp4_e2m1", policy="torchao_rceil"), "mxfp4_e2m1",
    ...                kind="fake_quantize").presets)
    ['torchao_rceil']
    """
    f = get_format(fmt)
    if not isinstance(f, MXFormat):
        raise InputError(f"{f.name!r} is not an MX block format")
    if kind not in KINDS or tensor not in TENSORS:
        raise InputError(f"kind must be one of {KINDS} and tensor one of {TENSORS}")
    blocks = discriminating_blocks(f)
    with np.errstate(all="ignore"):
        outputs = [call(fn, x.reshape(1, -1), tensor, device) for _, x in blocks]

    def misses(policy: Policy) -> list[str]:
        with np.errstate(all="ignore"):
            return [name for (name, x), y in zip(blocks, outputs, strict=True)
                    if compare(y, x, f, policy, kind) is not None]

    scored = {name: misses(p) for name, p in PRESETS.items()}
    exact = [name for name, m in scored.items() if not m]
    if exact:
        return Identification(f.name, exact, PRESETS[exact[0]])
    # Coordinate descent from the closest preset, one field at a time.
    best_name = min(scored, key=lambda n: len(scored[n]))
    best, best_misses = PRESETS[best_name], scored[best_name]
    improved = True
    while improved and best_misses:
        improved = False
        for field_name, values in CHOICES.items():
            for value in values:
                if value == getattr(best, field_name) or value == "error":
                    continue
                candidate = best.replace(**{field_name: value})
                m = misses(candidate)
                if len(m) < len(best_misses):
                    best, best_misses, improved = candidate, m, True
    return Identification(f.name, [], best, best_misses)
