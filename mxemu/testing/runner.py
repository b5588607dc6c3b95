"""Differential runner: drives a user's quantizer with MX-hostile blocks and compares it with mxemu lane by lane."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mxemu.errors import InputError, MXError
from mxemu.ops import decode, encode, fake_quantize, quantize
from mxemu.policy import Policy, get_policy
from mxemu.spec import MXFormat, get_format
from mxemu.testing.adapters import to_numpy, to_torch
from mxemu.testing.compare import (
    FAILURE_CLASSES,
    ClassFailures,
    Example,
    Outputs,
    Report,
    accepted,
    check_comparison,
    classify,
)
from mxemu.testing.discriminating import unsearchable_fields

KINDS = ("fake_quantize", "quantize", "encode")
TENSORS = ("numpy", "torch")
INPUT_DTYPES = ("float32", "float16", "bfloat16", "float64")
E8M0_NAN = 255
# Blocks per call of a batched target (bounds the memory of one call).
BATCH = 4096


class ConformanceError(MXError, AssertionError):
    """The implementation under test differs from mxemu; `.report` holds every difference by class."""

    def __init__(self, report: Report) -> None:
        super().__init__(str(report))
        self.report = report


class TargetError(MXError, RuntimeError):
    """The function under test raised, or returned something other than the documented output."""


@dataclass(frozen=True)
class Target:
    """A function under test and how to call it: with numpy arrays or torch tensors on `device`, one
    (1, K) block per call or (N, K) blocks per call (batched), with extra keyword arguments.

    >>> import mxemu as mx
    >>> t = Target(lambda x: mx.fake_quantize(x, "mxfp4_e2m1"), mx.get_format("mxfp4_e2m1"), batched=True)
    >>> t.outputs(np.full((2, 32), 5.0, np.float32)).values[:, 0].tolist()
    [4.0, 4.0]
    """

    fn: Callable
    fmt: MXFormat
    kind: str = "fake_quantize"
    tensor: str = "numpy"
    device: str = "cpu"
    batched: bool = False
    kwargs: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise InputError(f"the function under test must be callable, got {type(self.fn).__name__}")
        if self.kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.tensor not in TENSORS:
            raise InputError(f"tensor must be one of {', '.join(TENSORS)}, got {self.tensor!r}")
        if not isinstance(self.kwargs, Mapping) or not all(isinstance(k, str) for k in self.kwargs):
            raise InputError("kwargs must be a mapping of keyword names to values")

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", None) or repr(self.fn)

    def outputs(self, x: np.ndarray) -> Outputs:
        """The function's results for the (N, K) blocks x, in lane form."""
        if self.batched:
            parts = [self._call(x[i:i + BATCH]) for i in range(0, x.shape[0], BATCH)]
        else:
            parts = [self._call(x[i:i + 1]) for i in range(x.shape[0])]
        scales = None if parts[0].scales is None else np.concatenate([p.scales for p in parts])
        return Outputs(scales, np.concatenate([p.values for p in parts]), np.concatenate([p.bits for p in parts]))

    def _call(self, x: np.ndarray) -> Outputs:
        arg = x.copy() if self.tensor == "numpy" else to_torch(x, self.device)
        try:
            with np.errstate(all="ignore"):
                result = self.fn(arg, **self.kwargs)
        except Exception as exc:  # the target's own failure, reported as such with its input
            words = " ".join(f"{int(w):08x}" for w in x[0].astype(np.float32).view(np.uint32)[:8])
            raise TargetError(f"the function under test {self.name} raised {type(exc).__name__}: {exc} "
                              f"(called with a {self.tensor} array of shape {x.shape}, dtype {x.dtype}; "
                              f"first lanes as float32 bits {words} ...)") from exc
        return self._lanes(result, x)

    def _lanes(self, result: object, x: np.ndarray) -> Outputs:
        n, k = x.shape
        if self.kind == "fake_quantize":
            y = self._array(result, "its result", n * k)
            if y.dtype != x.dtype:
                raise TargetError(f"{self.name} returned dtype {y.dtype}; a fake_quantize target returns the "
                                  f"input's dtype ({x.dtype})")
            y = y.reshape(n, k)
            return Outputs(None, y.astype(np.float64), _bits64(y))
        if self.kind == "encode":
            codes = self._codes(result, "its result", n * k).reshape(n, k)
            return Outputs(None, _decode(codes, self.fmt, None), codes.astype(np.uint64))
        if not isinstance(result, tuple | list) or len(result) != 2:
            raise TargetError(f"{self.name} returned {type(result).__name__}; a quantize target returns "
                              "(scales, codes)")
        scales = self._codes(result[0], "its scales", n, width=8)
        codes = self._codes(result[1], "its codes", n * k).reshape(n, k)
        return Outputs(scales, _decode(codes, self.fmt, scales), codes.astype(np.uint64))

    def _array(self, value: object, what: str, size: int) -> np.ndarray:
        try:
            y = to_numpy(value)
        except MXError:
            raise
        except Exception as exc:  # an object that is neither an array nor a tensor
            raise TargetError(f"{self.name}: {what} is a {type(value).__name__}, not an array ({exc})") from None
        if y.size != size:
            raise TargetError(f"{self.name}: {what} has shape {y.shape} ({y.size} entries); expected {size} "
                              f"entries for this call")
        return y

    def _codes(self, value: object, what: str, size: int, width: int | None = None) -> np.ndarray:
        y = self._array(value, what, size).reshape(-1)
        bits = width or self.fmt.element.bits
        if y.dtype.kind not in "iu":
            raise TargetError(f"{self.name}: {what} have dtype {y.dtype}; expected integer codes")
        if y.size and (int(y.min()) < 0 or int(y.max()) >= 1 << bits):
            raise TargetError(f"{self.name}: {what} hold {int(y.min())}..{int(y.max())}; expected {bits}-bit "
                              f"codes in [0, {(1 << bits) - 1}]")
        return y.astype(np.int64)


def _bits64(y: np.ndarray) -> np.ndarray:
    return y.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[y.dtype.itemsize]).astype(np.uint64)


def _decode(codes: np.ndarray, fmt: MXFormat, scales: np.ndarray | None) -> np.ndarray:
    """Exact float64 values of element codes, times 2^(scale - 127) per block where scales are given."""
    values = decode(codes.astype(np.uint8), fmt.element, dtype=np.float64)
    if scales is None:
        return values
    with np.errstate(all="ignore"):
        factor = np.where(scales == E8M0_NAN, np.nan, np.ldexp(1.0, (scales - 127).astype(np.int64)))
        return values * factor[:, None]


def expected(x: np.ndarray, fmt: MXFormat, policy: Policy, kind: str) -> Outputs:
    """mxemu's results for the (N, K) blocks x, in lane form."""
    with np.errstate(all="ignore"):
        if kind == "fake_quantize":
            y = fake_quantize(x, fmt, policy=policy)
            return Outputs(None, y.astype(np.float64), _bits64(y))
        if kind == "encode":
            codes = encode(x, fmt.element, policy=policy).astype(np.int64)
            return Outputs(None, _decode(codes, fmt, None), codes.astype(np.uint64))
        q = quantize(x, fmt, policy=policy)
        scales = q.scales.reshape(-1).astype(np.int64)
        codes = q.codes.astype(np.int64)
        return Outputs(scales, _decode(codes, fmt, scales), codes.astype(np.uint64))


def lane_classes(target: Target, x: np.ndarray, policy: Policy, got: Outputs | None = None) -> np.ndarray:
    """(N, K) failure-class indices of target against mxemu under policy (-1: bit-equal lanes)."""
    f, kind = target.fmt, target.kind
    got = target.outputs(x) if got is None else got
    want = expected(x, f, policy, kind)
    up = expected(x, f, policy.replace(rounding="rup"), kind).values
    down = expected(x, f, policy.replace(rounding="rdn"), kind).values
    return classify(want, got, (up, down), E8M0_NAN if kind == "quantize" else None)


def check_arguments(fmt: str | MXFormat, policy: str | Policy | None, dtype: object, max_examples: object,
                    comparison: str) -> tuple[MXFormat, Policy, np.dtype]:
    """Validated (format, policy, input dtype) of a conformance run, or a typed error."""
    f = get_format(fmt)
    if not isinstance(f, MXFormat):
        raise InputError(f"{f.name!r} is not an MX block format")
    if f.name == "nvfp4" or f.element.bits > 8:
        raise InputError(f"{f.name} is not supported by mxemu.testing: it checks E8M0-scaled MX formats with "
                         "elements of at most 8 bits")
    pol = get_policy(policy)
    if pol.rounding == "stochastic":
        raise InputError("stochastic rounding cannot be compared lane by lane (the target draws its own "
                         "random bits); check a deterministic rounding mode")
    if pol.nan_to_nonan == "error":
        raise InputError("nan_to_nonan='error' raises on the NaN lanes of the test blocks; check the target "
                         "under the rule it applies to NaN (zero, signed_zero or flipped_zero)")
    check_comparison(comparison)
    if not isinstance(max_examples, int) or isinstance(max_examples, bool) or not 1 <= max_examples <= 10**6:
        raise InputError(f"max_examples must be an integer in [1, 1000000], got {max_examples!r}")
    if (isinstance(dtype, str) and dtype == "bfloat16") or getattr(dtype, "__name__", None) == "bfloat16":
        import ml_dtypes

        dtype = ml_dtypes.bfloat16
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in INPUT_DTYPES:
        raise InputError(f"dtype must be one of {', '.join(INPUT_DTYPES)}, got {dtype!r}")
    return f, pol, dt


def conformance_blocks(f: MXFormat, dt: np.dtype, max_examples: int) -> np.ndarray:
    """The blocks a run compares: the named discriminating blocks, then `max_examples` coverage-model blocks."""
    from mxemu.testing.coverage import coverage_blocks
    from mxemu.testing.discriminating import discriminating_blocks

    named = np.stack([x for _, x in discriminating_blocks(f)])
    with np.errstate(all="ignore"):
        return np.concatenate([named.astype(dt), coverage_blocks(f, max_examples, dt)])


def run(target: Target, x: np.ndarray, policy: Policy, comparison: str = "bits", label: str | None = None
        ) -> Report:
    """Compare target with mxemu on the blocks x; every failure class with one shrunk counterexample."""
    cls = lane_classes(target, x, policy)
    cls = np.where(np.isin(cls, [i for i, n in enumerate(FAILURE_CLASSES) if accepted(n, comparison)]), -1, cls)
    names = list(FAILURE_CLASSES)
    report = Report(target.fmt.name, label or policy.name, target.kind, comparison, x.shape[0],
                    failing_blocks=int((cls >= 0).any(axis=1).sum()))
    for i, name in enumerate(names):
        hit = cls == i
        if not hit.any():
            continue
        rows = np.flatnonzero(hit.any(axis=1))
        block = shrink(x[rows[0]], lambda b, i=i: (lane_classes(target, b[None], policy)[0] == i).any())
        report.failures.append(ClassFailures(name, rows.size, int(hit.sum()),
                                             _example(target, block, policy, i)))
    return report


def _example(target: Target, block: np.ndarray, policy: Policy, cls: int) -> Example:
    x = block[None]
    got = target.outputs(x)
    want = expected(x, target.fmt, policy, target.kind)
    lanes = lane_classes(target, x, policy, got)[0]
    if not (lanes == cls).any():
        # The block failed inside a batch but not alone: the target's result depends on its batch.
        return Example(block, -2, "a difference inside a batch", "none when this block is called alone")
    lane = int(np.argmax(lanes == cls))
    if list(FAILURE_CLASSES)[cls] == "scale":
        return Example(block, -1, f"0x{int(want.scales[0]):02x}", f"0x{int(got.scales[0]):02x}")
    return Example(block, lane, _lane_text(want, lane, target.kind), _lane_text(got, lane, target.kind))


def _lane_text(out: Outputs, lane: int, kind: str) -> str:
    value = float(out.values[0, lane])
    if kind == "fake_quantize":
        return f"{value!r} (bits 0x{int(out.bits[0, lane]):x})"
    return f"code 0x{int(out.bits[0, lane]):02x} ({value!r})"


def shrink(x: np.ndarray, fails: Callable[[np.ndarray], bool]) -> np.ndarray:
    """A simpler failing block: each lane in turn set to +0 (NaN, Inf and -0 lanes too), then to the
    power of two at or below its magnitude, then made positive, for as long as the block still fails."""
    x = x.copy()
    zero = np.zeros(1, x.dtype)[0]

    def simpler(v: np.generic) -> list[np.generic]:
        f = float(v)
        out = [] if f == 0 and not np.signbit(v) else [zero]
        if np.isfinite(f) and f != 0:
            with np.errstate(all="ignore"):
                p = np.array(np.copysign(2.0 ** np.floor(np.log2(abs(f))), f)).astype(x.dtype)[()]
                if p != v:
                    out.append(p)
                if f < 0:
                    out.append(np.array(-f).astype(x.dtype)[()])
        return out

    changed = True
    while changed:
        changed = False
        for i in range(x.size):
            for v in simpler(x[i]):
                trial = x.copy()
                trial[i] = v
                if fails(trial):
                    x, changed = trial, True
                    break
    return x


def check_kind_policy(kind: str, policy: Policy) -> None:
    """`InputError` for a policy whose results of `kind` the kit cannot check: quantize under a float32
    scale_value refuses the blocks whose scale no E8M0 code holds, and the kit's boundary blocks hold them."""
    fields = unsearchable_fields(policy, kind)
    if fields:
        raise InputError(f"kind={kind!r} cannot be checked under {', '.join(fields)}: mxemu's quantize refuses "
                         f"the blocks whose float32 scale no E8M0 code holds, and the test blocks hold such "
                         f"blocks; accepted: kind='fake_quantize' under this policy (the peers it models, Brevitas "
                         f"and AMD Quark, fake-quantize), or a policy with scale_value='e8m0' for kind='quantize'")


def check_quantizer(fn: Callable, fmt: str | MXFormat, policy: str | Policy | None = None,
                    kind: str = "fake_quantize", *, dtype: object = np.float32, tensor: str = "numpy",
                    device: str = "cpu", max_examples: int = 300, comparison: str = "bits",
                    batched: bool = False, kwargs: Mapping[str, object] | None = None) -> Report:
    """Drive `fn` with boundary-dense blocks and compare it with mxemu under `policy`, lane by lane.

    `fn` takes blocks as an array of shape (1, block_size), or (N, block_size) with batched=True —
    numpy, or a torch tensor on `device` when tensor="torch" — plus `kwargs`, and returns the
    fake-quantized blocks (kind="fake_quantize", the input's dtype), (scales, codes) with one scale
    per block and one code per element (kind="quantize"), or the element codes of a plain cast at
    scale 1 (kind="encode", for element casts such as ml_dtypes'). `comparison` is "bits" (identical
    bytes), "nan_any" (any NaN equals any NaN) or "value" (also +0 == -0).

    Returns the `Report` when nothing differs; otherwise raises `ConformanceError`, whose `.report`
    groups every difference by class, each with a shrunk counterexample and the comparison class
    under which it would pass. A function that raises or returns the wrong shape or type raises
    `TargetError`.

    >>> import mxemu as mx
    >>> print(check_quantizer(lambda x: mx.fake_quantize(x, "mxfp4_e2m1"), "mxfp4_e2m1", max_examples=20))
    PASS: mxfp4_e2m1 under ocp (fake_quantize, comparison bits): 47 blocks, no difference
    """
    f, pol, dt = check_arguments(fmt, policy, dtype, max_examples, comparison)
    target = Target(fn, f, kind, tensor, device, batched, dict(kwargs or {}))
    check_kind_policy(kind, pol)
    report = run(target, conformance_blocks(f, dt, max_examples), pol, comparison)
    if not report.ok:
        raise ConformanceError(report)
    return report
