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
