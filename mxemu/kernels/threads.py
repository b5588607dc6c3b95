"""How many threads each kernel call uses, and how the work is shared so that no thread stalls a call.

Two ways of running in parallel, both never slower than one thread by construction:

* The fast kernels (fast.py), the conversion and the product kernels run on a small pool of helper
  threads through `run_tasks`: the calling thread starts on the first task at once and takes tasks
  one by one; a helper helps only once the OS has scheduled it. The call waits for the tasks a
  helper has begun, never for a helper that has not started, so a helper descheduled by a busy
  machine (torch's own thread pool, another process) costs nothing. A helper descheduled in the middle
  of a task does hold the call; after such a call, calls run on the calling thread alone for a
  moment (`SERIAL_AFTER_STALL_S`), so that on a busy machine they stay as fast as one thread. The
  kernels are compiled with nogil, so the threads run in parallel; the pool uses no numba threading
  layer at all.
* The general kernels (block.py) use numba's `prange` inside `region`, which sets numba's thread
  count for that one call (the count is per calling thread): one thread below
  `GENERAL_ELEMENTS_PER_THREAD` elements per thread, where the wake-up and the barrier of a
  parallel region cost more than the work.

numba's "workqueue" threading layer (used when neither OpenMP nor TBB is available) aborts the
process when two threads launch parallel kernels at once; `region` then lets one call at a time in.

The thread count is `set_num_threads(n)`, else the environment variable MXEMU_NUM_THREADS, else
numba's thread count of the calling thread (the CPU count by default); `limit_threads` caps it inside a block of code
(the torch wrappers cap it at torch's intra-op thread count).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator

import numba
import numpy as np

from mxemu.errors import InputError

ENV_NUM_THREADS = "MXEMU_NUM_THREADS"
# Elements a thread must have before a parallel call pays (measured with benchmarks/bench_quantize.py
# --threads-sweep: the fast kernels' task is 2^17 elements, ~0.1 ms of work, against a few tens of
# microseconds to wake a helper; the general kernels run at ~50-100 Melem/s and an OpenMP region
# costs ~10 us to open on a quiet machine, milliseconds beside busy threads).
FAST_TASK_ELEMENTS = 1 << 17
GENERAL_ELEMENTS_PER_THREAD = 1 << 15

_requested: int | None = None
_env_parsed: tuple[str, int | None] = ("", None)  # the last valid MXEMU_NUM_THREADS text and its value
_local = threading.local()
_layer_lock = threading.RLock()
_layer_threadsafe: bool | None = None  # None until numba has chosen its threading layer


def _count(value: object, what: str) -> int:
    """value if it is a positive integer (Python or numpy, not bool), else InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _env_count() -> int | None:
    """MXEMU_NUM_THREADS as a positive integer; None when unset or blank."""
    global _env_parsed
    raw = os.environ.get(ENV_NUM_THREADS, "")
    if raw == _env_parsed[0]:
        return _env_parsed[1]
    text = raw.strip()
    if text and not text.isdecimal():
        raise InputError(f"{ENV_NUM_THREADS} must be a positive integer, got {text!r}")
    value = _count(int(text), ENV_NUM_THREADS) if text else None
    _env_parsed = (raw, value)
    return value


def set_num_threads(n: int | None) -> None:
    """Use at most n threads per mxemu call (None: back to MXEMU_NUM_THREADS, else numba's thread count).

    The setting is global; `limit_threads` caps one thread's calls.

    >>> set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(None)
    """
    global _requested
    _requested = None if n is None else _count(n, "the thread count")


def get_num_threads() -> int:
    """The most threads an mxemu call uses now: `set_num_threads`, else MXEMU_NUM_THREADS, else
    `numba.get_num_threads()`, capped by an enclosing `limit_threads`.

    >>> get_num_threads() >= 1
    True
    """
    n = _requested if _requested is not None else _env_count()
    if n is None:
        n = numba.get_num_threads()  # this thread's numba setting: numba.set_num_threads(1) keeps mxemu serial
    cap = getattr(_local, "cap", None)
    return n if cap is None else max(1, min(n, cap))


@contextlib.contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """Cap the thread count of the mxemu calls made by this thread inside the block at n.

    >>> with limit_threads(1):
    ...     get_num_threads()
    1
    """
    n = _count(n, "the thread limit")
    previous = getattr(_local, "cap", None)
    _local.cap = n if previous is None else min(n, previous)
    try:
        yield
    finally:
        _local.cap = previous


def _layer_needs_lock() -> bool:
    """Whether parallel launches must be serialized: until numba has picked its layer, and under workqueue."""
    global _layer_threadsafe
    if _layer_threadsafe is None:
        try:
            _layer_threadsafe = numba.threading_layer() != "workqueue"
        except ValueError:  # no parallel kernel has run yet: the layer is not chosen
            return True
    return not _layer_threadsafe


@contextlib.contextmanager
def region(n_elements: int) -> Iterator[None]:
    """Run the numba parallel kernels called inside on a thread count fit for n_elements, safely on any layer."""
    threads = max(1, min(get_num_threads(), numba.config.NUMBA_NUM_THREADS,
                         n_elements // GENERAL_ELEMENTS_PER_THREAD))
    locked = _layer_needs_lock()
    if locked:
        _layer_lock.acquire()
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
        if locked:
            _layer_lock.release()


class _Tasks:
    """Tasks 0..n-1 of one call, handed out one at a time; counts the tasks under way."""

    def __init__(self, fn: Callable[[int], object], n: int) -> None:
        self._fn, self._n = fn, n
        self._next = itertools.count()
        self._busy = 0
        self._error: BaseException | None = None
        self._done = threading.Condition()

    def work(self) -> int:
        """Run tasks until none is left; how many this thread ran."""
        ran = 0
        while True:
            with self._done:
                i = next(self._next)
                if i >= self._n or self._error is not None:
                    return ran
                self._busy += 1
                ran += 1
            try:
                self._fn(i)
            except BaseException as e:  # handed to the caller, which re-raises it
                with self._done:
                    self._error = self._error or e
            finally:
                with self._done:
                    self._busy -= 1
                    if self._busy == 0:
                        self._done.notify_all()

    def wait(self) -> None:
        """Wait for the tasks that helpers have begun (the caller has taken the last task already)."""
        with self._done:
            while self._busy:
                self._done.wait()
        if self._error is not None:
            raise self._error


class _Pool:
    """Helper threads, started on first need (again after a fork, which copies no threads)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Tasks] = queue.SimpleQueue()
        self._helpers = 0
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def offer(self, tasks: _Tasks, helpers: int) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._jobs, self._helpers, self._pid = queue.SimpleQueue(), 0, os.getpid()
            while self._helpers < helpers:
                threading.Thread(target=self._serve, args=(self._jobs,), name="mxemu-helper", daemon=True).start()
                self._helpers += 1
        for _ in range(helpers):
            self._jobs.put(tasks)

    @staticmethod
    def _serve(jobs: queue.SimpleQueue[_Tasks]) -> None:
        while True:
            jobs.get().work()


_pool = _Pool()
# Seconds of serial calls after a call stalled on a descheduled helper (`run_tasks`): long enough to cover
# the many short calls of a training step, short enough that a machine which quiets down gets its
# helpers back soon; the first call after it probes the helpers again.
SERIAL_AFTER_STALL_S = 0.5
_serial_until = 0.0  # time.monotonic() before which calls run serially


def run_tasks(fn: Callable[[int], object], n_tasks: int, threads: int) -> None:
    """Call fn(0) .. fn(n_tasks - 1), fn releasing the GIL, on the calling thread and up to threads - 1 helpers.

    The caller never waits for a helper that has not started (see the module docstring). After a call that
    took longer than the caller alone would have at its own pace (a helper the OS descheduled mid-task:
    the cores are busy), calls run on the calling thread alone for SERIAL_AFTER_STALL_S, then offer
    tasks to helpers again.
    """
    global _serial_until
    if threads <= 1 or n_tasks <= 1 or time.monotonic() < _serial_until:
        for i in range(n_tasks):
            fn(i)
        return
    tasks = _Tasks(fn, n_tasks)
    _pool.offer(tasks, min(threads, n_tasks) - 1)
    start = time.perf_counter()
    ran = tasks.work()
    worked = time.perf_counter() - start
    tasks.wait()
    # elapsed / n_tasks against worked / ran, with a margin for the wake-up of a helper that did start
    if (time.perf_counter() - start) * ran > 1.1 * worked * n_tasks:
        _serial_until = time.monotonic() + SERIAL_AFTER_STALL_S


def fast_threads(n_elements: int) -> int:
    """Threads for a fast-kernel call on n_elements: one per task of FAST_TASK_ELEMENTS, at most `get_num_threads`."""
    return max(1, min(get_num_threads(), -(-n_elements // FAST_TASK_ELEMENTS)))


def run_row_ranges(kernel: Callable[[int, int], object], rows: int, elements_per_row: int,
                   multiple: int = 1) -> None:
    """kernel(lo, hi) over the rows 0 .. rows - 1 in tasks of about FAST_TASK_ELEMENTS elements (a whole multiple
    of `multiple` rows each), on the calling thread and the pool's helpers (`run_tasks`)."""
    per_task = max(multiple, FAST_TASK_ELEMENTS // max(elements_per_row, 1) // multiple * multiple)
    n_tasks = -(-rows // per_task)
    if n_tasks <= 1:
        # One task runs on the calling thread: only the environment's setting is checked (a bad one is an
        # error at any size), not the whole thread count, whose lookup is a few percent of a small call.
        _env_count()
    run_tasks(lambda t: kernel(t * per_task, min(rows, (t + 1) * per_task)), n_tasks,
              fast_threads(rows * elements_per_row) if n_tasks > 1 else 1)
