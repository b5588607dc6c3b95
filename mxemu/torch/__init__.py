"""torch integration: autograd MX fake quantization, MX layers, model conversion, MF-QAT and other QAT recipes."""

import sys

from mxemu.torch.functional import fake_quantize, saturation_mask, slice_fake_quantize
from mxemu.torch.nn import (
    MXConv1D,
    MXConv1d,
    MXConv2d,
    MXEmbedding,
    MXLinear,
    MXModule,
    QuantizeHandle,
    dequantize_model,
    load_quantized_state_dict,
    mx_layers,
    quantize_model,
    set_format,
    use_format,
)
from mxemu.torch.qat import MFQATRecipe, load_anchor, save_anchor
from mxemu.torch.recipes import dmx, micromix, schedule, tetrajet
from mxemu.torch.recipes.dmx import (
    DMXLinear,
    FormatLadder,
    bit_budget_loss,
    clamp_offsets,
    expected_bits,
    freeze,
    set_temperature,
    temperature_at,
    to_dmx,
)
from mxemu.torch.recipes.micromix import (
    MicroMixCalibrator,
    MicroMixLinear,
    MicroMixPlan,
    apply_micromix,
    micromix_split,
    random_plan,
)
from mxemu.torch.recipes.schedule import FStarFit, QATSchedule, tokens_per_parameter_byte
from mxemu.torch.recipes.tetrajet import (
    QEMA,
    OscillationTracker,
    QRamping,
    RampingAdamW,
    TetraJetConfig,
    TetraJetLinear,
    to_tetrajet,
)

# The recipes live in mxemu.torch.recipes; their former module names stay importable as the same module objects.
for _recipe in (dmx, micromix, schedule, tetrajet):
    sys.modules[f"{__name__}.{_recipe.__name__.rsplit('.', 1)[1]}"] = _recipe
del _recipe

__all__ = [
    "QEMA",
    "DMXLinear",
    "FStarFit",
    "FormatLadder",
    "MFQATRecipe",
    "MXConv1D",
    "MXConv1d",
    "MXConv2d",
    "MXEmbedding",
    "MXLinear",
    "MXModule",
    "MicroMixCalibrator",
    "MicroMixLinear",
    "MicroMixPlan",
    "OscillationTracker",
    "QATSchedule",
    "QRamping",
    "QuantizeHandle",
    "RampingAdamW",
    "TetraJetConfig",
    "TetraJetLinear",
    "apply_micromix",
    "bit_budget_loss",
    "clamp_offsets",
    "dequantize_model",
    "expected_bits",
    "fake_quantize",
    "freeze",
    "load_anchor",
    "load_quantized_state_dict",
    "micromix_split",
    "mx_layers",
    "quantize_model",
    "random_plan",
    "saturation_mask",
    "save_anchor",
    "set_format",
    "set_temperature",
    "slice_fake_quantize",
    "temperature_at",
    "to_dmx",
    "to_tetrajet",
    "tokens_per_parameter_byte",
    "use_format",
]
