"""Differential check of the Triton kernels against the numba kernels: mismatch counts, and test inputs.

The same functions serve the interpreter-mode tests (small inputs on the CPU) and the GPU
self-check (`python -m mxemu.cuda.checks.selfcheck`): every comparison is of bytes (codes, scales, and
the bit patterns of values), never of values within a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import mxemu as mx
from mxemu import cuda
from mxemu.array import pack_array, unpack_array
from mxemu.policy import Policy

BIT_VIEWS = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}


@dataclass(frozen=True)
class Mismatches:
    """Elements (or scales) whose bytes differ between the Triton and numba paths, by output."""

    codes: int
    scales: int
    fake_quantize: int
    dequantize: int

    @property
    def total(self) -> int:
        return self.codes + self.scales + self.fake_quantize + self.dequantize


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A CPU numpy copy of a float tensor (bfloat16 as ml_dtypes.bfloat16)."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.int32 if a.dtype.itemsize == 4 else np.int16)


def _count(a: np.ndarray, b: np.ndarray) -> int:
    if a.shape != b.shape:
        return max(a.size, b.size)
    return int(np.count_nonzero(a != b))


def mismatches(x: torch.Tensor, fmt: str, policy: str | Policy | None = None, axis: int | tuple[int, int] = -1,
               seed: int | None = None, random_bits: torch.Tensor | None = None) -> Mismatches:
    """Count the byte mismatches of quantize, fake-quantize and dequantize (in x's dtype) between the paths.

    >>> import torch
    >>> mismatches(torch.linspace(-3, 3, 64), "mxfp4_e2m1").total
    0
    """
    pol = mx.get_policy(policy)
    if pol.rounding == "stochastic" and seed is None and random_bits is None:
        seed = 0  # both paths must draw the same bits
    xn = to_numpy(x)
    rb = None if random_bits is None else random_bits.cpu().numpy()
    q = mx.quantize(xn, fmt, axis, pol, seed=seed, random_bits=rb)
    ref_fake = mx.fake_quantize(xn, fmt, axis, pol, seed=seed, random_bits=rb)
    codes, scales = cuda.quantize(x, fmt, axis, pol, seed=seed, random_bits=random_bits)
    fake = cuda.fake_quantize(x, fmt, axis, pol, seed=seed, random_bits=random_bits)
    # Dequantize the reference codes, so a quantize mismatch does not hide or fake a dequantize one.
    ref_codes = torch.from_numpy(q.codes).to(x.device)
    ref_scales = torch.from_numpy(np.ascontiguousarray(q.scales)).to(x.device)
    deq = cuda.dequantize(ref_codes, ref_scales, fmt, axis, x.dtype)
    ref_deq = q.dequantize(xn.dtype)
    return Mismatches(
        codes=_count(codes.cpu().numpy(), q.codes),
        scales=_count(scales.cpu().numpy(), np.asarray(q.scales)),
        fake_quantize=_count(_bits(to_numpy(fake)), _bits(ref_fake)),
        dequantize=_count(_bits(to_numpy(deq)), _bits(ref_deq)),
    )


def packed_mismatches(x: torch.Tensor, fmt: str, layout: str, scale_layout: str = "separate",
                      policy: str | Policy | None = None, axis: int | tuple[int, int] = -1,
                      seed: int | None = None) -> int:
    """Bytes of the Triton packed quantize that differ from `mxemu.array.pack_array` of the numba quantize.

    A length difference counts as every byte of the longer output.

    >>> import torch
    >>> packed_mismatches(torch.linspace(-3, 3, 64), "mxfp6_e2m3", "fp6_4in3", "interleaved")
    0
    """
    pol = mx.get_policy(policy)
    if pol.rounding == "stochastic" and seed is None:
        seed = 0  # both paths must draw the same bits
    ref = pack_array(mx.quantize(to_numpy(x), fmt, axis, pol, seed=seed), layout, scale_layout)
    got = cuda.quantize(x, fmt, axis, pol, seed=seed, layout=layout, scale_layout=scale_layout)
    if scale_layout == "interleaved":
        return _count(got.cpu().numpy(), ref)
    return _count(got[0].cpu().numpy(), ref[0]) + _count(got[1].cpu().numpy(), ref[1])


def packed_dequantize_mismatches(x: torch.Tensor, fmt: str, layout: str, scale_layout: str = "separate",
                                 policy: str | Policy | None = None, axis: int | tuple[int, int] = -1,
                                 dtype: torch.dtype | None = None) -> int:
    """Values of the Triton packed dequantize whose bits differ from the numba path's.

    Both read `pack_array` of the numba quantize of x: the Triton path through `cuda.dequantize_packed`,
    the numba path through `unpack_array(...).dequantize`; values in dtype (default x's dtype).

    >>> import torch
    >>> packed_dequantize_mismatches(torch.linspace(-3, 3, 64), "mxfp4_e2m1", "nibble_hi_first", "interleaved")
    0
    """
    dtype = x.dtype if dtype is None else dtype
    shape = tuple(x.shape)
    packed = pack_array(mx.quantize(to_numpy(x), fmt, axis, policy), layout, scale_layout)
    numpy_dtype = to_numpy(torch.empty(0, dtype=dtype)).dtype
    ref = unpack_array(packed, fmt, shape, axis, policy, layout, scale_layout).dequantize(numpy_dtype)
    on_device = tuple(torch.from_numpy(p).to(x.device) for p in packed) if isinstance(packed, tuple) \
        else torch.from_numpy(packed).to(x.device)
    got = cuda.dequantize_packed(on_device, fmt, shape, axis, dtype, layout, scale_layout)
    return _count(_bits(to_numpy(got)), _bits(ref))


def special_values(fmt: str) -> np.ndarray:
    """float32 values that stress the rounding and scale rules of `fmt`, a multiple of 32 long.

    Zeros of both signs, NaN, Inf, the float32 extremes and subnormals, values one ulp below powers
    of two (the float32 log2 edge), and the midpoints (ties) of the element grid at several scales,
    each group in blocks whose largest value fixes the scale.
    """
    f = mx.get_format(fmt)
    el = f.element
    grid = mx.decode(np.arange(el.num_codes, dtype=np.uint8), el, dtype=np.float64)
    grid = np.unique(np.abs(grid[np.isfinite(grid)]))
    top = grid.max()
    ties = (grid[1:] + grid[:-1]) / 2
    quarter = (grid[1:] * 3 + grid[:-1]) / 4
    f32 = np.finfo(np.float32)
    blocks: list[np.ndarray] = []

    def add(values: np.ndarray, lead: float | None) -> None:
        values = np.asarray(values, np.float64)
        for i in range(0, max(len(values), 1), 31 if lead is not None else 32):
            chunk = values[i:i + (31 if lead is not None else 32)]
            if lead is not None:
                chunk = np.concatenate([[lead], chunk])
            blocks.append(np.pad(chunk, (0, 32 - len(chunk))))

    for t in (-140, -127, -126, -100, -3, 0, 5, 100, 127 - int(np.log2(top))):
        s = 2.0 ** t
        mixed = np.concatenate([ties, -ties, quarter, -quarter]) * s
        add(mixed, top * s)
        add(np.concatenate([ties, quarter]) * s, None)
    add([0.0, -0.0] * 16, None)
    add([-0.0] * 32, None)
    add([np.nan, 1.0, -2.0, 0.5], None)
    add([np.inf, 1.0, -2.0, 0.5], None)
    add([-np.inf, 1.0, -2.0, np.nan], None)
    add([np.inf, -np.inf, 3.0], None)
    add([f32.max, -f32.max, f32.max / 2, 1.0], None)
    add([f32.max * 0.75, top, 1e30], None)
    sub = np.float32(f32.smallest_subnormal) * np.array([1, 2, 3, 5, 255, 2**20, 2**23 - 1, -7], np.float32)
    add(sub.astype(np.float64), None)
    add(np.concatenate([sub, sub * -3.0]), float(f32.smallest_normal))
    add(np.concatenate([sub, [1e-39, -1e-40]]), 1e-30)
    below = np.nextafter(np.float32(2.0) ** np.arange(-126, 128, 3, dtype=np.float64).astype(np.float32),
                         np.float32(0))
    for v in below:
        add([v, v / 3, -v / 2], None)
    with np.errstate(over="ignore"):
        return np.concatenate(blocks).astype(np.float32)


def random_values(n: int, generator: torch.Generator) -> torch.Tensor:
    """n (a multiple of 32) float32 values: normal samples times a random power of two per block of 32,
    spanning the float32 range, the first n / 16 replaced by random bit patterns (NaN and Inf among them)."""
    if n % 32:
        raise ValueError(f"n must be a multiple of 32, got {n}")
    x = torch.randn(n // 32, 32, generator=generator)
    x = (x * torch.exp2(torch.randint(-135, 120, (n // 32, 1), generator=generator).float())).reshape(-1)
    raw = torch.randint(-(2**31), 2**31 - 1, (n // 16,), generator=generator, dtype=torch.int64)
    x[: n // 16] = raw.to(torch.int32).view(torch.float32)
    return x
