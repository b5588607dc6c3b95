"""torch integration: autograd MX fake quantization, MXLinear, model conversion and MF-QAT recipes."""

from mxemu.torch.functional import fake_quantize, saturation_mask, slice_fake_quantize
from mxemu.torch.nn import (
    MXLinear,
    QuantizeHandle,
    dequantize_model,
    mx_layers,
    quantize_model,
    set_format,
    use_format,
)
from mxemu.torch.qat import MFQATRecipe, load_anchor, save_anchor

__all__ = [
    "MFQATRecipe",
    "MXLinear",
    "QuantizeHandle",
    "dequantize_model",
    "fake_quantize",
    "load_anchor",
    "mx_layers",
    "quantize_model",
    "saturation_mask",
    "save_anchor",
    "set_format",
    "slice_fake_quantize",
    "use_format",
]
