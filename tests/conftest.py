"""Test-session setup shared by every test module."""

import importlib.util
import os

# Without a GPU the Triton kernels run under Triton's interpreter, which Triton chooses when a kernel is
# decorated: it must be set before any test imports mxemu.cuda, directly or through mxemu.torch.
if "TRITON_INTERPRET" not in os.environ and importlib.util.find_spec("torch") is not None:
    import torch

    if not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"
