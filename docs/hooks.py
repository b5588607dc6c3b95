"""mkdocs hooks: regenerate the generated pages and figures before a build, and list the API pages in the nav."""

from __future__ import annotations

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", HERE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_config(config):
    # The API section lists one page per public package present in the tree (mxemu.cuda is optional).
    nav = _generator().api.nav()
    for i, entry in enumerate(config.nav or []):
        if isinstance(entry, dict) and "API reference" in entry:
            config.nav[i] = {"API reference": nav}
    return config


def on_pre_build(config):
    _generator().main([])
