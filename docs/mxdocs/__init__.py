"""Generators of the documentation pages and figures that are built from spec/, mxemu and tests/."""
