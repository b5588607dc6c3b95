"""The committed digits MF-QAT results (docs/img/mfqat_digits_int.json) hold the orderings docs/torch.md states."""

import json
from pathlib import Path

import numpy as np
import pytest

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "img" / "mfqat_digits_int.json"
SPECIALISTS = ["QAT mxint8", "QAT mxint6", "QAT mxint4", "QAT mxint2"]
MF = ["MF-QAT sample", "MF-QAT sum", "MF-QAT sample + slice-aware"]


@pytest.fixture(scope="module")
def mean():
    runs = json.loads(RESULTS.read_text())
    assert len(runs) == 5
    return {n: {k: float(np.mean([r[n][k] for r in runs])) for k in runs[0][n]} for n in runs[0]}


def _best(mean, fmt):
    return max(mean[n][fmt] for n in SPECIALISTS)


def test_single_format_qat_loses_at_the_other_end_of_the_width_range(mean):
    assert mean["QAT mxint8"]["mxint8"] - mean["QAT mxint2"]["mxint8"] > 5
    assert mean["QAT mxint2"]["mxint2"] - mean["QAT mxint8"]["mxint2"] > 10


@pytest.mark.parametrize("fmt", ["mxint8", "mxint7", "mxint6", "mxint5", "mxint4"])
def test_every_mf_qat_model_is_within_one_point_of_the_best_specialist(mean, fmt):
    for n in MF:
        assert mean[n][fmt] >= _best(mean, fmt) - 1.0, n


@pytest.mark.parametrize("fmt", ["mxint7", "mxint6", "mxint5", "mxint4"])
def test_slicing_from_the_anchor_costs_at_most_one_point_at_4_bits_and_above(mean, fmt):
    for n, cols in mean.items():
        assert cols[fmt] - cols[f"{fmt} sliced"] <= 1.0, n


def test_slice_aware_training_closes_the_2_bit_slicing_gap(mean):
    sliced = {n: mean[n]["mxint2 sliced"] for n in MF}
    assert sliced["MF-QAT sample + slice-aware"] > max(sliced["MF-QAT sample"], sliced["MF-QAT sum"])
    assert sliced["MF-QAT sample + slice-aware"] > mean["MF-QAT sample + slice-aware"]["mxint2"]
