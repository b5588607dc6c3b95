"""Conformance kit: strategies, a differential runner and policy identification for other implementations."""

from mxemu.testing.identify import Identification, discriminating_blocks, identify
from mxemu.testing.runner import ConformanceError, check_quantizer

__all__ = ["ConformanceError", "Identification", "check_quantizer", "discriminating_blocks", "identify"]
