"""Every public entry point, fed hostile arguments, gives the correct result or a typed MXError saying what is accepted.

Two tables: ERRORS (call, expected MXError subclass, a fragment of the message naming what is accepted)
and SAME (a hostile but valid input whose result must equal that of a plain input: read-only,
non-contiguous, big-endian, list-typed). NaN/Inf inputs are compared with the exact-rational oracle.
Index arithmetic is held 64-bit by the types numba infers for every array index in the kernels, and by a
>2^31-element run marked slow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    # Must precede the first import of the Triton kernels: Triton picks its interpreter at decoration time.
    os.environ["TRITON_INTERPRET"] = "1"

import mxemu as mx
from mxemu import cuda, oracle
from mxemu.errors import FileFormatError, InputError, MXError, PolicyError, SpecError, UnknownNameError
from mxemu.kernels.abi import format_params, policy_params
from mxemu.packing import pack_codes, pack_mx, unpack_codes, unpack_mx
from mxemu.torch import functional as tf
from mxemu.torch import nn as tnn
from mxemu.torch import qat

X = np.linspace(-3.0, 3.0, 64, dtype=np.float32)
Q = mx.quantize(X, "mxfp8_e4m3")
SR = mx.Policy(rounding="stochastic")
T = torch.tensor(X)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # CPU: the Triton interpreter
TC = T.to(DEVICE)
U8 = torch.zeros(64, dtype=torch.uint8, device=DEVICE)


@dataclass(frozen=True)
class Bad:
    """One hostile call: it must raise `error` with `fragment` in the message."""

    name: str
    call: Callable[[], Any]
    error: type[MXError]
    fragment: str


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def errors(tmp: Path) -> list[Bad]:
    """The table of hostile calls (tmp: a directory for the file cases)."""
    fq, qz, enc, dec = mx.fake_quantize, mx.quantize, mx.encode, mx.decode
    accepted = "accepted: float16, bfloat16"
    return [
        # wrong types
        Bad("quantize of a list", lambda: qz([1.0] * 32, "mxfp8_e4m3"), InputError, "must be a numpy array"),
        Bad("fake_quantize of a tensor", lambda: fq(T, "mxfp8_e4m3"), InputError, "must be a numpy array"),
        Bad("encode of a float", lambda: enc(1.5, "fp8_e4m3"), InputError, "must be a numpy array"),
        Bad("decode of a list", lambda: dec([1, 2], "fp8_e4m3"), InputError, "integer numpy array"),
        Bad("format as an int", lambda: qz(X, 5), MXError, "format"),
        Bad("unknown format name", lambda: qz(X, "mxfp3"), UnknownNameError, "known formats"),
        Bad("element format where an MX format is needed", lambda: qz(X, "fp8_e4m3"), InputError,
            "MX formats:"),
        Bad("MX format where an element format is needed", lambda: enc(X, "mxfp8_e4m3"), InputError,
            "element formats:"),
        Bad("policy as an int", lambda: qz(X, "mxint8", policy=3), MXError, "policy"),
        Bad("unknown policy preset", lambda: qz(X, "mxint8", policy="nope"), UnknownNameError, "nope"),
        Bad("policy field out of its set", lambda: mx.Policy(rounding="up"), PolicyError, "rne"),
        Bad("axis as a float", lambda: qz(X, "mxint8", axis=0.0), InputError, "an int or a tuple of two ints"),
        Bad("axis as a bool", lambda: qz(X, "mxint8", axis=True), InputError, "an int or a tuple of two ints"),
        Bad("three axes", lambda: qz(X.reshape(4, 4, 4), "mxint8", axis=(0, 1, 2)), InputError, "two ints"),
        Bad("the same axis twice", lambda: qz(X.reshape(8, 8), "mxint8", axis=(0, -2)), InputError, "twice"),
        Bad("seed as a float", lambda: fq(X, "mxint8", policy=SR, seed=1.5), InputError, "integer in [0, 2^64)"),
        Bad("negative seed", lambda: fq(X, "mxint8", policy=SR, seed=-1), InputError, "integer in [0, 2^64)"),
        Bad("tensor_scale on an E8M0 format", lambda: qz(X, "mxint8", tensor_scale=2.0), InputError, "NVFP4"),
        Bad("tensor_scale negative", lambda: qz(X, "nvfp4", tensor_scale=-1.0), InputError, "positive"),
        Bad("tensor_scale NaN", lambda: qz(X, "nvfp4", tensor_scale=float("nan")), InputError, "positive"),
        Bad("dequantize of an ndarray", lambda: mx.dequantize(X), InputError, "takes an MXArray"),
        Bad("convert of an ndarray", lambda: mx.convert(X, "mxint4"), MXError, "MXArray"),
        Bad("convert to an element format", lambda: mx.convert(Q, "fp8_e4m3"), InputError, "MX block format"),
        Bad("unknown convert method", lambda: mx.convert(Q, "mxfp4_e2m1", method="x"), MXError, "slice_and_scale"),
        Bad("dot of ndarrays", lambda: mx.dot(X, X), InputError, "must be an MXArray"),
        Bad("dot of different lengths", lambda: mx.dot(Q, mx.quantize(X[:32], "mxfp8_e4m3")), InputError, "32"),
        Bad("unknown accumulation", lambda: mx.dot(Q, Q, accumulation="x"), UnknownNameError, "accepted"),
        Bad("matmul of 1-D arrays", lambda: mx.matmul(Q, Q), InputError, "2-D"),
        Bad("save of an ndarray", lambda: mx.save(X, tmp / "a.npz"), InputError, "expected an MXArray"),
        Bad("save to an unknown suffix", lambda: mx.save(Q, tmp / "a.txt"), InputError, ".npz, .safetensors"),
        Bad("load of a missing file", lambda: mx.load(tmp / "missing.npz"), FileFormatError, "cannot read"),
        Bad("load of garbage", lambda: mx.load(_write(tmp, "g.npz", b"PK\x03\x04junk")), FileFormatError,
            "cannot read"),
        Bad("register a missing TOML", lambda: mx.register_formats(tmp / "none.toml"), SpecError, "cannot read"),
        # wrong dtypes
        *[Bad(f"quantize of {dt}", lambda dt=dt: qz(np.ones(32, dt), "mxfp8_e4m3"), InputError, accepted)
          for dt in ("int32", "uint8", "complex64", "object", "bool", "float128", "U3")],
        *[Bad(f"encode of {dt}", lambda dt=dt: enc(np.ones(4, dt), "fp8_e4m3"), InputError, accepted)
          for dt in ("int64", "complex128", "object", "bool")],
        *[Bad(f"decode of {dt}", lambda dt=dt: dec(np.ones(4, dt), "fp8_e4m3"), InputError, "integer numpy array")
          for dt in ("float32", "complex64", "object", "bool")],
        Bad("decode codes out of range", lambda: dec(np.array([300]), "fp8_e4m3"), InputError, "[0, 256)"),
        Bad("decode negative codes", lambda: dec(np.array([-1]), "fp4_e2m1"), InputError, "[0, 16)"),
        Bad("decode into int32", lambda: dec(np.zeros(2, np.uint8), "fp8_e4m3", dtype=np.int32), InputError,
            "accepted: float32"),
        Bad("dequantize into complex", lambda: Q.dequantize(np.complex64), InputError, "accepted: float32"),
        Bad("dequantize into a non-dtype", lambda: Q.dequantize("nope"), InputError, "accepted: float32"),
        Bad("scale_exp as a float", lambda: enc(X, "fp8_e4m3", scale_exp=1.5), InputError, "integer"),
        Bad("scale_exp out of range", lambda: enc(X, "fp8_e4m3", scale_exp=10**6), InputError, "[-512, 512]"),
        Bad("scale_exp of another shape", lambda: enc(X, "fp8_e4m3", scale_exp=np.zeros(3, np.int64)), InputError,
            "does not broadcast"),
        # empty and 0-d
        Bad("quantize of an empty array", lambda: qz(np.ones(0, np.float32), "mxint8"), InputError, "empty"),
        Bad("fake_quantize of (3, 0)", lambda: fq(np.ones((3, 0), np.float32), "mxint8", axis=0), InputError,
            "empty"),
        Bad("nvfp4 of an empty array", lambda: qz(np.ones(0, np.float32), "nvfp4"), InputError, "empty"),
        Bad("quantize of a 0-d array", lambda: qz(np.float32(1.0), "mxint8"), InputError, "0-d"),
        Bad("quantize of a 0-d ndarray", lambda: qz(np.array(1.0), "mxint8"), InputError, "0-d"),
        # axis out of range
        Bad("axis 1 of a 1-D array", lambda: qz(X, "mxint8", axis=1), InputError, "out of range"),
        Bad("axis -3 of a 2-D array", lambda: fq(X.reshape(8, 8), "mxint8", axis=-3), InputError, "out of range"),
        Bad("nvfp4 axis out of range", lambda: qz(X, "nvfp4", axis=2), InputError, "out of range"),
        Bad("torch axis out of range", lambda: tf.fake_quantize(T, "mxint8", axis=4), InputError, "out of range"),
        # non-positive block sizes and counts
        *[Bad(f"pack_mx block_size {k}", lambda k=k: pack_mx(np.zeros(4, np.uint8), np.zeros(1, np.uint8), k, 4),
              InputError, "positive integer") for k in (0, -32, 2.0, True)],
        *[Bad(f"unpack_mx block_size {k}", lambda k=k: unpack_mx(b"", 1, k, 4, "byte", "interleaved"),
              InputError, "positive integer") for k in (0, -1)],
        Bad("accumulator_bits block_size 0", lambda: mx.accumulator_bits("fp8_e4m3", "fp8_e4m3", 0), InputError,
            "positive integer"),
        Bad("truncated group 0", lambda: mx.truncated(0, 5), InputError, "group >= 1"),
        Bad("truncated negative frac_bits", lambda: mx.truncated(32, -1), InputError, "frac_bits >= 0"),
        Bad("unpack_codes negative count", lambda: unpack_codes(b"", 4, -1, "bitstream_le"), InputError, "count"),
        Bad("pack_codes 0 bits", lambda: pack_codes(np.zeros(3, np.uint8), 0, "bitstream_le"), InputError, "bits"),
        Bad("unpack a negative shape", lambda: mx.MXArray.unpack(b"", "mxfp4_e2m1", (-1,)), InputError,
            "non-negative ints"),
        Bad("custom format with block_size 0",
            lambda: mx.register_formats(_write(tmp, "k0.toml", b'[mx.mx_bad]\nelement = "fp8_e4m3"\n'
                                                               b'scale = "e8m0"\nblock_size = 0\n')),
            SpecError, "block_size"),
        # mismatched random_bits
        Bad("random_bits of another shape",
            lambda: fq(X, "mxint8", policy=SR, random_bits=np.zeros(3, np.uint32)), InputError, "must match"),
        Bad("random_bits of (64, 1)",
            lambda: fq(X, "mxint8", policy=SR, random_bits=np.zeros((64, 1), np.uint32)), InputError, "must match"),
        Bad("random_bits of floats",
            lambda: fq(X, "mxint8", policy=SR, random_bits=np.zeros(64)), InputError, "integer array"),
        Bad("random_bits too large for sr_bits",
            lambda: fq(X, "mxint8", policy=mx.Policy(rounding="stochastic", sr_bits=8),
                       random_bits=np.full(64, 256, np.uint32)), InputError, "[0, 2^8)"),
        Bad("negative random_bits", lambda: fq(X, "mxint8", policy=SR, random_bits=np.full(64, -1)), InputError,
            "[0, 2^"),
        Bad("random_bits without stochastic rounding",
            lambda: fq(X, "mxint8", random_bits=np.zeros(64, np.uint32)), PolicyError, "'stochastic'"),
        Bad("encode random_bits of another shape",
            lambda: enc(X, "fp8_e4m3", policy=SR, random_bits=np.zeros(2, np.uint32)), InputError, "must match"),
        # NaN where the format cannot hold it and the policy says so
        Bad("NaN into an int format under nan_to_nonan=error",
            lambda: enc(np.array([np.nan], np.float32), "int8", policy=mx.Policy(nan_to_nonan="error")),
            InputError, "choose zero"),
        # torch layer
        Bad("torch fake_quantize of a list", lambda: tf.fake_quantize([1.0], "mxint8"), InputError, "torch.Tensor"),
        *[Bad(f"torch fake_quantize of {dt}", lambda dt=dt: tf.fake_quantize(torch.ones(32, dtype=dt), "mxint8"),
              InputError, "accepted: float16") for dt in (torch.int32, torch.complex64, torch.bool)],
        Bad("torch fake_quantize of an empty tensor", lambda: tf.fake_quantize(torch.ones(0), "mxint8"), InputError,
            "empty"),
        Bad("torch fake_quantize of a 0-d tensor", lambda: tf.fake_quantize(torch.tensor(1.0), "mxint8"), InputError,
            "0-d"),
        Bad("torch unknown ste", lambda: tf.fake_quantize(T, "mxint8", ste="x"), InputError, "'identity'"),
        Bad("torch seed as a string", lambda: tf.fake_quantize(T, "mxint8", policy=SR, seed="a"), InputError,
            "integer"),
        Bad("MXLinear of an int tensor", lambda: tnn.MXLinear(32, 3)(torch.ones(2, 32, dtype=torch.int32)),
            InputError, "accepted: float16"),
        Bad("MXLinear unknown format", lambda: tnn.MXLinear(32, 3, weight_format="x"), UnknownNameError, "known"),
        Bad("quantize_model of an int", lambda: tnn.quantize_model(3, "mxint8"), InputError, "nn.Module"),
        Bad("quantize_model with a bad config", lambda: tnn.quantize_model(torch.nn.Sequential(), 3), InputError,
            "format name or a non-empty mapping"),
        Bad("MFQATRecipe of no formats", lambda: qat.MFQATRecipe([]), InputError, "non-empty"),
        Bad("MFQATRecipe unknown rule", lambda: qat.MFQATRecipe(["mxint8"], rule="x"), InputError, "'sample'"),
        Bad("save_anchor of an int", lambda: qat.save_anchor(3, tmp / "a.safetensors"), InputError, "nn.Module"),
        Bad("save_anchor to .npz", lambda: qat.save_anchor(torch.nn.Linear(32, 3), tmp / "a.npz"), InputError,
            ".safetensors"),
        # the Triton path (mxemu.cuda): the same checks before any kernel runs
        Bad("cuda quantize of a numpy array", lambda: cuda.quantize(X, "mxfp8_e4m3"), InputError, "torch.Tensor"),
        *[Bad(f"cuda quantize of {dt}", lambda dt=dt: cuda.quantize(TC.to(dt), "mxfp8_e4m3"), InputError,
              "take float32, bfloat16 and float16")
          for dt in (torch.float64, torch.int32, torch.bool, torch.complex64)],
        Bad("cuda fake_quantize of an empty tensor", lambda: cuda.fake_quantize(TC[:0], "mxint8"), InputError, "empty"),
        Bad("cuda quantize of a 0-d tensor", lambda: cuda.quantize(TC[0], "mxint8"), InputError, "0-d"),
        Bad("cuda quantize axis out of range", lambda: cuda.quantize(TC, "mxint8", axis=1), InputError, "out of range"),
        Bad("cuda quantize into an element format", lambda: cuda.quantize(TC, "fp8_e4m3"), InputError,
            "not an MX block format"),
        Bad("cuda quantize into an unknown format", lambda: cuda.quantize(TC, "mxfp3"), UnknownNameError, "known"),
        Bad("cuda quantize into nvfp4", lambda: cuda.quantize(TC, "nvfp4"), InputError, "backend='numba'"),
        Bad("cuda random_bits without stochastic rounding",
            lambda: cuda.quantize(TC, "mxint8", random_bits=torch.zeros(64, dtype=torch.int64)), PolicyError,
            "'stochastic'"),
        Bad("cuda random_bits of another shape",
            lambda: cuda.fake_quantize(TC, "mxint8", policy=SR, random_bits=torch.zeros(3, dtype=torch.int64)),
            InputError, "must match"),
        Bad("cuda random_bits of floats",
            lambda: cuda.fake_quantize(TC, "mxint8", policy=SR, random_bits=torch.zeros(64)), InputError,
            "integer array"),
        Bad("cuda random_bits too large for sr_bits",
            lambda: cuda.fake_quantize(TC, "mxint8", policy=mx.Policy(rounding="stochastic", sr_bits=8),
                                       random_bits=torch.full((64,), 256)), InputError, "[0, 2^8)"),
        Bad("cuda negative seed", lambda: cuda.fake_quantize(TC, "mxint8", policy=SR, seed=-1), InputError,
            "integer in [0, 2^64)"),
        Bad("cuda dequantize of float codes", lambda: cuda.dequantize(TC, U8[:2], "mxint8"), InputError,
            "uint8 torch.Tensor"),
        Bad("cuda dequantize with scales of another shape", lambda: cuda.dequantize(U8, U8[:1], "mxint8"),
            InputError, "scales has shape"),
        Bad("cuda dequantize of codes out of range",
            lambda: cuda.dequantize(U8 + 16, U8[:2], "mxfp4_e2m1"), InputError, "[0, 16)"),
        Bad("cuda dequantize into float64", lambda: cuda.dequantize(U8, U8[:2], "mxint8", dtype=torch.float64),
            InputError, "accepted: float32"),
        Bad("cuda dequantize of an empty tensor", lambda: cuda.dequantize(U8[:0], U8[:0], "mxint8"), InputError,
            "empty"),
        Bad("cuda dequantize_packed of too few bytes",
            lambda: cuda.dequantize_packed((U8[:31], U8[:2]), "mxfp4_e2m1", (64,), layout="nibble_lo_first"),
            InputError, "packs them into 32 bytes"),
        Bad("cuda dequantize_packed of a layout for another width",
            lambda: cuda.dequantize_packed((U8[:48], U8[:2]), "mxfp4_e2m1", (64,), layout="fp6_4in3"),
            InputError, "layouts for 4 bits"),
        Bad("cuda dequantize_packed without a layout",
            lambda: cuda.dequantize_packed((U8, U8[:2]), "mxint8", (64,), layout=None), InputError,
            "for unpacked codes use dequantize"),
        Bad("torch fake_quantize unknown backend", lambda: tf.fake_quantize(T, "mxint8", backend="gpu"), InputError,
            "backend must be one of"),
        Bad("load_anchor of garbage",
            lambda: qat.load_anchor(torch.nn.Linear(32, 3), _write(tmp, "g.safetensors", b"garbage")),
            FileFormatError, "cannot read"),
    ]


# Built once at import for the ids; the file cases write into a directory given per test.
_IDS = [b.name for b in errors(Path("."))]


@pytest.mark.parametrize("index", range(len(_IDS)), ids=_IDS)
def test_hostile_argument_raises_a_typed_error_saying_what_is_accepted(index, tmp_path):
    case = errors(tmp_path)[index]
    with pytest.raises(case.error) as info:
        case.call()
    assert case.fragment in str(info.value), f"{case.name}: message {str(info.value)!r} lacks {case.fragment!r}"


def test_the_table_covers_every_public_function_group():
    names = " ".join(_IDS)
    for word in ("quantize", "fake_quantize", "encode", "decode", "dequantize", "convert", "dot", "matmul",
                 "save", "load", "register", "pack_mx", "unpack", "accumulator_bits", "truncated", "torch",
                 "MXLinear", "quantize_model", "MFQATRecipe", "anchor", "random_bits", "empty", "0-d", "axis",
                 "cuda quantize", "cuda fake_quantize", "cuda dequantize", "cuda dequantize_packed", "backend"):
        assert word in names, word


# argv -> the fragment of the message the command must print on stderr, with exit status 2.
CLI_ERRORS = [
    ("golden gen --suite nope --format mxint8 --out o", "unknown suite 'nope'; suites: decode"),
    ("golden gen --suite decode --format mxfp3 --out o", "unknown MX format 'mxfp3'; MX formats: mxfp8_e4m3"),
    ("golden gen --suite decode --format mxint8 --level L9 --out o", "unknown level 'L9'; levels: L0"),
    ("golden gen --suite decode --format mxint8 --level exhaustive --out o", "sweep needs --level exhaustive"),
    ("golden gen --suite decode --format mxint8 --seed -1 --out o", "seed must be an integer in [0, 2^64)"),
    ("golden gen --suite decode --format mxint8 --seed x --out o", "--seed must be an integer, got 'x'"),
    ("golden gen --suite decode --format mxint8 --jobs x --out o", "--jobs must be an integer"),
    ("golden gen --suite decode --format mxint8 --jobs -2 --out o", "--jobs must be 0 (every CPU) or positive"),
    ("golden gen --suite decode --format mxint8 --shard 3/2 --out o", "--shard must be i/N with 0 <= i < N"),
    ("golden gen --suite decode --format mxint8 --shard a/b --out o", "--shard must be i/N with 0 <= i < N"),
    ("golden gen --suite decode --format mxint8 --out afile", "exists and is not a directory"),
    ("golden gen --suite decode --format mxint8 --policy nope --out o", "unknown policy preset 'nope'; presets: ocp"),
    ("golden gen --suite decode --format mxint8 --policy ocp,rounding=up --out o", "accepted: rne, rna"),
    ("golden gen --suite decode --format mxint8 --policy ocp,bogus=1 --out o", "unknown field 'bogus'; fields"),
    ("golden gen --format mxint8 --out o", "the following arguments are required: --suite"),
    ("golden verify missing", "missing is not a directory"),
    ("golden merge --out m missing1 missing2", "no SHARD.json; not a complete shard"),
    ("golden check missing --suite decode/mxint8 --dut afile", "no MANIFEST.json; not a complete golden set"),
    ("conform no_such_module:f --format mxint8", "cannot load 'no_such_module:f'"),
    ("conform json:dumps --format mxfp3", "unknown format 'mxfp3'; known formats"),
    ("nope", "invalid choice: 'nope'"),
]


@pytest.mark.parametrize(("argv", "fragment"), CLI_ERRORS, ids=[a for a, _ in CLI_ERRORS])
def test_the_cli_reports_bad_arguments_with_exit_status_2_and_what_is_accepted(argv, fragment, tmp_path,
                                                                               monkeypatch, capsys):
    from mxemu.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a directory\n")
    try:
        status = main(argv.split())
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    assert status == 2
    assert fragment in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written on a refused command


def test_golden_verify_of_a_directory_without_a_set_fails_and_names_what_is_missing(tmp_path, capsys):
    from mxemu.cli import main

    assert main(["golden", "verify", str(tmp_path)]) == 1
    assert "no MANIFEST.json; not a complete golden set" in capsys.readouterr().out


# -------------------------------------------------------------------------------------------------------------
# Hostile but valid inputs: the result equals that of the plain input
# -------------------------------------------------------------------------------------------------------------

BIG_ENDIAN = [">f2", ">f4", ">f8"]


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).view(np.uint8).tobytes()


def _same(a: Any, b: Any) -> None:
    if isinstance(a, mx.MXArray):
        assert _bits(a.codes) == _bits(b.codes) and _bits(a.scales) == _bits(b.scales)
        assert a.shape == b.shape and a.axis == b.axis
    else:
        assert a.dtype == b.dtype and a.shape == b.shape and _bits(a) == _bits(b)


RNG = np.random.default_rng(7)
Y = (RNG.standard_normal((6, 40)) * 2.0 ** RNG.integers(-12, 12, (6, 40))).astype(np.float32)


@pytest.mark.parametrize("dt", BIG_ENDIAN)
@pytest.mark.parametrize("fn", ["quantize", "fake_quantize", "fake_quantize_sr", "nvfp4"])
def test_big_endian_input_gives_the_native_endian_result(fn, dt):
    native = Y.astype(np.dtype(dt).newbyteorder("="))
    swapped = Y.astype(dt)
    assert not swapped.dtype.isnative
    call = {"quantize": lambda a: mx.quantize(a, "mxfp6_e3m2", axis=0),
            "fake_quantize": lambda a: mx.fake_quantize(a, "mxint8"),
            "fake_quantize_sr": lambda a: mx.fake_quantize(a, "mxfp4_e2m1", policy=SR, seed=3),
            "nvfp4": lambda a: mx.quantize(a, "nvfp4", tensor_scale="amax")}[fn]
    out = call(swapped)
    _same(out, call(native))
    if isinstance(out, np.ndarray):
        assert out.dtype.isnative


def test_big_endian_codes_scale_exponents_and_random_bits_are_read_by_value():
    codes = np.arange(256, dtype=np.int32)
    _same(mx.decode(codes.astype(">i4"), "fp8_e4m3"), mx.decode(codes, "fp8_e4m3"))
    s = np.arange(-32, 32, dtype=np.int64)
    _same(mx.encode(X, "fp8_e4m3", scale_exp=s.astype(">i8")), mx.encode(X, "fp8_e4m3", scale_exp=s))
    r = RNG.integers(0, 2**32, X.shape, dtype=np.uint32)
    _same(mx.fake_quantize(X, "mxint8", policy=SR, random_bits=r.astype(">u4")),
          mx.fake_quantize(X, "mxint8", policy=SR, random_bits=r))


def test_read_only_input_is_accepted_and_left_unchanged():
    ro = np.frombuffer(Y.tobytes(), np.float32).reshape(Y.shape)
    assert not ro.flags.writeable
    _same(mx.fake_quantize(ro, "mxfp8_e4m3"), mx.fake_quantize(Y.copy(), "mxfp8_e4m3"))
    _same(mx.quantize(ro, "mxfp4_e2m1", axis=(0, 1)), mx.quantize(Y.copy(), "mxfp4_e2m1", axis=(0, 1)))
    _same(mx.encode(ro, "fp6_e2m3"), mx.encode(Y.copy(), "fp6_e2m3"))
    assert _bits(ro) == _bits(Y)
    codes = np.frombuffer(bytes(range(256)), np.uint8)
    _same(mx.decode(codes, "fp8_e5m2"), mx.decode(codes.copy(), "fp8_e5m2"))


@pytest.mark.parametrize("view", ["reversed", "transposed", "strided", "fortran", "broadcast"])
def test_non_contiguous_input_gives_the_result_of_its_contiguous_copy(view):
    a = {"reversed": Y[:, ::-1], "transposed": Y.T, "strided": Y[::2, ::3],
         "fortran": np.asfortranarray(Y), "broadcast": np.broadcast_to(Y[0], (5, 40))}[view]
    for fmt, axis in (("mxfp8_e4m3", -1), ("mxint8", 0), ("mxfp4_e2m1", (0, 1))):
        _same(mx.fake_quantize(a, fmt, axis=axis), mx.fake_quantize(np.ascontiguousarray(a), fmt, axis=axis))
        _same(mx.quantize(a, fmt, axis=axis), mx.quantize(np.ascontiguousarray(a), fmt, axis=axis))
    _same(mx.encode(a, "fp8_e4m3"), mx.encode(np.ascontiguousarray(a), "fp8_e4m3"))
    t = torch.from_numpy(np.ascontiguousarray(Y)).T
    assert not t.is_contiguous()
    _same(tf.fake_quantize(t, "mxint8").numpy(), mx.fake_quantize(np.ascontiguousarray(Y.T), "mxint8"))


def test_a_numpy_integer_seed_draws_what_the_python_int_draws_on_both_paths():
    for seed in (np.uint64(2**63 + 5), np.int32(7)):
        _same(mx.fake_quantize(X, "mxint8", policy=SR, seed=seed),
              mx.fake_quantize(X, "mxint8", policy=SR, seed=int(seed)))
        assert torch.equal(cuda.fake_quantize(TC, "mxint8", policy=SR, seed=seed),
                           cuda.fake_quantize(TC, "mxint8", policy=SR, seed=int(seed)))


def test_numpy_scalars_and_lists_are_accepted_where_documented():
    _same(mx.encode(np.float32(1.5), "fp8_e4m3"), mx.encode(np.array(1.5, np.float32), "fp8_e4m3"))
    r = RNG.integers(0, 2**32, X.shape, dtype=np.uint32)
    _same(mx.fake_quantize(X, "mxint8", policy=SR, random_bits=r.tolist()),
          mx.fake_quantize(X, "mxint8", policy=SR, random_bits=r))


# -------------------------------------------------------------------------------------------------------------
# NaN / Inf everywhere: the exact-rational oracle decides
# -------------------------------------------------------------------------------------------------------------

def _oracle_fake_quantize(x: np.ndarray, fmt: str, policy: mx.Policy) -> np.ndarray:
    """Blocks along the last axis of a 2-D float32 array, dequantized to float64 by the oracle."""
    k = mx.get_format(fmt).block_size
    out = np.empty(x.shape, np.float64)
    for r in range(x.shape[0]):
        for b in range(0, x.shape[1], k):
            out[r, b:b + k] = oracle.dequantize_block(*oracle.quantize_block(x[r, b:b + k], fmt, policy), fmt)
    return out


def _hostile_nonfinite() -> np.ndarray:
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((8, 64)) * 4).astype(np.float32)
    x[0] = np.nan
    x[1] = np.inf
    x[2] = -np.inf
    x[3, ::2] = np.nan
    x[3, 1::2] = np.inf
    x[4, 5] = np.nan
    x[5, 63] = -np.inf
    x[6, 0] = np.inf
    x[6, 40] = np.nan
    x[7] = np.float32(np.finfo(np.float32).max) * np.sign(x[7])
    return x


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8"])
@pytest.mark.parametrize("preset", ["ocp", "torchao"])
def test_nan_and_inf_lanes_follow_the_oracle(fmt, preset):
    x = _hostile_nonfinite()
    pol = mx.get_policy(preset)
    got = mx.fake_quantize(x, fmt, policy=pol)
    with np.errstate(over="ignore"):  # exact values beyond float32's range round to Inf, as documented
        want = _oracle_fake_quantize(x, fmt, pol).astype(np.float32)
    np.testing.assert_array_equal(got, want)  # NaN positions must match exactly, values exactly
    assert np.array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)]))


def test_nan_and_inf_through_encode_follow_the_oracle():
    x = _hostile_nonfinite().reshape(-1)
    for fmt in ("fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp4_e2m1", "int8"):
        np.testing.assert_array_equal(mx.encode(x, fmt), oracle.encode_array(x, fmt))


def test_nvfp4_of_all_nonfinite_input_is_defined():
    for fill in (np.nan, np.inf):
        q = mx.quantize(np.full(64, fill, np.float32), "nvfp4", tensor_scale="amax")
        assert q.tensor_scale == 1.0  # no finite value: the tensor scale falls back to 1 (Transformer Engine)


# -------------------------------------------------------------------------------------------------------------
# 64-bit index arithmetic
# -------------------------------------------------------------------------------------------------------------

def _index_types(dispatcher: Any) -> set[str]:
    """numba's types of every array index in the kernel, for each signature it was compiled for.

    The cached machine code carries no typed IR, so the function is typed again (type inference only,
    no code generation) for each signature; the called kernels are typed on their own.
    """
    from numba.core import compiler, ir, typed_passes, types
    from numba.core.registry import cpu_target

    found = set()
    for sig in list(dispatcher.overloads):
        func_ir = compiler.run_frontend(dispatcher.py_func)
        typed = typed_passes.type_inference_stage(cpu_target.typing_context, cpu_target.target_context,
                                                  func_ir, sig, None)
        tm = typed.typemap
        for block in func_ir.blocks.values():
            for st in block.body:
                if isinstance(st, ir.SetItem):
                    arr, idx = st.target, st.index
                elif isinstance(st, ir.Assign) and isinstance(st.value, ir.Expr) and st.value.op == "getitem":
                    arr, idx = st.value.value, st.value.index
                else:
                    continue
                if isinstance(tm.get(arr.name), types.Array):
                    index = tm[idx.name]  # a tuple indexes one axis per member
                    found.update(map(str, index) if isinstance(index, types.BaseTuple) else [str(index)])
    return found


def test_every_array_index_in_the_kernels_is_64_bit():
    from mxemu.kernels import block, dispatch, fast

    x = np.linspace(-3, 3, 64, dtype=np.float32)
    mx.fake_quantize(x, "mxfp8_e4m3")  # fast kernels
    mx.quantize(x, "mxfp8_e4m3")
    mx.encode(x, "fp8_e4m3")
    bits = np.arange(64, dtype=np.uint32)  # stochastic rounding from an array of random integers: general kernels
    mx.fake_quantize(x.astype(np.float64), "mxint8", policy=SR, random_bits=bits)
    mx.quantize(x.astype(np.float64), "mxint8", policy=SR, random_bits=bits)
    mx.encode(x.astype(np.float16), "fp8_e4m3", policy=SR, seed=1)
    mx.decode(np.arange(256, dtype=np.uint8), "fp8_e4m3")
    mx.quantize(x, "mxint8").dequantize()  # fast kernels
    mx.quantize(x, "nvfp4").dequantize()  # general kernels
    # The float32 scale_value kernel is called only from inside fake_quantize_blocks: when that kernel is loaded
    # from numba's cache, nothing compiles its callee, so it is called here with the arguments it gets there.
    rows = x.view(np.int32).reshape(-1, 32)
    block.fake_quantize_fp32_scale(rows[0], 8, 23, format_params(mx.get_format("mxint8").element),
                                   policy_params(mx.get_policy("brevitas")), np.empty((0, 0), np.uint32),
                                   np.int64(0), np.zeros(256), np.empty(32, np.float32))
    kernels = {name: d for mod in (block, fast, dispatch) for name, d in vars(mod).items()
               if hasattr(d, "overloads") and d.overloads and hasattr(d, "py_func")}
    assert {"quantize_float", "encode_kernel", "quantize_blocks", "fake_quantize_blocks",
            "encode_elements", "decode_elements", "dequantize_blocks", "philox_bits",
            "fake_quantize_fp32_scale", "_fill_scale_lookup"} <= set(kernels)
    for name, d in kernels.items():
        # uint8 indexes are element codes looking up their 2^bits-entry value table, not positions;
        # a slice's bounds are numba's intp.
        wide = {"int64", "uint64", "uint8", "slice<a:b>"}
        narrow = {t for t in _index_types(d) if t not in wide and not t.startswith("Literal[int]")}
        assert not narrow, f"{name} indexes arrays with {narrow}"


@pytest.mark.slow
def test_more_than_2_pow_31_elements_encode_and_quantize_correctly():
    """About 12 GiB of memory: bfloat16 input, uint8 output, values that differ near the 2^31 boundary."""
    n = (1 << 31) + 64
    x = np.zeros(n, ml_dtypes.bfloat16)
    tail = np.linspace(-8, 8, 128).astype(ml_dtypes.bfloat16)
    x[-128:] = tail
    codes = mx.encode(x, "fp8_e4m3")
    np.testing.assert_array_equal(codes[-128:], mx.encode(tail, "fp8_e4m3"))
    assert not codes[: n - 128].any()
    del codes
    q = mx.quantize(x, "mxfp8_e4m3")
    want = mx.quantize(tail, "mxfp8_e4m3")
    np.testing.assert_array_equal(q.codes[-128:], want.codes)
    np.testing.assert_array_equal(q.scales[-4:], want.scales)
