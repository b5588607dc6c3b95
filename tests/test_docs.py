"""The generated documentation pages are up to date with the code that generates them."""

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["policies.md"])
def test_generated_page_is_not_stale(page):
    built = _generator().PAGES[page]()
    assert (DOCS / page).read_text(encoding="utf-8") == built, f"run `python docs/generate.py` to refresh {page}"
