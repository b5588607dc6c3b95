"""Format data and policies: derived constants, refused files, custom formats, typed errors."""

from fractions import Fraction

import numpy as np
import pytest

import mxemu as mx
from mxemu.spec import Registry, parse_value

ELEMENT = """
[element.{name}]
clause = "test"
kind = "float"
exponent_bits = {e}
mantissa_bits = {m}
bias = {bias}
specials = "{specials}"
stated = {{ max_normal = "{max_normal}" }}
"""


def _write(tmp_path, text, name="custom.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("name", "max_normal", "min_subnormal", "emax"), [
    ("fp8_e4m3", 448, Fraction(1, 512), 8), ("fp8_e5m2", 57344, Fraction(1, 65536), 15),
    ("fp6_e3m2", 28, Fraction(1, 16), 4), ("fp6_e2m3", Fraction(15, 2), Fraction(1, 8), 2),
    ("fp4_e2m1", 6, Fraction(1, 2), 2), ("int8", Fraction(127, 64), Fraction(1, 64), 0),
])
@pytest.mark.clause("5.3.1", "5.3.2", "5.3.3", "5.3.4")
def test_derived_constants_equal_the_spec_tables(name, max_normal, min_subnormal, emax):
    # Values of MX v1.0 §5.3 / OFP8 as tabulated in NUMERICS.md, independent of the TOML file.
    f = mx.get_format(name)
    assert (f.max_normal, f.min_subnormal, f.emax) == (max_normal, min_subnormal, emax)


def test_a_stated_constant_that_contradicts_the_layout_is_refused(tmp_path):
    path = _write(tmp_path, ELEMENT.format(name="bad", e=4, m=3, bias=7, specials="nan_only", max_normal="480"))
    with pytest.raises(mx.SpecError, match=r"custom.toml: element.bad: stated max_normal = 480 .* gives 448"):
        Registry().load(path)


@pytest.mark.parametrize(("text", "message"), [
    ("[element.x]\nkind = 'float'\n", "missing key 'clause'"),
    ("[element.x]\nclause='c'\nkind='posit'\n", "kind = 'posit'; accepted"),
    ("[element.x]\nclause='c'\nkind='float'\nexponent_bits=4\nmantissa_bits=3\nbias=7\nspecials='odd'\n",
     "specials = 'odd'; accepted"),
    ("[element.x]\nclause='c'\nkind='int'\nbits=8\nfraction_bits=6\ncolor=1\n", "unknown key"),
    ("[mx.y]\nclause='c'\nelement='nope'\nscale='e8m0'\nblock_size=32\n", "element 'nope' is not defined"),
    ("not toml = = =", "not valid TOML"),
    ("[widget]\n", "unknown key"),
])
def test_malformed_files_name_the_file_the_key_and_what_is_accepted(tmp_path, text, message):
    with pytest.raises(mx.SpecError, match=message) as err:
        Registry().load(_write(tmp_path, text))
    assert "custom.toml" in str(err.value)


def test_a_custom_format_registers_and_encodes(tmp_path):
    text = ELEMENT.format(name="fp8_e3m4_test", e=3, m=4, bias=3, specials="none", max_normal="31") + """
[mx.mxfp8_e3m4_test]
clause = "test"
element = "fp8_e3m4_test"
scale = "e8m0"
block_size = 32
"""
    names = mx.register_formats(_write(tmp_path, text))
    try:
        assert names == ["fp8_e3m4_test", "mxfp8_e3m4_test"]
        # E3M4, bias 3: 1.0625 = 0 011 0001 = 0x31; 31 = 1.9375 * 2^4 is max normal = 0x7F.
        assert mx.encode(np.array([1.0625, 100.0], np.float32), "fp8_e3m4_test").tolist() == [0x31, 0x7F]
        with pytest.raises(mx.SpecError, match="already defined"):
            mx.register_formats(_write(tmp_path, text, "again.toml"))
    finally:
        mx.unregister_formats(names)  # no format outlives its test (the generated format pages list them all)


@pytest.mark.parametrize(("text", "value"), [("448", 448), ("127/64", Fraction(127, 64)), ("2^-6", Fraction(1, 64)),
                                             ("1.75*2^8", 448), ("-2", -2)])
def test_stated_values_parse_exactly(text, value):
    assert parse_value(text, "here") == value


def test_policy_fields_are_validated_with_the_accepted_values():
    with pytest.raises(mx.PolicyError, match="rounding = 'nearest'; accepted: rne, rna"):
        mx.Policy(rounding="nearest")
    with pytest.raises(mx.PolicyError, match=r"sr_bits = 0; accepted: an integer in \[1, 32\]"):
        mx.Policy(sr_bits=0)
    with pytest.raises(mx.PolicyError, match="unknown Policy field"):
        mx.get_policy("ocp").replace(rounding_mode="rne")
    with pytest.raises(mx.UnknownNameError, match="presets: ocp, torchao"):
        mx.get_policy("tensorflow")


def test_preset_replace_keeps_the_rest_and_names_itself_custom():
    p = mx.get_policy("torchao_rceil").replace(rounding="rtz")
    assert (p.rounding, p.scale_rule, p.name) == ("rtz", "rceil", "custom")
    assert mx.Policy.from_dict(p.as_dict()) == p


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: mx.encode([1.0], "fp4_e2m1"), mx.InputError, "must be a numpy array"),
    (lambda: mx.encode(np.array([1], np.int32), "fp4_e2m1"), mx.InputError, "dtype int32"),
    (lambda: mx.encode(np.array([1j]), "fp4_e2m1"), mx.InputError, "accepted: float16"),
    (lambda: mx.encode(np.ones(2, np.float32), "fp5"), mx.UnknownNameError, "unknown format 'fp5'"),
    (lambda: mx.encode(np.ones(2, np.float32), "mxfp4_e2m1"), mx.InputError, "not an element format"),
    (lambda: mx.encode(np.ones(2, np.float32), "fp4_e2m1", policy="ocp", random_bits=np.zeros(2, np.uint32)),
     mx.PolicyError, "random_bits given"),
    (lambda: mx.encode(np.ones(2, np.float32), "fp4_e2m1", policy=mx.Policy(rounding="stochastic"),
                       random_bits=np.zeros(3, np.uint32)), mx.InputError, "must match the input's shape"),
    (lambda: mx.encode(np.ones(2, np.float32), "fp4_e2m1", policy=mx.Policy(rounding="stochastic", sr_bits=4),
                       random_bits=np.full(2, 16, np.uint32)), mx.InputError, r"\[0, 2\^4\)"),
    (lambda: mx.encode(np.array([np.nan], np.float32), "fp4_e2m1", policy=mx.Policy(nan_to_nonan="error")),
     mx.InputError, "has no NaN encoding"),
    (lambda: mx.decode(np.array([16], np.uint8), "fp4_e2m1"), mx.InputError, r"lie in \[0, 16\)"),
    (lambda: mx.decode(np.array([1], np.uint8), "fp4_e2m1", dtype=np.int8), mx.InputError, "dtype"),
    (lambda: mx.quantize(np.ones((2, 32), np.float32), "mxfp4", axis=2), mx.InputError, "out of range"),
    (lambda: mx.quantize(np.float32(1.0), "mxfp4"), mx.InputError, "0-d"),
    (lambda: mx.quantize(np.ones(0, np.float32), "mxfp4"), mx.InputError, "empty"),
    (lambda: mx.quantize(np.ones(32, np.float32), "fp4_e2m1"), mx.InputError, "not an MX block format"),
    (lambda: mx.quantize(np.ones(32, np.float32), "mxfp4", tensor_scale=2.0), mx.InputError, "no per-tensor"),
    (lambda: mx.quantize(np.ones(32, np.float32), "nvfp4", tensor_scale=-1.0), mx.InputError, "positive"),
    (lambda: mx.encode(np.ones(2, np.float32), "fp4_e2m1", scale_exp=1000), mx.InputError, "scale_exp"),
])
def test_bad_arguments_raise_typed_errors_naming_the_problem(call, error, message):
    with pytest.raises(error, match=message):
        call()
    assert issubclass(error, mx.MXError)


def test_nan_to_nonan_error_under_a_nan_scale_policy_is_not_needed():
    # Under nan_scale the NaN lane never reaches the element encoder: the block scale is NaN.
    q = mx.quantize(np.array([np.nan] + [1.0] * 31, np.float32), "mxfp4", policy=mx.Policy(nan_to_nonan="error"))
    assert q.scales.tolist() == [255]


def test_zero_dimensional_inputs_keep_their_shape():
    code = mx.encode(np.float32(3.0), "fp4_e2m1")
    assert code.shape == () and int(code) == 0x5
    assert mx.decode(np.uint8(7), "fp4_e2m1").shape == ()


def test_the_default_policy_is_the_ocp_preset():
    assert mx.Policy() == mx.get_policy("ocp")
