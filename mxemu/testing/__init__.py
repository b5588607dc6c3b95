"""Conformance kit: strategies, a differential runner and policy identification for other implementations."""

from mxemu.testing.compare import COMPARISONS, FAILURE_CLASSES, Report
from mxemu.testing.discriminating import discriminating_blocks, pair_blocks
from mxemu.testing.identify import Identification, identify
from mxemu.testing.runner import ConformanceError, Target, TargetError, check_quantizer

__all__ = ["COMPARISONS", "FAILURE_CLASSES", "ConformanceError", "Identification", "Report", "Target", "TargetError",
           "check_quantizer", "discriminating_blocks", "identify", "pair_blocks"]
