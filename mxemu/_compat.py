"""What differs between the Python versions mxemu supports: `tomllib` is standard from 3.11, `tomli` before."""

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published separately (pyproject.toml requires it there)
    import tomli as tomllib

__all__ = ["tomllib"]
