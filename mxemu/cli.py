"""The `mxemu` command: the format table and a sample encoding."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from mxemu.ops import decode, encode, quantize
from mxemu.spec import ElementFormat, MXFormat, ScaleFormat, formats, get_format


def format_table() -> str:
    """One line per registered format with its derived constants."""
    lines = [f"{'format':<12} {'kind':<6} {'bits':>4} {'emax':>5} {'max normal':>12} {'min subnormal':>14}  clause"]
    for name in formats():
        f = get_format(name)
        if isinstance(f, ElementFormat):
            lines.append(f"{name:<12} {f.kind:<6} {f.bits:>4} {f.emax:>5} {float(f.max_normal):>12g} "
                         f"{float(f.min_subnormal):>14g}  {f.clause}")
        elif isinstance(f, ScaleFormat):
            lines.append(f"{name:<12} {'scale':<6} {f.exponent_bits:>4} {f.max_exponent:>5} "
                         f"{2.0 ** f.max_exponent:>12g} {2.0 ** f.min_exponent:>14g}  {f.clause}")
    lines.append("")
    lines.append(f"{'MX format':<12} {'element':<9} {'scale':<9} {'block':>5}  clause")
    for name in formats():
        f = get_format(name)
        if isinstance(f, MXFormat):
            lines.append(f"{name:<12} {f.element.name:<9} {f.scale.name:<9} {f.block_size:>5}  {f.clause}")
    return "\n".join(lines)


def sample() -> str:
    """Encode a short sample vector into each element format and one MX block."""
    x = np.array([0.3, -1.7, 2.5, 100.0, 1e-3, -0.0], np.float32)
    lines = [f"sample x = {x.tolist()}"]
    for name in ("fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "int8"):
        codes = encode(x, name)
        lines.append(f"{name:<9} codes {' '.join(f'{c:02x}' for c in codes)}  values {decode(codes, name).tolist()}")
    q = quantize(np.resize(x, 32), "mxfp4_e2m1")
    lines.append(f"mxfp4_e2m1 block: scale 0x{int(q.scales[0]):02x}, first codes "
                 f"{' '.join(f'{c:x}' for c in q.codes[:6])}, values {q.dequantize()[:6].tolist()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mxemu", description="Bit-exact OCP Microscaling (MX) emulator.")
    parser.add_argument("command", nargs="?", default="info", choices=["info", "formats"],
                        help="info: format table and a sample encoding (default); formats: the table only")
    args = parser.parse_args(argv)
    print(format_table())
    if args.command == "info":
        print()
        print(sample())
    return 0


if __name__ == "__main__":
    sys.exit(main())
