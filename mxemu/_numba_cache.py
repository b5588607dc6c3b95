"""numba's on-disk cache of mxemu's kernels: compile without it where no folder is writable, rebuild it if damaged."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
from collections.abc import Callable
from typing import Any

from numba.core import caching, event

log = logging.getLogger("mxemu")

#: What one new kind of call costs to compile (benchmarks/bench_cold_start.py, docs/benchmarks.md).
COMPILE_SECONDS = "5 to 15 s"

#: What a cache file that cannot be read raises when numba unpickles it (truncated, overwritten, foreign).
_DAMAGE = (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, KeyError, TypeError,
           ValueError, OSError)


def _is_ours(cache: Any) -> bool:
    return getattr(cache._py_func, "__module__", "").startswith("mxemu.")


class UncachedLocator(caching._CacheLocator):
    """The last resort for mxemu's kernels when numba finds no writable cache folder (`NUMBA_CACHE_DIR`,
    the package's `__pycache__`, the user cache): nothing is read or written, kernels compile in each process.

    numba itself would refuse the `cache=True` decorator with "no locator available" and so fail `import mxemu`.
    """

    def __init__(self, py_func: Callable, py_file: str) -> None:
        self._py_file = py_file

    @classmethod
    def from_function(cls, py_func: Callable, py_file: str) -> UncachedLocator | None:
        if not getattr(py_func, "__module__", "").startswith("mxemu."):
            return None
        _announce_uncached()
        return cls(py_func, py_file)

    def ensure_cache_path(self) -> None:
        raise OSError("mxemu: no writable numba cache folder")

    def get_cache_path(self) -> str:
        return os.devnull  # never opened: loads and saves stop before (see `_guarded`)

    def get_source_stamp(self) -> str:
        return "uncached"

    def get_disambiguator(self) -> str:
        return "uncached"


@functools.cache
def _announce_uncached() -> None:
    log.warning("mxemu: no writable numba cache folder (NUMBA_CACHE_DIR, the package's __pycache__, the user "
                "cache); kernels are compiled in every process. Set NUMBA_CACHE_DIR to a writable folder to keep them.")


def _guarded(original: Callable, what: str) -> Callable:
    """numba's `Cache.load_overload` / `save_overload`, which for mxemu's kernels treats a cache entry that
    cannot be read as a miss (its index is removed, so the recompiled kernel is written afresh), a cache that
    cannot be written as no cache, and skips an uncached kernel."""

    @functools.wraps(original)
    def method(self: Any, *args: Any) -> Any:
        if not _is_ours(self):
            return original(self, *args)
        if isinstance(self._impl.locator, UncachedLocator):
            return None
        try:
            return original(self, *args)
        except Exception as exc:  # the cache only saves time: whatever it holds, never fail the call for it
            if isinstance(exc, OSError) and what == "save":
                log.warning("mxemu: cannot write the numba cache of %s: %s", self._name, exc)
                return None
            if not isinstance(exc, _DAMAGE):
                raise
            index = self._cache_file._index_path
            log.warning("mxemu: damaged numba cache entry for %s (%s: %s); removing %s and recompiling",
                        self._name, type(exc).__name__, exc, index)
            with contextlib.suppress(OSError):
                os.unlink(index)
            return original(self, *args) if what == "save" else None

    return method


class _Announce(event.Listener):
    """Says once per process, when the first mxemu kernel is compiled rather than loaded, why the call waits."""

    def on_start(self, ev: event.Event) -> None:
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        if getattr(getattr(dispatcher, "py_func", None), "__module__", "").startswith("mxemu."):
            _announce_compiling()

    def on_end(self, ev: event.Event) -> None:
        pass


@functools.cache
def _announce_compiling() -> None:
    log.warning("mxemu: compiling kernels, one time, about %s for each new kind of call; later runs load them "
                "from numba's cache (`mxemu warmup` compiles them all ahead of time)", COMPILE_SECONDS)


def install() -> None:
    """Add the fallback locator, the damage guard and the compile notice to numba (once; other libraries'
    functions are untouched)."""
    if getattr(caching, "_mxemu_guard", False):
        return
    event.register("numba:compile", _Announce())
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in numba 0.61
    impl._locator_classes = [*impl._locator_classes, UncachedLocator]
    caching.Cache.load_overload = _guarded(caching.Cache.load_overload, "load")
    caching.Cache.save_overload = _guarded(caching.Cache.save_overload, "save")
    caching._mxemu_guard = True


install()
