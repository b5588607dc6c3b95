"""Writes every generated documentation page (and the format figures) from spec/, mxemu and tests/.

Run `python docs/generate.py` (the mkdocs build runs it too, through docs/hooks.py); tests/test_docs.py
fails when a committed page is stale. `--pages-only` skips the figures (no matplotlib needed).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mxdocs import api, formats, policies, trace  # noqa: E402

FIGURES = HERE / "formats" / "figures"


def pages() -> dict[str, Callable[[], str]]:
    """Every generated page: path relative to docs/ -> function that builds its text."""
    return {**policies.pages(), **formats.pages(), **trace.pages(), **api.pages()}


def stale_pages() -> list[str]:
    """Generated pages that are missing or differ from what the generator builds now."""
    return [name for name, build in pages().items()
            if not (HERE / name).is_file() or (HERE / name).read_text(encoding="utf-8") != build()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for name, build in pages().items():
        path = HERE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = build()
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    if "--pages-only" not in argv:
        formats.write_figures(FIGURES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
