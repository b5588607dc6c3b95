"""Format definitions: loads `spec/*.toml`, derives every constant from the bit layout, checks it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from mxemu._compat import tomllib
from mxemu.errors import SpecError, UnknownNameError


def _spec_dir() -> Path:
    """spec/ of a source checkout, or its copy `mxemu/_spec` inside an installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "spec", here / "_spec"):
        if (candidate / "formats.toml").is_file():
            return candidate
    raise SpecError(f"spec data not found next to {here}; reinstall mxemu")


SPEC_DIR = _spec_dir()
SPECIALS = ("ieee", "nan_only", "none")
ALIASES = {"mxfp4": "mxfp4_e2m1", "mxfp8": "mxfp8_e4m3"}

# Limits of what the kernels implement exactly (docs/numerics.md, "Format limits").
MAX_ELEMENT_BITS = 8  # element and scale codes are stored as uint8
ELEMENT_EXPONENT_LIMIT = 64  # element values lie in [2^-64, 2^64]: every product with a scale is exact in float64
MAX_BLOCK_SIZE = 1 << 16


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fields(fmt: object, ints: tuple[str, ...]) -> None:
    """SpecError unless the name is a non-empty str and the named fields are ints."""
    kind = type(fmt).__name__
    if not isinstance(fmt.name, str) or not fmt.name:
        raise SpecError(f"{kind}.name must be a non-empty str, got {fmt.name!r}")
    for field in ints:
        if not _is_int(getattr(fmt, field)):
            raise SpecError(f"{kind} {fmt.name!r}: {field} must be an int, got {getattr(fmt, field)!r}")


@dataclass(frozen=True)
class ElementFormat:
    """One element type: a sign-magnitude float or a two's complement integer with implicit scale.

    Floats: value = (-1)^S * 2^(E - bias) * (1 + M / 2^m) for E > 0, and
    (-1)^S * 2^(1 - bias) * (M / 2^m) for E = 0 (MX v1.0 §5.3). Integers: value = k * 2^-fraction_bits.

    >>> e = get_format("fp8_e4m3")
    >>> e.bits, e.emax, e.max_normal, e.nan_codes
    (8, 8, Fraction(448, 1), (127, 255))
    """

    name: str
    kind: str  # "float" or "int"
    bits: int
    exponent_bits: int
    mantissa_bits: int
    bias: int
    specials: str
    clause: str

    def __post_init__(self) -> None:
        _check_fields(self, ("bits", "exponent_bits", "mantissa_bits", "bias"))
        where = f"element format {self.name!r}"
        if self.kind == "float":
            e, m = self.exponent_bits, self.mantissa_bits
            if self.specials not in SPECIALS:
                raise SpecError(f"{where}: specials = {self.specials!r}; accepted: {list(SPECIALS)}")
            if not (e >= 1 and m >= 0 and self.bits == 1 + e + m <= MAX_ELEMENT_BITS):
                raise SpecError(f"{where}: need exponent_bits >= 1, mantissa_bits >= 0 and bits = 1 + "
                                f"exponent_bits + mantissa_bits <= {MAX_ELEMENT_BITS} (codes are uint8)")
            if (self.specials == "nan_only" and m == 0) or (self.specials == "ieee" and e < 2):
                raise SpecError(f"{where}: specials = {self.specials!r} leaves no finite top binade")
            if self.specials == "ieee" and m == 0:
                raise SpecError(f"{where}: specials = 'ieee' needs mantissa_bits >= 1 for a NaN code")
            lo, hi = self.emin - m, self.emax
            if lo < -ELEMENT_EXPONENT_LIMIT or hi > ELEMENT_EXPONENT_LIMIT:
                raise SpecError(f"{where}: bias {self.bias} puts values in [2^{lo}, 2^{hi}]; mxemu needs them "
                                f"in [2^-{ELEMENT_EXPONENT_LIMIT}, 2^{ELEMENT_EXPONENT_LIMIT}]")
        elif self.kind == "int":
            if not (2 <= self.bits <= MAX_ELEMENT_BITS and 0 <= self.mantissa_bits < self.bits):
                raise SpecError(f"{where}: need 2 <= bits <= {MAX_ELEMENT_BITS} (codes are uint8) and "
                                f"0 <= fraction_bits < bits")
            if (self.exponent_bits, self.bias, self.specials) != (0, 0, "none"):
                raise SpecError(f"{where}: an integer format has exponent_bits 0, bias 0 and specials 'none'")
        else:
            raise SpecError(f"{where}: kind = {self.kind!r}; accepted: ['float', 'int']")
        if self.max_int < 1:
            raise SpecError(f"{where}: the layout has no positive finite value")

    @property
    def is_int(self) -> bool:
        return self.kind == "int"

    @property
    def has_inf(self) -> bool:
        return self.specials == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.specials in ("ieee", "nan_only")

    @property
    def has_negative_zero(self) -> bool:
        return not self.is_int

    @property
    def max_exponent_field(self) -> int:
        """Largest exponent field of a finite value."""
        top = (1 << self.exponent_bits) - 1
        return top - 1 if self.specials == "ieee" else top

    @property
    def max_mantissa(self) -> int:
        """Largest mantissa field at the largest finite exponent field."""
        top = (1 << self.mantissa_bits) - 1
        return top - 1 if self.specials == "nan_only" else top

    @property
    def emax(self) -> int:
        """Exponent of the largest power of two the element can hold (emax_elem of MX §6.3)."""
        if self.is_int:
            return self.bits - 2 - self.mantissa_bits
        return self.max_exponent_field - self.bias

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal value (for integers: of the step, 2^-fraction_bits)."""
        if self.is_int:
            return -self.mantissa_bits
        return 1 - self.bias

    @property
    def max_int(self) -> int:
        """Largest integer significand k with value k * 2^(emin - m) (floats) or k * 2^emin (ints)."""
        if self.is_int:
            return (1 << (self.bits - 1)) - 1
        return (1 << self.mantissa_bits) + self.max_mantissa

    @property
    def max_normal(self) -> Fraction:
        if self.is_int:
            return Fraction(self.max_int, 1 << self.mantissa_bits)
        return Fraction(self.max_int) * Fraction(2) ** (self.emax - self.mantissa_bits)

    @property
    def min_normal(self) -> Fraction:
        return Fraction(2) ** self.emin

    @property
    def min_subnormal(self) -> Fraction:
        """Smallest positive value (the integer step for integer formats)."""
        if self.is_int:
            return Fraction(2) ** self.emin
        return Fraction(2) ** (self.emin - self.mantissa_bits)

    @property
    def min_value(self) -> Fraction:
        """Most negative finite value (two's complement integers reach one step further)."""
        if self.is_int:
            return Fraction(-(1 << (self.bits - 1)), 1 << self.mantissa_bits)
        return -self.max_normal

    @property
    def nan_codes(self) -> tuple[int, ...]:
        sign = 1 << (self.bits - 1)
        top = ((1 << self.exponent_bits) - 1) << self.mantissa_bits
        if self.specials == "nan_only":
            mags = [top | ((1 << self.mantissa_bits) - 1)]
        elif self.specials == "ieee":
            mags = [top | m for m in range(1, 1 << self.mantissa_bits)]
        else:
            mags = []
        return tuple(sorted(mags + [m | sign for m in mags]))

    @property
    def inf_codes(self) -> tuple[int, ...]:
        if self.specials != "ieee":
            return ()
        top = ((1 << self.exponent_bits) - 1) << self.mantissa_bits
        return (top, top | (1 << (self.bits - 1)))

    @property
    def num_codes(self) -> int:
        return 1 << self.bits


@dataclass(frozen=True)
class ScaleFormat:
    """An exponent-only scale: value = 2^(code - bias); the all-ones code is NaN (E8M0, MX §5.4.1).

    >>> s = get_format("e8m0")
    >>> s.min_exponent, s.max_exponent, hex(s.nan_code)
    (-127, 127, '0xff')
    """

    name: str
    exponent_bits: int
    bias: int
    clause: str

    def __post_init__(self) -> None:
        _check_fields(self, ("exponent_bits", "bias"))
        if not 2 <= self.exponent_bits <= MAX_ELEMENT_BITS:
            raise SpecError(f"scale format {self.name!r}: need 2 <= exponent_bits <= {MAX_ELEMENT_BITS}")
        top = (1 << self.exponent_bits) - 2
        if not 0 <= self.bias <= top:
            raise SpecError(f"scale format {self.name!r}: need 0 <= bias <= {top} (2^0 must be a scale value), "
                            f"got {self.bias}")

    @property
    def nan_code(self) -> int:
        return (1 << self.exponent_bits) - 1

    @property
    def min_exponent(self) -> int:
        return -self.bias

    @property
    def max_exponent(self) -> int:
        return self.nan_code - 1 - self.bias


@dataclass(frozen=True)
class MXFormat:
    """A block format: `block_size` elements share one scale (MX v1.0 §5.2).

    >>> f = get_format("mxfp4_e2m1")
    >>> f.element.name, f.scale.name, f.block_size
    ('fp4_e2m1', 'e8m0', 32)
    """

    name: str
    element: ElementFormat
    scale: ScaleFormat | ElementFormat
    block_size: int
    tensor_scale: bool
    clause: str

    def __post_init__(self) -> None:
        _check_fields(self, ("block_size",))
        where = f"MX format {self.name!r}"
        if not isinstance(self.element, ElementFormat):
            raise SpecError(f"{where}: element must be an ElementFormat, got {type(self.element).__name__}")
        if not 1 <= self.block_size <= MAX_BLOCK_SIZE:
            raise SpecError(f"{where}: block_size must be in [1, {MAX_BLOCK_SIZE}], got {self.block_size}")
        if not isinstance(self.tensor_scale, bool):
            raise SpecError(f"{where}: tensor_scale must be true or false")
        if isinstance(self.scale, ElementFormat):
            # A two-level block scale is rounded from a float32 quotient and a NaN block needs its NaN code.
            if self.scale.is_int or not self.scale.has_nan:
                raise SpecError(f"{where}: a block scale that is an element format must be a float format with a "
                                f"NaN code (e.g. fp8_e4m3); {self.scale.name!r} is not")
        elif isinstance(self.scale, ScaleFormat):
            if self.tensor_scale:
                raise SpecError(f"{where}: tensor_scale applies to two-level formats, whose block scale is an "
                                f"element format (NVFP4); {self.scale.name!r} is an exponent-only scale")
        else:
            raise SpecError(f"{where}: scale must be a ScaleFormat or an ElementFormat, got "
                            f"{type(self.scale).__name__}")

    @property
    def two_level(self) -> bool:
        """Whether the block scale is an element format rounded from a float32 quotient (NVFP4-like)."""
        return isinstance(self.scale, ElementFormat)


Format = ElementFormat | ScaleFormat | MXFormat

_FRACTION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?\s*$")
_POWER = re.compile(r"^\s*(?:(-?\d+(?:\.\d+)?)\s*\*\s*)?(-?)2\^(-?\d+)\s*$")


def parse_value(text: str | int, where: str) -> Fraction:
    """Parse a stated constant such as "448", "127/64", "2^-6", "-2^3" or "1.75*2^8"."""
    if isinstance(text, int) and not isinstance(text, bool):
        return Fraction(text)
    if isinstance(text, str):
        m = _POWER.match(text)
        if m:
            factor = Fraction(m.group(1)) if m.group(1) else Fraction(1)
            sign = -1 if m.group(2) else 1
            return sign * factor * Fraction(2) ** int(m.group(3))
        m = _FRACTION.match(text)
        if m:
            return Fraction(m.group(1)) / Fraction(int(m.group(2) or 1))
    raise SpecError(f"{where}: cannot read {text!r}; write an integer, 'a/b', '2^k' or 'a*2^k'")


def _require(table: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in table:
        raise SpecError(f"{where}: missing key '{key}'")
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SpecError(f"{where}: key '{key}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {sorted(unknown)}; accepted: {sorted(allowed)}")


def _element(name: str, t: dict, where: str) -> ElementFormat:
    kind = _require(t, "kind", str, where)
    clause = _require(t, "clause", str, where)
    if kind == "float":
        _check_keys(t, {"kind", "clause", "exponent_bits", "mantissa_bits", "bias", "specials", "stated"}, where)
        e = _require(t, "exponent_bits", int, where)
        m = _require(t, "mantissa_bits", int, where)
        bias = _require(t, "bias", int, where)
        specials = _require(t, "specials", str, where)
        fmt = _built(where, ElementFormat, name, "float", 1 + e + m, e, m, bias, specials, clause)
    elif kind == "int":
        _check_keys(t, {"kind", "clause", "bits", "fraction_bits", "stated"}, where)
        bits = _require(t, "bits", int, where)
        frac = _require(t, "fraction_bits", int, where)
        # An integer element is stored with its implicit scale as the "mantissa" width.
        fmt = _built(where, ElementFormat, name, "int", bits, 0, frac, 0, "none", clause)
    else:
        raise SpecError(f"{where}: kind = {kind!r}; accepted: ['float', 'int']")
    _check_stated(fmt, t.get("stated", {}), where)
    return fmt


def _built(where: str, cls: type, *fields: object) -> Any:
    """cls(*fields), its SpecError prefixed with the file and table it came from."""
    try:
        return cls(*fields)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None


_STATED_ELEMENT = {
    "emax": lambda f: Fraction(f.emax),
    "max_normal": lambda f: f.max_normal,
    "min_normal": lambda f: f.min_normal,
    "min_subnormal": lambda f: f.min_subnormal,
    "min_value": lambda f: f.min_value,
}


def _check_stated(fmt: ElementFormat, stated: dict, where: str) -> None:
    if not isinstance(stated, dict):
        raise SpecError(f"{where}: 'stated' must be a table")
    for key, value in stated.items():
        if key in ("nan_codes", "inf_codes"):
            if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
                raise SpecError(f"{where}: stated.{key} must be a list of integer codes")
            derived = getattr(fmt, key)
            if tuple(sorted(value)) != derived:
                raise SpecError(
                    f"{where}: stated.{key} = {[hex(v) for v in value]} but the layout gives "
                    f"{[hex(v) for v in derived]}"
                )
            continue
        if key not in _STATED_ELEMENT:
            raise SpecError(f"{where}: unknown stated constant '{key}'; accepted: "
                            f"{[*sorted(_STATED_ELEMENT), 'inf_codes', 'nan_codes']}")
        want = parse_value(value, f"{where}: stated.{key}")
        got = _STATED_ELEMENT[key](fmt)
        if want != got:
            raise SpecError(f"{where}: stated {key} = {want} but the bit layout gives {got}")


def _scale(name: str, t: dict, where: str) -> ScaleFormat:
    _check_keys(t, {"clause", "exponent_bits", "bias", "stated"}, where)
    fmt = _built(where, ScaleFormat, name, _require(t, "exponent_bits", int, where), _require(t, "bias", int, where),
                 _require(t, "clause", str, where))
    stated = t.get("stated", {})
    derived = {"min_value": Fraction(2) ** fmt.min_exponent, "max_value": Fraction(2) ** fmt.max_exponent}
    for key, value in stated.items():
        if key == "nan_code":
            if value != fmt.nan_code:
                raise SpecError(f"{where}: stated nan_code = {value} but the layout gives {fmt.nan_code}")
        elif key in derived:
            if parse_value(value, f"{where}: stated.{key}") != derived[key]:
                raise SpecError(f"{where}: stated {key} = {value} but the layout gives {derived[key]}")
        else:
            raise SpecError(f"{where}: unknown stated constant '{key}'; accepted: "
                            f"['max_value', 'min_value', 'nan_code']")
    return fmt


class Registry:
    """All known formats by name; built from TOML files, extendable by `register_formats`."""

    def __init__(self) -> None:
        self.elements: dict[str, ElementFormat] = {}
        self.scales: dict[str, ScaleFormat] = {}
        self.mx: dict[str, MXFormat] = {}

    def load(self, path: Path) -> list[str]:
        """Read one TOML file of `element`, `scale` and `mx` tables; returns the names it added."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SpecError(f"{path}: cannot read ({exc.strerror})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: not valid TOML ({exc})") from None
        _check_keys(data, {"element", "scale", "mx"}, str(path))
        new_elements: dict[str, ElementFormat] = {}
        new_scales: dict[str, ScaleFormat] = {}
        new_mx: dict[str, MXFormat] = {}
        for section in ("element", "scale", "mx"):
            if not isinstance(data.get(section, {}), dict):
                raise SpecError(f"{path}: [{section}] must be a table of named entries")
        for name, t in data.get("element", {}).items():
            new_elements[name] = _element(name, self._table(t, path, f"element.{name}"), f"{path}: element.{name}")
        for name, t in data.get("scale", {}).items():
            new_scales[name] = _scale(name, self._table(t, path, f"scale.{name}"), f"{path}: scale.{name}")
        elements = {**self.elements, **new_elements}
        scales = {**self.scales, **new_scales}
        for name, t in data.get("mx", {}).items():
            where = f"{path}: mx.{name}"
            t = self._table(t, path, f"mx.{name}")
            _check_keys(t, {"clause", "element", "scale", "block_size", "tensor_scale"}, where)
            elem = _require(t, "element", str, where)
            scale = _require(t, "scale", str, where)
            if elem not in elements:
                raise SpecError(f"{where}: element {elem!r} is not defined; known: {sorted(elements)}")
            if scale not in scales and scale not in elements:
                raise SpecError(f"{where}: scale {scale!r} is not defined; known: {sorted({**scales, **elements})}")
            new_mx[name] = _built(where, MXFormat, name, elements[elem], scales.get(scale) or elements[scale],
                                  _require(t, "block_size", int, where), t.get("tensor_scale", False),
                                  t.get("clause"))
            _require(t, "clause", str, where)  # after the layout, whose errors say more
        taken = set(self.elements) | set(self.scales) | set(self.mx) | set(ALIASES)
        added = [*new_elements, *new_scales, *new_mx]
        clash = sorted(set(added) & taken) or sorted(n for n in added if added.count(n) > 1)
        if clash:
            raise SpecError(f"{path}: format name(s) {clash} already defined")
        self.elements.update(new_elements)
        self.scales.update(new_scales)
        self.mx.update(new_mx)
        return added

    @staticmethod
    def _table(t: Any, path: Path, key: str) -> dict:
        if not isinstance(t, dict):
            raise SpecError(f"{path}: {key} must be a table")
        return t

    def get(self, name: str) -> Format:
        if isinstance(name, (ElementFormat, ScaleFormat, MXFormat)):
            return name
        if not isinstance(name, str):
            raise UnknownNameError(f"format must be a name (str), got {type(name).__name__}")
        key = ALIASES.get(name, name)
        for table in (self.mx, self.elements, self.scales):
            if key in table:
                return table[key]
        raise UnknownNameError(f"unknown format {name!r}; known formats: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [*self.mx, *self.elements, *self.scales]

    def unregister(self, names: list[str], protected: frozenset[str] = frozenset()) -> None:
        """Remove the named formats, all or none: never a protected one, nor one a remaining MX format uses."""
        unknown = sorted(n for n in names if n not in self.names())
        if unknown:
            raise UnknownNameError(f"format(s) {unknown} are not registered")
        if set(names) & protected:
            raise SpecError(f"format(s) {sorted(set(names) & protected)} are built in and cannot be removed")
        users = {f.name: {f.element.name, f.scale.name} for f in self.mx.values() if f.name not in names}
        needed = sorted(n for n in names if any(n in used for used in users.values()))
        if needed:
            raise SpecError(f"format(s) {needed} are used by MX format(s) "
                            f"{sorted(m for m, used in users.items() if used & set(needed))}; remove those too")
        for table in (self.mx, self.elements, self.scales):
            for n in names:
                table.pop(n, None)


REGISTRY = Registry()
REGISTRY.load(SPEC_DIR / "formats.toml")
BUILT_IN = frozenset(REGISTRY.names())


# The kinds `formats(kind=...)` answers: each a test on a format, named after the tables and fields of
# spec/formats.toml ([mx.*] with an exponent-only or an element-format scale, [element.*] of kind float or
# int, [scale.*]). docs/numerics.md ("Format kinds") lists them.
KINDS: dict[str, Callable[[Format], bool]] = {
    "block": lambda f: isinstance(f, MXFormat),
    "mx": lambda f: isinstance(f, MXFormat) and not f.two_level,
    "two_level": lambda f: isinstance(f, MXFormat) and f.two_level,
    "element": lambda f: isinstance(f, ElementFormat),
    "float": lambda f: isinstance(f, ElementFormat) and f.kind == "float",
    "int": lambda f: isinstance(f, ElementFormat) and f.kind == "int",
    "scale": lambda f: isinstance(f, ScaleFormat),
}


def formats(kind: str | None = None) -> list[str]:
    """Names of the registered formats of one kind (all when `kind` is None), in registry order: block
    formats, then element formats, then scales.

    Kinds: "block" every block format; "mx" the block formats with an exponent-only (E8M0-like) scale,
    MX v1.0's shape; "two_level" those whose block scale is an element format, with an optional
    per-tensor scale (NVFP4-like); "element" every element format; "float" and "int" the element
    formats of that kind; "scale" the exponent-only scale formats. Raises `UnknownNameError` for
    another kind.

    >>> formats(kind="two_level"), formats(kind="scale")
    (['nvfp4'], ['e8m0'])
    >>> "mxfp4_e2m1" in formats(kind="mx") and "fp8_e4m3" in formats(kind="float")
    True
    """
    if kind is None:
        return REGISTRY.names()
    if not isinstance(kind, str) or kind not in KINDS:
        raise UnknownNameError(f"unknown format kind {kind!r}; accepted: {', '.join(KINDS)} (or None: all)")
    return [n for n in REGISTRY.names() if KINDS[kind](REGISTRY.get(n))]


def get_format(name: str | Format) -> Format:
    """The format called `name` (or an alias such as "mxfp4"); raises `UnknownNameError`.

    >>> get_format("fp4_e2m1").max_normal
    Fraction(6, 1)
    """
    return REGISTRY.get(name)


def register_formats(path: str | Path) -> list[str]:
    """Add the formats of a user's TOML file (same schema as spec/formats.toml); returns their names.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.toml"
    >>> _ = path.write_text('''
    ... [element.int4_doc]
    ... clause = "example"
    ... kind = "int"
    ... bits = 4
    ... fraction_bits = 2
    ... [mx.mxint4_doc]
    ... clause = "example"
    ... element = "int4_doc"
    ... scale = "e8m0"
    ... block_size = 16
    ... ''')
    >>> register_formats(path)
    ['int4_doc', 'mxint4_doc']
    >>> get_format("mxint4_doc").block_size
    16
    """
    return REGISTRY.load(Path(path))


def unregister_formats(names: str | list[str]) -> None:
    """Remove formats added by `register_formats` (all or none); built-in formats stay.

    An element or scale format that a remaining MX format uses cannot be removed alone.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tmp.toml"
    >>> _ = path.write_text('[scale.e5m0_doc]\\nclause = "example"\\nexponent_bits = 5\\nbias = 15\\n')
    >>> register_formats(path)
    ['e5m0_doc']
    >>> unregister_formats("e5m0_doc")
    >>> "e5m0_doc" in formats()
    False
    """
    names = [names] if isinstance(names, str) else list(names)
    if not all(isinstance(n, str) for n in names):
        raise UnknownNameError(f"format names must be str, got {names!r}")
    REGISTRY.unregister(names, BUILT_IN)
