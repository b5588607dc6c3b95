// verilator_mx_dequant: a Verilator driver for mx_dequant. It reads the records of one dequantize suite file of
// an mxemu golden set (the $readmemh .hex), drives the DUT with each record's scale and code, and writes one
// output word per line (the float32 value, 8 hex digits) in case order: the DUT dump `mxemu golden check`
// compares with the suite, explaining each mismatch by field.
//
//   verilator --cc --exe --build -Wall mx_dequant.v verilator_mx_dequant.cpp -o vmx_dequant
//   obj_dir/vmx_dequant golden/L0/dequantize/mxfp4_e2m1.hex FMT SCALE_OFFSET CODE_OFFSET CODE_BITS dump.hex
//   mxemu golden check golden/L0 --suite dequantize/mxfp4_e2m1 --dut dump.hex
//
// FMT is mx_dequant's fmt select; the offsets and width come from the set's MANIFEST.json (or golden_layout.h:
// MXG_DEQUANTIZE_<FORMAT>_SCALE_OFFSET, ..._CODE_OFFSET, ..._CODE_LANE_BITS). run_verilator.py does all this.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "Vmx_dequant.h"
#include "verilated.h"

namespace {

// Bits [offset, offset + width) of a record given as hex digits, the first digit most significant.
unsigned field(const std::string& hex, unsigned offset, unsigned width) {
    unsigned value = 0;
    for (unsigned k = width; k-- > 0;) {
        const unsigned bit = offset + k;
        unsigned b = 0;
        if (bit / 4 < hex.size()) {
            const char c = hex[hex.size() - 1 - bit / 4];
            const unsigned nibble = c <= '9' ? unsigned(c - '0') : unsigned((c | 0x20) - 'a' + 10);
            b = (nibble >> (bit % 4)) & 1u;
        }
        value = (value << 1) | b;
    }
    return value;
}

bool is_hex(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 7) {
        std::cerr << "usage: " << argv[0] << " VECTORS.hex FMT SCALE_OFFSET CODE_OFFSET CODE_BITS DUMP\n";
        return 2;
    }
    std::ifstream vectors(argv[1]);
    std::ofstream dump(argv[6]);
    if (!vectors || !dump) {
        std::cerr << "FAIL cannot open " << (vectors ? argv[6] : argv[1]) << "\n";
        return 2;
    }
    const unsigned fmt = std::strtoul(argv[2], nullptr, 10);
    const unsigned scale_offset = std::strtoul(argv[3], nullptr, 10);
    const unsigned code_offset = std::strtoul(argv[4], nullptr, 10);
    const unsigned code_bits = std::strtoul(argv[5], nullptr, 10);

    const std::unique_ptr<VerilatedContext> context{new VerilatedContext};
    context->commandArgs(argc, argv);
    const std::unique_ptr<Vmx_dequant> dut{new Vmx_dequant{context.get()}};
    dut->fmt = fmt;
    std::string record;
    unsigned long cases = 0;
    while (std::getline(vectors, record)) {
        if (!is_hex(record)) {
            std::cerr << "FAIL record " << cases << " is not a hex word\n";
            return 1;
        }
        dut->scale = field(record, scale_offset, 8);
        dut->code = field(record, code_offset, code_bits);
        dut->eval();  // combinational: the output settles in one evaluation
        char word[16];
        std::snprintf(word, sizeof word, "%08x\n", static_cast<unsigned>(dut->value));
        dump << word;
        ++cases;
    }
    dut->final();
    std::cout << "DUMPED " << cases << " cases\n";
    return cases ? 0 : 1;
}
