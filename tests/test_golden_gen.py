"""Golden-set generation: determinism, Philox randomness, the oracle gate, interrupted runs, the manifest
validator, and argument errors of the `mxemu golden` commands."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mxemu import oracle
from mxemu.cli import main
from mxemu.errors import InputError, MXError, PolicyError, UnknownNameError
from mxemu.golden import generate as gen_module
from mxemu.golden import manifest as mf
from mxemu.golden import suites, writers
from mxemu.golden.generate import generate
from mxemu.policy import Policy, get_policy
from mxemu.products import accumulation_model
from mxemu.spec import get_format

ROOT = Path(__file__).resolve().parents[1]


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _gen(out: Path, *args: str) -> int:
    return main(["golden", "gen", "--out", str(out), *args])


def test_same_command_twice_gives_identical_bytes(tmp_path: Path) -> None:
    args = ("--suite", "all", "--format", "mxfp4_e2m1", "--level", "L1", "--seed", "12345")
    assert _gen(tmp_path / "a", *args) == 0
    assert _gen(tmp_path / "b", *args) == 0
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a == b
    doc = json.loads(a["MANIFEST.json"])
    assert mf.validate(doc) == []
    assert doc["seed"] == 12345 and doc["level"] == "L1"
    tags = [t["name"] for t in doc["tags"]]
    npz = writers.read_npz(str(tmp_path / "a" / "encode" / "mxfp4_e2m1.npz"))
    assert (npz["tag"] == tags.index("ENC-random")).sum() > 1000


def test_seed_changes_random_cases_only(tmp_path: Path) -> None:
    a = suites.build("encode", "mxfp6_e2m3", Policy(), "L1", 1)
    b = suites.build("encode", "mxfp6_e2m3", Policy(), "L1", 2)
    rnd = suites.TAG_IDS["ENC-random"]
    fixed_a, fixed_b = a.columns["tag"] != rnd, b.columns["tag"] != rnd
    assert np.array_equal(a.columns["x"][fixed_a], b.columns["x"][fixed_b])
    assert not np.array_equal(a.columns["x"][~fixed_a], b.columns["x"][~fixed_b])


def test_random_words_are_philox() -> None:
    words = suites.stream(99, "purpose", 8)
    sid = int.from_bytes(__import__("hashlib").sha256(b"purpose").digest()[:3], "big")
    assert words.tolist() == [oracle.random_int(99, (sid << 32) + i, 32) for i in range(8)]


def test_oracle_gate_refuses_a_wrong_kernel_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = suites.codec.encode

    def off_by_one(*args: object, **kwargs: object) -> np.ndarray:
        codes = real(*args, **kwargs)
        codes[7] ^= 1
        return codes

    generate(tmp_path, ("decode",), ("mxfp8_e4m3",), Policy(), "L0", 0, progress=None)
    before = _files(tmp_path)
    monkeypatch.setattr(suites.codec, "encode", off_by_one)
    with pytest.raises(MXError, match=r"encode/mxfp8_e4m3: 1 case\(s\) disagree with mxemu\.oracle"):
        generate(tmp_path, ("decode", "encode"), ("mxfp8_e4m3",), Policy(), "L0", 0, progress=None)
    assert _files(tmp_path) == before  # refused before anything was written: the old set is intact


def test_interrupted_generation_leaves_no_complete_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "set"
    generate(out, ("decode",), ("mxfp4_e2m1",), Policy(), "L0", 0, progress=None)
    assert (out / mf.MANIFEST).exists() and (out / mf.SUMS).exists()
    calls = {"n": 0}
    real = gen_module.atomic_write

    def dies_midway(path: Path, writer: object) -> Path:  # interrupted while writing the third file
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(path, writer)

    monkeypatch.setattr(gen_module, "atomic_write", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        generate(out, ("decode", "encode"), ("mxfp4_e2m1", "mxint8"), Policy(), "L0", 0, progress=None)
    assert calls["n"] == 3
    assert not (out / mf.MANIFEST).exists() and not (out / mf.SUMS).exists()
    assert not [p for p in out.rglob("*.tmp")]  # atomic writes leave no partial files
    assert main(["golden", "verify", str(out)]) == 1


def test_progress_is_one_line_per_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _gen(tmp_path, "--suite", "decode,scale", "--format", "mxfp4_e2m1,mxint8") == 0
    err = capsys.readouterr().err.splitlines()
    assert [ln.split(":")[1].strip() for ln in err[:4]] == [
        "[1/4] decode/mxfp4_e2m1", "[2/4] decode/mxint8", "[3/4] scale/mxfp4_e2m1", "[4/4] scale/mxint8"]


def test_other_presets_pass_the_oracle_gate(tmp_path: Path) -> None:
    for preset in ("torchao_rceil", "microxcaling", "transformer_engine", "ml_dtypes"):
        for suite in ("scale", "quantize"):
            suites.build(suite, "mxfp8_e4m3", get_policy(preset), "L0", 0)
    t = suites.build("quantize", "mxint8", get_policy("gfloat"), "L0", 0)
    assert t.count > 100


def test_manifest_validator_rejects_bad_documents(tmp_path: Path) -> None:
    generate(tmp_path, ("decode",), ("mxfp4_e2m1",), Policy(), "L0", 0, progress=None)
    doc = json.loads((tmp_path / mf.MANIFEST).read_text())
    assert mf.validate(doc) == []
    for mutate, message in [
        (lambda d: d.pop("seed"), "missing required key 'seed'"),
        (lambda d: d.update(level="L9"), "'L9' is not one of"),
        (lambda d: d.update(extra=1), "unexpected key 'extra'"),
        (lambda d: d["tables"][0].update(count="3"), "expected integer"),
        (lambda d: d["tables"][0]["files"]["tv"].update(sha256="XYZ"), "does not match"),
        (lambda d: d.update(spec_version="MX 2"), "must be 'OCP MX v1.0'"),
    ]:
        bad = copy.deepcopy(doc)
        mutate(bad)
        assert any(message in e for e in mf.validate(bad)), message
    (tmp_path / mf.MANIFEST).write_text(json.dumps({**doc, "seed": -1}))
    with pytest.raises(MXError, match="manifest schema"):
        mf.read_manifest(tmp_path)


@pytest.mark.parametrize(("args", "message"), [
    (("--suite", "dots", "--format", "all"), "unknown suite 'dots'"),
    (("--suite", "decode", "--format", "mxfp9"), "unknown MX format 'mxfp9'"),
    (("--suite", "decode", "--format", "nvfp4"), "E8M0-scaled MX formats only"),
    (("--suite", "decode", "--format", "fp8_e4m3"), "unknown MX format 'fp8_e4m3'"),
    (("--suite", "decode", "--format", "all", "--level", "L7"), "unknown level 'L7'"),
    (("--suite", "decode", "--format", "all", "--seed", "-1"), "seed must be an integer in [0, 2^64)"),
    (("--suite", "decode", "--format", "all", "--seed", "x1"), "--seed must be an integer"),
    (("--suite", "decode", "--format", "all", "--policy", "nope"), "unknown policy preset 'nope'"),
    (("--suite", "", "--format", "all"), "--suite is empty"),
])
def test_bad_arguments_give_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple,
                                         message: str) -> None:
    assert _gen(tmp_path / "out", *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("mxemu golden: error: ") and message in err
    assert not (tmp_path / "out" / mf.MANIFEST).exists()


def test_bad_output_directories(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        generate(tmp_path / "file", ("decode",), ("mxint8",), Policy(), "L0", 0, progress=None)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"not part of a golden set \(notes.txt\)"):
        generate(tmp_path / "foreign", ("decode",), ("mxint8",), Policy(), "L0", 0, progress=None)
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"


def test_api_errors_are_typed() -> None:
    with pytest.raises(PolicyError, match="convert do not cover stochastic rounding"):
        generate("/nonexistent/never", ("decode", "convert"), ("mxint8",), Policy(rounding="stochastic"), "L0", 0)
    with pytest.raises(UnknownNameError):
        suites.parse_suites("decode,bogus")
    with pytest.raises(InputError):
        suites.check_seed(2**64)
    assert suites.parse_formats("all,mxint4,mxint8") == (*suites.OCP_FORMATS, "mxint4")


def test_plain_commands_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "sample x" in capsys.readouterr().out
    assert main(["info"]) == 0
    assert "sample x" in capsys.readouterr().out
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    assert "mxfp8_e4m3" in out and "sample x" not in out
    with pytest.raises(SystemExit):
        main(["golden"])


def test_verify_reports_a_missing_manifest_and_unlisted_files(tmp_path: Path) -> None:
    generate(tmp_path, ("decode",), ("mxfp4_e2m1",), Policy(), "L0", 0, progress=None)
    assert main(["golden", "verify", str(tmp_path)]) == 0
    (tmp_path / "decode" / "extra.tv").write_text("x\n")
    from mxemu.golden.verify import verify

    problems = verify(tmp_path)
    assert "decode/extra.tv: not listed in SHA256SUMS" in problems
    assert "decode/extra.tv: not part of the regenerated set" in problems


def test_jobs_and_shards_merge_to_the_unsharded_bytes(tmp_path: Path) -> None:
    args = ("--suite", "decode,dequantize,quantize", "--format", "mxfp4_e2m1,mxint8,mxfp6_e2m3", "--seed", "7")
    assert _gen(tmp_path / "one", *args) == 0
    assert _gen(tmp_path / "two", *args, "--jobs", "2") == 0
    for i in range(4):
        assert _gen(tmp_path / f"s{i}", *args, "--shard", f"{i}/4", "--jobs", "2") == 0
        assert not (tmp_path / f"s{i}" / mf.MANIFEST).exists()  # a shard never claims to be a set
    shards = [str(tmp_path / f"s{i}") for i in (2, 0, 3, 1)]  # any order
    assert main(["golden", "merge", "--out", str(tmp_path / "merged"), *shards]) == 0
    one = _files(tmp_path / "one")
    assert _files(tmp_path / "two") == one
    assert _files(tmp_path / "merged") == one
    assert main(["golden", "verify", str(tmp_path / "merged")]) == 0


def test_merge_refuses_missing_repeated_foreign_or_altered_shards(tmp_path: Path) -> None:
    from mxemu.golden.generate import Shard, merge

    for i in range(2):
        generate(tmp_path / f"s{i}", ("decode",), ("mxfp4_e2m1", "mxint8"), Policy(), "L0", 0, shard=Shard(i, 2))
    generate(tmp_path / "other", ("decode",), ("mxfp4_e2m1", "mxint8"), Policy(), "L0", 1, shard=Shard(1, 2))
    s0, s1, other = tmp_path / "s0", tmp_path / "s1", tmp_path / "other"
    with pytest.raises(MXError, match=r"each needed once; got \[0\]"):
        merge(tmp_path / "m", [s0])
    with pytest.raises(MXError, match=r"each needed once; got \[0, 0\]"):
        merge(tmp_path / "m", [s0, s0])
    with pytest.raises(MXError, match="different commands"):
        merge(tmp_path / "m", [s0, other])
    with pytest.raises(MXError, match=r"no SHARD\.json"):
        merge(tmp_path / "m", [s0, tmp_path / "nothing"])
    (s1 / "decode" / "mxint8.hex").write_text("00\n")
    with pytest.raises(MXError, match=r"mxint8\.hex: SHA-256 differs"):
        merge(tmp_path / "m", [s0, s1])
    assert not (tmp_path / "m" / mf.MANIFEST).exists()
    with pytest.raises(InputError, match="0 <= i < N"):
        Shard.parse("2/2")
    with pytest.raises(InputError, match="--jobs must be a positive integer"):
        generate(tmp_path / "j", ("decode",), ("mxint8",), Policy(), "L0", 0, jobs=0)


def test_progress_counts_suite_files_on_parallel_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _gen(tmp_path, "--suite", "decode", "--format", "mxfp4_e2m1,mxint8,mxfp6_e3m2", "--jobs", "2") == 0
    err = capsys.readouterr().err.splitlines()
    assert [ln.split(" ")[2] for ln in err[:3]] == ["[1/3]", "[2/3]", "[3/3]"]


def test_dequantize_suite_covers_every_code_at_every_scale_and_is_oracle_gated(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    t = suites.build("dequantize", "mxfp6_e3m2", Policy(), "L1", 0)
    pairs = set(zip(t.columns["scale"].tolist(), t.columns["code"].tolist(), strict=True))
    assert pairs == {(s, c) for s in range(256) for c in range(64)}
    tags = {suites.TAGS[i][0] for i in t.columns["tag"].tolist()}
    assert tags == {"DQ-zero", "DQ-normal", "DQ-fp32-sub", "DQ-overflow", "DQ-scale-nan"}
    real = suites.build_dequantize

    def off_by_one(*args: object) -> suites.Table:
        table = real(*args)
        table.columns["value"] = table.columns["value"].copy()
        table.columns["value"][1000] ^= 1
        return table

    monkeypatch.setitem(suites.BUILDERS, "dequantize", off_by_one)
    with pytest.raises(MXError, match=r"dequantize/mxfp6_e3m2: 1 case\(s\) disagree with mxemu.oracle \(first: "
                                      r"case 1000\)"):
        suites.build("dequantize", "mxfp6_e3m2", Policy(), "L1", 0)


def test_divergence_suite_holds_the_same_blocks_for_every_preset() -> None:
    a = suites.build("divergence", "mxint8", get_policy("ocp"), "L0", 0)
    b = suites.build("divergence", "mxint8", get_policy("gfloat"), "L0", 0)
    assert a.count > 20 and np.array_equal(a.columns["x"], b.columns["x"])
    gfloat_bit = 1 << suites.divergence_presets().index("gfloat")
    ocp_bit = 1 << suites.divergence_presets().index("ocp")
    # int_range = full (gfloat) gives code 0x80 for -2.0 where ocp clamps to 0x81: MB9 blocks differ
    mb9 = a.columns["tag"] == suites.TAG_IDS["MB9-int-min"]
    assert mb9.any() and (a.columns["differs"][mb9] & gfloat_bit).all()
    assert (b.columns["differs"][mb9] & ocp_bit).all()
    assert suites.parse_suites("all") == suites.ALL_SUITES and "divergence" not in suites.ALL_SUITES


def _oracle_digest(first: int, count: int, fmt: str, policy: Policy) -> str:
    x = (np.arange(count, dtype=np.uint32) + np.uint32(first)).view(np.float32)
    with np.errstate(invalid="ignore"):
        codes = oracle.encode_array(x, get_format(fmt).element, 0, policy)
    return hashlib.sha256(codes.astype(np.uint8).tobytes()).hexdigest()


@pytest.mark.parametrize(("fmt", "preset"), [("mxfp8_e4m3", "ocp"), ("mxfp4_e2m1", "ml_dtypes"), ("mxint8", "ocp")])
def test_sweep_chunks_are_sha256_of_the_oracle_codes(fmt: str, preset: str) -> None:
    """A small range across the float32 overflow / Inf / NaN patterns, in chunks of 4096 with a short last
    one: each digest equals SHA-256 of the codes mxemu.oracle gives every pattern of its chunk."""
    first, count, chunk = 0x7F7FE000, 3 * 4096 + 100, 4096
    t = suites.sweep_table(get_format(fmt), get_policy(preset), 0, first, count, chunk)
    assert t.columns["first"].tolist() == [first + k * chunk for k in range(4)]
    assert t.columns["count"].tolist() == [4096, 4096, 4096, 100]
    for k in range(4):
        got = "".join(f"{w:08x}" for w in t.columns["digest"][k].tolist())
        assert got == _oracle_digest(first + k * chunk, int(t.columns["count"][k]), fmt, get_policy(preset))
    tv = list(writers.tv_lines(t))[1]  # lane 0 first: the digest reads as its hex string
    assert tv.split()[5:13] == [f"{w:08x}" for w in t.columns["digest"][0].tolist()]


def test_sweep_gate_refuses_a_wrong_code(monkeypatch: pytest.MonkeyPatch) -> None:
    real = suites.sweep.encode

    def flips_pattern_5(x: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        codes = real(x, *args, **kwargs).copy()
        codes[5] ^= 1
        return codes

    monkeypatch.setattr(suites.sweep, "encode", flips_pattern_5)
    with pytest.raises(MXError, match=r"pattern 0x3f000005 disagrees with mxemu\.oracle"):
        suites.sweep_table(get_format("mxfp6_e2m3"), Policy(), 0, 0x3F000000, 8192, 4096)
    with pytest.raises(InputError, match="outside the float32 patterns"):
        suites.sweep_table(get_format("mxfp6_e2m3"), Policy(), 0, 0xFFFFFF00, 512, 256)


@pytest.mark.parametrize(("suite", "level"), [("decode", "exhaustive"), ("sweep", "L0"),
                                              ("sweep,decode", "exhaustive")])
def test_sweep_and_the_exhaustive_level_go_together(tmp_path: Path, capsys: pytest.CaptureFixture[str], suite: str,
                                                    level: str) -> None:
    assert _gen(tmp_path / "out", "--suite", suite, "--format", "mxint8", "--level", level) == 2
    assert "level exhaustive takes --suite sweep" in capsys.readouterr().err
    assert suites.parse_suites("all", "exhaustive") == ("sweep",)


@pytest.mark.slow
def test_exhaustive_sweep_covers_every_float32_pattern(tmp_path: Path) -> None:
    """The whole 2^32 sweep of one format (minutes): 256 chunks of 2^24, one re-hashed from the oracle."""
    assert _gen(tmp_path, "--suite", "sweep", "--format", "mxfp4_e2m1", "--level", "exhaustive", "--jobs", "2") == 0
    npz = writers.read_npz(str(tmp_path / "sweep" / "mxfp4_e2m1.npz"))
    assert npz["first"].tolist() == [k << 24 for k in range(256)] and set(npz["count"].tolist()) == {1 << 24}
    k = 0x3F  # patterns 0x3f000000..0x3fffffff: 0.5 <= x < 2 and the rounding decisions between
    got = "".join(f"{w:08x}" for w in npz["digest"][k].tolist())
    assert got == _oracle_digest(k << 24, 1 << 24, "mxfp4_e2m1", Policy())


def test_custom_policies_on_the_command_line_and_from_toml(tmp_path: Path) -> None:
    p = suites.parse_policy("torchao, rounding=rtz, zero_block_scale=127")
    assert p == get_policy("torchao").replace(rounding="rtz", zero_block_scale=127)
    assert p.name == "torchao, rounding=rtz, zero_block_scale=127"
    toml = tmp_path / "mine.toml"
    toml.write_text('base = "microxcaling"\nrounding = "rne"\n')
    assert suites.parse_policy(str(toml)) == get_policy("microxcaling").replace(rounding="rne")
    out = tmp_path / "set"
    assert _gen(out, "--suite", "encode", "--format", "mxfp4_e2m1", "--policy", "ocp,rounding=rtz") == 0
    doc = json.loads((out / mf.MANIFEST).read_text())
    assert doc["policy"]["rounding"] == "rtz" and "--policy ocp,rounding=rtz " in doc["command"]
    assert main(["golden", "verify", str(out)]) == 0
    # RTZ differs from RNE on the midpoints of the encode suite, so the set really uses the policy
    rne = suites.build("encode", "mxfp4_e2m1", Policy(), "L0", 0)
    assert not np.array_equal(writers.read_npz(str(out / "encode" / "mxfp4_e2m1.npz"))["code"], rne.columns["code"])
    for bad, message in [("ocp,rounding", "is not field=value"), ("ocp,colour=red", "colour"),
                         ("ocp,rounding=sideways", "sideways"), (str(tmp_path / "none.toml"), "cannot read")]:
        with pytest.raises(MXError, match=message):
            suites.parse_policy(bad)


def test_convert_suite_covers_both_methods_every_target_and_every_source_code() -> None:
    t = suites.build("convert", "mxint8", Policy(), "L0", 0)
    targets = {(int(m), suites.CONVERT_TARGETS[int(g)]) for m, g in zip(t.columns["method"], t.columns["target"],
                                                                      strict=True)}
    assert targets == {*((0, f) for f in suites.OCP_FORMATS if f != "mxint8"),
                       *((1, f"mxint{b}") for b in range(2, 8))}
    edge = t.columns["tag"] == suites.TAG_IDS["CV-edge"]
    assert set(np.unique(t.columns["src_codes"][edge]).tolist()) == set(range(256))
    # slice_and_scale keeps an int8 block's scale; requantize into mxint4 may not (it picks its own)
    sl = (t.columns["method"] == 1) & (t.columns["src_scale"] != 0xFF) & (t.columns["src_codes"] != 0).any(axis=1)
    assert np.array_equal(t.columns["scale"][sl], t.columns["src_scale"][sl])
    assert (t.columns["chk"][t.columns["scale"] == 0xFF] == 2).all()


def test_convert_oracle_gate_refuses_a_wrong_code(monkeypatch: pytest.MonkeyPatch) -> None:
    real = suites.build_convert

    def flips_one_code(*args: object) -> suites.Table:
        table = real(*args)
        table.columns["codes"] = table.columns["codes"].copy()
        table.columns["codes"][7, 3] ^= 1
        return table

    monkeypatch.setitem(suites.BUILDERS, "convert", flips_one_code)
    with pytest.raises(MXError, match=r"convert/mxfp8_e5m2: 1 case\(s\) disagree with mxemu\.oracle \(first: case 7\)"):
        suites.build("convert", "mxfp8_e5m2", Policy(), "L0", 0)


def test_dot_suite_models_differ_somewhere_and_the_gate_refuses_a_wrong_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    t = suites.build("dot", "mxfp8_e4m3", Policy(), "L1", 0)
    cols = {m: suites.bits_to_f32(t.columns[m]) for m in suites.DOT_MODELS}
    finite = np.isfinite(cols["exact"])
    for m in suites.DOT_MODELS[1:]:  # every float32 model rounds differently from the exact one on some pair
        assert (cols[m][finite] != cols["exact"][finite]).any(), m
    assert {suites.TAGS[i][0] for i in t.columns["tag"].tolist()} == {
        "DOT-pair", "DOT-cancel", "DOT-random", "DOT-mixed", "DOT-grid", "DOT-subgrid-zero", "DOT-saturate", "DOT-inf"}
    real = suites.build_dot

    def wrong_sum(*args: object) -> suites.Table:
        table = real(*args)
        table.columns["fp32_sequential"] = table.columns["fp32_sequential"].copy()
        table.columns["fp32_sequential"][4] ^= 1
        return table

    monkeypatch.setitem(suites.BUILDERS, "dot", wrong_sum)
    with pytest.raises(MXError, match=r"dot/mxfp6_e2m3: 1 case\(s\) disagree with mxemu\.oracle \(first: case 4\)"):
        suites.build("dot", "mxfp6_e2m3", Policy(), "L0", 0)


def test_dot_oracle_gives_a_zero_product_the_ieee_sign() -> None:
    """Block 0: 32 products -2^-266 that underflow to -0; block 1: +0 (integer code 0) times -2.0 (code 0x80),
    which IEEE signs -0, so fp32_sequential keeps -0 (a +0 there would turn it into +0). exact: the nonzero
    sum underflows to -0; block_exact_fp32 and dequant_fp32 add -0 to the initial +0 and end at +0."""
    mx8 = get_format("mxint8")
    a = np.concatenate([np.full(32, 0x01), np.zeros(32)]).astype(np.uint8)
    b = np.concatenate([np.full(32, 0xFF), np.full(32, 0x80)]).astype(np.uint8)
    scales = np.uint8([0, 127])
    r = oracle.mx_dot(a, scales, b, scales, mx8, models={m: accumulation_model(spec)
                                                       for m, spec in suites.DOT_ACCUMULATIONS.items()})
    # the truncated models end on an all-zero group, which adds +0 (-0 + +0 = +0)
    # the fixed-point datapaths hold an integer: their zero is +0
    assert [bool(np.signbit(r[m])) for m in suites.DOT_MODELS] == [True, False, True, False, False, False, *[False] * 8]
    from mxemu.array import MXArray
    from mxemu.products import dot

    qa, qb = (MXArray(codes=c, scales=scales, format=mx8, policy=Policy(), axis=(0,)) for c in (a, b))
    for m, model in suites.DOT_ACCUMULATIONS.items():
        got = dot(qa, qb, accumulation=model)
        if m in suites.DOT_WORDS:  # an S23.8 word: the tiny negative sum floors to -1 under rdn, else 0
            assert got == r[m] == (-1 if "rdn" in m else 0), m
        else:
            assert got == 0 and np.signbit(got) == np.signbit(r[m]), m


def test_pack_suite_covers_every_layout_of_each_width_and_the_gate_refuses_a_wrong_byte(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mxemu.packing import LAYOUTS

    assert set(suites.PACK_LAYOUTS) == set(LAYOUTS)
    for fmt, bits in (("mxfp4_e2m1", 4), ("mxfp6_e3m2", 6), ("mxint8", 8)):
        t = suites.build("pack", fmt, Policy(), "L0", 0)
        used = {suites.PACK_LAYOUTS[i] for i in t.columns["layout"].tolist()}
        assert used == {name for name, widths in LAYOUTS.items() if bits in widths}
        assert set(t.columns["nbytes"].tolist()) <= {32, 32 * bits // 8, 33, 32 * bits // 8 + 1}
    from mxemu.packing import SCALE_LAYOUTS

    assert suites.PACK_SCALE_LAYOUTS == SCALE_LAYOUTS
    real = suites.build_pack

    def wrong_byte(*args: object) -> suites.Table:
        table = real(*args)
        table.columns["data"] = table.columns["data"].copy()
        table.columns["data"][2, 0] ^= 0x10
        return table

    monkeypatch.setitem(suites.BUILDERS, "pack", wrong_byte)
    with pytest.raises(MXError, match=r"pack/mxfp4_e2m1: 1 case\(s\) disagree with mxemu\.oracle \(first: case 2\)"):
        suites.build("pack", "mxfp4_e2m1", Policy(), "L0", 0)


def test_truncated_oracle_follows_its_definition() -> None:
    """Hand-worked groups: T = the largest floor(log2 |p|), every product truncated toward zero to a multiple
    of 2^(T - F), exact group sum, one float32 rounding per group; NaN / Inf groups by IEEE rules."""
    F = Fraction
    assert oracle.truncated_dot([F(1), F(3, 8), F(-1, 1024)], 3, 2) == 1.25  # 3/8 -> 1/4, -1/1024 -> 0
    assert oracle.truncated_dot([F(1), F(-3, 8)], 2, 2) == 0.75  # -3/8 -> -1/4: toward zero, not toward -Inf
    # group 0 drops 2^-30 next to 1 (8 bits below 2^0); group 1 holds 2^-30 alone and keeps it, but adding it to
    # 1.0 in float32 rounds it away again
    assert oracle.truncated_dot([F(2) ** -30, F(1), F(2) ** -30, F(0)], 2, 8) == 1.0
    assert oracle.truncated_dot([F(1), F(2) ** -20, F(2) ** -20, F(2) ** -20], 4, 19) == 1.0
    assert oracle.truncated_dot([F(1), F(2) ** -20, F(2) ** -20, F(2) ** -20], 4, 20) == np.float32(1 + 3 * 2.0 ** -20)
    assert np.isnan(oracle.truncated_dot([math.inf, -math.inf, F(1)], 4, 8))
    assert oracle.truncated_dot([F(1), F(1), math.inf, F(0)], 2, 8) == math.inf
    r = oracle.truncated_dot([F(2) ** 127, F(2) ** 127, F(2) ** 127, F(2) ** 127], 2, 8)
    assert r == math.inf  # the first group's sum 2^128 overflows float32


def test_dot_suite_pairs_mixed_formats_and_the_truncated_models(monkeypatch: pytest.MonkeyPatch) -> None:
    t = suites.build("dot", "mxint8", Policy(), "L1", 0)
    two = t.columns["nblk"] == 2  # the one-block weak-spot records pair with every OCP format
    assert {suites.CONVERT_TARGETS[i] for i in t.columns["b_format"][~two].tolist()} == set(suites.OCP_FORMATS)
    t.columns = {k: v[two] for k, v in t.columns.items()}
    b_formats = [suites.CONVERT_TARGETS[i] for i in t.columns["b_format"].tolist()]
    assert set(b_formats) == set(suites.dot_partners(get_format("mxint8"), "L1")) == {"mxint8", "mxfp8_e4m3"}
    mixed = np.array(b_formats) != "mxint8"
    assert {suites.TAGS[i][0] for i in t.columns["tag"][mixed].tolist()} == {"DOT-mixed", "DOT-random"}
    assert (t.columns["b"][mixed] < 256).all() and (t.columns["b"][~mixed] < 256).all()
    cols = {m: suites.bits_to_f32(t.columns[m]) for m in suites.DOT_MODELS}
    finite = np.isfinite(cols["exact"])
    for m in ("trunc_16_24", "trunc_32_8"):
        assert (cols[m][finite & mixed] != cols["exact"][finite & mixed]).any(), m
    assert (cols["trunc_32_8"][finite] != cols["trunc_16_24"][finite]).any()
    assert suites.dot_partners(get_format("mxfp4_e2m1"), "L2") == ("mxfp4_e2m1", *(
        f for f in suites.OCP_FORMATS if f != "mxfp4_e2m1"))
    real = suites.build_dot

    def wrong_truncation(*args: object) -> suites.Table:
        table = real(*args)
        col = table.columns["trunc_32_8"] = table.columns["trunc_32_8"].copy()
        col[np.flatnonzero(np.isfinite(suites.bits_to_f32(col)))[-1]] ^= 1  # the last mixed random pair
        return table

    monkeypatch.setitem(suites.BUILDERS, "dot", wrong_truncation)
    with pytest.raises(MXError, match=r"dot/mxfp4_e2m1: 1 case\(s\) disagree with mxemu\.oracle"):
        suites.build("dot", "mxfp4_e2m1", Policy(), "L0", 0)


def test_pack_suite_interleaves_the_scale_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    t = suites.build("pack", "mxfp6_e2m3", Policy(), "L1", 0)
    c = t.columns
    inter = c["scale_layout"] == suites.PACK_SCALE_LAYOUTS.index("interleaved")
    assert inter.sum() == (~inter).sum() > 0
    # an interleaved record is the scale byte, then the bytes of the same block in the separate layout
    assert np.array_equal(c["data"][inter][:, 0], c["scale"][inter])
    assert np.array_equal(c["data"][inter][:, 1:], c["data"][~inter][:, :-1])
    assert np.array_equal(c["nbytes"][inter], c["nbytes"][~inter] + 1)
    assert {0x00, 0xFE, 0xFF} <= set(c["scale"].tolist())
    real = suites.build_pack

    def wrong_scale_byte(*args: object) -> suites.Table:
        table = real(*args)
        table.columns["data"] = table.columns["data"].copy()
        table.columns["data"][np.flatnonzero(inter)[3], 0] ^= 1
        return table

    monkeypatch.setitem(suites.BUILDERS, "pack", wrong_scale_byte)
    first = int(np.flatnonzero(inter)[3])
    with pytest.raises(MXError, match=rf"pack/mxfp6_e2m3: 1 case\(s\) disagree .* \(first: case {first}\)"):
        suites.build("pack", "mxfp6_e2m3", Policy(), "L1", 0)


def test_exhaustive_run_splits_into_more_shards_than_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reduced sweep (2^16 patterns in chunks of 2^10) cut into parts: 20 shards for 2 sweep files merge
    into the unsharded set byte for byte; a missing or repeated part is refused."""
    from mxemu.golden.generate import Shard, merge, shard_units

    monkeypatch.setattr(suites.sweep, "SWEEP_PATTERNS", 1 << 16)
    monkeypatch.setattr(suites.sweep, "SWEEP_CHUNK_BITS", 10)
    fmts = ("mxfp4_e2m1", "mxint8")
    assert len(shard_units(("sweep",), fmts)) == 2 * suites.SWEEP_PARTS
    generate(tmp_path / "one", ("sweep",), fmts, Policy(), "exhaustive", 3)
    shards = [tmp_path / f"s{i}" for i in range(20)]
    for i, d in enumerate(shards):
        generate(d, ("sweep",), fmts, Policy(), "exhaustive", 3, shard=Shard(i, len(shards)))
    assert {p.name for p in (shards[5] / "sweep").iterdir()} == {"mxfp4_e2m1.part005of016.npz",
                                                                 "mxint8.part009of016.npz"}
    merge(tmp_path / "merged", [str(d) for d in reversed(shards)])
    assert _files(tmp_path / "merged") == _files(tmp_path / "one")
    assert writers.read_npz(str(tmp_path / "one" / "sweep" / "mxint8.npz"))["first"].tolist() == list(
        range(0, 1 << 16, 1 << 10))
    doc = json.loads((shards[1] / "SHARD.json").read_text())
    doc["tables"].append(doc["tables"][0])  # part 1 twice
    (shards[1] / "SHARD.json").write_text(json.dumps(doc))
    with pytest.raises(MXError, match="each part of it exactly once"):
        merge(tmp_path / "bad", [str(d) for d in shards])


# -------------------------------------------------------------------------------------------------------------
# Stochastic rounding: the random integers are an input field
# -------------------------------------------------------------------------------------------------------------

SR8 = Policy(rounding="stochastic", sr_bits=8, name="ocp,rounding=stochastic,sr_bits=8")


@pytest.mark.parametrize("fmt", ["mxfp4_e2m1", "mxint8", "mxfp6_e3m2"])
def test_stochastic_encode_cases_hold_both_sides_of_every_turning_point(fmt: str) -> None:
    """Every inexact input is written with r = 0, r = 2^R - 1 and the two adjacent r where its code changes;
    the oracle alone decides which codes those are."""
    t = suites.build("encode", fmt, SR8, "L0", 0)
    assert [f.name for f in t.fields] == ["tag", "scale", "x", "rnd", "code", "ev", "chk"]
    assert t.field("rnd").lane_bits == 8
    elem = get_format(fmt).element
    x = suites.bits_to_f32(t.columns["x"])
    key = t.columns["scale"].astype(np.int64) << 32 | t.columns["x"]
    turning = 0
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        r = t.columns["rnd"][rows].astype(int).tolist()
        assert r[0] == 0 and r[-1] == 255 and r == sorted(set(r))
        exp = int(t.columns["scale"][rows[0]]) - 127
        want = [oracle.encode_value(float(x[rows[0]]), elem, exp, SR8, v) for v in r]
        assert t.columns["code"][rows].tolist() == want
        if want[0] != want[-1]:
            turning += 1
            steps = [i for i in range(len(r) - 1) if want[i] != want[i + 1]]
            assert len(steps) == 1 and r[steps[0] + 1] == r[steps[0]] + 1  # the turn, pinned to one step of r
    assert turning > 20


def test_stochastic_quantize_blocks_take_zero_top_and_random_integers_and_pass_the_oracle() -> None:
    t = suites.build("quantize", "mxfp4_e2m1", SR8, "L0", 0)
    rnd = t.columns["rnd"].reshape(-1, 3, 32)
    assert (rnd[:, 0] == 0).all() and (rnd[:, 1] == 255).all() and len(np.unique(rnd[:, 2])) > 200
    for i in range(0, t.count, 7):
        codes, scale = oracle.quantize_block(suites.bits_to_f32(t.columns["x"][i]), "mxfp4_e2m1", SR8,
                                             random_bits=t.columns["rnd"][i])
        assert scale == t.columns["scale"][i] and codes.tolist() == t.columns["codes"][i].tolist()
    # the random integers decide: all-zero and all-top integers give different codes on some block
    codes = t.columns["codes"].reshape(-1, 3, 32)
    assert (codes[:, 0] != codes[:, 1]).any()


def test_the_gate_refuses_a_stochastic_decision_taken_with_other_random_integers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = suites.codec.encode

    def shifted(x, fmt, **kw):  # rounds with r + 1: only cases right below a turning point change
        if kw.get("random_bits") is not None:
            kw["random_bits"] = np.minimum(kw["random_bits"].astype(np.int64) + 1, 255)
        return real(x, fmt, **kw)

    monkeypatch.setattr(suites.codec, "encode", shifted)
    with pytest.raises(MXError, match=r"disagree with mxemu\.oracle"):
        suites.build("encode", "mxfp4_e2m1", SR8, "L0", 0)


def test_a_stochastic_set_verifies_and_a_dut_dump_is_checked_with_its_random_integers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sr"
    assert _gen(out, "--suite", "encode,quantize,dot", "--format", "mxfp4_e2m1", "--policy",
                "ocp,rounding=stochastic,sr_bits=8", "--level", "L1") == 0
    assert main(["golden", "verify", str(out)]) == 0
    tv = (out / "encode" / "mxfp4_e2m1.tv").read_text().splitlines()
    first = next(i for i, line in enumerate(tv) if not line.startswith("#"))
    fields = tv[first].split()
    fields[4] = format(int(fields[4], 16) ^ 1, "x")  # the expected code of case 0 altered
    tv[first] = " ".join(fields)
    (tmp_path / "dut.tv").write_text("\n".join(tv) + "\n")
    capsys.readouterr()
    assert main(["golden", "check", str(out), "--suite", "encode/mxfp4_e2m1", "--dut", str(tmp_path / "dut.tv")]) == 1
    assert "case 0" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", suites.OCP_FORMATS)
def test_mb8_tail_blocks_quantize_as_their_short_block_does(fmt: str) -> None:
    """golden.md §6.4 MB8: +0 padding changes neither the scale nor any code of the n real lanes (the
    oracle quantizes the short block itself), and the padding lanes hold the code of +0."""
    t = suites.build("quantize", fmt, Policy(), "L1", 0)
    rows = np.flatnonzero(t.columns["tag"] == suites.TAG_IDS["MB8-tail"])
    assert len(rows) == 31 * 5  # n = 1 .. 31 at each block exponent of L1
    x = suites.bits_to_f32(t.columns["x"])
    for i in rows:
        n = int(np.flatnonzero(x[i])[-1]) + 1
        codes, scale = oracle.quantize_block(x[i][:n], fmt, Policy())
        assert scale == t.columns["scale"][i]
        assert t.columns["codes"][i][:n].tolist() == codes.tolist()
        assert not t.columns["codes"][i][n:].any()


def test_the_recorded_revision_is_dirty_only_for_changes_to_the_code_or_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regenerating one committed set rewrites tracked files under golden/; the next set must not be marked dirty."""
    import subprocess

    from mxemu.golden import manifest as mf

    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        out = "0" * 40 if "rev-parse" in cmd else ""
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    monkeypatch.setattr(mf.subprocess, "run", run)
    assert mf.git_revision() == "0" * 40
    status = next(c for c in calls if "status" in c)
    paths = [Path(p) for p in status[status.index("--") + 1:]]
    package = Path(mf.__file__).resolve().parents[1]
    assert paths == [package, mf.SPEC_DIR]
    assert not any(p.name == "golden" and p.parent == package.parent for p in paths)


@pytest.mark.parametrize("suite", suites.SUITES)
def test_a_float32_scale_value_is_refused_up_front_by_every_suite_that_derives_scales(tmp_path: Path,
                                                                                      suite: str) -> None:
    """Under Brevitas's float32 scale some blocks have no E8M0 code: the suites that record scales computed from
    their inputs refuse the policy before writing anything; the others generate a set that verifies."""
    brevitas = get_policy("brevitas")
    if suite in suites.SCALE_DERIVING_SUITES:
        with pytest.raises(PolicyError, match="scale_value='fp32_min_val'"):
            generate(tmp_path / "out", (suite,), ("mxfp8_e4m3",), brevitas, "L0", 0, progress=None)
        assert not (tmp_path / "out").exists()
    else:
        generate(tmp_path / "out", (suite,), ("mxfp8_e4m3",), brevitas, "L0", 0, progress=None)
        assert main(["golden", "verify", str(tmp_path / "out")]) == 0
