// tb_golden_pkg: reads one quantize record through the exported SystemVerilog package golden_pkg.sv.
//   iverilog -g2012 -o tb golden/L0/golden_pkg.sv examples/rtl/tb_golden_pkg.sv
//   vvp tb +vectors=golden/L0/quantize/mxfp4_e2m1.hex +case=3
// Prints "case N tag T scale S codes[0..31] chk C" (codes lane 0 first) from the packed struct, so the
// struct layout can be compared with the .tv line of the same case.
module tb_golden_pkg;
    import golden_pkg::*;

    logic [QUANTIZE_MXFP4_E2M1_RECORD_BITS-1:0] mem [QUANTIZE_MXFP4_E2M1_COUNT];
    quantize_mxfp4_e2m1_t rec;
    logic [QUANTIZE_MXFP4_E2M1_CODES_LANES*QUANTIZE_MXFP4_E2M1_CODES_LANE_BITS-1:0] codes;
    reg [8*1024-1:0] path;
    integer n, k;

    initial begin
        if (!$value$plusargs("vectors=%s", path)) $fatal(1, "FAIL no +vectors=FILE.hex");
        if (!$value$plusargs("case=%d", n)) n = 0;
        $readmemh(path, mem);
        rec = mem[n];  // same width: the packed struct takes the record's bits as they are
        codes = rec.codes;  // lane k of the struct member is bits [k*LANE_BITS +: LANE_BITS]
        $write("case %0d tag %0d scale %02h codes", n, rec.tag, rec.scale);
        for (k = 0; k < QUANTIZE_MXFP4_E2M1_CODES_LANES; k = k + 1)
            $write(" %0h", codes[k*QUANTIZE_MXFP4_E2M1_CODES_LANE_BITS +: QUANTIZE_MXFP4_E2M1_CODES_LANE_BITS]);
        $display(" chk %0d", rec.chk);
        $finish;
    end
endmodule
