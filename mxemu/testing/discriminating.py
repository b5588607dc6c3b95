"""Discriminating blocks: named boundary blocks, and for every pair of values of every policy field a
block on which the two values give different results."""

from __future__ import annotations

import functools
import itertools

import numpy as np

from mxemu.ops import decode
from mxemu.policy import CHOICES, PRESETS, Policy
from mxemu.spec import MXFormat

F32 = np.float32
# Values a deterministic black box cannot be checked against (random draws; an exception).
UNSEARCHABLE = {"rounding": ("stochastic",), "nan_to_nonan": ("error",)}
# Values a kind of result cannot be checked under: quantize refuses the blocks whose float32 scale
# (Brevitas's and AMD Quark's fake-quantizers, which give no codes) no E8M0 code holds, and the kit's
# boundary blocks hold such blocks; those policies are checked by their fake-quantized values.
KIND_UNSEARCHABLE = {"quantize": {"scale_value": tuple(v for v in CHOICES["scale_value"] if v != "e8m0")}}


def field_values(field: str, kind: str = "fake_quantize") -> tuple[str, ...]:
    """The values of a policy field that a lane-by-lane comparison of `kind` results can tell apart."""
    skip = (*UNSEARCHABLE.get(field, ()), *KIND_UNSEARCHABLE.get(kind, {}).get(field, ()))
    return tuple(v for v in CHOICES[field] if v not in skip)


def unsearchable_fields(policy: Policy, kind: str) -> list[str]:
    """The fields of `policy`, as field=value, whose value results of `kind` cannot be checked under."""
    return [f"{f}={getattr(policy, f)}" for f in CHOICES if getattr(policy, f) not in field_values(f, kind)]


def candidate_presets(kind: str) -> dict[str, Policy]:
    """The presets a target of `kind` is compared with: those whose every field it can be checked under.

    >>> "brevitas" in candidate_presets("quantize"), "brevitas" in candidate_presets("fake_quantize")
    (False, True)
    """
    return {name: p for name, p in PRESETS.items() if not unsearchable_fields(p, kind)}


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


def spread_blocks(fmt: MXFormat, count: int, seed: int = 0) -> np.ndarray:
    """Random float32 blocks whose lanes spread over many binades below a random block exponent (so
    that lanes round, tie, underflow and saturate), with a few ±0 lanes; the same for the same seed."""
    rng = np.random.default_rng(seed)
    k = fmt.block_size
    base = rng.integers(-135, 128, (count, 1))
    spread = rng.integers(-(fmt.element.emax - fmt.element.emin + 6), 1, (count, k))
    mant = rng.uniform(1.0, 2.0, (count, k))
    mant = np.where(rng.random((count, k)) < 0.3, np.round(mant * 8) / 8, mant)  # grid points and ties
    signs = np.where(rng.random((count, k)) < 0.5, -1.0, 1.0)
    x = signs * mant * np.exp2(np.clip(base + spread, -149, 127).astype(np.float64))
    x[rng.random((count, k)) < 0.05] = 0.0
    with np.errstate(over="ignore"):
        return np.copysign(x, signs).astype(F32)


def rceil_boundary_blocks(fmt: MXFormat) -> np.ndarray:
    """Blocks whose amax lies a few float32 ulps either side of max_normal * 2^x, where an exact, a
    float32-divided and a float32-reciprocal amax / max_normal round to different powers of two."""
    top = float(fmt.element.max_normal)
    rows = []
    for x in (-130, -127, -20, -1, 0, 1, 7, 60, 120):
        at = F32(min(max(top * 2.0 ** x, 2.0 ** -149), float(np.finfo(F32).max)))
        for j in range(-6, 7):
            v = np.float32(at)
            step = np.float32(np.inf) if j > 0 else np.float32(0)
            with np.errstate(over="ignore"):
                for _ in range(abs(j)):
                    v = np.nextafter(v, step)
            row = np.full(fmt.block_size, v / np.float32(3), F32)
            row[0] = v
            rows.append(row)
    return np.stack(rows)


@functools.lru_cache(maxsize=32)
def _pair_blocks(fmt: MXFormat, kind: str) -> tuple[tuple[tuple[str, np.ndarray], ...], tuple[str, ...]]:
    from mxemu.testing.coverage import coverage_blocks
    from mxemu.testing.runner import expected

    pool = np.concatenate([np.stack([x for _, x in discriminating_blocks(fmt)]),
                           rceil_boundary_blocks(fmt), coverage_blocks(fmt, 256, seed=2), spread_blocks(fmt, 256)])
    cache: dict[Policy, tuple[np.ndarray, np.ndarray]] = {}

    def outputs(p: Policy) -> tuple[np.ndarray, np.ndarray]:
        if p not in cache:
            out = expected(pool, fmt, p, kind)
            scales = np.zeros(pool.shape[0], np.int64) if out.scales is None else out.scales
            cache[p] = (scales, out.bits)
        return cache[p]

    found: list[tuple[str, np.ndarray]] = []
    alike: list[str] = []
    presets = candidate_presets(kind)
    bases = [presets["ocp"], *(p for n, p in presets.items() if n != "ocp")]
    for field in CHOICES:
        for a, b in itertools.combinations(field_values(field, kind), 2):
            for base in bases:
                (sa, ca), (sb, cb) = outputs(base.replace(**{field: a})), outputs(base.replace(**{field: b}))
                differ = (sa != sb) | (ca != cb).any(axis=1)
                if differ.any():
                    found.append((f"{field}: {a} vs {b}", pool[int(np.argmax(differ))]))
                    break
            else:
                alike.append(f"{field}: {a} vs {b}")
    return tuple(found), tuple(alike)


def pair_blocks(fmt: MXFormat, kind: str) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """For every pair of values of every policy field, a block on which the two values give different
    results of `kind` (with the other fields at ocp, or at the first preset where they differ), and
    the pairs that no block of the pool separates on this format (e.g. int_range on a float format).

    >>> import mxemu as mx
    >>> found, alike = pair_blocks(mx.get_format("mxfp8_e4m3"), "quantize")
    >>> "scale_rule: ceil vs even" in dict(found), "int_range: symmetric vs full" in alike
    (True, True)
    """
    found, alike = _pair_blocks(fmt, kind)
    return [(n, x.copy()) for n, x in found], list(alike)
