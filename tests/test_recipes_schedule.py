"""Compute-optimal QAT schedules: phase boundaries, warmup/cooldown placement, S statistic, f*(S) fit."""

import doctest
import itertools
import math

import pytest

import mxemu.torch as mxt
from mxemu.errors import InputError
from mxemu.torch.recipes import schedule


def test_fused_switches_qat_on_exactly_at_qat_start():
    s = mxt.QATSchedule(1000, qat_fraction=0.3, warmup_steps=50, cooldown_fraction=0.2, peak_lr=0.1)
    assert s.qat_start == 700 and s.qat_steps == 300
    assert [s.qat(k) for k in (0, 699, 700, 999)] == [False, False, True, True]


def test_fused_cooldown_lies_inside_qat_when_qat_is_longer_than_the_cooldown():
    s = mxt.QATSchedule(1000, qat_fraction=0.3, warmup_steps=50, cooldown_fraction=0.2, peak_lr=0.1, final_lr=0.01)
    assert s.lr(0) == pytest.approx(0.1 / 50) and s.lr(49) == 0.1
    assert all(s.lr(k) == 0.1 for k in range(50, 800))  # QAT starts at the constant LR
    assert s.lr(800) < 0.1 and s.lr(999) == pytest.approx(0.01)
    lrs = [s.lr(k) for k in range(800, 1000)]
    assert all(a > b for a, b in itertools.pairwise(lrs))


def test_fused_cooldown_shrinks_to_the_qat_phase_when_qat_is_shorter():
    s = mxt.QATSchedule(1000, qat_fraction=0.05, cooldown_fraction=0.2, peak_lr=1.0)
    assert s.qat_start == 950
    assert s.lr(949) == 1.0 and not s.qat(949)  # no LR decay in the float phase
    assert s.lr(950) == pytest.approx(1 - 1 / 50) and s.lr(999) == 0.0


def test_classic_float_phase_cools_down_before_qat_restarts():
    s = mxt.QATSchedule(1000, qat_fraction=0.2, warmup_steps=10, cooldown_fraction=0.25, peak_lr=1.0,
                        fused=False, qat_warmup_steps=20)
    assert s.qat_start == 800
    assert s.lr(599) == 1.0 and s.lr(600) < 1.0  # float cooldown = 25 % of the 800 float steps
    assert s.lr(799) == 0.0 and not s.qat(799)
    assert s.qat(800) and s.lr(800) == pytest.approx(1 / 20) and s.lr(819) == 1.0
    assert s.lr(820) < 1.0 and s.lr(999) == 0.0


@pytest.mark.parametrize("shape, half", [("linear", 0.5), ("cosine", 0.5), ("sqrt", 1 - math.sqrt(0.5))])
def test_decay_shapes_start_at_one_end_at_zero_and_hit_their_midpoint(shape, half):
    assert schedule.decay(0.0, shape) == 1.0 and schedule.decay(1.0, shape) == 0.0
    assert schedule.decay(0.5, shape) == pytest.approx(half, abs=1e-15)


def test_cosine_cooldown_values_follow_the_formula():
    s = mxt.QATSchedule(100, qat_fraction=0.5, cooldown_fraction=0.1, peak_lr=2.0, final_lr=0.0, shape="cosine")
    for k in range(90, 100):
        p = (k - 90 + 1) / 10
        assert s.lr(k) == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi * p)), abs=1e-12)


def test_zero_and_full_qat_fractions():
    none = mxt.QATSchedule(100, qat_fraction=0.0)
    full = mxt.QATSchedule(100, qat_fraction=1.0, fused=False)
    assert not any(none.qat(k) for k in range(100))
    assert all(full.qat(k) for k in range(100)) and full.lr(99) == 0.0


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError):
        mxt.QATSchedule(0, 0.1)
    with pytest.raises(InputError):
        mxt.QATSchedule(100, 1.5)
    with pytest.raises(InputError):
        mxt.QATSchedule(100, 0.1, shape="step")
    with pytest.raises(InputError):
        mxt.QATSchedule(100, 0.1, warmup_steps=95, fused=False)
    with pytest.raises(InputError):
        mxt.QATSchedule(100, 0.1, qat_warmup_steps=11)
    with pytest.raises(InputError):
        mxt.QATSchedule(100, 0.1)(100)
    with pytest.raises(InputError):
        mxt.tokens_per_parameter_byte(1e6, 0, 4)


def test_tokens_per_parameter_byte_divides_by_weight_bytes():
    assert mxt.tokens_per_parameter_byte(1000, 100, 8) == 10.0
    assert mxt.tokens_per_parameter_byte(1000, 100, 2) == 40.0


def test_f_star_fit_recovers_a_log_linear_law_and_clips_to_unit_interval():
    s = [10.0, 100.0, 1000.0, 10000.0]
    fit = mxt.FStarFit.fit(s, [0.1 + 0.15 * math.log10(v) for v in s])
    assert fit.a == pytest.approx(0.1) and fit.b == pytest.approx(0.15)
    assert fit(1e12) == 1.0 and fit(1e-9) == 0.0
    with pytest.raises(InputError):
        mxt.FStarFit.fit([5.0, 5.0], [0.1, 0.2])


def test_docstring_examples_run():
    result = doctest.testmod(schedule, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
