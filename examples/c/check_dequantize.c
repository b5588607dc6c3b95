/* check_dequantize: checks the dequantize suite files of an mxemu golden set against an independent C model.
 *
 *   cc -std=c99 -Wall -Wextra -Werror -I golden/L0 examples/c/check_dequantize.c -lm -o check_dequantize
 *   ./check_dequantize golden/L0
 *
 * Record layouts come from the set's exported header golden_layout.h (MXG_DEQUANTIZE_<FORMAT>_*); each
 * .hex line is one record word, parsed field by field at those offsets. The model computes
 * element value * 2^(scale - 127) with ldexp in double (exact for every MX element) and rounds once to
 * float. Exit status 0 when every case of every format matches, 1 otherwise (zero cases read is a failure).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_layout.h"

struct suite {
    const char *name;
    unsigned count, hex_digits, scale_off, code_off, code_bits, value_off, chk_off;
    int ebits, mbits, bias; /* ebits = 0: a two's complement integer with mbits fraction bits */
    int specials;           /* 0 none, 1 E4M3 (S.1111.111 is NaN), 2 IEEE (E5M2) */
};

#define SUITE(NAME, name, eb, mb, bias, sp)                                                          \
    {name, MXG_DEQUANTIZE_##NAME##_COUNT, MXG_DEQUANTIZE_##NAME##_HEX_DIGITS,                        \
     MXG_DEQUANTIZE_##NAME##_SCALE_OFFSET, MXG_DEQUANTIZE_##NAME##_CODE_OFFSET,                      \
     MXG_DEQUANTIZE_##NAME##_CODE_LANE_BITS, MXG_DEQUANTIZE_##NAME##_VALUE_OFFSET,                   \
     MXG_DEQUANTIZE_##NAME##_CHK_OFFSET, eb, mb, bias, sp}

static const struct suite SUITES[] = {
    SUITE(MXFP8_E4M3, "mxfp8_e4m3", 4, 3, 7, 1), SUITE(MXFP8_E5M2, "mxfp8_e5m2", 5, 2, 15, 2),
    SUITE(MXFP6_E3M2, "mxfp6_e3m2", 3, 2, 3, 0), SUITE(MXFP6_E2M3, "mxfp6_e2m3", 2, 3, 1, 0),
    SUITE(MXFP4_E2M1, "mxfp4_e2m1", 2, 1, 1, 0), SUITE(MXINT8, "mxint8", 0, 6, 0, 0),
};

/* Bits [off, off + n) (n <= 32) of a record given as hex digits, most significant digit first. */
static uint32_t field(const char *hex, unsigned digits, unsigned off, unsigned n) {
    uint32_t v = 0;
    for (unsigned b = off + n; b-- > off;) {
        unsigned d = digits - 1 - b / 4; /* digit holding bit b */
        char c = hex[d];
        unsigned nib = (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        v = (v << 1) | ((nib >> (b % 4)) & 1u);
    }
    return v;
}

/* The model: float32 bits of element code times 2^(scale - 127); NaN results as the quiet NaN. */
static uint32_t model(const struct suite *s, uint32_t scale, uint32_t code) {
    unsigned bits = s->ebits ? 1u + (unsigned)s->ebits + (unsigned)s->mbits : 2u + (unsigned)s->mbits;
    int negative = (int)((code >> (bits - 1)) & 1u);
    double v;
    if (s->ebits == 0) {
        int k = negative ? (int)code - (1 << bits) : (int)code;
        v = ldexp((double)k, -s->mbits);
    } else {
        unsigned e = (code >> s->mbits) & ((1u << s->ebits) - 1u), m = code & ((1u << s->mbits) - 1u);
        unsigned top = (1u << s->ebits) - 1u;
        if (s->specials == 1 && e == top && m == (1u << s->mbits) - 1u) v = NAN;
        else if (s->specials == 2 && e == top) v = m ? NAN : INFINITY;
        else if (e == 0) v = ldexp((double)m, 1 - s->bias - s->mbits);
        else v = ldexp((double)(m | (1u << s->mbits)), (int)e - s->bias - s->mbits);
        if (negative) v = -v;
    }
    if (scale == 0xFFu) v = NAN;
    float f = (float)ldexp(v, (int)scale - 127);
    uint32_t out;
    memcpy(&out, &f, sizeof out);
    return isnan(f) ? 0x7fc00000u : out;
}

static int check_suite(const char *dir, const struct suite *s) {
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/dequantize/%s.hex", dir, s->name);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        printf("FAIL %s: cannot open\n", path);
        return 1;
    }
    unsigned n = 0, errors = 0;
    while (fgets(line, sizeof line, fp)) {
        size_t len = strcspn(line, "\r\n");
        if (len != s->hex_digits || strspn(line, "0123456789abcdef") != len) {
            printf("FAIL %s:%u: not a %u-digit lowercase hex record\n", path, n + 1, s->hex_digits);
            fclose(fp);
            return 1;
        }
        uint32_t scale = field(line, s->hex_digits, s->scale_off, 8);
        uint32_t code = field(line, s->hex_digits, s->code_off, s->code_bits);
        uint32_t want = field(line, s->hex_digits, s->value_off, 32);
        uint32_t chk = field(line, s->hex_digits, s->chk_off, 4);
        uint32_t got = model(s, scale, code);
        int nan_got = (got & 0x7f800000u) == 0x7f800000u && (got & 0x007fffffu) != 0;
        int ok = chk == MXG_CHK_NAN ? nan_got : got == want;
        if (!ok && ++errors <= 20)
            printf("MISMATCH %s case %u: scale %02x code %02x chk %u: expected %08x, model %08x\n", s->name, n,
                   scale, code, chk, want, got);
        n++;
    }
    fclose(fp);
    if (n != s->count) {
        printf("FAIL %s: %u records, the header says %u\n", path, n, s->count);
        return 1;
    }
    printf("%s %s: %u cases, %u mismatches\n", errors ? "FAIL" : "PASS", s->name, n, errors);
    return errors != 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s GOLDEN_SET_DIR\n", argv[0]);
        return 2;
    }
    int failed = 0;
    for (size_t i = 0; i < sizeof SUITES / sizeof SUITES[0]; i++) failed |= check_suite(argv[1], &SUITES[i]);
    return failed;
}
