"""Chooses, for each call, which kernel runs: the general one, or a faster one proven byte-equal to it."""

from __future__ import annotations

import numpy as np

from mxemu.kernels import block as kb


def quantize_rows(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, rbits: np.ndarray,
                  codes: np.ndarray, scales: np.ndarray) -> None:
    """Quantize each row (one block) of integer-viewed floats into codes and E8M0 scales."""
    kb.quantize_blocks(rows, ebits, mbits, F, P, rbits, codes, scales)


def fake_quantize_rows(rows: np.ndarray, ebits: int, mbits: int, F: tuple, P: tuple, rbits: np.ndarray,
                       out: np.ndarray) -> None:
    """Quantize each row and write the dequantized values into out (float32 or float64)."""
    kb.fake_quantize_blocks(rows, ebits, mbits, F, P, rbits, out)
