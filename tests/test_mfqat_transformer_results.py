"""The committed transformer MF-QAT results (docs/img/mfqat_transformer.json) hold the orderings
docs/mfqat-hf.md states (held-out nats per character: lower is better)."""

import json
from pathlib import Path

import numpy as np
import pytest

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "img" / "mfqat_transformer.json"
W, WA = "weights only", "weights + activations"
MF = ["MF-QAT sample", "MF-QAT sample + slice-aware"]
SPECIALISTS = {W: ["QAT mxint8", "QAT mxint6", "QAT mxint4", "QAT mxint2"],
               WA: ["QAT W8A8", "QAT W6A6", "QAT W4A4"]}
WIDTHS = {W: ["mxint8", "mxint7", "mxint6", "mxint5", "mxint4", "mxint3", "mxint2"],
          WA: ["W8A8", "W7A7", "W6A6", "W5A5", "W4A4"]}


@pytest.fixture(scope="module")
def mean():
    data = json.loads(RESULTS.read_text())
    runs = data["runs"]
    assert len(runs) == 2 and data["args"]["seeds"] == 2
    return {t: {n: {k: float(np.mean([r[t][n][k] for r in runs])) for k in runs[0][t][n]} for n in runs[0][t]}
            for t in (W, WA)}


def _best(mean, table, col):
    return min(mean[table][n][col] for n in SPECIALISTS[table])


def test_single_format_qat_loses_at_the_other_end_of_the_width_range(mean):
    m = mean[W]
    assert m["QAT mxint2"]["mxint8"] - m["QAT mxint8"]["mxint8"] > 0.1
    assert m["QAT mxint8"]["mxint2"] - m["QAT mxint2"]["mxint2"] > 0.3
    m = mean[WA]
    assert m["QAT W4A4"]["W8A8"] - m["QAT W8A8"]["W8A8"] > 0.025
    assert m["QAT W8A8"]["W4A4"] - m["QAT W4A4"]["W4A4"] > 0.025


@pytest.mark.parametrize("col", WIDTHS[W][:-1])
def test_weight_only_mf_qat_is_within_0_05_nats_of_the_best_specialist_at_3_to_8_bits(mean, col):
    for n in MF:
        assert mean[W][n][col] - _best(mean, W, col) <= 0.05, n


def test_weight_only_mf_qat_is_within_0_11_nats_of_the_2_bit_specialist(mean):
    for n in MF:
        assert mean[W][n]["mxint2"] - _best(mean, W, "mxint2") <= 0.11, n


def test_one_mf_qat_model_has_a_better_worst_width_than_every_specialist(mean):
    worst = lambda n: max(mean[W][n][c] for c in WIDTHS[W])
    for n in MF:
        assert worst(n) < min(worst(s) for s in SPECIALISTS[W]), n


@pytest.mark.parametrize("col", WIDTHS[WA])
def test_weight_and_activation_mf_qat_is_within_0_03_nats_of_the_best_specialist(mean, col):
    for n in MF:
        assert mean[WA][n][col] - _best(mean, WA, col) <= 0.03, n


def test_weight_and_activation_mf_qat_beats_the_specialist_of_the_other_end(mean):
    m = mean[WA]
    for n in MF:
        assert m["QAT W8A8"]["W4A4"] - m[n]["W4A4"] > 0.015, n
        assert m["QAT W4A4"]["W8A8"] - m[n]["W8A8"] > 0.015, n


@pytest.mark.parametrize("table", [W, WA])
def test_serving_from_the_anchor_costs_at_most_0_01_nats_at_4_bits_and_above(mean, table):
    for n, cols in mean[table].items():
        for c in WIDTHS[table][1:]:
            if c not in ("mxint3", "mxint2"):
                assert cols[f"{c} sliced"] - cols[c] <= 0.01, (n, c)


def test_slice_aware_training_closes_the_2_bit_slicing_gap(mean):
    m = mean[W]
    aware = m["MF-QAT sample + slice-aware"]
    assert m["MF-QAT sample"]["mxint2 sliced"] - m["MF-QAT sample"]["mxint2"] > 0.02
    assert aware["mxint2 sliced"] < m["MF-QAT sample"]["mxint2 sliced"] - 0.02
    assert aware["mxint2 sliced"] < aware["mxint2"]
