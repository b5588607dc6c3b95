"""mkdocs hooks: regenerate the generated pages and figures before a build, and complete the nav.

The nav's "Formats" and "API reference" sections are filled from what the generator writes (the MX
formats of spec/, the public packages present in the tree); a page of docs/ that the nav does not list
is appended (under "Tutorials" for docs/tutorials/, else under "More"), so a new page is never left out.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", HERE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _paths(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _paths(value)]
    if isinstance(nav, list):
        return [p for item in nav for p in _paths(item)]
    return []


def _section(nav: list, title: str) -> list:
    for entry in nav:
        if isinstance(entry, dict) and title in entry:
            return entry[title]
    entry = {title: []}
    nav.append(entry)
    return entry[title]


def complete_nav(nav: list, generator, docs_dir: Path) -> list:
    """The nav with the generated sections filled in and every unlisted page appended."""
    generated = {"Formats": generator.formats.nav(), "API reference": generator.api.nav()}
    nav = [{key: generated[key]} if isinstance(e, dict) and (key := next(iter(e))) in generated else e
           for e in nav]
    listed = set(_paths(nav)) | set(generator.pages())
    for path in sorted(docs_dir.rglob("*.md")):
        page = path.relative_to(docs_dir).as_posix()
        if page not in listed:
            _section(nav, "Tutorials" if page.startswith("tutorials/") else "More").append(page)
    return nav


def on_config(config):
    config.nav = complete_nav(list(config.nav or []), _generator(), Path(config.docs_dir))
    return config


def on_pre_build(config):
    _generator().main([])
