"""Test-session setup shared by every test module: the Triton interpreter, and the markers of what each test needs.

Every test file is listed in NEEDS with what it needs beyond the core (numpy, numba, pytest, hypothesis and
this checkout). A test is marked `core` when its file needs nothing more and the test itself carries none of
the need markers (a test of a core file that needs a peer says so with its own marker). `-m` expressions that
no test of a file can satisfy leave the file uncollected, so `pytest -m core` never imports a file that needs
a package the core lacks.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

# Without a GPU the Triton kernels run under Triton's interpreter, which Triton chooses when a kernel is
# decorated: it must be set before any test imports mxemu.cuda, directly or through mxemu.torch.
if "TRITON_INTERPRET" not in os.environ and importlib.util.find_spec("torch") is not None:
    import torch

    if not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"

HERE = Path(__file__).resolve().parent

# What a test needs beyond the core; `core` is what a test has when it needs none of these.
NEED_MARKERS = ("peers", "torch", "cuda", "rtl")
# Markers of a whole file that say what it reads, not what it needs installed.
FILE_MARKERS = (*NEED_MARKERS, "golden")

NEEDS: dict[str, tuple[str, ...]] = {
    "test_block_oracle.py": (),
    "test_chunked.py": ("peers",),
    "test_codec_exhaustive.py": ("peers",),
    "test_codec_properties.py": (),
    "test_compile_once.py": (),
    "test_conformance_identify.py": ("peers", "torch"),
    "test_conformance_reports.py": (),
    "test_convert.py": (),
    "test_core_only.py": (),
    "test_cuda_packed.py": ("torch", "cuda"),
    "test_cuda_triton.py": ("torch", "cuda"),
    "test_determinism.py": ("peers",),
    "test_docs.py": ("peers", "torch"),
    "test_docs_examples.py": ("peers", "torch"),
    "test_docs_first_hour.py": ("golden",),
    "test_dot.py": (),
    "test_dot_custom_models.py": (),
    "test_dot_fixed_point.py": (),
    "test_dot_float_accumulator.py": (),
    "test_dot_overflow.py": (),
    "test_extending.py": (),
    "test_fast_path.py": ("peers",),
    "test_fast_path_more.py": ("peers",),
    "test_fast_path_f64.py": ("peers",),
    "test_format_kinds.py": (),
    "test_front_end_checks.py": ("torch", "cuda"),
    "test_first_use.py": (),
    "test_fuzz_readers.py": ("torch",),
    "test_golden_check.py": ("golden",),
    "test_golden_committed.py": ("golden",),
    "test_golden_from.py": ("peers",),
    "test_golden_gen.py": ("golden",),
    "test_golden_input_dtype.py": ("peers",),
    "test_golden_security.py": (),
    "test_interrupted_writes.py": ("torch",),
    "test_io.py": ("peers",),
    "test_io_later_fields.py": ("peers",),
    "test_layout_moves.py": ("torch",),
    "test_markers.py": (),
    "test_mfqat_digits_results.py": (),
    "test_mfqat_transformer_results.py": (),
    "test_ml_dtypes_preset.py": ("peers",),
    "test_module_graph.py": (),
    "test_needs.py": (),
    "test_no_silent_acceptance.py": ("peers",),
    "test_numba_cache.py": (),
    "test_oracle.py": ("peers",),
    "test_oracle_errors.py": (),
    "test_oracle_package.py": (),
    "test_out_argument.py": ("peers",),
    "test_packing.py": (),
    "test_peer_scale_policy.py": (),
    "test_peer_scale_refusal.py": (),
    "test_peer_scale_refusal_torch.py": ("torch",),
    "test_policy_text_nan_code.py": ("peers", "torch"),
    "test_presets_brevitas.py": ("peers", "torch"),
    "test_presets_gfloat.py": ("peers",),
    "test_presets_torchao.py": ("peers", "torch"),
    "test_presets_transformer_engine.py": ("peers",),
    "test_quantize_layout.py": ("peers",),
    "test_random_formats.py": ("peers",),
    "test_recipes_dmx.py": ("torch",),
    "test_recipes_examples.py": ("peers", "torch"),
    "test_recipes_micromix.py": ("torch",),
    "test_recipes_schedule.py": ("torch",),
    "test_recipes_tetrajet.py": ("torch",),
    "test_rounding_table.py": (),
    "test_rtl.py": ("rtl", "golden"),
    "test_rtl_harness.py": ("rtl",),
    "test_rtl_mac.py": ("rtl",),
    "test_spec_clauses.py": (),
    "test_spec_policy.py": (),
    "test_testing_kit.py": ("peers", "torch"),
    "test_threads.py": (),
    "test_torch_attention.py": ("peers", "torch"),
    "test_torch_ddp.py": ("torch",),
    "test_torch_fake_quantize.py": ("peers", "torch"),
    "test_torch_nn.py": ("torch",),
    "test_torch_qat.py": ("peers", "torch"),
    "test_torch_real_models.py": ("peers", "torch"),
    "test_validation_table.py": ("peers", "torch", "cuda"),
    "test_zero_sign_policy.py": (),
}


def _file_markers(path: Path) -> tuple[str, ...] | None:
    """The markers of a test file of this directory from NEEDS, `core` added; None for a file elsewhere."""
    if path.parent != HERE or not path.name.startswith("test_"):
        return None
    if path.name not in NEEDS:
        raise pytest.UsageError(f"{path.name} is not in NEEDS of {Path(__file__).name}: add it with what it needs "
                                f"beyond numpy, numba, pytest and hypothesis (any of {', '.join(FILE_MARKERS)})")
    needs = NEEDS[path.name]
    return needs if set(needs) & set(NEED_MARKERS) else ("core", *needs)


def _may_select(expression: Expression, markers: tuple[str, ...]) -> bool:
    """Whether `expression` holds for some test of a file with `markers`, whatever markers the test adds itself.

    Fixed are only the file's markers (present) and, in a file that needs more than the core, `core` (absent);
    every other marker the expression asks about is tried both ways, so a file is left out only when none of
    its tests can be selected.
    """
    trials: list[dict[tuple, bool]] = [{}]
    while trials:
        if _holds(expression, markers, trials.pop(), trials):
            return True
    return False


def _holds(expression: Expression, markers: tuple[str, ...], own: dict[tuple, bool], trials: list) -> bool:
    """`expression` under the file's `markers` and the choices in `own`; a marker not yet chosen is taken absent
    and the same choices with it present are queued in `trials`."""

    def matcher(name: str, /, **kwargs: object) -> bool:
        if not kwargs and name in markers and name != "core":
            return True
        if not kwargs and name == "core" and "core" not in markers:
            return False
        key = (name, *sorted(kwargs.items()))
        if key not in own:
            trials.append({**own, key: True})
            own[key] = False
        return own[key]

    return expression.evaluate(matcher)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    markexpr = config.getoption("markexpr")
    markers = _file_markers(collection_path) if collection_path.suffix == ".py" else None
    if not markexpr or markers is None:
        return None
    return True if not _may_select(Expression.compile(markexpr), markers) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        markers = _file_markers(item.path)
        if markers is None:
            continue
        own_needs = any(item.get_closest_marker(name) for name in NEED_MARKERS)
        for name in markers:
            if name != "core" or not own_needs:
                item.add_marker(name)
