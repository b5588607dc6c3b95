"""mxemu.formats(kind=...): each kind is the set of formats spec/formats.toml files under it, read here
straight from the TOML tables; registered formats join their kinds and leave them when removed."""

from __future__ import annotations

from pathlib import Path

import pytest

import mxemu as mx
from mxemu._compat import tomllib  # tomllib, or tomli before Python 3.11
from mxemu.errors import UnknownNameError

SPEC = tomllib.loads((Path(__file__).resolve().parents[1] / "spec" / "formats.toml").read_text(encoding="utf-8"))


def _from_toml(kind: str) -> list[str]:
    """The built-in formats of `kind`, from the TOML text alone: the [mx.*] entries split by whether their
    scale names a [scale.*] or an [element.*] entry, the [element.*] entries by their `kind` key."""
    mx_tables, elements, scales = SPEC["mx"], SPEC["element"], SPEC["scale"]
    return {
        "block": list(mx_tables),
        "mx": [n for n, t in mx_tables.items() if t["scale"] in scales],
        "two_level": [n for n, t in mx_tables.items() if t["scale"] in elements],
        "element": list(elements),
        "float": [n for n, t in elements.items() if t["kind"] == "float"],
        "int": [n for n, t in elements.items() if t["kind"] == "int"],
        "scale": list(scales),
    }[kind]


KINDS = ("block", "mx", "two_level", "element", "float", "int", "scale")


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_the_formats_the_spec_file_files_under_it(kind: str) -> None:
    assert mx.formats(kind=kind) == _from_toml(kind)


def test_the_kinds_partition_the_registry() -> None:
    assert mx.formats(kind=None) == mx.formats() == mx.formats(kind="block") + mx.formats(kind="element") + \
        mx.formats(kind="scale")
    assert sorted(mx.formats(kind="block")) == sorted(mx.formats(kind="mx") + mx.formats(kind="two_level"))
    assert sorted(mx.formats(kind="element")) == sorted(mx.formats(kind="float") + mx.formats(kind="int"))
    assert set(mx.spec.KINDS) == set(KINDS)


def test_the_two_level_kind_is_what_the_copied_exclusion_left_out() -> None:
    # the lists tests used to build by hand
    assert mx.formats(kind="mx") == [n for n in mx.formats()
                                     if isinstance(mx.get_format(n), mx.MXFormat) and n != "nvfp4"]
    assert mx.formats(kind="two_level") == ["nvfp4"]


@pytest.mark.parametrize("kind", ["MX", "nvfp4-like", "", 3, ("mx",), ["mx"]])
def test_an_unknown_kind_is_refused_with_the_accepted_ones(kind: object) -> None:
    with pytest.raises(UnknownNameError, match=r"unknown format kind .*accepted: block, mx, two_level, element, "
                                               r"float, int, scale"):
        mx.formats(kind=kind)


def test_registered_formats_join_their_kinds_and_leave_them(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[element.int4_k]\nclause = "test"\nkind = "int"\nbits = 4\nfraction_bits = 2\n'
                    '[scale.e5m0_k]\nclause = "test"\nexponent_bits = 5\nbias = 15\n'
                    '[mx.mxint4_k]\nclause = "test"\nelement = "int4_k"\nscale = "e5m0_k"\nblock_size = 16\n'
                    '[mx.nvint4_k]\nclause = "test"\nelement = "int4_k"\nscale = "fp8_e4m3"\nblock_size = 16\n'
                    'tensor_scale = true\n')
    mx.register_formats(path)
    try:
        assert "mxint4_k" in mx.formats(kind="mx") and "mxint4_k" not in mx.formats(kind="two_level")
        assert "nvint4_k" in mx.formats(kind="two_level") and "nvint4_k" not in mx.formats(kind="mx")
        assert "int4_k" in mx.formats(kind="int") and "int4_k" not in mx.formats(kind="float")
        assert "e5m0_k" in mx.formats(kind="scale")
    finally:
        mx.unregister_formats(["mxint4_k", "nvint4_k", "int4_k", "e5m0_k"])
    assert not {"mxint4_k", "nvint4_k", "int4_k", "e5m0_k"} & set(mx.formats())
