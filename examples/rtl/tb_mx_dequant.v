// tb_mx_dequant: checks mx_dequant against one dequantize suite file of an mxemu golden set.
// The record layout comes from the set (MANIFEST.json, golden_layout.h or golden_pkg.sv) as parameters:
//   iverilog -o tb -P tb_mx_dequant.COUNT=320 -P tb_mx_dequant.CODE_BITS=4 ... tb_mx_dequant.v mx_dequant.v
//   vvp tb +vectors=golden/L0/dequantize/mxfp4_e2m1.hex +fmt=4
// A record is [RECORD_BITS-1:0] = tag scale code value ev chk (the first field most significant).
// Check classes: 0 exact (every bit of value), 1 nan (value must be some NaN).
// Ends with "PASS <n> cases" or "FAIL ..." and $fatal; zero cases or a short / long file is a failure.
`timescale 1ns / 1ps
module tb_mx_dequant;
    parameter integer COUNT = 1;
    parameter integer RECORD_BITS = 72;
    parameter integer SCALE_OFFSET = 48;
    parameter integer CODE_OFFSET = 44;
    parameter integer CODE_BITS = 4;
    parameter integer VALUE_OFFSET = 12;
    parameter integer CHK_OFFSET = 0;
    parameter integer MAX_ERRORS = 20;

    reg [RECORD_BITS-1:0] mem [0:COUNT];  // one extra slot: must stay unloaded
    reg [RECORD_BITS-1:0] rec;
    reg [8*1024-1:0] path;
    reg [2:0]  fmt;
    reg [7:0]  scale;
    reg [7:0]  code;
    wire [31:0] value;
    reg [31:0] want;
    reg [3:0]  chk;
    integer    f, n, errors, checked;

    mx_dequant dut (.fmt(fmt), .scale(scale), .code(code), .value(value));

    initial begin
        if (!$value$plusargs("vectors=%s", path)) $fatal(1, "FAIL no +vectors=FILE.hex");
        if (!$value$plusargs("fmt=%d", f)) $fatal(1, "FAIL no +fmt=N");
        fmt = f;
        for (n = 0; n <= COUNT; n = n + 1) mem[n] = {RECORD_BITS{1'bx}};
        $readmemh(path, mem);
        if (^mem[COUNT] !== 1'bx) $fatal(1, "FAIL %0s holds more than COUNT = %0d records", path, COUNT);
        errors = 0;
        checked = 0;
        for (n = 0; n < COUNT; n = n + 1) begin
            rec = mem[n];
            if (^rec === 1'bx) $fatal(1, "FAIL %0s: record %0d missing or unreadable (%0d expected)", path, n, COUNT);
            scale = rec[SCALE_OFFSET +: 8];
            code = rec[CODE_OFFSET +: CODE_BITS];
            want = rec[VALUE_OFFSET +: 32];
            chk = rec[CHK_OFFSET +: 4];
            #1;
            checked = checked + 1;
            if (chk == 4'd1 ? !(value[30:23] == 8'hff && value[22:0] != 0) : value !== want) begin
                errors = errors + 1;
                if (errors <= MAX_ERRORS)
                    $display("MISMATCH case %0d: scale %02h code %02h chk %0d: expected %08h got %08h",
                             n, scale, code, chk, want, value);
            end
        end
        if (checked == 0) $fatal(1, "FAIL zero cases read");
        if (errors != 0) $fatal(1, "FAIL %0d of %0d cases", errors, checked);
        $display("PASS %0d cases", checked);
        $finish;
    end
endmodule
