"""Same inputs, same bytes: across threads, processes, numba thread counts, call orders and seeds."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import mxemu as mx
from mxemu import oracle

ROOT = Path(__file__).resolve().parents[1]

# The calls, as source, so that a child process runs exactly the same ones.
CALLS = textwrap.dedent('''
    import hashlib, io, tempfile
    from pathlib import Path
    import ml_dtypes
    import numpy as np
    import mxemu as mx

    def data():
        rng = np.random.default_rng(2024)
        x = (rng.standard_normal((64, 1000)) * 2.0 ** rng.integers(-30, 30, (64, 1000))).astype(np.float32)
        x[3, 7], x[9, 100], x[20, 999] = np.nan, np.inf, -np.inf
        return x

    def h(a):
        if isinstance(a, mx.MXArray):
            return hashlib.sha256(a.codes.tobytes() + a.scales.tobytes()).hexdigest()
        return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()

    def saved(q, suffix):
        with tempfile.TemporaryDirectory() as d:
            return hashlib.sha256(mx.save(q, Path(d) / ("q" + suffix)).read_bytes()).hexdigest()

    SR = mx.Policy(rounding="stochastic", sr_bits=8)
    CALLS = {
        "fq_mxfp8": lambda x: h(mx.fake_quantize(x, "mxfp8_e4m3")),
        "fq_mxfp4_axis0": lambda x: h(mx.fake_quantize(x, "mxfp4_e2m1", axis=0)),
        "q_mxint8_tiles": lambda x: h(mx.quantize(x, "mxint8", axis=(0, 1))),
        "q_bf16_mxfp6": lambda x: h(mx.quantize(x.astype(ml_dtypes.bfloat16), "mxfp6_e3m2")),
        "fq_f64_torchao": lambda x: h(mx.fake_quantize(x.astype(np.float64), "mxfp8_e5m2", policy="torchao")),
        "fq_sr_seed": lambda x: h(mx.fake_quantize(x, "mxfp4_e2m1", policy=SR, seed=12345)),
        "enc_sr_seed": lambda x: h(mx.encode(x, "fp6_e2m3", policy=SR, seed=2**63 + 5)),
        "enc_fp8": lambda x: h(mx.encode(x, "fp8_e4m3")),
        "nvfp4": lambda x: h(mx.quantize(x, "nvfp4", tensor_scale="amax").codes),
        "save_npz": lambda x: saved(mx.quantize(x, "mxfp4_e2m1"), ".npz"),
        "save_safetensors": lambda x: saved(mx.quantize(x, "mxint8"), ".safetensors"),
    }
''')
namespace: dict = {}
exec(compile(CALLS, "<determinism calls>", "exec"), namespace)  # the same source the children run

CHILD = CALLS + textwrap.dedent('''
    import json, sys
    names = list(CALLS)[::-1] if sys.argv[1] == "reversed" else list(CALLS)
    x = data()
    print(json.dumps({n: CALLS[n](x) for n in names}))
''')


@pytest.fixture(scope="module")
def expected() -> dict[str, str]:
    x = namespace["data"]()
    return {name: call(x) for name, call in namespace["CALLS"].items()}


def test_the_same_calls_from_eight_threads_at_once_give_identical_bytes(expected):
    x = namespace["data"]()
    calls = namespace["CALLS"]
    jobs = [name for name in calls for _ in range(4)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda name: (name, calls[name](x)), jobs))
    for name, digest in got:
        assert digest == expected[name], name


def _children(specs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Run one child per (NUMBA_NUM_THREADS, order) at the same time; their digests."""
    procs = []
    for threads, order in specs:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": threads}
        procs.append(subprocess.Popen([sys.executable, "-c", CHILD, order], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_processes_thread_counts_and_call_order_do_not_change_a_byte(expected):
    runs = _children([("1", "forward"), ("2", "forward"), ("2", "reversed"), ("1", "reversed")])
    for run, spec in zip(runs, ["1 thread", "2 threads", "2 threads, reversed", "1 thread, reversed"], strict=True):
        assert run == expected, f"{spec}: {[n for n in expected if run[n] != expected[n]]} differ"


def test_seeded_stochastic_rounding_draws_the_oracles_philox_stream():
    # Philox4x32-10 keyed by the seed at each element's flat index: the machine-independent definition
    # (oracle.random_ints, pure Python), so a seed reproduces on every machine, not only on this one.
    x = namespace["data"]()[:4, :100]
    for seed, sr_bits in ((0, 8), (12345, 8), (2**64 - 1, 32), (2**40 + 3, 1)):
        pol = mx.Policy(rounding="stochastic", sr_bits=sr_bits)
        bits = oracle.random_ints(seed, np.arange(x.size), sr_bits).reshape(x.shape)
        assert np.array_equal(mx.fake_quantize(x, "mxfp4_e2m1", policy=pol, seed=seed),
                              mx.fake_quantize(x, "mxfp4_e2m1", policy=pol, random_bits=bits), equal_nan=True)
        assert np.array_equal(mx.encode(x, "fp6_e3m2", policy=pol, seed=seed),
                              mx.encode(x, "fp6_e3m2", policy=pol, random_bits=bits))


def test_digests_are_of_distinct_results(expected):
    # a guard on the harness: the calls really compute different things
    assert len(set(expected.values())) == len(expected)
    assert hashlib.sha256(b"").hexdigest() not in expected.values()
