"""pytest plugin: the `mx_conformance` fixture, so a kernel project checks itself against mxemu in one line."""

from __future__ import annotations

import pytest

from mxemu.testing.runner import check_quantizer


@pytest.fixture
def mx_conformance():
    """`check_quantizer`: call it with your quantizer, an MX format and the policy it claims.

    def test_my_kernel(mx_conformance):
        mx_conformance(my_kernel, "mxfp8_e4m3", policy="torchao_rceil", kind="quantize", batched=True)
    """
    return check_quantizer
