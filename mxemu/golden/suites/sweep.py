"""The sweep suite: SHA-256 digests of the element codes of every float32 pattern, in chunks and parts."""

from __future__ import annotations

import hashlib
from typing import TextIO

import numpy as np

from mxemu import oracle
from mxemu.errors import InputError, MXError, PolicyError
from mxemu.golden.suites.tables import TAG_IDS, Table, layout
from mxemu.golden.suites.values import stream
from mxemu.ops import encode
from mxemu.policy import Policy
from mxemu.spec import MXFormat

SWEEP_CHUNK_BITS = 24  # 2^24 patterns per record: 256 records cover the 2^32 float32 patterns
SWEEP_PATTERNS = 1 << 32  # the patterns a sweep file covers, from 0 (every float32)
# A sharded run cuts each sweep file into this many parts of whole chunks (16 chunks, 2^28 patterns each),
# so that an exhaustive run splits into up to 16 shards per format; `merge` joins the parts again.
SWEEP_PARTS = 16


def sweep_part_range(part: int, parts: int) -> tuple[int, int]:
    """(first pattern, count) of part `part` of `parts` of a sweep file: whole chunks, in pattern order.

    >>> sweep_part_range(1, 16)
    (268435456, 268435456)
    """
    chunks = -(-SWEEP_PATTERNS >> SWEEP_CHUNK_BITS)
    lo, hi = (chunks * part // parts) << SWEEP_CHUNK_BITS, (chunks * (part + 1) // parts) << SWEEP_CHUNK_BITS
    return lo, min(hi, SWEEP_PATTERNS) - lo
SWEEP_SAMPLE = 4096  # Philox-chosen patterns per chunk re-encoded by mxemu.oracle, plus both ends of it


def sweep_table(mx: MXFormat, policy: Policy, seed: int, first: int, count: int, chunk: int,
                progress: TextIO | None = None) -> Table:
    """One record per `chunk` consecutive float32 bit patterns from `first` (`count` in all, the last record
    possibly shorter): DIGEST is SHA-256 of the patterns' element codes at scale 2^0 (one byte per code,
    in pattern order), digest bytes 4i..4i+3 big-endian in lane i. Each chunk is gated on mxemu.oracle for
    its first and last 256 patterns and SWEEP_SAMPLE Philox-chosen ones (`MXError` on any difference)."""
    if not (first >= 0 and count > 0 and first + count <= 1 << 32 and chunk > 0):
        raise InputError(f"sweep range [{first:#x}, {first:#x} + {count:#x}) outside the float32 patterns")
    elem = mx.element
    if policy.nan_to_nonan == "error" and not elem.has_nan:
        raise PolicyError(f"a sweep meets NaN inputs, which {policy.name} refuses for {elem.name}")
    starts = list(range(first, first + count, chunk))
    digests = np.empty((len(starts), 8), np.uint32)
    counts = np.empty(len(starts), np.uint32)
    for k, start in enumerate(starts):
        n = min(chunk, first + count - start)
        x = (np.arange(n, dtype=np.uint32) + np.uint32(start)).view(np.float32)
        codes = encode(x, elem, scale_exp=0, policy=policy).astype(np.uint8)
        sample = stream(seed, f"sweep/{mx.name}/{start}", SWEEP_SAMPLE) % np.uint64(n)
        pick = np.unique(np.concatenate([np.arange(min(n, 256)), np.arange(max(0, n - 256), n),
                                         sample.astype(np.int64)]))
        with np.errstate(invalid="ignore"):  # signalling NaNs on the way to float64
            ref = oracle.encode_array(x[pick], elem, 0, policy)
        bad = np.flatnonzero(ref != codes[pick])
        if bad.size:
            raise MXError(f"sweep/{mx.name}: pattern {int(start + pick[bad[0]]):#010x} disagrees with mxemu.oracle; "
                          f"refusing to write the suite")
        digests[k] = np.frombuffer(hashlib.sha256(codes.tobytes()).digest(), dtype=">u4")
        counts[k] = n
        if progress is not None and (k + 1) % 16 == 0:
            print(f"mxemu golden: sweep/{mx.name}: {k + 1}/{len(starts)} chunks", file=progress, flush=True)
    t = Table("sweep", mx, layout("sweep", mx))
    t.columns = {"tag": np.full(len(starts), TAG_IDS["SWEEP-chunk"], np.uint16),
                 "scale": np.full(len(starts), mx.scale.bias, np.uint8),
                 "first": np.array(starts, dtype=np.uint32), "count": counts, "digest": digests,
                 "ev": np.zeros(len(starts), np.uint8), "chk": np.zeros(len(starts), np.uint8)}
    return t


def build_sweep(mx: MXFormat, policy: Policy, seed: int, part: tuple[int, int] = (0, 1),
                progress: TextIO | None = None) -> Table:
    """The sweep file of `mx`, or part (k, n) of it: the records of `sweep_part_range(k, n)`."""
    first, count = sweep_part_range(*part)
    return sweep_table(mx, policy, seed, first, count, 1 << SWEEP_CHUNK_BITS, progress)
