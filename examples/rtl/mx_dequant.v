// mx_dequant: combinational MX dequantizer, OCP MX v1.0. One element code times its block's E8M0 scale
// 2^(scale-127), as float32 bits. The product of an MX element and a power of two is exact in float32
// (at most 8 significant bits, smallest product 2^-143 > 2^-149) unless it lies beyond float32's range,
// where round-to-nearest-even gives Inf; so there is no rounding logic. Synthesizable Verilog-2005, lint-clean
// under `verilator --lint-only -Wall`; no SystemVerilog (Icarus Verilog 11 lacks parts of it, e.g. `break`).
//
// fmt: 0 FP8 E4M3, 1 FP8 E5M2, 2 FP6 E3M2, 3 FP6 E2M3, 4 FP4 E2M1, 5 INT8 (two's complement, 2^-6 steps).
// code: the element code right-aligned (bits above the element width are ignored).
// scale 0xFF is the E8M0 NaN: every element dequantizes to NaN (MX v1.0 §5.4).
`timescale 1ns / 1ps
module mx_dequant (
    input  wire [2:0]  fmt,
    input  wire [7:0]  scale,
    input  wire [7:0]  code,
    output reg  [31:0] value
);
    localparam [31:0] QNAN = 32'h7fc00000;

    reg        sign;       // sign of the element
    reg [7:0]  sig;        // |element| = sig * 2^e, sig an integer
    integer    e;
    reg        is_nan, is_inf;
    integer    ebits, mbits, bias, width;
    reg [7:0]  c;          // the code masked to its width
    reg [7:0]  ef;         // exponent field
    reg [7:0]  mf;         // mantissa field
    integer    lead;       // position of the leading one of sig
    integer    ex;         // unbiased float32 exponent of the product
    integer    i;
    reg [7:0]  biased;     // float32 exponent field of a normal product

    always @* begin
        case (fmt)
            3'd0: begin ebits = 4; mbits = 3; bias = 7;  end
            3'd1: begin ebits = 5; mbits = 2; bias = 15; end
            3'd2: begin ebits = 3; mbits = 2; bias = 3;  end
            3'd3: begin ebits = 2; mbits = 3; bias = 1;  end
            3'd4: begin ebits = 2; mbits = 1; bias = 1;  end
            default: begin ebits = 0; mbits = 6; bias = 0; end  // INT8: 1 sign bit, value k * 2^-6
        endcase
        width = 1 + ebits + mbits + (fmt == 3'd5 ? 1 : 0);
        c = code & ((8'd1 << width) - 8'd1);
        sign = c[width - 1];
        ef = (c >> mbits) & ((8'd1 << ebits) - 8'd1);
        mf = c & ((8'd1 << mbits) - 8'd1);
        is_nan = 1'b0;
        is_inf = 1'b0;
        if (fmt == 3'd5) begin
            // two's complement magnitude; 0x80 is -2.0 (sig = 128)
            sig = sign ? (~c + 8'd1) : c;
            e = -6;
        end else begin
            if (ef == 0) begin
                sig = mf;
                e = 1 - bias - mbits;
            end else begin
                sig = mf | (8'd1 << mbits);
                e = {24'd0, ef} - bias - mbits;
            end
            // E4M3 has only S.1111.111 as NaN; E5M2 keeps IEEE Inf / NaN; FP6 and FP4 have no specials
            if (fmt == 3'd0 && ef == 8'd15 && mf == 8'd7) is_nan = 1'b1;
            if (fmt == 3'd1 && ef == 8'd31) begin
                is_nan = (mf != 0);
                is_inf = (mf == 0);
            end
        end
        lead = 0;
        for (i = 0; i < 8; i = i + 1)
            if (sig[i]) lead = i;
        ex = lead + e + {24'd0, scale} - 127;
        biased = ex[7:0] + 8'd127;
        if (scale == 8'hff || is_nan)
            value = QNAN;
        else if (is_inf)
            value = {sign, 8'hff, 23'd0};
        else if (sig == 0)
            value = {sign, 31'd0};
        else if (ex > 127)
            value = {sign, 8'hff, 23'd0};            // beyond FLT_MAX: RNE overflows to Inf
        else if (ex >= -126)
            value = {sign, biased, 23'd0} | (({24'd0, sig} << (23 - lead)) & 32'h007fffff);
        else
            value = {sign, 31'd0} | ({24'd0, sig} << (e + {24'd0, scale} + 22));  // float32 subnormal: sig * 2^-149 steps
    end
endmodule
