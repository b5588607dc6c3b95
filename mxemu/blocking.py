"""Blocking geometry: which elements share a scale, padding to whole blocks, axis moves, chunks that cut no block.

An array is blocked along one axis (blocks of k) or two (square k x k tiles). `to_blocks` moves the blocked
axes last, pads them with zero bits to multiples of k and returns one block per row; every other module
(MXArray, packing, files, the Triton front end) takes its block order from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from mxemu.errors import InputError


def normalize_axes(axis: object, ndim: int) -> tuple[int, ...]:
    """The blocked axes as non-negative ints: one axis, or two for square 2-D tiles."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
    if not isinstance(axes, (tuple, list)) or not 1 <= len(axes) <= 2 or \
            not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        raise InputError(f"axis must be an int or a tuple of two ints (2-D tiles), got {axis!r}")
    if ndim == 0:
        raise InputError("cannot quantize a 0-d array: blocks need at least one axis")
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise InputError(f"axis {a} is out of range for an array of {ndim} dimension(s)")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise InputError(f"axis {axis!r} names the same dimension twice")
    return tuple(out)


def to_blocks(a: np.ndarray, axes: tuple[int, ...], k: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Rows of one block each (padded with zero bits), and the shape of the moved, padded array."""
    moved = np.moveaxis(a, axes, tuple(range(a.ndim - len(axes), a.ndim)))
    pad = [(0, 0)] * (a.ndim - len(axes)) + [(0, -n % k) for n in moved.shape[a.ndim - len(axes):]]
    if any(p for _, p in pad):
        moved = np.pad(moved, pad)
    padded = moved.shape
    if len(axes) == 1:
        return np.ascontiguousarray(moved).reshape(-1, k), padded
    r, c = padded[-2:]
    # The leading dimensions are merged first, so that an array of up to numpy's 64 dimensions can be tiled.
    tiles = moved.reshape(-1, r // k, k, c // k, k).swapaxes(-3, -2)
    return np.ascontiguousarray(tiles).reshape(-1, k * k), padded


def from_blocks(rows: np.ndarray, padded: tuple[int, ...], shape: tuple[int, ...],
                 axes: tuple[int, ...], k: int) -> np.ndarray:
    """Inverse of `to_blocks`: the array of x's shape (padding lanes dropped)."""
    nd = len(shape)
    if len(axes) == 1:
        moved = rows.reshape(padded)
    else:
        r, c = padded[-2:]
        moved = rows.reshape(-1, r // k, c // k, k, k).swapaxes(-3, -2).reshape(padded)
    moved_shape = tuple(np.moveaxis(np.empty(shape, np.uint8), axes, tuple(range(nd - len(axes), nd))).shape)
    moved = moved[tuple(slice(0, n) for n in moved_shape)]
    return np.moveaxis(moved, tuple(range(nd - len(axes), nd)), axes)


def scale_array(scales: np.ndarray, padded: tuple[int, ...], axes: tuple[int, ...], k: int) -> np.ndarray:
    """The scales of `to_blocks`' rows (one per row, in row order) in the array's own axis order."""
    nd = len(padded)
    lead = padded[: nd - len(axes)]
    blocks = tuple(n // k for n in padded[nd - len(axes):])
    return np.moveaxis(scales.reshape(*lead, *blocks), tuple(range(nd - len(axes), nd)), axes)


def block_geometry(shape: tuple[int, ...], axes: tuple[int, ...], k: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(padded moved shape as `to_blocks` builds it, shape of the scales array) of an MX array.

    >>> block_geometry((3, 70), (1,), 32)
    ((3, 96), (3, 3))
    """
    nd = len(shape)
    moved = [shape[i] for i in range(nd) if i not in axes] + [shape[a] for a in axes]
    padded = tuple(moved[: nd - len(axes)] + [-(-n // k) * k for n in moved[nd - len(axes):]])
    scale_shape = tuple(-(-n // k) if i in axes else n for i, n in enumerate(shape))
    return padded, scale_shape


CHUNK_ELEMENTS = 1 << 22  # elements processed per kernel call: bounds every temporary to a few x 16 MiB


def block_chunks(shape: tuple[int, ...], axes: tuple[int, ...] = (), k: int = 1) -> list[tuple[slice, ...]]:
    """Index tuples of sub-arrays of at most about CHUNK_ELEMENTS elements that cover `shape` and cut no
    block of k along `axes` (no axes: element-wise work); one tuple of whole slices when `shape` is small.

    >>> block_chunks((6, 64), (1,), 32)
    [(slice(0, 6, None),)]
    """
    return list(_chunks(shape, axes, k, CHUNK_ELEMENTS)) if shape else [()]


def _chunks(shape: tuple[int, ...], axes: tuple[int, ...], k: int, limit: int,
            dim: int = 0) -> Iterator[tuple[slice, ...]]:
    """Sub-array indexes of about `limit` elements; along a blocked axis a cut falls on a multiple of k,
    so every block lies wholly in one sub-array."""
    n, inner = shape[dim], math.prod(shape[dim + 1:])
    unit = k if dim in axes else 1
    if n * inner <= limit:
        yield (slice(0, n),)
        return
    if unit * inner > limit and dim + 1 < len(shape):  # one unit along this axis is still too big: cut deeper
        for a in range(0, n, unit):
            for rest in _chunks(shape, axes, k, max(limit // unit, 1), dim + 1):
                yield (slice(a, min(a + unit, n)), *rest)
        return
    step = max(unit, limit // inner // unit * unit)
    for a in range(0, n, step):
        yield (slice(a, min(a + step, n)),)


def scale_index(index: tuple[slice, ...], axes: tuple[int, ...], k: int) -> tuple[slice, ...]:
    """The scales of the blocks of the sub-array x[index] (its cuts along blocked axes are multiples of k).

    >>> scale_index((slice(0, 2), slice(64, 128)), (1,), 32)
    (slice(0, 2, None), slice(2, 4, None))
    """
    return tuple(slice(s.start // k, -(-s.stop // k)) if d in axes else s for d, s in enumerate(index))


def flat_runs(shape: tuple[int, ...], index: tuple[slice, ...]) -> tuple[np.ndarray, int]:
    """The sub-array x[index] of a `block_chunks` index as runs of C-order positions in x: (first position
    of each run, run length). Only the last sliced dimension may be partial within a run; every dimension
    after it is whole.

    >>> starts, run = flat_runs((4, 6, 10), (slice(1, 3), slice(2, 4)))
    >>> starts.tolist(), run
    ([80, 140], 20)
    """
    if not index:
        return np.zeros(1, np.int64), math.prod(shape)
    d = len(index)
    inner = math.prod(shape[d:])
    starts = np.array([index[-1].start * inner], np.int64)
    for dim in range(d - 2, -1, -1):
        stride = math.prod(shape[dim + 1:])
        starts = (np.arange(index[dim].start, index[dim].stop, dtype=np.int64)[:, None] * stride + starts).reshape(-1)
    return starts, (index[-1].stop - index[-1].start) * inner
