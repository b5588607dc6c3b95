"""The numpy and the Triton front ends refuse the same bad arguments with the same typed error and message.

Each case is one bad argument given to both: `mxemu.quantize` / `mxemu.fake_quantize` on a numpy array
and `mxemu.cuda.quantize` / `mxemu.cuda.fake_quantize` on the torch tensor of the same values (CPU under
TRITON_INTERPRET=1, which tests/conftest.py sets), and `mxemu.array.unpack_array` beside
`mxemu.cuda.dequantize_packed` for the arguments of a packed array.
"""

from __future__ import annotations

import needs
import numpy as np
import pytest

torch = needs.module("torch", 'python -m pip install -e ".[cuda]" (the Triton front end takes torch tensors)')
needs.module("triton", needs.INSTALL_TRITON)  # absent: skipped with the install command (CI: a failure)

import mxemu as mx  # noqa: E402
from mxemu import cuda  # noqa: E402
from mxemu.array import unpack_array  # noqa: E402
from mxemu.cuda import api  # noqa: E402
from mxemu.errors import InputError, MXError, PolicyError, UnknownNameError  # noqa: E402

X = np.linspace(-3.0, 3.0, 64, dtype=np.float32).reshape(2, 32)
SR = mx.get_policy("ocp").replace(rounding="stochastic")
NAN_ERROR = mx.get_policy("ocp").replace(nonfinite="finite_amax", nan_to_nonan="error")
X_NAN = X.copy()
X_NAN[0, 3] = np.nan

# name -> (keyword arguments of quantize beyond x, x or None for X, the error both must raise)
QUANTIZE_CASES = {
    "element format": (dict(fmt="fp8_e4m3"), None, InputError),
    "unknown format": (dict(fmt="mxfp3"), None, UnknownNameError),
    "format not a string": (dict(fmt=3), None, UnknownNameError),
    "axis out of range": (dict(fmt="mxint8", axis=2), None, InputError),
    "axis a bool": (dict(fmt="mxint8", axis=True), None, InputError),
    "axis twice": (dict(fmt="mxint8", axis=(0, 0)), None, InputError),
    "unknown policy": (dict(fmt="mxint8", policy="nope"), None, UnknownNameError),
    "seed negative": (dict(fmt="mxint8", policy=SR, seed=-1), None, InputError),
    "seed 2^64": (dict(fmt="mxint8", policy=SR, seed=1 << 64), None, InputError),
    "seed a bool": (dict(fmt="mxint8", policy=SR, seed=True), None, InputError),
    "seed a float": (dict(fmt="mxint8", policy=SR, seed=1.5), None, InputError),
    "random bits without stochastic rounding": (dict(fmt="mxint8", random_bits=np.zeros((2, 32), np.int64)),
                                                None, PolicyError),
    "random bits of float dtype": (dict(fmt="mxint8", policy=SR, random_bits=np.zeros((2, 32), np.float32)),
                                   None, InputError),
    "random bits of another shape": (dict(fmt="mxint8", policy=SR, random_bits=np.zeros((64,), np.int64)),
                                     None, InputError),
    "random bits beyond sr_bits": (dict(fmt="mxint8", policy=SR,
                                        random_bits=np.full((2, 32), 1 << SR.sr_bits, np.int64)), None, InputError),
    "random bits negative": (dict(fmt="mxint8", policy=SR, random_bits=np.full((2, 32), -1, np.int64)),
                             None, InputError),
    "empty input": (dict(fmt="mxint8"), X[:, :0], InputError),
    "NaN into a format without NaN": (dict(fmt="mxfp6_e2m3", policy=NAN_ERROR), X_NAN, InputError),
}


def _torch_args(kwargs: dict) -> dict:
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


def _refusal(call) -> tuple[type, str]:
    with pytest.raises(MXError) as caught:
        call()
    return type(caught.value), str(caught.value)


@pytest.mark.parametrize("fn", ["quantize", "fake_quantize"])
@pytest.mark.parametrize("case", QUANTIZE_CASES)
def test_both_front_ends_refuse_a_bad_argument_with_the_same_error_and_message(case: str, fn: str) -> None:
    kwargs, x, error = QUANTIZE_CASES[case]
    x = X if x is None else x
    numpy_error = _refusal(lambda: getattr(mx, fn)(x, **kwargs))
    torch_error = _refusal(lambda: getattr(cuda, fn)(torch.from_numpy(x.copy()), **_torch_args(kwargs)))
    assert numpy_error[0] is error, numpy_error
    assert torch_error == numpy_error


# name -> (keyword arguments of unpack_array / dequantize_packed beyond the packed bytes, the error)
UNPACK_CASES = {
    "shape not a tuple": (dict(shape=64), InputError),
    "shape with a negative size": (dict(shape=(2, -32)), InputError),
    "shape with a bool": (dict(shape=(True, 32)), InputError),
    "shape with a float": (dict(shape=(2.0, 32)), InputError),
    "unknown layout": (dict(layout="nibbles"), InputError),
    "layout of another width": (dict(layout="fp6_4in3"), InputError),
    "unknown scale layout": (dict(scale_layout="inline"), InputError),
    "element format": (dict(fmt="fp4_e2m1"), InputError),
    "axis out of range": (dict(axis=3), InputError),
}


@pytest.mark.parametrize("case", UNPACK_CASES)
def test_both_front_ends_refuse_bad_arguments_of_a_packed_array_alike(case: str) -> None:
    args = dict(fmt="mxfp4_e2m1", shape=(2, 32), axis=-1, layout="nibble_lo_first", scale_layout="separate")
    kwargs, error = UNPACK_CASES[case]
    args.update(kwargs)
    q = mx.quantize(X, "mxfp4_e2m1")
    packed = q.pack("nibble_lo_first")
    numpy_error = _refusal(lambda: unpack_array(packed, args["fmt"], args["shape"], args["axis"], None,
                                                args["layout"], args["scale_layout"]))
    tensors = tuple(torch.from_numpy(p) for p in packed)
    torch_error = _refusal(lambda: cuda.dequantize_packed(tensors, args["fmt"], args["shape"], args["axis"],
                                                          layout=args["layout"], scale_layout=args["scale_layout"]))
    assert numpy_error[0] is error, numpy_error
    assert torch_error == numpy_error


def test_the_comparison_catches_the_former_triton_wording_of_an_empty_input(monkeypatch) -> None:
    # mutation check: the Triton front end's own check as it was before the shared one
    def former(x: object, what: str = "x") -> object:
        if x.numel() == 0:
            raise InputError(f"cannot quantize an empty tensor (shape {tuple(x.shape)})")
        return x.contiguous()

    monkeypatch.setattr(api, "_check_input", former)
    empty = X[:, :0]
    assert _refusal(lambda: cuda.quantize(torch.from_numpy(empty.copy()), "mxint8")) != \
        _refusal(lambda: mx.quantize(empty, "mxint8"))


def test_the_triton_front_end_covers_every_one_level_e8m0_format() -> None:
    assert api.triton_formats() == mx.formats(kind="mx")
    assert all(mx.get_format(n).scale.name == "e8m0" for n in api.triton_formats())
