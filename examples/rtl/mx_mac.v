// mx_mac: one MX block (32 lanes) of a dot product in a fixed-point accumulator, as mxemu's
// fixed_point(FRAC, WIDTH, rounding) model with output fixed(23, 8, rounding) defines it
// (docs/convert_dot.md):
//   - each element decodes exactly to a signed integer in units of 2^-16 (every OCP element is one);
//   - each product (units 2^-32) is rounded onto the grid 2^-FRAC by `rnd` (0 rtz, 1 rdn = floor,
//     2 rup = ceil, 3 rne), clamped to WIDTH bits, and added into a WIDTH-bit accumulator that clamps;
//   - the scales 2^(sa + sb - 254) are applied once, to the accumulator: `word` is the S23.8 value
//     R(acc * 2^-FRAC * 2^(sa + sb - 254) * 2^8) with the same rounding, clamped to 32 bits;
//   - `exact` is the exact block sum in units of 2^-32 (what a dot unit holds before any rounding);
//   - `special`: 0 finite, 1 NaN (a NaN lane or scale, Inf x 0, +Inf and -Inf), 2 +Inf, 3 -Inf;
//     `finite_lanes`: no lane is NaN or Inf (then `exact` is the block's sum, whatever the scales).
// Format select: 0 fp8_e4m3, 1 fp8_e5m2, 2 fp6_e3m2, 3 fp6_e2m3, 4 fp4_e2m1, 5 int8 (codes in the low bits).
module mx_mac #(
    parameter integer WIDTH = 40,
    parameter integer FRAC = 16
) (
    input  wire [2:0]          fmt_a,
    input  wire [2:0]          fmt_b,
    input  wire [1:0]          rnd,
    input  wire [7:0]          sa,
    input  wire [7:0]          sb,
    input  wire [32*8-1:0]     a,
    input  wire [32*8-1:0]     b,
    output reg  signed [WIDTH-1:0] acc,
    output reg  signed [71:0]  exact,
    output reg  [1:0]          special,
    output reg                 finite_lanes,
    output reg  signed [31:0]  word
);
    localparam [1:0] RTZ = 2'd0, RDN = 2'd1, RUP = 2'd2, RNE = 2'd3;
    localparam [1:0] FIN = 2'd0, NAN = 2'd1, PINF = 2'd2, NINF = 2'd3;

    // Value of a code in units of 2^-16 (34-bit signed) and its class.
    function signed [35:0] value;
        input [7:0] c;
        input [2:0] fmt;
        reg [4:0] e;
        reg [2:0] m;
        reg s;
        reg signed [35:0] mag;
        begin
            s = 1'b0;
            mag = 0;
            case (fmt)
                3'd0: begin s = c[7]; e = c[6:3]; m = c[2:0];
                            mag = (e == 0) ? (m << 7) : ((8 + m) << (e + 6)); end
                3'd1: begin s = c[7]; e = c[6:2]; m = c[1:0];
                            mag = (e == 0) ? m : ((4 + m) << (e - 1)); end
                3'd2: begin s = c[5]; e = c[4:2]; m = c[1:0];
                            mag = (e == 0) ? (m << 12) : ((4 + m) << (e + 11)); end
                3'd3: begin s = c[5]; e = c[4:3]; m = c[2:0];
                            mag = (e == 0) ? (m << 13) : ((8 + m) << (e + 12)); end
                3'd4: begin s = c[3]; e = c[2:1]; m = c[0];
                            mag = (e == 0) ? (m << 15) : ((2 + m) << (e + 14)); end
                default: begin s = 1'b0; mag = $signed({{28{c[7]}}, c}) <<< 10; end
            endcase
            value = s ? -mag : mag;
        end
    endfunction

    function [1:0] cls;
        input [7:0] c;
        input [2:0] fmt;
        begin
            cls = FIN;
            if (fmt == 3'd0 && c[6:0] == 7'h7f) cls = NAN;
            if (fmt == 3'd1 && c[6:2] == 5'h1f) cls = (c[1:0] != 0) ? NAN : (c[7] ? NINF : PINF);
        end
    endfunction

    // round(v * 2^-n) to an integer by mode (n >= 1; from n = 70 on every |v| < 2^68 rounds alike).
    function signed [71:0] rshift;
        input signed [71:0] v;
        input integer n;
        input [1:0] mode;
        integer k;
        reg signed [71:0] fl, rem, half;
        begin
            k = (n > 70) ? 70 : n;
            fl = v >>> k;
            rem = v - (fl <<< k);
            half = 72'sd1 <<< (k - 1);
            case (mode)
                RTZ: rshift = (v < 0 && rem != 0) ? fl + 1 : fl;
                RDN: rshift = fl;
                RUP: rshift = (rem != 0) ? fl + 1 : fl;
                default: rshift = (rem > half || (rem == half && fl[0])) ? fl + 1 : fl;
            endcase
        end
    endfunction

    function signed [71:0] clamp;
        input signed [71:0] v;
        input integer bits;
        reg signed [71:0] hi;
        begin
            hi = (72'sd1 <<< (bits - 1)) - 1;
            clamp = (v > hi) ? hi : (v < -hi - 1) ? -hi - 1 : v;
        end
    endfunction

    // Sign of a zero operand decides nothing: Inf x 0 is NaN whatever the signs.
    function [1:0] lane_special;
        input [1:0] ka, kb;
        input signed [35:0] va, vb;
        input sa_neg, sb_neg;
        begin
            if (ka == NAN || kb == NAN) lane_special = NAN;
            else if ((ka != FIN && kb == FIN && vb == 0) || (kb != FIN && ka == FIN && va == 0)) lane_special = NAN;
            else if (ka != FIN || kb != FIN)
                lane_special = (((ka == NINF) || (ka == FIN && sa_neg)) != ((kb == NINF) || (kb == FIN && sb_neg)))
                               ? NINF : PINF;
            else lane_special = FIN;
        end
    endfunction

    integer t, shift;
    reg [7:0] ca, cb;
    reg [1:0] ka, kb, kl;
    reg signed [35:0] va, vb;
    reg signed [71:0] p, q, wide;

    always @* begin
        acc = 0;
        exact = 0;
        special = FIN;
        for (t = 0; t < 32; t = t + 1) begin
            ca = a[8 * t +: 8];
            cb = b[8 * t +: 8];
            ka = cls(ca, fmt_a);
            kb = cls(cb, fmt_b);
            va = value(ca, fmt_a);
            vb = value(cb, fmt_b);
            kl = lane_special(ka, kb, va, vb, va < 0, vb < 0);
            if (kl != FIN)
                special = (special == FIN || special == kl) ? kl : NAN;
            else begin
                p = va * vb;  // units 2^-32
                exact = exact + p;
                q = clamp(rshift(p, 32 - FRAC, rnd), WIDTH);
                acc = clamp(acc + q, WIDTH);
            end
        end
        finite_lanes = (special == FIN);
        if (sa == 8'hff || sb == 8'hff) special = NAN;
        // word = R(acc * 2^(sa + sb - 254 + 8 - FRAC)), clamped to 32 bits
        shift = sa + sb - 254 + 8 - FRAC;
        if (shift >= 0)
            wide = (acc != 0 && shift > 31) ? (acc < 0 ? -(72'sd1 <<< 40) : (72'sd1 <<< 40)) : ($signed(acc) <<< shift);
        else
            wide = rshift(acc, -shift, rnd);
        word = clamp(wide, 32);
    end
endmodule
