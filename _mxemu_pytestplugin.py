"""pytest plugin of mxemu: the `mx_conformance` fixture, so a kernel project checks itself against mxemu in one line.

pytest loads this module in every run where mxemu is installed, whatever the project, so it lives outside the
`mxemu` package and imports nothing of it until a test asks for the fixture: a project that does not use mxemu
never pays for it, and never fails because mxemu cannot load there.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def mx_conformance() -> Callable[..., None]:
    """`mxemu.testing.check_quantizer`: call it with your quantizer, an MX format and the policy it claims.

    def test_my_kernel(mx_conformance):
        mx_conformance(my_kernel, "mxfp8_e4m3", policy="torchao_rceil", kind="quantize", batched=True)
    """
    try:
        from mxemu.testing.runner import check_quantizer
    except Exception as exc:  # any reason at all: say it in the test's failure, never in pytest's start-up
        pytest.fail(f"the mx_conformance fixture needs mxemu.testing, which cannot be loaded here "
                    f"({type(exc).__name__}: {exc}); from the mxemu checkout: python -m pip install -e \".[testing]\"",
                    pytrace=False)
    return check_quantizer
