// tb_mx_mac: checks mx_mac against one dot suite file of an mxemu golden set: the S23.8 word of the
// fixed-point datapath fx<WIDTH>_<rounding>_s23_8 and the exact block sums BLOCK_SUM.
// The record layout comes from the set's MANIFEST.json as parameters:
//   iverilog -o tb -P tb_mx_mac.COUNT=130 -P tb_mx_mac.A_BITS=8 ... tb_mx_mac.v mx_mac.v
//   vvp tb +vectors=SET/dot/mxfp8_e4m3.hex +fmt=0 +rnd=3 +word_offset=652
// (or verilator --binary -GCOUNT=130 ... ; the rounding and the offset of its word field are run-time
// arguments, so one build per format and accumulator width serves the four roundings).
// A record holds NBLK blocks (1 or 2); the words of the blocks add in a clamping 32-bit register, and a
// NaN / +Inf / -Inf result gives the word 0 / 0x7fffffff / 0x80000000 (docs/convert_dot.md).
// Ends with "PASS <n> cases" or "FAIL ..." and $fatal; zero cases or a short / long file is a failure.
`timescale 1ns / 1ps
module tb_mx_mac;
    parameter integer COUNT = 1;
    parameter integer RECORD_BITS = 2310;
    parameter integer WIDTH = 40;
    parameter integer SA_OFFSET = 0;
    parameter integer A_OFFSET = 0;
    parameter integer A_BITS = 8;
    parameter integer B_FORMAT_OFFSET = 0;
    parameter integer SB_OFFSET = 0;
    parameter integer B_OFFSET = 0;
    parameter integer NBLK_OFFSET = 0;
    parameter integer SUM_OFFSET = 0;
    parameter integer MAX_ERRORS = 20;

    // One extra slot that must stay unloaded; unloaded slots hold all ones (no record has the tag 0xffff), which
    // a two-state simulator (Verilator) can tell from a record as well as a four-state one (Icarus).
    reg [RECORD_BITS-1:0] mem [0:COUNT];
    reg [RECORD_BITS-1:0] rec;
    reg [8*1024-1:0] path;
    reg [2:0]  fmt_a, fmt_b;
    reg [1:0]  rnd;
    reg [7:0]  sa, sb;
    reg [32*8-1:0] a, b;
    wire signed [WIDTH-1:0] acc;
    wire signed [71:0] exact;
    wire [1:0] special;
    wire finite_lanes;
    wire signed [31:0] word;
    reg  signed [71:0] total;
    reg  signed [95:0] want_sum, got_sum;
    reg  [31:0] want, got;
    reg  [1:0] kind;
    integer f, r, word_offset, n, blk, t, nblk, errors, checked;

    mx_mac #(.WIDTH(WIDTH), .FRAC(16)) dut (.fmt_a(fmt_a), .fmt_b(fmt_b), .rnd(rnd), .sa(sa), .sb(sb), .a(a),
                                            .b(b), .acc(acc), .exact(exact), .special(special),
                                            .finite_lanes(finite_lanes), .word(word));

    // log2 of the smallest step of each element format (the manifest's dot_sum_lsb)
    function integer lsb;
        input [2:0] fmt;
        case (fmt)
            3'd0: lsb = -9;
            3'd1: lsb = -16;
            3'd2: lsb = -4;
            3'd3: lsb = -3;
            3'd4: lsb = -1;
            default: lsb = -6;
        endcase
    endfunction

    initial begin
        if (!$value$plusargs("vectors=%s", path)) $fatal(1, "FAIL no +vectors=FILE.hex");
        if (!$value$plusargs("fmt=%d", f)) $fatal(1, "FAIL no +fmt=N");
        if (!$value$plusargs("rnd=%d", r)) $fatal(1, "FAIL no +rnd=N");
        if (!$value$plusargs("word_offset=%d", word_offset)) $fatal(1, "FAIL no +word_offset=N");
        fmt_a = f;
        rnd = r;
        for (n = 0; n <= COUNT; n = n + 1) mem[n] = {RECORD_BITS{1'b1}};
        $readmemh(path, mem);
        if (mem[COUNT] !== {RECORD_BITS{1'b1}}) $fatal(1, "FAIL %0s holds more than COUNT = %0d records", path, COUNT);
        errors = 0;
        checked = 0;
        for (n = 0; n < COUNT; n = n + 1) begin
            rec = mem[n];
            if (rec === {RECORD_BITS{1'b1}} || ^rec === 1'bx) $fatal(1, "FAIL %0s: record %0d missing or unreadable (%0d expected)", path, n, COUNT);
            if (rec[B_FORMAT_OFFSET +: 8] > 5) $fatal(1, "FAIL record %0d: B format %0d is not an OCP format", n,
                                                     rec[B_FORMAT_OFFSET +: 8]);
            fmt_b = rec[B_FORMAT_OFFSET +: 3];
            nblk = rec[NBLK_OFFSET +: 2];
            total = 0;
            kind = 2'd0;
            for (blk = 0; blk < 2; blk = blk + 1) begin
                sa = rec[SA_OFFSET + 8 * blk +: 8];
                sb = rec[SB_OFFSET + 8 * blk +: 8];
                for (t = 0; t < 32; t = t + 1) begin
                    a[8 * t +: 8] = rec[A_OFFSET + A_BITS * (32 * blk + t) +: 8] & ((1 << A_BITS) - 1);
                    b[8 * t +: 8] = rec[B_OFFSET + 8 * (32 * blk + t) +: 8];
                end
                #1;
                // BLOCK_SUM: the exact sum in units of 2^(lsb_A + lsb_B), 0 when a lane is NaN or Inf
                want_sum = rec[SUM_OFFSET + 96 * blk +: 96];
                got_sum = finite_lanes ? (exact >>> (32 + lsb(fmt_a) + lsb(fmt_b))) : 96'sd0;
                if (got_sum !== want_sum) begin
                    errors = errors + 1;
                    if (errors <= MAX_ERRORS)
                        $display("MISMATCH case %0d block %0d: block sum expected %0d got %0d", n, blk, want_sum,
                                 got_sum);
                end
                if (blk < nblk) begin
                    if (special != 2'd0) kind = (kind == 2'd0 || kind == special) ? special : 2'd1;
                    total = total + word;
                    total = (total > 72'sh7fffffff) ? 72'sh7fffffff : (total < -72'sh80000000) ? -72'sh80000000 : total;
                end
            end
            got = (kind == 2'd1) ? 32'h0 : (kind == 2'd2) ? 32'h7fffffff : (kind == 2'd3) ? 32'h80000000 : total[31:0];
            want = rec[word_offset +: 32];
            checked = checked + 1;
            if (got !== want) begin
                errors = errors + 1;
                if (errors <= MAX_ERRORS)
                    $display("MISMATCH case %0d: S23.8 word expected %08h got %08h", n, want, got);
            end
        end
        if (checked == 0) $fatal(1, "FAIL zero cases read");
        if (errors != 0) $fatal(1, "FAIL %0d errors in %0d cases", errors, checked);
        $display("PASS %0d cases", checked);
        $finish;
    end
endmodule
