"""Thread control: per-call thread counts, the user's override, no stall on a late helper, any threading layer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import needs
import numba
import numpy as np
import pytest

import mxemu as mx
from mxemu.kernels import threads

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _default_thread_count():
    threads.set_num_threads(None)
    yield
    threads.set_num_threads(None)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None.__class__])
def test_set_num_threads_refuses_what_is_not_a_positive_integer(bad):
    with pytest.raises(mx.InputError, match="the thread count must be a positive integer"):
        mx.set_num_threads(bad)


def test_set_num_threads_overrides_the_environment_and_none_restores_it(monkeypatch):
    monkeypatch.setenv("MXEMU_NUM_THREADS", "3")
    assert mx.get_num_threads() == 3
    mx.set_num_threads(5)
    assert mx.get_num_threads() == 5
    mx.set_num_threads(None)
    assert mx.get_num_threads() == 3
    monkeypatch.delenv("MXEMU_NUM_THREADS")
    assert mx.get_num_threads() == numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert mx.get_num_threads() == 1  # numba pinned to one thread pins mxemu too
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@pytest.mark.parametrize("value", ["0", "two", "-4", "1.5"])
def test_a_bad_environment_thread_count_is_a_typed_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("MXEMU_NUM_THREADS", value)
    with pytest.raises(mx.InputError, match="MXEMU_NUM_THREADS must be a positive integer"):
        mx.fake_quantize(np.ones(32, np.float32), "mxfp8_e4m3")


def test_limit_threads_caps_this_thread_only_and_nests():
    mx.set_num_threads(4)
    other = []
    with mx.limit_threads(2):
        with mx.limit_threads(3):
            assert mx.get_num_threads() == 2
            t = threading.Thread(target=lambda: other.append(mx.get_num_threads()))
            t.start()
            t.join()
        assert mx.get_num_threads() == 2
    assert mx.get_num_threads() == 4 and other == [4]


def _spy_run_tasks(monkeypatch) -> list[tuple[int, int]]:
    """Record (tasks, threads) of every run_tasks call (the dispatcher's row ranges reach it in threads.py)."""
    calls = []
    real = threads.run_tasks

    def spy(fn, n_tasks, n_threads):
        calls.append((n_tasks, n_threads))
        return real(fn, n_tasks, n_threads)

    monkeypatch.setattr(threads, "run_tasks", spy)
    return calls


def test_a_call_takes_one_thread_per_task_and_no_more_than_the_setting(monkeypatch):
    calls = _spy_run_tasks(monkeypatch)
    mx.set_num_threads(8)
    x = np.random.default_rng(0).standard_normal(5 * threads.FAST_TASK_ELEMENTS).astype(np.float32)
    mx.fake_quantize(x[: threads.FAST_TASK_ELEMENTS], "mxfp8_e4m3")
    mx.fake_quantize(x, "mxfp8_e4m3")
    mx.set_num_threads(2)
    mx.quantize(x, "mxint8")
    assert calls == [(1, 1), (5, 5), (5, 2)]


def test_results_do_not_depend_on_the_thread_count():
    x = (np.random.default_rng(1).standard_normal(3 * threads.FAST_TASK_ELEMENTS + 96)
         * np.exp2(np.random.default_rng(2).integers(-40, 40, 3 * threads.FAST_TASK_ELEMENTS + 96))).astype(np.float32)
    x[::1001] = np.inf
    results = []
    for n in (1, 3):
        mx.set_num_threads(n)
        q = mx.quantize(x, "mxfp6_e3m2")
        results.append((mx.fake_quantize(x, "mxfp4_e2m1").view(np.uint32), q.codes, q.scales,
                        mx.encode(x, "fp8_e5m2")))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_caller_does_not_wait_for_a_helper_that_has_not_started():
    """Helpers held busy elsewhere (as the OS holds a descheduled thread) leave every task to the caller."""
    mx.set_num_threads(4)
    release = threading.Event()
    blocker = threads._Tasks(lambda i: release.wait(), 3)
    threads._pool.offer(blocker, 3)  # three helpers, each stuck in one task
    try:
        ran_on = []
        threads.run_tasks(lambda i: ran_on.append(threading.get_ident()), 20, 4)
        assert ran_on == [threading.get_ident()] * 20
    finally:
        release.set()
        blocker.wait()


def test_after_a_call_held_by_a_descheduled_helper_calls_run_serially_then_offer_helpers_again(monkeypatch):
    caller = threading.get_ident()
    monkeypatch.setattr(threads, "_serial_until", 0.0)
    helper_began = threading.Event()

    def held(i):  # a helper's task lasts long after the caller's are done, as if the OS descheduled it
        if threading.get_ident() != caller:
            helper_began.set()
            time.sleep(0.2)
        else:
            helper_began.wait(10)

    threads.run_tasks(held, 4, 2)
    assert helper_began.is_set()
    ran_on = []
    threads.run_tasks(lambda i: (ran_on.append(threading.get_ident()), time.sleep(0.002)), 20, 2)
    assert ran_on == [caller] * 20  # 40 ms of tasks that release the GIL, none taken by the idle helper
    # Once the moment has passed, helpers take tasks again (the caller's first task waits for one).
    monkeypatch.setattr(threads, "_serial_until", time.monotonic() - 1)
    ran_on.clear()
    joined = threading.Event()

    def shared(i):
        ran_on.append(threading.get_ident())
        if threading.get_ident() != caller:
            joined.set()
        else:
            joined.wait(10)

    threads.run_tasks(shared, 4, 2)
    assert len(set(ran_on)) == 2


def test_an_error_in_a_task_reaches_the_caller():
    def task(i):
        if i == 7:
            raise mx.InputError("task 7")

    with pytest.raises(mx.InputError, match="task 7"):
        threads.run_tasks(task, 16, 2)


def test_a_general_kernel_call_sets_numba_threads_for_its_size_and_restores_them():
    mx.set_num_threads(2)
    before = numba.get_num_threads()
    with threads.region(threads.GENERAL_ELEMENTS_PER_THREAD):
        assert numba.get_num_threads() == 1
    with threads.region(64 * threads.GENERAL_ELEMENTS_PER_THREAD):
        assert numba.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)
    with mx.limit_threads(1), threads.region(64 * threads.GENERAL_ELEMENTS_PER_THREAD):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


@pytest.mark.torch
def test_the_torch_wrapper_uses_no_more_threads_than_torch(monkeypatch):
    torch = needs.module("torch", "python -m pip install torch==2.13.0 (the README says how to get the CPU build)")
    calls = _spy_run_tasks(monkeypatch)
    mx.set_num_threads(4)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from mxemu.torch import fake_quantize

        fake_quantize(torch.ones(4 * threads.FAST_TASK_ELEMENTS), "mxfp8_e4m3")
    finally:
        torch.set_num_threads(previous)
    assert calls == [(4, 1)]


# Eight Python threads call mxemu at once on every kernel family: fast and general quantize, stochastic
# rounding (Philox in a parallel kernel), dequantize, encode/decode, convert, matmul; each result must
# equal the one computed alone, before the threads start.
_CONCURRENT = textwrap.dedent("""
    import sys, threading
    import numba, numpy as np
    import mxemu as mx
    from mxemu.kernels import threads
    if sys.argv[1] == "unlocked":
        threads._layer_needs_lock = lambda: False
    x = (np.random.default_rng(0).standard_normal(4 * threads.GENERAL_ELEMENTS_PER_THREAD)).astype(np.float32)
    r = np.random.default_rng(1).integers(0, 1 << 32, x.shape, dtype=np.uint32)
    calls = [
        lambda: mx.fake_quantize(x, "mxfp8_e4m3").tobytes(),
        lambda: mx.fake_quantize(x, "mxfp4_e2m1", policy=mx.get_policy("ocp").replace(rounding="rup")).tobytes(),
        lambda: mx.fake_quantize(x, "mxfp6_e2m3", policy=mx.get_policy("ocp").replace(rounding="stochastic"),
                                 seed=7).tobytes(),
        lambda: mx.quantize(x.astype(np.float64), "mxint8").dequantize(np.float16).tobytes(),
        lambda: mx.decode(mx.encode(x, "fp8_e5m2"), "fp8_e5m2", dtype=np.float64).tobytes(),
        lambda: mx.convert(mx.quantize(x, "mxfp8_e4m3"), "mxfp4_e2m1", "slice_and_scale").codes.tobytes(),
        lambda: mx.matmul(mx.quantize(x[:2048].reshape(32, 64), "mxfp8_e4m3", axis=1),
                          mx.quantize(x[:2048].reshape(64, 32), "mxfp8_e4m3", axis=0)).tobytes(),
        # The general kernels (block.py, numba prange): a policy the fast kernels do not take, on enough
        # elements that threads.region gives their parallel loop two threads.
        lambda: mx.fake_quantize(x, "mxfp6_e3m2", policy=mx.get_policy("ocp").replace(subnormal_inputs="flush")
                                 ).tobytes(),
        lambda: mx.fake_quantize(x, "mxfp4_e2m1", policy=mx.get_policy("ocp").replace(rounding="stochastic"),
                                 random_bits=r).tobytes(),
    ]
    expected = [c() for c in calls]
    bad = []
    def work(t):
        for r in range(6):
            i = (t + r) % len(calls)
            if calls[i]() != expected[i]:
                bad.append(i)
    ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print(numba.threading_layer(), "mismatches", sorted(set(bad)))
""")


def _run_concurrent(layer: str, mode: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_THREADING_LAYER": layer, "NUMBA_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-c", _CONCURRENT, mode], env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.parametrize("layer", ["workqueue", "default"])
def test_eight_threads_calling_at_once_are_safe_and_exact_on_every_threading_layer(layer):
    run = _run_concurrent(layer, "locked")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[1:] == ["mismatches", "[]"], run.stdout
    if layer == "workqueue":
        assert run.stdout.split()[0] == "workqueue"


def test_without_the_lock_the_workqueue_layer_aborts_so_the_test_above_can_fail():
    run = _run_concurrent("workqueue", "unlocked")
    assert run.returncode != 0 and "Concurrent access" in run.stderr, (run.returncode, run.stderr[-2000:])
