"""Numba kernels: the only place where rounding, saturation and scale selection are decided."""

import hashlib
from pathlib import Path


def _drop_stale_cache() -> None:
    """Delete numba's cached machine code when any kernel source changed.

    numba checks only the modification time of the file that defines a cached function, not of
    the files it calls into, so an edit of element.py would leave block.py's cached kernels
    running the old element code. A digest of all kernel sources, kept next to the cache,
    invalidates the whole cache at once instead.
    """
    here = Path(__file__).resolve().parent
    cache = here / "__pycache__"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(here.glob("*.py")))).hexdigest()
    stamp = cache / "mxemu-kernels.sha256"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        for stale in (*cache.glob("*.nbi"), *cache.glob("*.nbc")):
            stale.unlink()
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        # A read-only installation: numba then keeps its cache elsewhere (NUMBA_CACHE_DIR).
        pass


_drop_stale_cache()
