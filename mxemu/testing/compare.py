"""Lane-by-lane comparison with mxemu: comparison classes, failure classes and the grouped report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from mxemu.errors import InputError

# What counts as equal, loosest last: identical bits; identical bits except that any NaN equals any
# NaN (sign and payload); equal as numbers (+0 == -0, and NaN == NaN).
COMPARISONS = ("bits", "nan_any", "value")
# The failure classes, in the order they are tested for and reported, with what each means.
FAILURE_CLASSES = {
    "scale": "the block's scale code differs (element codes are then not compared)",
    "NaN encoding": "both lanes are NaN with different bits",
    "sign of zero": "both lanes are zero with different signs",
    "NaN": "exactly one of the two lanes is NaN",
    "infinity": "exactly one of the two lanes is infinite",
    "rounding": "the lane is the other neighbour of the exact value (a tie or rounding-direction rule)",
    "underflow": "one lane is zero and the other is not (and not a rounding neighbour)",
    "value": "any other difference of finite nonzero values",
}
# The loosest comparison each class passes under (None: no comparison class accepts it).
PASSES_UNDER = {"NaN encoding": "nan_any", "sign of zero": "value"}


def check_comparison(comparison: str) -> str:
    """`comparison` if it names a comparison class, else `InputError`."""
    if comparison not in COMPARISONS:
        raise InputError(f"comparison must be one of {', '.join(COMPARISONS)}, got {comparison!r}")
    return comparison


def accepted(cls: str, comparison: str) -> bool:
    """Whether a lane difference of class `cls` counts as equal under `comparison`."""
    loosest = PASSES_UNDER.get(cls)
    return loosest is not None and COMPARISONS.index(comparison) >= COMPARISONS.index(loosest)


@dataclass(frozen=True)
class Outputs:
    """Per-block results in one shape for every kind: scale codes (N,) or None, and per-lane values
    (N, K) float64 with the bits (N, K) uint64 they come from (codes, or the output floats' bits)."""

    scales: np.ndarray | None
    values: np.ndarray
    bits: np.ndarray


def classify(want: Outputs, got: Outputs, neighbours: tuple[np.ndarray, np.ndarray], nan_scale: int | None
             ) -> np.ndarray:
    """(N, K) array of failure-class indices into FAILURE_CLASSES, -1 where the lanes agree bit for bit.

    `neighbours` are the values the policy's directed roundings (up and down) give: a lane equal to one
    of them is a rounding difference. A block whose expected scale is `nan_scale` compares no codes.
    """
    names = list(FAILURE_CLASSES)
    w, g = want.values, got.values
    out = np.full(w.shape, -1, np.int8)
    differ = want.bits != got.bits
    w_nan, g_nan = np.isnan(w), np.isnan(g)
    w_inf, g_inf = np.isinf(w), np.isinf(g)
    rules = [
        ("NaN encoding", w_nan & g_nan),
        ("sign of zero", (w == 0) & (g == 0)),
        ("NaN", w_nan ^ g_nan),
        ("infinity", w_inf ^ g_inf),
        ("rounding", (g == neighbours[0]) | (g == neighbours[1])),
        ("underflow", (w == 0) ^ (g == 0)),
        ("value", np.ones_like(differ)),
    ]
    for name, mask in rules:
        out[differ & mask & (out < 0)] = names.index(name)
    if want.scales is not None:
        scale_differs = want.scales != got.scales
        out[scale_differs] = names.index("scale")
        if nan_scale is not None:
            out[(want.scales == nan_scale) & ~scale_differs] = -1
    return out


@dataclass
class Example:
    """One minimal failing block of a class: its input, the first lane of that class (-1: the scale;
    -2: the block fails only inside a batch), both results."""

    block: np.ndarray
    lane: int
    expected: str
    got: str

    def as_dict(self) -> dict[str, object]:
        return {"input_hex": " ".join(_hex_words(self.block)),
                "input": [_number(v) for v in self.block.astype(np.float64)],
                "lane": self.lane, "expected": self.expected, "got": self.got}

    def __str__(self) -> str:
        where = {-1: "the scale", -2: "its batch"}.get(self.lane, f"lane {self.lane}")
        return (f"at {where}: expected {self.expected}, got {self.got}\n"
                f"    input block (hex bits, lane 0 first):\n      {' '.join(_hex_words(self.block))}")


@dataclass
class ClassFailures:
    """Every failure of one class: how many blocks and lanes, and one shrunk counterexample."""

    name: str
    blocks: int
    lanes: int
    example: Example | None = None

    @property
    def passes_under(self) -> str | None:
        return PASSES_UNDER.get(self.name)


@dataclass
class Report:
    """The outcome of a conformance run: counts, failures grouped by class, and what would make it pass.

    >>> r = Report("mxfp4_e2m1", "ocp", "fake_quantize", "bits", 10)
    >>> r.ok, str(r)
    (True, 'PASS: mxfp4_e2m1 under ocp (fake_quantize, comparison bits): 10 blocks, no difference')
    """

    format: str
    policy: str
    kind: str
    comparison: str
    blocks: int
    failures: list[ClassFailures] = field(default_factory=list)
    failing_blocks: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def passes_under(self) -> str | None:
        """The strictest comparison class under which every failure would pass, or None if none would."""
        needed = [c.passes_under for c in self.failures]
        if self.ok or None in needed:
            return None
        return max(needed, key=COMPARISONS.index)

    def summary(self) -> str:
        if self.ok:
            return "no difference"
        if self.passes_under:
            return f"it would pass under comparison={self.passes_under!r}"
        return "no comparison class makes it pass (" + ", ".join(COMPARISONS) + ")"

    def __str__(self) -> str:
        head = f"{self.format} under {self.policy} ({self.kind}, comparison {self.comparison}): {self.blocks} blocks"
        if self.ok:
            return f"PASS: {head}, no difference"
        lines = [f"FAIL: {head}, {self.failing_blocks} differ, in {len(self.failures)} class(es); {self.summary()}"]
        for c in self.failures:
            under = f"; passes under comparison={c.passes_under!r}" if c.passes_under else ""
            lines.append(f"  [{c.name}] {c.blocks} block(s), {c.lanes} lane(s): {FAILURE_CLASSES[c.name]}{under}")
            if c.example is not None:
                lines.append(f"    minimal block {c.example}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """The report as plain JSON-ready data."""
        return {"format": self.format, "policy": self.policy, "kind": self.kind, "comparison": self.comparison,
                "blocks": self.blocks, "failing_blocks": self.failing_blocks, "ok": self.ok,
                "passes_under": self.passes_under,
                "classes": [{"name": c.name, "meaning": FAILURE_CLASSES[c.name], "blocks": c.blocks,
                             "lanes": c.lanes, "passes_under": c.passes_under,
                             "example": None if c.example is None else c.example.as_dict()}
                            for c in self.failures]}

    def to_json(self) -> str:
        """`as_dict` as a JSON document."""
        return json.dumps(self.as_dict(), indent=2)


def _hex_words(block: np.ndarray) -> list[str]:
    width = block.dtype.itemsize
    words = block.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[width])
    return [f"{int(w):0{2 * width}x}" for w in words]


def _number(v: float) -> float | str:
    return repr(float(v)) if not np.isfinite(v) else float(v)
