"""The exact-rational oracle refuses bad arguments with typed mxemu errors that say what is accepted."""

from fractions import Fraction

import numpy as np
import pytest

from mxemu import oracle
from mxemu.errors import InputError, MXError, PolicyError, UnknownNameError
from mxemu.policy import get_policy

OCP = get_policy("ocp")
SR = OCP.replace(rounding="stochastic")


@pytest.mark.parametrize(("call", "error"), [
    (lambda: oracle.decode_value(0x100, "fp8_e4m3"), InputError),
    (lambda: oracle.decode_value(0, "mxfp8_e4m3"), InputError),
    (lambda: oracle.encode_value(1.25, "fp4_e2m1", 0, SR), InputError),
    (lambda: oracle.encode_value(1.25, "fp4_e2m1", 0, SR, rnd=1 << 40), InputError),
    (lambda: oracle.random_int(0, 0, 33), InputError),
    (lambda: oracle.random_ints(0, [0], 0), InputError),
    (lambda: oracle.encode_array(np.array([1], np.int32), "fp8_e4m3"), InputError),
    (lambda: oracle.encode_array(np.full(4, 1.0625, np.float32), "fp4_e2m1", 0, SR), InputError),
    (lambda: oracle.decode_array(np.array([1.0]), "fp8_e4m3"), InputError),
    (lambda: oracle.decode_array(np.array([300]), "fp8_e4m3"), InputError),
    (lambda: oracle.quantize_block(np.ones(33, np.float32), "mxfp8_e4m3"), InputError),
    (lambda: oracle.quantize_block(np.ones(4, np.float32), "fp8_e4m3"), InputError),
    (lambda: oracle.quantize_block(np.array([6.0, 1.25], np.float32), "mxfp4_e2m1", SR), InputError),
    (lambda: oracle.dequantize_block([0], 256, "mxfp8_e4m3"), InputError),
    (lambda: oracle.round_to_integer(Fraction(1, 3), "up"), UnknownNameError),
    (lambda: oracle.round_to_integer(Fraction(2), "up"), UnknownNameError),  # even where v is whole
    (lambda: oracle.round_to_integer(float("nan"), "rne"), InputError),
    (lambda: oracle.nearest_float32("1"), InputError),
    (lambda: oracle.decode_value("7", "fp8_e4m3"), InputError),
    (lambda: oracle.decode_value(7.0, "fp8_e4m3"), InputError),
    (lambda: oracle.encode_value("1.5", "fp8_e4m3"), InputError),
    (lambda: oracle.quantize_block(["1.5"], "mxfp8_e4m3"), InputError),
    (lambda: oracle.quantize_block(np.array([2**60 + 1]), "mxfp8_e4m3"), InputError),  # float64 rounds it
    (lambda: oracle.scale_code([object()], "mxfp8_e4m3"), InputError),
    (lambda: oracle.mx_dot([0] * 32, [127], [0] * 31, [127], "mxfp8_e4m3"), InputError),
    (lambda: oracle.mx_dot([0] * 32, [127, 127], [0] * 32, [127, 127], "mxfp8_e4m3"), InputError),
    (lambda: oracle.mx_dot([0] * 32, [127], [0] * 32, [256], "mxfp8_e4m3"), InputError),
    (lambda: oracle.mx_dot([0] * 32, [127], [0] * 32, [127], "mxfp8_e4m3", models={"r": "sideways"}),
     UnknownNameError),
    (lambda: oracle.mx_dot([0] * 32, [127], [0] * 32, [127], "mxfp8_e4m3", models={"r": 3}), UnknownNameError),
    (lambda: oracle.block_sum([0] * 32, [0] * 31, "mxfp8_e4m3"), InputError),
    (lambda: oracle.block_sum([0] * 33, [0] * 33, "mxfp8_e4m3"), InputError),
    (lambda: oracle.convert_block([0] * 32, 127, "mxfp8_e4m3", "mxfp4_e2m1", "slice"), UnknownNameError),
    (lambda: oracle.pack_block([0] * 32, 127, 4, "nibbles"), UnknownNameError),
    (lambda: oracle.pack_block([0] * 32, 127, 4, "byte", "inline"), UnknownNameError),
    (lambda: oracle.pack_block([0] * 32, 127, 6, "nibble_lo_first"), InputError),
    (lambda: oracle.pack_block([16] * 32, 127, 4, "byte"), InputError),
    (lambda: oracle.pack_block([0] * 32, 256, 4, "byte", "interleaved"), InputError),
    (lambda: oracle.pack_block([1, 2, 3], 7, 4, "nibble_lo_first", "interleaved"), InputError),
])
def test_bad_arguments_raise_typed_errors_naming_what_is_accepted(call, error):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, MXError)
    assert "accepted" in str(info.value) or "must" in str(info.value) or "needs" in str(info.value)


def test_an_unknown_rounding_in_the_policy_is_a_policy_error():
    bad = object.__new__(type(OCP))
    object.__setattr__(bad, "__dict__", dict(OCP.__dict__, rounding="sideways"))
    with pytest.raises(PolicyError, match="accepted"):
        oracle.encode_value(1.25, "fp4_e2m1", 0, bad)
