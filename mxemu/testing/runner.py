"""Differential runner: drives a user's quantizer with MX-hostile blocks and compares it with mxemu bit for bit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mxemu.errors import InputError, MXError
from mxemu.ops import encode, fake_quantize, quantize
from mxemu.policy import Policy, get_policy
from mxemu.spec import MXFormat, ScaleFormat, get_format

KINDS = ("fake_quantize", "quantize", "encode")
TENSORS = ("numpy", "torch")


class ConformanceError(MXError, AssertionError):
    """The implementation under test differs from mxemu; the message shows the minimal block."""


def _as_numpy(y: object) -> np.ndarray:
    if hasattr(y, "detach"):
        y = y.detach().cpu()
        if str(y.dtype) == "torch.bfloat16":
            import ml_dtypes

            return y.view(__import__("torch").int16).numpy().view(ml_dtypes.bfloat16)
        return y.numpy()
    return np.asarray(y)


def call(fn: Callable, x: np.ndarray, tensor: str, device: str) -> object:
    """fn applied to x as a numpy array, or as a torch tensor on `device`."""
    if tensor == "numpy":
        return fn(x.copy())
    import torch

    if x.dtype.name == "bfloat16":
        t = torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16)
    else:
        t = torch.from_numpy(x.copy())
    return fn(t.to(device))


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


@dataclass(frozen=True)
class Difference:
    """The first differing lane of one block (None: its scale), with both outputs."""

    block: np.ndarray
    lane: int | None
    field: str
    expected: object
    got: object

    def __str__(self) -> str:
        words = " ".join(f"{int(w):0{2 * self.block.dtype.itemsize}x}" for w in _bits(self.block))
        where = "" if self.lane is None else f" at lane {self.lane}"
        return (f"{self.field} differs{where}: expected {self.expected}, got {self.got}\n"
                f"input block (hex bits, lane 0 first):\n  {words}")


def compare(fn_out: object, x: np.ndarray, fmt: MXFormat, policy: Policy, kind: str) -> Difference | None:
    """The first difference between fn's output for the single block x and mxemu's, or None."""
    block = x.reshape(1, -1)
    if kind == "encode":
        # Element casts: fn maps the lanes to codes of the element format at scale 1.
        want_codes = encode(block, fmt.element, policy=policy).reshape(-1)
        got_codes = _as_numpy(fn_out).astype(np.int64).reshape(-1)
        differ = got_codes != want_codes
        if differ.any():
            lane = int(np.argmax(differ))
            return Difference(x, lane, "code", f"0x{int(want_codes[lane]):02x}", f"0x{int(got_codes[lane]):02x}")
        return None
    if kind == "fake_quantize":
        want = fake_quantize(block, fmt, policy=policy)
        got = _as_numpy(fn_out).reshape(want.shape)
        if got.dtype != want.dtype:
            raise InputError(f"the quantizer returned dtype {got.dtype}; expected {want.dtype} (the input's)")
        both_nan = np.isnan(want.astype(np.float64)) & np.isnan(got.astype(np.float64))
        differ = (_bits(want) != _bits(got)) & ~both_nan
        if differ.any():
            lane = int(np.argmax(differ.reshape(-1)))
            return Difference(x, lane, "value", want.reshape(-1)[lane], got.reshape(-1)[lane])
        return None
    q = quantize(block, fmt, policy=policy)
    if not isinstance(fn_out, tuple) or len(fn_out) != 2:
        raise InputError("a kind='quantize' callable must return (scales, codes)")
    scales = _as_numpy(fn_out[0]).astype(np.int64).reshape(-1)
    codes = _as_numpy(fn_out[1]).astype(np.int64).reshape(-1)
    if scales.size != 1 or codes.size != fmt.block_size:
        raise InputError(f"expected 1 scale and {fmt.block_size} codes for one block, got {scales.size} and "
                         f"{codes.size}")
    if scales[0] != q.scales[0, 0]:
        return Difference(x, None, "scale", f"0x{int(q.scales[0, 0]):02x}", f"0x{int(scales[0]):02x}")
    nan_scale = fmt.scale.nan_code if isinstance(fmt.scale, ScaleFormat) else fmt.scale.nan_codes[0]
    if q.scales[0, 0] == nan_scale:
        return None  # element codes under a NaN scale are "don't care"
    differ = codes != q.codes[0]
    if differ.any():
        lane = int(np.argmax(differ))
        return Difference(x, lane, "code", f"0x{int(q.codes[0, lane]):02x}", f"0x{int(codes[lane]):02x}")
    return None


def check_quantizer(fn: Callable, fmt: str | MXFormat, policy: str | Policy | None = None,
                    kind: str = "fake_quantize", *, dtype: type = np.float32, tensor: str = "numpy",
                    device: str = "cpu", max_examples: int = 300) -> None:
    """Drive `fn` with boundary-dense blocks and compare it with mxemu under `policy`, byte for byte.

    `fn` takes one block as an array of shape (1, block_size) — numpy, or a torch tensor on `device`
    when tensor="torch" — and returns the fake-quantized block (kind="fake_quantize"),
    (scales, codes) with one code per element (kind="quantize"), or the element codes of a plain
    cast at scale 1 (kind="encode", for element casts such as ml_dtypes'). A difference raises
    `ConformanceError` for the smallest failing block hypothesis can find, with its input bits,
    both outputs and the first differing lane.

    >>> import mxemu as mx
    >>> check_quantizer(lambda x: mx.fake_quantize(x, "mxfp4_e2m1"), "mxfp4_e2m1", max_examples=20)
    """
    from hypothesis import HealthCheck, Phase, given, settings

    from mxemu.testing.strategies import blocks

    f = get_format(fmt)
    if not isinstance(f, MXFormat):
        raise InputError(f"{f.name!r} is not an MX block format")
    pol = get_policy(policy)
    if kind not in KINDS or tensor not in TENSORS:
        raise InputError(f"kind must be one of {KINDS} and tensor one of {TENSORS}")

    def difference_of(x: np.ndarray) -> Difference | None:
        with np.errstate(all="ignore"):
            return compare(call(fn, x.reshape(1, -1), tensor, device), x, f, pol, kind)

    failing: list[np.ndarray] = []

    # Hypothesis searches; the shrinking is ours (`_shrink`), which is fast and deterministic.
    @settings(max_examples=max_examples, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(blocks(f, dtype))
    def run(x: np.ndarray) -> None:
        if not failing and difference_of(x) is not None:
            failing.append(x)

    run()
    if failing:
        x = _shrink(failing[0], lambda b: difference_of(b) is not None)
        raise ConformanceError(f"{f.name} under policy {pol.name!r}: {difference_of(x)}")


def _shrink(x: np.ndarray, fails: Callable[[np.ndarray], bool]) -> np.ndarray:
    """A smaller failing block: lanes set to zero, then the rest simplified to ±2^k, while it still fails."""
    x = x.copy()
    zero = np.zeros(1, x.dtype)[0]
    for i in range(x.size):
        if x[i] != 0 or np.isnan(x[i]):
            trial = x.copy()
            trial[i] = zero
            if fails(trial):
                x = trial
    with np.errstate(all="ignore"):
        for i in range(x.size):
            v = float(x[i])
            if np.isfinite(v) and v != 0:
                trial = x.copy()
                trial[i] = np.copysign(2.0 ** np.floor(np.log2(abs(v))), v)
                if trial[i] != x[i] and fails(trial):
                    x = trial
    return x
