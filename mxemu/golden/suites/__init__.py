"""Golden-vector suites: each suite's cases, expected results from the kernels, and the oracle gate
(one module per suite family; this package re-exports their names)."""

from mxemu.golden.suites.args import (
    check_block_size,
    check_input_dtype,
    check_level,
    check_level_suites,
    check_policy,
    check_seed,
    parse_formats,
    parse_policy,
    parse_suites,
)
from mxemu.golden.suites.blocks import (
    DIVERGENCE_PER_CLASS,
    QUANTIZE_RANDOM,
    blocks_table,
    build_divergence,
    build_quantize,
    build_scale,
    divergence_presets,
)
from mxemu.golden.suites.codec import build_decode, build_encode, encode_scales, encode_table
from mxemu.golden.suites.convert import CONVERT_STEP, build_convert, convert_targets
from mxemu.golden.suites.dequantize import build_dequantize, dequantize_scales, oracle_dequantize
from mxemu.golden.suites.dot import (
    DOT_PARTNERS,
    DOT_RANDOM,
    DOT_STEP,
    DOT_SUM_LSB,
    build_dot,
    dot_models,
    dot_partners,
    float_fields,
    oracle_dot_fields,
    user_fields,
)
from mxemu.golden.suites.gate import BUILDERS, build, gate, oracle_mismatches, oracle_outputs
from mxemu.golden.suites.pack import PACK_RANDOM, PACK_SCALES, build_pack
from mxemu.golden.suites.sweep import (
    SWEEP_CHUNK_BITS,
    SWEEP_PARTS,
    SWEEP_PATTERNS,
    SWEEP_SAMPLE,
    build_sweep,
    sweep_part_range,
    sweep_table,
)
from mxemu.golden.suites.tables import (
    ALL_SUITES,
    BLOCK,
    CHECK_CLASSES,
    CONVERT_METHODS,
    CONVERT_TARGETS,
    DOT_ACCUMULATIONS,
    DOT_DATAPATHS,
    DOT_K,
    DOT_MODELS,
    DOT_PER_BLOCK,
    DOT_SUM_LANES,
    DOT_WORDS,
    EV_INEXACT,
    EV_NONFINITE,
    EV_OVERFLOW,
    EV_SATURATED,
    EV_SCALE_END,
    EV_SCALE_NAN,
    EV_UNDERFLOW,
    EVENT_NAMES,
    EVENTS,
    FP32_MAX,
    INPUT_DTYPE_NAMES,
    INPUT_SUITES,
    LEVELS,
    OCP_FORMATS,
    PACK_DATA,
    PACK_LAYOUTS,
    PACK_SCALE_LAYOUTS,
    SCALE_DERIVING_SUITES,
    STOCHASTIC_SUITES,
    SUITES,
    TAG_IDS,
    TAGS,
    Field,
    Table,
    layout,
    stochastic,
)
from mxemu.golden.suites.values import (
    INPUT_DTYPES,
    InputDtype,
    bits_to_f32,
    f32,
    f32_bits,
    grid,
    neighbours,
    stream,
)
