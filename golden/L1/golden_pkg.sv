// golden_pkg.sv: record layouts of an mxemu golden set (generated; do not edit).
// Packed structs list fields most significant first, as the .hex words do; a vector field
// logic [LANES-1:0][LANE_BITS-1:0] puts lane i at bits [i*LANE_BITS +: LANE_BITS].
package golden_pkg;

  localparam int unsigned CHK_EXACT = 0;
  localparam int unsigned CHK_NAN = 1;
  localparam int unsigned CHK_CODES_DONT_CARE = 2;
  localparam int unsigned EV_INEXACT = 1 << 0;
  localparam int unsigned EV_UNDERFLOW = 1 << 1;
  localparam int unsigned EV_SATURATED = 1 << 2;
  localparam int unsigned EV_NONFINITE = 1 << 3;
  localparam int unsigned EV_SCALE_END = 1 << 4;
  localparam int unsigned EV_SCALE_NAN = 1 << 5;
  localparam int unsigned EV_OVERFLOW = 1 << 6;
  localparam int unsigned TAG_DEC_ZERO = 0;
  localparam int unsigned TAG_DEC_SUBNORMAL = 1;
  localparam int unsigned TAG_DEC_NORMAL = 2;
  localparam int unsigned TAG_DEC_INF = 3;
  localparam int unsigned TAG_DEC_NAN = 4;
  localparam int unsigned TAG_ENC_GRID = 5;
  localparam int unsigned TAG_ENC_GRID_ULP = 6;
  localparam int unsigned TAG_ENC_MID = 7;
  localparam int unsigned TAG_ENC_MID_ULP = 8;
  localparam int unsigned TAG_ENC_OVERFLOW = 9;
  localparam int unsigned TAG_ENC_UNDERFLOW = 10;
  localparam int unsigned TAG_ENC_SPECIAL = 11;
  localparam int unsigned TAG_ENC_FP32_SUB = 12;
  localparam int unsigned TAG_ENC_RANDOM = 13;
  localparam int unsigned TAG_SC_POW2 = 14;
  localparam int unsigned TAG_SC_POW2_ULP = 15;
  localparam int unsigned TAG_SC_MAXNORM = 16;
  localparam int unsigned TAG_SC_SATWIN = 17;
  localparam int unsigned TAG_SC_EVEN = 18;
  localparam int unsigned TAG_SC_DISCRIM = 19;
  localparam int unsigned TAG_SC_FP32_SUB = 20;
  localparam int unsigned TAG_SC_ZERO = 21;
  localparam int unsigned TAG_SC_NONFINITE = 22;
  localparam int unsigned TAG_SC_CLAMP_LO = 23;
  localparam int unsigned TAG_SC_CLAMP_HI = 24;
  localparam int unsigned TAG_SC_SIGNTIE = 25;
  localparam int unsigned TAG_MB1_CLASSES = 26;
  localparam int unsigned TAG_MB2_AMAX_LANE = 27;
  localparam int unsigned TAG_MB2_POW2_ULP = 28;
  localparam int unsigned TAG_MB3_SMALL_LANES = 29;
  localparam int unsigned TAG_MB4_TIES = 30;
  localparam int unsigned TAG_MB5_ZERO = 31;
  localparam int unsigned TAG_MB6_NONFINITE = 32;
  localparam int unsigned TAG_MB7_SCALE_ENDS = 33;
  localparam int unsigned TAG_MB8_SATURATION = 34;
  localparam int unsigned TAG_MB9_INT_MIN = 35;
  localparam int unsigned TAG_MB_FP32_SUB = 36;
  localparam int unsigned TAG_MB_RANDOM = 37;
  localparam int unsigned TAG_DQ_ZERO = 38;
  localparam int unsigned TAG_DQ_NORMAL = 39;
  localparam int unsigned TAG_DQ_FP32_SUB = 40;
  localparam int unsigned TAG_DQ_OVERFLOW = 41;
  localparam int unsigned TAG_DQ_SPECIAL = 42;
  localparam int unsigned TAG_DQ_SCALE_NAN = 43;
  localparam int unsigned TAG_SWEEP_CHUNK = 44;
  localparam int unsigned PRESET_OCP_BIT = 0;
  localparam int unsigned PRESET_TORCHAO_BIT = 1;
  localparam int unsigned PRESET_TORCHAO_CEIL_BIT = 2;
  localparam int unsigned PRESET_TORCHAO_EVEN_BIT = 3;
  localparam int unsigned PRESET_TORCHAO_RCEIL_BIT = 4;
  localparam int unsigned PRESET_MICROXCALING_BIT = 5;
  localparam int unsigned PRESET_TRANSFORMER_ENGINE_BIT = 6;
  localparam int unsigned PRESET_GFLOAT_BIT = 7;
  localparam int unsigned PRESET_ML_DTYPES_BIT = 8;

  // decode/mxfp8_e4m3: 256 cases
  localparam int unsigned DECODE_MXFP8_E4M3_COUNT = 256;
  localparam int unsigned DECODE_MXFP8_E4M3_RECORD_BITS = 68;
  localparam int unsigned DECODE_MXFP8_E4M3_TAG_OFFSET = 52;
  localparam int unsigned DECODE_MXFP8_E4M3_TAG_LANE_BITS = 16;
  localparam int unsigned DECODE_MXFP8_E4M3_TAG_LANES = 1;
  localparam int unsigned DECODE_MXFP8_E4M3_CODE_OFFSET = 44;
  localparam int unsigned DECODE_MXFP8_E4M3_CODE_LANE_BITS = 8;
  localparam int unsigned DECODE_MXFP8_E4M3_CODE_LANES = 1;
  localparam int unsigned DECODE_MXFP8_E4M3_VALUE_OFFSET = 12;
  localparam int unsigned DECODE_MXFP8_E4M3_VALUE_LANE_BITS = 32;
  localparam int unsigned DECODE_MXFP8_E4M3_VALUE_LANES = 1;
  localparam int unsigned DECODE_MXFP8_E4M3_EV_OFFSET = 4;
  localparam int unsigned DECODE_MXFP8_E4M3_EV_LANE_BITS = 8;
  localparam int unsigned DECODE_MXFP8_E4M3_EV_LANES = 1;
  localparam int unsigned DECODE_MXFP8_E4M3_CHK_OFFSET = 0;
  localparam int unsigned DECODE_MXFP8_E4M3_CHK_LANE_BITS = 4;
  localparam int unsigned DECODE_MXFP8_E4M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } decode_mxfp8_e4m3_t;

  // decode/mxfp8_e5m2: 256 cases
  localparam int unsigned DECODE_MXFP8_E5M2_COUNT = 256;
  localparam int unsigned DECODE_MXFP8_E5M2_RECORD_BITS = 68;
  localparam int unsigned DECODE_MXFP8_E5M2_TAG_OFFSET = 52;
  localparam int unsigned DECODE_MXFP8_E5M2_TAG_LANE_BITS = 16;
  localparam int unsigned DECODE_MXFP8_E5M2_TAG_LANES = 1;
  localparam int unsigned DECODE_MXFP8_E5M2_CODE_OFFSET = 44;
  localparam int unsigned DECODE_MXFP8_E5M2_CODE_LANE_BITS = 8;
  localparam int unsigned DECODE_MXFP8_E5M2_CODE_LANES = 1;
  localparam int unsigned DECODE_MXFP8_E5M2_VALUE_OFFSET = 12;
  localparam int unsigned DECODE_MXFP8_E5M2_VALUE_LANE_BITS = 32;
  localparam int unsigned DECODE_MXFP8_E5M2_VALUE_LANES = 1;
  localparam int unsigned DECODE_MXFP8_E5M2_EV_OFFSET = 4;
  localparam int unsigned DECODE_MXFP8_E5M2_EV_LANE_BITS = 8;
  localparam int unsigned DECODE_MXFP8_E5M2_EV_LANES = 1;
  localparam int unsigned DECODE_MXFP8_E5M2_CHK_OFFSET = 0;
  localparam int unsigned DECODE_MXFP8_E5M2_CHK_LANE_BITS = 4;
  localparam int unsigned DECODE_MXFP8_E5M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } decode_mxfp8_e5m2_t;

  // decode/mxfp6_e3m2: 64 cases
  localparam int unsigned DECODE_MXFP6_E3M2_COUNT = 64;
  localparam int unsigned DECODE_MXFP6_E3M2_RECORD_BITS = 66;
  localparam int unsigned DECODE_MXFP6_E3M2_TAG_OFFSET = 50;
  localparam int unsigned DECODE_MXFP6_E3M2_TAG_LANE_BITS = 16;
  localparam int unsigned DECODE_MXFP6_E3M2_TAG_LANES = 1;
  localparam int unsigned DECODE_MXFP6_E3M2_CODE_OFFSET = 44;
  localparam int unsigned DECODE_MXFP6_E3M2_CODE_LANE_BITS = 6;
  localparam int unsigned DECODE_MXFP6_E3M2_CODE_LANES = 1;
  localparam int unsigned DECODE_MXFP6_E3M2_VALUE_OFFSET = 12;
  localparam int unsigned DECODE_MXFP6_E3M2_VALUE_LANE_BITS = 32;
  localparam int unsigned DECODE_MXFP6_E3M2_VALUE_LANES = 1;
  localparam int unsigned DECODE_MXFP6_E3M2_EV_OFFSET = 4;
  localparam int unsigned DECODE_MXFP6_E3M2_EV_LANE_BITS = 8;
  localparam int unsigned DECODE_MXFP6_E3M2_EV_LANES = 1;
  localparam int unsigned DECODE_MXFP6_E3M2_CHK_OFFSET = 0;
  localparam int unsigned DECODE_MXFP6_E3M2_CHK_LANE_BITS = 4;
  localparam int unsigned DECODE_MXFP6_E3M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [5:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } decode_mxfp6_e3m2_t;

  // decode/mxfp6_e2m3: 64 cases
  localparam int unsigned DECODE_MXFP6_E2M3_COUNT = 64;
  localparam int unsigned DECODE_MXFP6_E2M3_RECORD_BITS = 66;
  localparam int unsigned DECODE_MXFP6_E2M3_TAG_OFFSET = 50;
  localparam int unsigned DECODE_MXFP6_E2M3_TAG_LANE_BITS = 16;
  localparam int unsigned DECODE_MXFP6_E2M3_TAG_LANES = 1;
  localparam int unsigned DECODE_MXFP6_E2M3_CODE_OFFSET = 44;
  localparam int unsigned DECODE_MXFP6_E2M3_CODE_LANE_BITS = 6;
  localparam int unsigned DECODE_MXFP6_E2M3_CODE_LANES = 1;
  localparam int unsigned DECODE_MXFP6_E2M3_VALUE_OFFSET = 12;
  localparam int unsigned DECODE_MXFP6_E2M3_VALUE_LANE_BITS = 32;
  localparam int unsigned DECODE_MXFP6_E2M3_VALUE_LANES = 1;
  localparam int unsigned DECODE_MXFP6_E2M3_EV_OFFSET = 4;
  localparam int unsigned DECODE_MXFP6_E2M3_EV_LANE_BITS = 8;
  localparam int unsigned DECODE_MXFP6_E2M3_EV_LANES = 1;
  localparam int unsigned DECODE_MXFP6_E2M3_CHK_OFFSET = 0;
  localparam int unsigned DECODE_MXFP6_E2M3_CHK_LANE_BITS = 4;
  localparam int unsigned DECODE_MXFP6_E2M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [5:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } decode_mxfp6_e2m3_t;

  // decode/mxfp4_e2m1: 16 cases
  localparam int unsigned DECODE_MXFP4_E2M1_COUNT = 16;
  localparam int unsigned DECODE_MXFP4_E2M1_RECORD_BITS = 64;
  localparam int unsigned DECODE_MXFP4_E2M1_TAG_OFFSET = 48;
  localparam int unsigned DECODE_MXFP4_E2M1_TAG_LANE_BITS = 16;
  localparam int unsigned DECODE_MXFP4_E2M1_TAG_LANES = 1;
  localparam int unsigned DECODE_MXFP4_E2M1_CODE_OFFSET = 44;
  localparam int unsigned DECODE_MXFP4_E2M1_CODE_LANE_BITS = 4;
  localparam int unsigned DECODE_MXFP4_E2M1_CODE_LANES = 1;
  localparam int unsigned DECODE_MXFP4_E2M1_VALUE_OFFSET = 12;
  localparam int unsigned DECODE_MXFP4_E2M1_VALUE_LANE_BITS = 32;
  localparam int unsigned DECODE_MXFP4_E2M1_VALUE_LANES = 1;
  localparam int unsigned DECODE_MXFP4_E2M1_EV_OFFSET = 4;
  localparam int unsigned DECODE_MXFP4_E2M1_EV_LANE_BITS = 8;
  localparam int unsigned DECODE_MXFP4_E2M1_EV_LANES = 1;
  localparam int unsigned DECODE_MXFP4_E2M1_CHK_OFFSET = 0;
  localparam int unsigned DECODE_MXFP4_E2M1_CHK_LANE_BITS = 4;
  localparam int unsigned DECODE_MXFP4_E2M1_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [3:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } decode_mxfp4_e2m1_t;

  // decode/mxint8: 256 cases
  localparam int unsigned DECODE_MXINT8_COUNT = 256;
  localparam int unsigned DECODE_MXINT8_RECORD_BITS = 68;
  localparam int unsigned DECODE_MXINT8_TAG_OFFSET = 52;
  localparam int unsigned DECODE_MXINT8_TAG_LANE_BITS = 16;
  localparam int unsigned DECODE_MXINT8_TAG_LANES = 1;
  localparam int unsigned DECODE_MXINT8_CODE_OFFSET = 44;
  localparam int unsigned DECODE_MXINT8_CODE_LANE_BITS = 8;
  localparam int unsigned DECODE_MXINT8_CODE_LANES = 1;
  localparam int unsigned DECODE_MXINT8_VALUE_OFFSET = 12;
  localparam int unsigned DECODE_MXINT8_VALUE_LANE_BITS = 32;
  localparam int unsigned DECODE_MXINT8_VALUE_LANES = 1;
  localparam int unsigned DECODE_MXINT8_EV_OFFSET = 4;
  localparam int unsigned DECODE_MXINT8_EV_LANE_BITS = 8;
  localparam int unsigned DECODE_MXINT8_EV_LANES = 1;
  localparam int unsigned DECODE_MXINT8_CHK_OFFSET = 0;
  localparam int unsigned DECODE_MXINT8_CHK_LANE_BITS = 4;
  localparam int unsigned DECODE_MXINT8_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } decode_mxint8_t;

  // encode/mxfp8_e4m3: 21649 cases
  localparam int unsigned ENCODE_MXFP8_E4M3_COUNT = 21649;
  localparam int unsigned ENCODE_MXFP8_E4M3_RECORD_BITS = 76;
  localparam int unsigned ENCODE_MXFP8_E4M3_TAG_OFFSET = 60;
  localparam int unsigned ENCODE_MXFP8_E4M3_TAG_LANE_BITS = 16;
  localparam int unsigned ENCODE_MXFP8_E4M3_TAG_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E4M3_SCALE_OFFSET = 52;
  localparam int unsigned ENCODE_MXFP8_E4M3_SCALE_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP8_E4M3_SCALE_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E4M3_X_OFFSET = 20;
  localparam int unsigned ENCODE_MXFP8_E4M3_X_LANE_BITS = 32;
  localparam int unsigned ENCODE_MXFP8_E4M3_X_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E4M3_CODE_OFFSET = 12;
  localparam int unsigned ENCODE_MXFP8_E4M3_CODE_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP8_E4M3_CODE_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E4M3_EV_OFFSET = 4;
  localparam int unsigned ENCODE_MXFP8_E4M3_EV_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP8_E4M3_EV_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E4M3_CHK_OFFSET = 0;
  localparam int unsigned ENCODE_MXFP8_E4M3_CHK_LANE_BITS = 4;
  localparam int unsigned ENCODE_MXFP8_E4M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [31:0] x;
    logic [7:0] code;
    logic [7:0] ev;
    logic [3:0] chk;
  } encode_mxfp8_e4m3_t;

  // encode/mxfp8_e5m2: 21349 cases
  localparam int unsigned ENCODE_MXFP8_E5M2_COUNT = 21349;
  localparam int unsigned ENCODE_MXFP8_E5M2_RECORD_BITS = 76;
  localparam int unsigned ENCODE_MXFP8_E5M2_TAG_OFFSET = 60;
  localparam int unsigned ENCODE_MXFP8_E5M2_TAG_LANE_BITS = 16;
  localparam int unsigned ENCODE_MXFP8_E5M2_TAG_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E5M2_SCALE_OFFSET = 52;
  localparam int unsigned ENCODE_MXFP8_E5M2_SCALE_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP8_E5M2_SCALE_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E5M2_X_OFFSET = 20;
  localparam int unsigned ENCODE_MXFP8_E5M2_X_LANE_BITS = 32;
  localparam int unsigned ENCODE_MXFP8_E5M2_X_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E5M2_CODE_OFFSET = 12;
  localparam int unsigned ENCODE_MXFP8_E5M2_CODE_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP8_E5M2_CODE_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E5M2_EV_OFFSET = 4;
  localparam int unsigned ENCODE_MXFP8_E5M2_EV_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP8_E5M2_EV_LANES = 1;
  localparam int unsigned ENCODE_MXFP8_E5M2_CHK_OFFSET = 0;
  localparam int unsigned ENCODE_MXFP8_E5M2_CHK_LANE_BITS = 4;
  localparam int unsigned ENCODE_MXFP8_E5M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [31:0] x;
    logic [7:0] code;
    logic [7:0] ev;
    logic [3:0] chk;
  } encode_mxfp8_e5m2_t;

  // encode/mxfp6_e3m2: 12469 cases
  localparam int unsigned ENCODE_MXFP6_E3M2_COUNT = 12469;
  localparam int unsigned ENCODE_MXFP6_E3M2_RECORD_BITS = 74;
  localparam int unsigned ENCODE_MXFP6_E3M2_TAG_OFFSET = 58;
  localparam int unsigned ENCODE_MXFP6_E3M2_TAG_LANE_BITS = 16;
  localparam int unsigned ENCODE_MXFP6_E3M2_TAG_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E3M2_SCALE_OFFSET = 50;
  localparam int unsigned ENCODE_MXFP6_E3M2_SCALE_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP6_E3M2_SCALE_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E3M2_X_OFFSET = 18;
  localparam int unsigned ENCODE_MXFP6_E3M2_X_LANE_BITS = 32;
  localparam int unsigned ENCODE_MXFP6_E3M2_X_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E3M2_CODE_OFFSET = 12;
  localparam int unsigned ENCODE_MXFP6_E3M2_CODE_LANE_BITS = 6;
  localparam int unsigned ENCODE_MXFP6_E3M2_CODE_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E3M2_EV_OFFSET = 4;
  localparam int unsigned ENCODE_MXFP6_E3M2_EV_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP6_E3M2_EV_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E3M2_CHK_OFFSET = 0;
  localparam int unsigned ENCODE_MXFP6_E3M2_CHK_LANE_BITS = 4;
  localparam int unsigned ENCODE_MXFP6_E3M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [31:0] x;
    logic [5:0] code;
    logic [7:0] ev;
    logic [3:0] chk;
  } encode_mxfp6_e3m2_t;

  // encode/mxfp6_e2m3: 12517 cases
  localparam int unsigned ENCODE_MXFP6_E2M3_COUNT = 12517;
  localparam int unsigned ENCODE_MXFP6_E2M3_RECORD_BITS = 74;
  localparam int unsigned ENCODE_MXFP6_E2M3_TAG_OFFSET = 58;
  localparam int unsigned ENCODE_MXFP6_E2M3_TAG_LANE_BITS = 16;
  localparam int unsigned ENCODE_MXFP6_E2M3_TAG_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E2M3_SCALE_OFFSET = 50;
  localparam int unsigned ENCODE_MXFP6_E2M3_SCALE_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP6_E2M3_SCALE_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E2M3_X_OFFSET = 18;
  localparam int unsigned ENCODE_MXFP6_E2M3_X_LANE_BITS = 32;
  localparam int unsigned ENCODE_MXFP6_E2M3_X_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E2M3_CODE_OFFSET = 12;
  localparam int unsigned ENCODE_MXFP6_E2M3_CODE_LANE_BITS = 6;
  localparam int unsigned ENCODE_MXFP6_E2M3_CODE_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E2M3_EV_OFFSET = 4;
  localparam int unsigned ENCODE_MXFP6_E2M3_EV_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP6_E2M3_EV_LANES = 1;
  localparam int unsigned ENCODE_MXFP6_E2M3_CHK_OFFSET = 0;
  localparam int unsigned ENCODE_MXFP6_E2M3_CHK_LANE_BITS = 4;
  localparam int unsigned ENCODE_MXFP6_E2M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [31:0] x;
    logic [5:0] code;
    logic [7:0] ev;
    logic [3:0] chk;
  } encode_mxfp6_e2m3_t;

  // encode/mxfp4_e2m1: 10141 cases
  localparam int unsigned ENCODE_MXFP4_E2M1_COUNT = 10141;
  localparam int unsigned ENCODE_MXFP4_E2M1_RECORD_BITS = 72;
  localparam int unsigned ENCODE_MXFP4_E2M1_TAG_OFFSET = 56;
  localparam int unsigned ENCODE_MXFP4_E2M1_TAG_LANE_BITS = 16;
  localparam int unsigned ENCODE_MXFP4_E2M1_TAG_LANES = 1;
  localparam int unsigned ENCODE_MXFP4_E2M1_SCALE_OFFSET = 48;
  localparam int unsigned ENCODE_MXFP4_E2M1_SCALE_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP4_E2M1_SCALE_LANES = 1;
  localparam int unsigned ENCODE_MXFP4_E2M1_X_OFFSET = 16;
  localparam int unsigned ENCODE_MXFP4_E2M1_X_LANE_BITS = 32;
  localparam int unsigned ENCODE_MXFP4_E2M1_X_LANES = 1;
  localparam int unsigned ENCODE_MXFP4_E2M1_CODE_OFFSET = 12;
  localparam int unsigned ENCODE_MXFP4_E2M1_CODE_LANE_BITS = 4;
  localparam int unsigned ENCODE_MXFP4_E2M1_CODE_LANES = 1;
  localparam int unsigned ENCODE_MXFP4_E2M1_EV_OFFSET = 4;
  localparam int unsigned ENCODE_MXFP4_E2M1_EV_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXFP4_E2M1_EV_LANES = 1;
  localparam int unsigned ENCODE_MXFP4_E2M1_CHK_OFFSET = 0;
  localparam int unsigned ENCODE_MXFP4_E2M1_CHK_LANE_BITS = 4;
  localparam int unsigned ENCODE_MXFP4_E2M1_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [31:0] x;
    logic [3:0] code;
    logic [7:0] ev;
    logic [3:0] chk;
  } encode_mxfp4_e2m1_t;

  // encode/mxint8: 23179 cases
  localparam int unsigned ENCODE_MXINT8_COUNT = 23179;
  localparam int unsigned ENCODE_MXINT8_RECORD_BITS = 76;
  localparam int unsigned ENCODE_MXINT8_TAG_OFFSET = 60;
  localparam int unsigned ENCODE_MXINT8_TAG_LANE_BITS = 16;
  localparam int unsigned ENCODE_MXINT8_TAG_LANES = 1;
  localparam int unsigned ENCODE_MXINT8_SCALE_OFFSET = 52;
  localparam int unsigned ENCODE_MXINT8_SCALE_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXINT8_SCALE_LANES = 1;
  localparam int unsigned ENCODE_MXINT8_X_OFFSET = 20;
  localparam int unsigned ENCODE_MXINT8_X_LANE_BITS = 32;
  localparam int unsigned ENCODE_MXINT8_X_LANES = 1;
  localparam int unsigned ENCODE_MXINT8_CODE_OFFSET = 12;
  localparam int unsigned ENCODE_MXINT8_CODE_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXINT8_CODE_LANES = 1;
  localparam int unsigned ENCODE_MXINT8_EV_OFFSET = 4;
  localparam int unsigned ENCODE_MXINT8_EV_LANE_BITS = 8;
  localparam int unsigned ENCODE_MXINT8_EV_LANES = 1;
  localparam int unsigned ENCODE_MXINT8_CHK_OFFSET = 0;
  localparam int unsigned ENCODE_MXINT8_CHK_LANE_BITS = 4;
  localparam int unsigned ENCODE_MXINT8_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [31:0] x;
    logic [7:0] code;
    logic [7:0] ev;
    logic [3:0] chk;
  } encode_mxint8_t;

  // scale/mxfp8_e4m3: 564 cases
  localparam int unsigned SCALE_MXFP8_E4M3_COUNT = 564;
  localparam int unsigned SCALE_MXFP8_E4M3_RECORD_BITS = 1060;
  localparam int unsigned SCALE_MXFP8_E4M3_TAG_OFFSET = 1044;
  localparam int unsigned SCALE_MXFP8_E4M3_TAG_LANE_BITS = 16;
  localparam int unsigned SCALE_MXFP8_E4M3_TAG_LANES = 1;
  localparam int unsigned SCALE_MXFP8_E4M3_X_OFFSET = 20;
  localparam int unsigned SCALE_MXFP8_E4M3_X_LANE_BITS = 32;
  localparam int unsigned SCALE_MXFP8_E4M3_X_LANES = 32;
  localparam int unsigned SCALE_MXFP8_E4M3_SCALE_OFFSET = 12;
  localparam int unsigned SCALE_MXFP8_E4M3_SCALE_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP8_E4M3_SCALE_LANES = 1;
  localparam int unsigned SCALE_MXFP8_E4M3_EV_OFFSET = 4;
  localparam int unsigned SCALE_MXFP8_E4M3_EV_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP8_E4M3_EV_LANES = 1;
  localparam int unsigned SCALE_MXFP8_E4M3_CHK_OFFSET = 0;
  localparam int unsigned SCALE_MXFP8_E4M3_CHK_LANE_BITS = 4;
  localparam int unsigned SCALE_MXFP8_E4M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [7:0] ev;
    logic [3:0] chk;
  } scale_mxfp8_e4m3_t;

  // scale/mxfp8_e5m2: 564 cases
  localparam int unsigned SCALE_MXFP8_E5M2_COUNT = 564;
  localparam int unsigned SCALE_MXFP8_E5M2_RECORD_BITS = 1060;
  localparam int unsigned SCALE_MXFP8_E5M2_TAG_OFFSET = 1044;
  localparam int unsigned SCALE_MXFP8_E5M2_TAG_LANE_BITS = 16;
  localparam int unsigned SCALE_MXFP8_E5M2_TAG_LANES = 1;
  localparam int unsigned SCALE_MXFP8_E5M2_X_OFFSET = 20;
  localparam int unsigned SCALE_MXFP8_E5M2_X_LANE_BITS = 32;
  localparam int unsigned SCALE_MXFP8_E5M2_X_LANES = 32;
  localparam int unsigned SCALE_MXFP8_E5M2_SCALE_OFFSET = 12;
  localparam int unsigned SCALE_MXFP8_E5M2_SCALE_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP8_E5M2_SCALE_LANES = 1;
  localparam int unsigned SCALE_MXFP8_E5M2_EV_OFFSET = 4;
  localparam int unsigned SCALE_MXFP8_E5M2_EV_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP8_E5M2_EV_LANES = 1;
  localparam int unsigned SCALE_MXFP8_E5M2_CHK_OFFSET = 0;
  localparam int unsigned SCALE_MXFP8_E5M2_CHK_LANE_BITS = 4;
  localparam int unsigned SCALE_MXFP8_E5M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [7:0] ev;
    logic [3:0] chk;
  } scale_mxfp8_e5m2_t;

  // scale/mxfp6_e3m2: 544 cases
  localparam int unsigned SCALE_MXFP6_E3M2_COUNT = 544;
  localparam int unsigned SCALE_MXFP6_E3M2_RECORD_BITS = 1060;
  localparam int unsigned SCALE_MXFP6_E3M2_TAG_OFFSET = 1044;
  localparam int unsigned SCALE_MXFP6_E3M2_TAG_LANE_BITS = 16;
  localparam int unsigned SCALE_MXFP6_E3M2_TAG_LANES = 1;
  localparam int unsigned SCALE_MXFP6_E3M2_X_OFFSET = 20;
  localparam int unsigned SCALE_MXFP6_E3M2_X_LANE_BITS = 32;
  localparam int unsigned SCALE_MXFP6_E3M2_X_LANES = 32;
  localparam int unsigned SCALE_MXFP6_E3M2_SCALE_OFFSET = 12;
  localparam int unsigned SCALE_MXFP6_E3M2_SCALE_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP6_E3M2_SCALE_LANES = 1;
  localparam int unsigned SCALE_MXFP6_E3M2_EV_OFFSET = 4;
  localparam int unsigned SCALE_MXFP6_E3M2_EV_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP6_E3M2_EV_LANES = 1;
  localparam int unsigned SCALE_MXFP6_E3M2_CHK_OFFSET = 0;
  localparam int unsigned SCALE_MXFP6_E3M2_CHK_LANE_BITS = 4;
  localparam int unsigned SCALE_MXFP6_E3M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [7:0] ev;
    logic [3:0] chk;
  } scale_mxfp6_e3m2_t;

  // scale/mxfp6_e2m3: 554 cases
  localparam int unsigned SCALE_MXFP6_E2M3_COUNT = 554;
  localparam int unsigned SCALE_MXFP6_E2M3_RECORD_BITS = 1060;
  localparam int unsigned SCALE_MXFP6_E2M3_TAG_OFFSET = 1044;
  localparam int unsigned SCALE_MXFP6_E2M3_TAG_LANE_BITS = 16;
  localparam int unsigned SCALE_MXFP6_E2M3_TAG_LANES = 1;
  localparam int unsigned SCALE_MXFP6_E2M3_X_OFFSET = 20;
  localparam int unsigned SCALE_MXFP6_E2M3_X_LANE_BITS = 32;
  localparam int unsigned SCALE_MXFP6_E2M3_X_LANES = 32;
  localparam int unsigned SCALE_MXFP6_E2M3_SCALE_OFFSET = 12;
  localparam int unsigned SCALE_MXFP6_E2M3_SCALE_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP6_E2M3_SCALE_LANES = 1;
  localparam int unsigned SCALE_MXFP6_E2M3_EV_OFFSET = 4;
  localparam int unsigned SCALE_MXFP6_E2M3_EV_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP6_E2M3_EV_LANES = 1;
  localparam int unsigned SCALE_MXFP6_E2M3_CHK_OFFSET = 0;
  localparam int unsigned SCALE_MXFP6_E2M3_CHK_LANE_BITS = 4;
  localparam int unsigned SCALE_MXFP6_E2M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [7:0] ev;
    logic [3:0] chk;
  } scale_mxfp6_e2m3_t;

  // scale/mxfp4_e2m1: 554 cases
  localparam int unsigned SCALE_MXFP4_E2M1_COUNT = 554;
  localparam int unsigned SCALE_MXFP4_E2M1_RECORD_BITS = 1060;
  localparam int unsigned SCALE_MXFP4_E2M1_TAG_OFFSET = 1044;
  localparam int unsigned SCALE_MXFP4_E2M1_TAG_LANE_BITS = 16;
  localparam int unsigned SCALE_MXFP4_E2M1_TAG_LANES = 1;
  localparam int unsigned SCALE_MXFP4_E2M1_X_OFFSET = 20;
  localparam int unsigned SCALE_MXFP4_E2M1_X_LANE_BITS = 32;
  localparam int unsigned SCALE_MXFP4_E2M1_X_LANES = 32;
  localparam int unsigned SCALE_MXFP4_E2M1_SCALE_OFFSET = 12;
  localparam int unsigned SCALE_MXFP4_E2M1_SCALE_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP4_E2M1_SCALE_LANES = 1;
  localparam int unsigned SCALE_MXFP4_E2M1_EV_OFFSET = 4;
  localparam int unsigned SCALE_MXFP4_E2M1_EV_LANE_BITS = 8;
  localparam int unsigned SCALE_MXFP4_E2M1_EV_LANES = 1;
  localparam int unsigned SCALE_MXFP4_E2M1_CHK_OFFSET = 0;
  localparam int unsigned SCALE_MXFP4_E2M1_CHK_LANE_BITS = 4;
  localparam int unsigned SCALE_MXFP4_E2M1_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [7:0] ev;
    logic [3:0] chk;
  } scale_mxfp4_e2m1_t;

  // scale/mxint8: 520 cases
  localparam int unsigned SCALE_MXINT8_COUNT = 520;
  localparam int unsigned SCALE_MXINT8_RECORD_BITS = 1060;
  localparam int unsigned SCALE_MXINT8_TAG_OFFSET = 1044;
  localparam int unsigned SCALE_MXINT8_TAG_LANE_BITS = 16;
  localparam int unsigned SCALE_MXINT8_TAG_LANES = 1;
  localparam int unsigned SCALE_MXINT8_X_OFFSET = 20;
  localparam int unsigned SCALE_MXINT8_X_LANE_BITS = 32;
  localparam int unsigned SCALE_MXINT8_X_LANES = 32;
  localparam int unsigned SCALE_MXINT8_SCALE_OFFSET = 12;
  localparam int unsigned SCALE_MXINT8_SCALE_LANE_BITS = 8;
  localparam int unsigned SCALE_MXINT8_SCALE_LANES = 1;
  localparam int unsigned SCALE_MXINT8_EV_OFFSET = 4;
  localparam int unsigned SCALE_MXINT8_EV_LANE_BITS = 8;
  localparam int unsigned SCALE_MXINT8_EV_LANES = 1;
  localparam int unsigned SCALE_MXINT8_CHK_OFFSET = 0;
  localparam int unsigned SCALE_MXINT8_CHK_LANE_BITS = 4;
  localparam int unsigned SCALE_MXINT8_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [7:0] ev;
    logic [3:0] chk;
  } scale_mxint8_t;

  // quantize/mxfp8_e4m3: 756 cases
  localparam int unsigned QUANTIZE_MXFP8_E4M3_COUNT = 756;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_RECORD_BITS = 1316;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_TAG_OFFSET = 1300;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_TAG_LANE_BITS = 16;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_TAG_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_X_OFFSET = 276;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_X_LANE_BITS = 32;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_X_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_SCALE_OFFSET = 268;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_SCALE_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_SCALE_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_CODES_OFFSET = 12;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_CODES_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_CODES_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_EV_OFFSET = 4;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_EV_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_EV_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_CHK_OFFSET = 0;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_CHK_LANE_BITS = 4;
  localparam int unsigned QUANTIZE_MXFP8_E4M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [31:0][7:0] codes;
    logic [7:0] ev;
    logic [3:0] chk;
  } quantize_mxfp8_e4m3_t;

  // quantize/mxfp8_e5m2: 756 cases
  localparam int unsigned QUANTIZE_MXFP8_E5M2_COUNT = 756;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_RECORD_BITS = 1316;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_TAG_OFFSET = 1300;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_TAG_LANE_BITS = 16;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_TAG_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_X_OFFSET = 276;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_X_LANE_BITS = 32;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_X_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_SCALE_OFFSET = 268;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_SCALE_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_SCALE_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_CODES_OFFSET = 12;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_CODES_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_CODES_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_EV_OFFSET = 4;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_EV_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_EV_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_CHK_OFFSET = 0;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_CHK_LANE_BITS = 4;
  localparam int unsigned QUANTIZE_MXFP8_E5M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [31:0][7:0] codes;
    logic [7:0] ev;
    logic [3:0] chk;
  } quantize_mxfp8_e5m2_t;

  // quantize/mxfp6_e3m2: 756 cases
  localparam int unsigned QUANTIZE_MXFP6_E3M2_COUNT = 756;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_RECORD_BITS = 1252;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_TAG_OFFSET = 1236;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_TAG_LANE_BITS = 16;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_TAG_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_X_OFFSET = 212;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_X_LANE_BITS = 32;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_X_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_SCALE_OFFSET = 204;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_SCALE_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_SCALE_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_CODES_OFFSET = 12;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_CODES_LANE_BITS = 6;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_CODES_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_EV_OFFSET = 4;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_EV_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_EV_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_CHK_OFFSET = 0;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_CHK_LANE_BITS = 4;
  localparam int unsigned QUANTIZE_MXFP6_E3M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [31:0][5:0] codes;
    logic [7:0] ev;
    logic [3:0] chk;
  } quantize_mxfp6_e3m2_t;

  // quantize/mxfp6_e2m3: 756 cases
  localparam int unsigned QUANTIZE_MXFP6_E2M3_COUNT = 756;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_RECORD_BITS = 1252;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_TAG_OFFSET = 1236;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_TAG_LANE_BITS = 16;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_TAG_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_X_OFFSET = 212;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_X_LANE_BITS = 32;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_X_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_SCALE_OFFSET = 204;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_SCALE_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_SCALE_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_CODES_OFFSET = 12;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_CODES_LANE_BITS = 6;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_CODES_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_EV_OFFSET = 4;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_EV_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_EV_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_CHK_OFFSET = 0;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_CHK_LANE_BITS = 4;
  localparam int unsigned QUANTIZE_MXFP6_E2M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [31:0][5:0] codes;
    logic [7:0] ev;
    logic [3:0] chk;
  } quantize_mxfp6_e2m3_t;

  // quantize/mxfp4_e2m1: 756 cases
  localparam int unsigned QUANTIZE_MXFP4_E2M1_COUNT = 756;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_RECORD_BITS = 1188;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_TAG_OFFSET = 1172;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_TAG_LANE_BITS = 16;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_TAG_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_X_OFFSET = 148;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_X_LANE_BITS = 32;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_X_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_SCALE_OFFSET = 140;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_SCALE_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_SCALE_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_CODES_OFFSET = 12;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_CODES_LANE_BITS = 4;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_CODES_LANES = 32;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_EV_OFFSET = 4;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_EV_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_EV_LANES = 1;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_CHK_OFFSET = 0;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_CHK_LANE_BITS = 4;
  localparam int unsigned QUANTIZE_MXFP4_E2M1_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [31:0][3:0] codes;
    logic [7:0] ev;
    logic [3:0] chk;
  } quantize_mxfp4_e2m1_t;

  // quantize/mxint8: 762 cases
  localparam int unsigned QUANTIZE_MXINT8_COUNT = 762;
  localparam int unsigned QUANTIZE_MXINT8_RECORD_BITS = 1316;
  localparam int unsigned QUANTIZE_MXINT8_TAG_OFFSET = 1300;
  localparam int unsigned QUANTIZE_MXINT8_TAG_LANE_BITS = 16;
  localparam int unsigned QUANTIZE_MXINT8_TAG_LANES = 1;
  localparam int unsigned QUANTIZE_MXINT8_X_OFFSET = 276;
  localparam int unsigned QUANTIZE_MXINT8_X_LANE_BITS = 32;
  localparam int unsigned QUANTIZE_MXINT8_X_LANES = 32;
  localparam int unsigned QUANTIZE_MXINT8_SCALE_OFFSET = 268;
  localparam int unsigned QUANTIZE_MXINT8_SCALE_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXINT8_SCALE_LANES = 1;
  localparam int unsigned QUANTIZE_MXINT8_CODES_OFFSET = 12;
  localparam int unsigned QUANTIZE_MXINT8_CODES_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXINT8_CODES_LANES = 32;
  localparam int unsigned QUANTIZE_MXINT8_EV_OFFSET = 4;
  localparam int unsigned QUANTIZE_MXINT8_EV_LANE_BITS = 8;
  localparam int unsigned QUANTIZE_MXINT8_EV_LANES = 1;
  localparam int unsigned QUANTIZE_MXINT8_CHK_OFFSET = 0;
  localparam int unsigned QUANTIZE_MXINT8_CHK_LANE_BITS = 4;
  localparam int unsigned QUANTIZE_MXINT8_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [31:0][31:0] x;
    logic [7:0] scale;
    logic [31:0][7:0] codes;
    logic [7:0] ev;
    logic [3:0] chk;
  } quantize_mxint8_t;

  // dequantize/mxfp8_e4m3: 14592 cases
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_COUNT = 14592;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_RECORD_BITS = 76;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_TAG_OFFSET = 60;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_TAG_LANE_BITS = 16;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_TAG_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_SCALE_OFFSET = 52;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_SCALE_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_SCALE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_CODE_OFFSET = 44;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_CODE_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_CODE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_VALUE_OFFSET = 12;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_VALUE_LANE_BITS = 32;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_VALUE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_EV_OFFSET = 4;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_EV_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_EV_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_CHK_OFFSET = 0;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_CHK_LANE_BITS = 4;
  localparam int unsigned DEQUANTIZE_MXFP8_E4M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [7:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } dequantize_mxfp8_e4m3_t;

  // dequantize/mxfp8_e5m2: 14592 cases
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_COUNT = 14592;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_RECORD_BITS = 76;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_TAG_OFFSET = 60;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_TAG_LANE_BITS = 16;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_TAG_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_SCALE_OFFSET = 52;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_SCALE_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_SCALE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_CODE_OFFSET = 44;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_CODE_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_CODE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_VALUE_OFFSET = 12;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_VALUE_LANE_BITS = 32;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_VALUE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_EV_OFFSET = 4;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_EV_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_EV_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_CHK_OFFSET = 0;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_CHK_LANE_BITS = 4;
  localparam int unsigned DEQUANTIZE_MXFP8_E5M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [7:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } dequantize_mxfp8_e5m2_t;

  // dequantize/mxfp6_e3m2: 16384 cases
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_COUNT = 16384;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_RECORD_BITS = 74;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_TAG_OFFSET = 58;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_TAG_LANE_BITS = 16;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_TAG_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_SCALE_OFFSET = 50;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_SCALE_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_SCALE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_CODE_OFFSET = 44;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_CODE_LANE_BITS = 6;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_CODE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_VALUE_OFFSET = 12;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_VALUE_LANE_BITS = 32;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_VALUE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_EV_OFFSET = 4;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_EV_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_EV_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_CHK_OFFSET = 0;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_CHK_LANE_BITS = 4;
  localparam int unsigned DEQUANTIZE_MXFP6_E3M2_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [5:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } dequantize_mxfp6_e3m2_t;

  // dequantize/mxfp6_e2m3: 16384 cases
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_COUNT = 16384;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_RECORD_BITS = 74;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_TAG_OFFSET = 58;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_TAG_LANE_BITS = 16;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_TAG_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_SCALE_OFFSET = 50;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_SCALE_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_SCALE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_CODE_OFFSET = 44;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_CODE_LANE_BITS = 6;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_CODE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_VALUE_OFFSET = 12;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_VALUE_LANE_BITS = 32;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_VALUE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_EV_OFFSET = 4;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_EV_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_EV_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_CHK_OFFSET = 0;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_CHK_LANE_BITS = 4;
  localparam int unsigned DEQUANTIZE_MXFP6_E2M3_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [5:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } dequantize_mxfp6_e2m3_t;

  // dequantize/mxfp4_e2m1: 4096 cases
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_COUNT = 4096;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_RECORD_BITS = 72;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_TAG_OFFSET = 56;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_TAG_LANE_BITS = 16;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_TAG_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_SCALE_OFFSET = 48;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_SCALE_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_SCALE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_CODE_OFFSET = 44;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_CODE_LANE_BITS = 4;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_CODE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_VALUE_OFFSET = 12;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_VALUE_LANE_BITS = 32;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_VALUE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_EV_OFFSET = 4;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_EV_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_EV_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_CHK_OFFSET = 0;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_CHK_LANE_BITS = 4;
  localparam int unsigned DEQUANTIZE_MXFP4_E2M1_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [3:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } dequantize_mxfp4_e2m1_t;

  // dequantize/mxint8: 14592 cases
  localparam int unsigned DEQUANTIZE_MXINT8_COUNT = 14592;
  localparam int unsigned DEQUANTIZE_MXINT8_RECORD_BITS = 76;
  localparam int unsigned DEQUANTIZE_MXINT8_TAG_OFFSET = 60;
  localparam int unsigned DEQUANTIZE_MXINT8_TAG_LANE_BITS = 16;
  localparam int unsigned DEQUANTIZE_MXINT8_TAG_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXINT8_SCALE_OFFSET = 52;
  localparam int unsigned DEQUANTIZE_MXINT8_SCALE_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXINT8_SCALE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXINT8_CODE_OFFSET = 44;
  localparam int unsigned DEQUANTIZE_MXINT8_CODE_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXINT8_CODE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXINT8_VALUE_OFFSET = 12;
  localparam int unsigned DEQUANTIZE_MXINT8_VALUE_LANE_BITS = 32;
  localparam int unsigned DEQUANTIZE_MXINT8_VALUE_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXINT8_EV_OFFSET = 4;
  localparam int unsigned DEQUANTIZE_MXINT8_EV_LANE_BITS = 8;
  localparam int unsigned DEQUANTIZE_MXINT8_EV_LANES = 1;
  localparam int unsigned DEQUANTIZE_MXINT8_CHK_OFFSET = 0;
  localparam int unsigned DEQUANTIZE_MXINT8_CHK_LANE_BITS = 4;
  localparam int unsigned DEQUANTIZE_MXINT8_CHK_LANES = 1;
  typedef struct packed {
    logic [15:0] tag;
    logic [7:0] scale;
    logic [7:0] code;
    logic [31:0] value;
    logic [7:0] ev;
    logic [3:0] chk;
  } dequantize_mxint8_t;

endpackage : golden_pkg
