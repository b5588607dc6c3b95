"""The generated documentation pages are up to date, and the API reference and docstrings cover the public API."""

import contextlib
import doctest
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

import mxemu
import mxemu.testing
import mxemu.torch
from mxemu.spec import REGISTRY

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()


@pytest.mark.parametrize("page", sorted(GENERATOR.pages()))
def test_generated_page_is_not_stale(page):
    built = GENERATOR.pages()[page]()
    assert (DOCS / page).read_text(encoding="utf-8") == built, f"run `python docs/generate.py` to refresh {page}"


def _public_packages():
    """Imported public packages with their `__all__`; mxemu.cuda when it is importable here."""
    packages = [mxemu, mxemu.torch, mxemu.testing]
    if importlib.util.find_spec("mxemu.cuda") is not None:
        # Without its GPU stack it does not import; test_api_pages_follow_the_source covers its page then.
        with contextlib.suppress(ImportError):
            packages.append(importlib.import_module("mxemu.cuda"))
    return packages


def test_every_public_name_is_in_the_api_reference():
    text = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.md"))
    entries = {line[4:].strip() for line in text.splitlines() if line.startswith("::: ")}
    missing = [f"{p.__name__}.{n}" for p in _public_packages() for n in p.__all__ if f"{p.__name__}.{n}" not in entries]
    assert not missing
    assert len(entries) >= len(mxemu.__all__) + len(mxemu.torch.__all__)


def test_api_pages_follow_the_source():
    # One page per public package found in the tree, each listing exactly the names of its __all__.
    root = DOCS.parent
    for package, page, _ in GENERATOR.api.PACKAGES:
        init = root.joinpath(*package.split(".")) / "__init__.py"
        assert (DOCS / page).is_file() == init.is_file(), page
    assert GENERATOR.api.public_names("mxemu") == sorted(mxemu.__all__)
    assert GENERATOR.api.public_names("mxemu.torch") == sorted(mxemu.torch.__all__)


def _public_callables():
    for package in _public_packages():
        for name in package.__all__:
            obj = getattr(package, name)
            if callable(obj) and not (inspect.isclass(obj) and issubclass(obj, BaseException)):
                yield f"{package.__name__}.{name}", obj


def test_every_public_function_and_class_has_a_docstring_example():
    missing = [name for name, obj in _public_callables() if ">>>" not in (inspect.getdoc(obj) or "")]
    assert not missing, f"no `>>>` example in the docstring of {missing}"


@pytest.mark.parametrize("name", [n for n, _ in _public_callables() if n.split(".")[1] != "cuda"])
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    # The GPU package's examples need a GPU and are not run here. The format registry is restored
    # afterwards, so the register_formats example leaves no format behind for later tests.
    monkeypatch.chdir(tmp_path)
    for table in ("elements", "scales", "mx"):
        monkeypatch.setattr(REGISTRY, table, dict(getattr(REGISTRY, table)))
    obj = dict(_public_callables())[name]
    module = sys.modules[obj.__module__]
    tests = doctest.DocTestFinder(recurse=False).find(obj, name, module=module, globs=vars(module).copy())
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_tests_name_only_listed_clauses_and_every_clause_is_shown():
    listed = {c.id for c in GENERATOR.trace.clauses()}
    marked = GENERATOR.trace.marked_tests()
    assert set(marked) <= listed, sorted(set(marked) - listed)
    page = (DOCS / "traceability.md").read_text(encoding="utf-8")
    assert all(f"| [{c}](#clause-" in page and f"## {c}: " in page for c in listed)


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nav_gets_the_generated_sections_and_every_unlisted_page(tmp_path):
    (tmp_path / "tutorials").mkdir()
    for page in ["index.md", "listed.md", "new_page.md", "tutorials/new_tutorial.md"]:
        (tmp_path / page).write_text("# t\n", encoding="utf-8")
    nav = [{"Home": "index.md"}, {"Formats": []}, {"Listed": "listed.md"}, {"API reference": []}]
    done = _hooks().complete_nav(nav, GENERATOR, tmp_path)
    sections = {next(iter(e)): next(iter(e.values())) for e in done}
    assert sections["Formats"] == GENERATOR.formats.nav()
    assert {"mxfp4_e2m1": "formats/mxfp4_e2m1.md"} in sections["Formats"]
    assert sections["API reference"] == GENERATOR.api.nav()
    assert sections["More"] == ["new_page.md"]
    assert sections["Tutorials"] == ["tutorials/new_tutorial.md"]


def test_clause_markers_are_read_from_functions_classes_and_modules(tmp_path):
    (tmp_path / "test_a.py").write_text(
        "import pytest\n"
        "pytestmark = [pytest.mark.clause('6.1')]\n"
        "@pytest.mark.clause('6.3', '5.2')\n"
        "@pytest.mark.parametrize('x', [1])\n"
        "def test_f(x):\n    pass\n"
        "@pytest.mark.clause('ext.nvfp4')\n"
        "class TestC:\n"
        "    def test_m(self):\n        pass\n"
        "def helper():\n    pass\n", encoding="utf-8")
    marked = GENERATOR.trace.marked_tests(tmp_path)
    assert marked == {"6.1": ["test_a.py::test_f", "test_a.py::TestC::test_m"], "6.3": ["test_a.py::test_f"],
                      "5.2": ["test_a.py::test_f"], "ext.nvfp4": ["test_a.py::TestC::test_m"]}


def test_a_clause_without_tests_is_shown_as_such(monkeypatch):
    marked = GENERATOR.trace.marked_tests()
    monkeypatch.setattr(GENERATOR.trace, "marked_tests", lambda: {k: v for k, v in marked.items() if k != "6.2"})
    page = GENERATOR.trace.page()
    assert "**no test**: 6.2." in page and "| [6.2](#clause-6-2) | " in page
    assert "- tests: **no test**" in page


@pytest.mark.parametrize(("fmt", "dtype"), [("mxfp8_e4m3", "float8_e4m3fn"), ("mxfp8_e5m2", "float8_e5m2"),
                                            ("mxfp6_e3m2", "float6_e3m2fn"), ("mxfp6_e2m3", "float6_e2m3fn"),
                                            ("mxfp4_e2m1", "float4_e2m1fn")])
def test_format_page_values_equal_ml_dtypes(fmt, dtype):
    import ml_dtypes
    import numpy as np

    rows = [line.split("|") for line in (DOCS / "formats" / f"{fmt}.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `0x")]
    codes = np.array([int(r[1].strip(" `"), 16) for r in rows], np.uint8)
    assert codes.tolist() == list(range(2 ** mxemu.get_format(fmt).element.bits))
    want = codes.view(getattr(ml_dtypes, dtype)).astype(np.float64)
    shown = np.array([float(r[3].split()[0].replace("+Inf", "inf").replace("-Inf", "-inf")) for r in rows])
    assert np.array_equal(np.isnan(shown), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(shown[ok], want[ok]) and np.array_equal(np.signbit(shown[ok]), np.signbit(want[ok]))
