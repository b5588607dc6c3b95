"""GPU fast path: Triton kernels for MX quantize, dequantize and fake-quantize of torch tensors.

The kernels hold the bytes of the numba kernels (`mxemu.kernels`) for every E8M0 MX format and
every policy; quantize writes unpacked codes or the packed layouts of `mxemu.packing`, which
dequantize_packed reads back. They run on CUDA tensors, or on CPU tensors under the Triton
interpreter (TRITON_INTERPRET=1 set before the kernels are first imported). See docs/gpu.md.
"""

from mxemu.cuda.api import check_device, dequantize, dequantize_packed, fake_quantize, interpreter_mode, quantize

__all__ = ["check_device", "dequantize", "dequantize_packed", "fake_quantize", "interpreter_mode", "quantize"]
