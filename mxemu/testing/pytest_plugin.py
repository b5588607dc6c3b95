"""pytest plugin: the `mx_conformance` fixture (defined outside the package so that loading it costs nothing)."""

from _mxemu_pytestplugin import mx_conformance

__all__ = ["mx_conformance"]
