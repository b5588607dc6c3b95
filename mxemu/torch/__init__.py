"""torch integration: autograd MX fake quantization, MXLinear, model conversion, MF-QAT and other QAT recipes."""

from mxemu.torch.dmx import (
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
from mxemu.torch.functional import fake_quantize, saturation_mask, slice_fake_quantize
from mxemu.torch.micromix import (
    MicroMixCalibrator,
    MicroMixLinear,
    MicroMixPlan,
    apply_micromix,
    micromix_split,
    random_plan,
)
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
from mxemu.torch.schedule import FStarFit, QATSchedule, tokens_per_parameter_byte
from mxemu.torch.tetrajet import (
    QEMA,
    OscillationTracker,
    QRamping,
    RampingAdamW,
    TetraJetConfig,
    TetraJetLinear,
    to_tetrajet,
)

__all__ = [
    "QEMA",
    "DMXLinear",
    "FStarFit",
    "FormatLadder",
    "MFQATRecipe",
    "MXLinear",
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
