"""The `mxemu` command: the format table, a sample encoding, the golden-vector tools and `conform`."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from mxemu import __version__
from mxemu.errors import InputError, MXError
from mxemu.ops import decode, encode, quantize
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, formats, get_format


def format_table() -> str:
    """One line per registered format with its derived constants: largest and smallest positive value (the
    smallest subnormal of a float format, one step of an integer format, the smallest power of a scale)."""
    lines = [f"{'format':<12} {'kind':<6} {'bits':>4} {'emax':>5} {'max':>12} {'min positive':>14}  clause"]
    for name in formats():
        f = get_format(name)
        if isinstance(f, ElementFormat):
            lines.append(f"{name:<12} {f.kind:<6} {f.bits:>4} {f.emax:>5} {float(f.max_normal):>12g} "
                         f"{float(f.min_subnormal):>14g}  {f.clause}")
        elif isinstance(f, ScaleFormat):
            lines.append(f"{name:<12} {'scale':<6} {f.exponent_bits:>4} {f.max_exponent:>5} "
                         f"{2.0 ** f.max_exponent:>12g} {2.0 ** f.min_exponent:>14g}  {f.clause}")
    lines.append("")
    lines.append(f"{'MX format':<12} {'element':<9} {'scale':<9} {'block':>5}  clause")
    for name in formats():
        f = get_format(name)
        if isinstance(f, MXFormat):
            lines.append(f"{name:<12} {f.element.name:<9} {f.scale.name:<9} {f.block_size:>5}  {f.clause}")
    return "\n".join(lines)


def sample() -> str:
    """Encode a short sample vector into each element format and one MX block."""
    x = np.array([0.3, -1.7, 2.5, 100.0, 1e-3, -0.0], np.float32)
    lines = [f"sample x = {x.tolist()}"]
    for name in ("fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "int8"):
        codes = encode(x, name)
        lines.append(f"{name:<9} codes {' '.join(f'{c:02x}' for c in codes)}  values {decode(codes, name).tolist()}")
    q = quantize(np.resize(x, 32), "mxfp4_e2m1")
    lines.append(f"mxfp4_e2m1 block: scale 0x{int(q.scales[0]):02x}, first codes "
                 f"{' '.join(f'{c:x}' for c in q.codes[:6])}, values {q.dequantize()[:6].tolist()}")
    return "\n".join(lines)


def _golden_parser(sub: argparse._SubParsersAction) -> None:
    golden = sub.add_parser("golden", help="golden test-vector sets for RTL verification (gen, verify, check)")
    gsub = golden.add_subparsers(dest="golden_command", metavar="{gen,merge,verify,check}", required=True)
    gen = gsub.add_parser("gen", help="generate an oracle-checked golden set")
    gen.add_argument("--suite", required=True,
                     help="comma-separated: decode, encode, scale, quantize, dequantize, convert, dot, pack "
                          "(all: these eight), "
                          "divergence, sweep (level exhaustive)")
    gen.add_argument("--format", required=True, help="comma-separated MX formats, or all (the six OCP formats)")
    gen.add_argument("--policy", default="ocp",
                     help="preset (default ocp), preset,field=value[,..] (e.g. ocp,rounding=rtz), or a .toml file")
    gen.add_argument("--level", default=None,
                     help="L0 (small, the default), L1 (adds random cases), L2 (dense; hundreds of MB for all suites) "
                          "or exhaustive (the sweep suite: SHA-256 digests of all 2^32 float32 patterns)")
    gen.add_argument("--seed", default=None, help="Philox seed, an integer in [0, 2^64) (default 0)")
    gen.add_argument("--input-dtype", default="float32",
                     help="float32 (default), bfloat16 or float16: the type the float inputs of the encode, scale, "
                          "quantize and divergence suites are generated and written in")
    gen.add_argument("--from", dest="source", default=None,
                     help="FILE (.npz, .hex or .tv) of inputs: a set of exactly those inputs for one suite (encode, "
                          "scale or quantize) and one format, instead of a level's cases")
    gen.add_argument("--accumulation", default=None, metavar="MODEL[,MODEL...]",
                     help="accumulation models (as dot takes them, e.g. fixed_point:16:24:rne:s15.8) added to the "
                          "dot suite as output fields acc0, acc1, ...")
    gen.add_argument("--out", required=True, help="output directory (new, empty, or an earlier golden set)")
    gen.add_argument("--jobs", default="1", help="processes building suite files in parallel (0: every CPU)")
    gen.add_argument("--shard", default=None, help="i/N: write only shard i (0 <= i < N) for a job array; "
                                                   "join the N shards with `mxemu golden merge`")
    mrg = gsub.add_parser("merge", help="join the shards of a --shard i/N run into one set")
    mrg.add_argument("--out", required=True, help="output directory of the merged set")
    mrg.add_argument("shards", nargs="+", help="the N shard directories")
    ver = gsub.add_parser("verify", help="re-check SHA256SUMS and the manifest, regenerate and compare")
    ver.add_argument("directory", help="a golden set, or a directory of sets (each one below it is verified)")
    ver.add_argument("--jobs", default="1", help="processes regenerating suite files (0: every CPU)")
    chk = gsub.add_parser("check", help="compare a device-under-test dump with a suite")
    chk.add_argument("directory")
    chk.add_argument("--suite", required=True, help="suite file name, e.g. quantize/mxfp4_e2m1 (or suite + --format)")
    chk.add_argument("--format", default=None, help="MX format, when --suite names only the suite")
    chk.add_argument("--dut", required=True, help="DUT dump: .tv lines, or one output (or record) hex word per line")
    chk.add_argument("--max-errors", type=int, default=20, help="mismatches explained in full (default 20)")
    chk.add_argument("--only-present", action="store_true",
                     help="cases absent from the dump are reported as not driven, not as failures")
    chk.add_argument("--fields", default=None, help="comma-separated output fields to compare (default: all)")
    chk.add_argument("--nan", default="exact", choices=["exact", "any"],
                     help="any: an expected NaN code matches any NaN code of the lane's format")
    chk.add_argument("--json", action="store_true", help="print the report as one JSON document")


def _jobs(text: str) -> int:
    from mxemu.golden.generate import default_jobs

    try:
        jobs = int(text)
    except ValueError:
        raise InputError(f"--jobs must be an integer, got {text!r}") from None
    if jobs < 0:
        raise InputError(f"--jobs must be 0 (every CPU) or positive, got {jobs}")
    return default_jobs() if jobs == 0 else jobs


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _golden(args: argparse.Namespace) -> int:
    from mxemu.golden import suites
    from mxemu.golden.check import check
    from mxemu.golden.generate import Shard, generate, generate_from, merge
    from mxemu.golden.verify import find_sets, verify

    if args.golden_command == "gen" and args.source is not None:
        given = [f"--{k}" for k, v in (("level", args.level), ("seed", args.seed), ("shard", args.shard),
                                        ("accumulation", args.accumulation)) if v]
        if given or args.jobs != "1":
            raise InputError(f"--from writes exactly the file's inputs; it takes no {', '.join(given) or '--jobs'}")
        doc = generate_from(args.out, args.source, args.suite.strip(), args.format,
                            suites.parse_policy(args.policy), args.input_dtype)
        print(f"wrote {doc['tables'][0]['name']} ({doc['tables'][0]['count']} cases from {args.source}) to "
              f"{args.out}", file=sys.stderr)
        return 0
    if args.golden_command == "gen":
        try:
            seed = int(args.seed or "0", 0)
        except ValueError:
            raise InputError(f"--seed must be an integer, got {args.seed!r}") from None
        level = suites.check_level(args.level or "L0")
        doc = generate(args.out, suites.parse_suites(args.suite, level), suites.parse_formats(args.format),
                       suites.parse_policy(args.policy), level, suites.check_seed(seed),
                       progress=sys.stderr, jobs=_jobs(args.jobs),
                       shard=None if args.shard is None else Shard.parse(args.shard), input_dtype=args.input_dtype,
                       accumulation=() if args.accumulation is None else tuple(args.accumulation.split(",")))
        total = sum(t["count"] for t in doc["tables"])
        what = "" if args.shard is None else f"shard {args.shard}: "
        print(f"{what}wrote {_plural(len(doc['tables']), 'suite file')} ({total} cases) to {args.out}",
              file=sys.stderr)
        return 0
    if args.golden_command == "merge":
        doc = merge(args.out, args.shards, progress=sys.stderr)
        total = sum(t["count"] for t in doc["tables"])
        print(f"merged {len(args.shards)} shard(s): {_plural(len(doc['tables']), 'suite file')} ({total} cases) in "
              f"{args.out}",
              file=sys.stderr)
        return 0
    if args.golden_command == "verify":
        bad = 0
        said: set[str] = set()
        for directory in find_sets(args.directory):
            notes: list[str] = []
            problems = verify(directory, notes, jobs=_jobs(args.jobs))
            for note in notes:  # the same note for every set of a directory is said once
                if note not in said:
                    said.add(note)
                    print(f"note: {note}", file=sys.stderr)
            for p in problems:
                print(f"FAIL {directory}: {p}")
            print(f"{directory}: {'verified' if not problems else f'{len(problems)} problem(s)'}")
            bad += bool(problems)
        return 1 if bad else 0
    fields = None if args.fields is None else tuple(f.strip() for f in args.fields.split(","))
    res = check(args.directory, args.suite, args.dut, args.format, args.max_errors, only_present=args.only_present,
                fields=fields, nan=args.nan)
    print(json.dumps(res.as_dict(), indent=2) if args.json else "\n".join(res.report()))
    return 0 if res.ok else 1


def _conform_parser(sub: argparse._SubParsersAction) -> None:
    conform = sub.add_parser("conform", help="check your quantizer against mxemu byte for byte (mxemu.testing)")
    conform.add_argument("target", help="MODULE:FUNCTION of the quantizer (module importable from here)")
    conform.add_argument("--format", required=True, help="the MX format it implements, e.g. mxfp8_e4m3")
    conform.add_argument("--policy", default="ocp", help="the preset it claims (default: ocp)")
    conform.add_argument("--kind", default="fake_quantize", choices=["fake_quantize", "quantize", "encode"],
                         help="fake_quantize: returns values; quantize: returns (scales, codes); "
                              "encode: returns the element codes of a cast at scale 1")
    conform.add_argument("--tensor", default="numpy", choices=["numpy", "torch"], help="what the function takes")
    conform.add_argument("--device", default="cpu", help="torch device for --tensor torch")
    conform.add_argument("--dtype", default="float32", help="input dtype: float32 (default), float16, bfloat16, "
                                                            "float64")
    conform.add_argument("--max-examples", type=int, default=300, help="generated blocks (default 300)")
    conform.add_argument("--comparison", default="bits", choices=["bits", "nan_any", "value"],
                         help="bits: identical bytes (default); nan_any: any NaN equals any NaN; value: also +0 == -0")
    conform.add_argument("--batched", action="store_true", help="call the function with (N, block_size) blocks "
                                                                "at once instead of one block per call")
    conform.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                         help="keyword argument for the function (repeatable); VALUE is a Python literal, "
                              "else a string")
    conform.add_argument("--json", default=None, metavar="FILE", help="also write the report as JSON to FILE")
    conform.add_argument("--identify", action="store_true", help="also name the policy it behaves like")


def _keyword_arguments(items: list[str]) -> dict[str, object]:
    """--arg NAME=VALUE pairs: NAME an identifier, VALUE a Python literal (or the plain string)."""
    import ast

    kwargs: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise InputError(f"--arg must be NAME=VALUE with NAME a Python identifier, got {item!r}")
        try:
            kwargs[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            kwargs[name] = text
    return kwargs


def _write_json(path: str, text: str) -> None:
    import os

    if os.path.islink(path) or os.path.isdir(path):
        raise InputError(f"--json {path!r} is a link or a directory; give a regular file path")
    from mxemu.io import atomic_write

    try:
        atomic_write(path, lambda out: out.write((text + "\n").encode("utf-8")))
    except OSError as exc:
        raise InputError(f"cannot write --json {path!r}: {exc.strerror}") from None


def _conform(args: argparse.Namespace) -> int:
    import importlib
    import os

    try:
        from mxemu.testing import ConformanceError, check_quantizer, identify
    except ModuleNotFoundError as exc:
        raise InputError(f"mxemu conform needs {exc.name}, which is not installed; from the mxemu checkout: "
                         f"python -m pip install -e \".[testing]\"") from None

    module_name, _, function_name = args.target.partition(":")
    if not module_name or not function_name:
        raise InputError(f"target must be MODULE:FUNCTION, got {args.target!r}")
    kwargs = _keyword_arguments(args.arg)
    sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"cannot load {args.target!r}: {exc}") from None
    common = {"tensor": args.tensor, "device": args.device, "dtype": args.dtype, "comparison": args.comparison,
              "batched": args.batched, "kwargs": kwargs}
    if args.identify:
        print(identify(fn, args.format, args.kind, **common))
    try:
        report = check_quantizer(fn, args.format, args.policy, args.kind, max_examples=args.max_examples, **common)
    except ConformanceError as exc:
        report = exc.report
    if args.json:
        _write_json(args.json, report.to_json())
    verdict = "PASS" if report.ok else "FAIL"
    print(f"{verdict} {args.target} as {args.format} under {args.policy}\n{report}")
    return 0 if report.ok else 1


def _warmup(args: argparse.Namespace) -> int:
    from mxemu.warmup import warmup

    seconds = warmup(progress=sys.stderr)
    print(f"mxemu warmup: kernels ready in numba's cache ({seconds:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mxemu` command; returns the exit status (2 for bad arguments or files)."""
    parser = argparse.ArgumentParser(prog="mxemu", description="Bit-exact OCP Microscaling (MX) emulator.")
    parser.add_argument("--version", action="version", version=f"mxemu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{info,formats,warmup,golden,conform}")
    sub.add_parser("info", help="format table and a sample encoding (default)")
    sub.add_parser("formats", help="the format table only")
    sub.add_parser("warmup", help="compile every kernel now, once (minutes), so that later calls start at once")
    _golden_parser(sub)
    _conform_parser(sub)
    args = parser.parse_args(argv)
    handlers = {"conform": _conform, "golden": _golden, "warmup": _warmup}
    if args.command in handlers:
        try:
            return handlers[args.command](args)
        except MXError as exc:
            print(f"mxemu {args.command}: error: {exc}", file=sys.stderr)
            return 2
    print(format_table())
    if args.command in (None, "info"):
        print()
        print(sample())
    return 0


if __name__ == "__main__":
    sys.exit(main())
