"""``python -m gen``: write the Verilog and manifest of one accelerator configuration, and
with ``--board``, its board sources, or with ``--build`` its bitstream and report."""

import argparse
import dataclasses
import sys
import time

from pathlib import Path

from boards import BOARDS
from hw.config import AccelConfig, ConfigError

from .build import ToolError, build_bitstream, extract_sources, write_report
from .emit import generate


_HELP = {
    "pes": "processing elements P, a power of two from 1 to 1024",
    "data_width": "width of weights and activations in bits: 4, 8 or 16",
    "acc_width": "width of the output accumulators in bits, 16 to 32",
    "max_k": "largest input dimension K of a layer (activation memory depth), 1 to 65536",
    "max_m": "largest count of non-empty output rows of a layer, 1 to 65536",
    "weight_depth": "weight memory depth in beats of P lanes, 1 to 1048576",
    "max_group_width": "widest group of the grouped formats (M of N:M, bank width), "
                       "a power of two from 2 to 256",
    "pattern_depth": "entries of the pattern table: the longest cycle of beats a grouped "
                     "layer's lane places may have, 1 to 65536",
    "compact_depth": "depth of each lane's compact buffer: a tile uses at most this many "
                     "times P inputs, 1 to 65536",
    "output_ports": "rows written to the output memory per cycle, a power of two from 1 to 16",
    "baud_divisor": "clock cycles per bit of the board's UART, 1 to 65535",
    "link_timeout": "cycles without a byte before the link abandons a frame, 16 to 2**30",
}


def _option(field):
    return "--" + field.replace("_", "-")


def _default(config, name):
    value = getattr(config, name)
    return "enough for every input" if value is None else value


def parser():
    defaults = AccelConfig()
    result = argparse.ArgumentParser(
        prog="python -m gen",
        description="Generate a sparse DNN accelerator: Verilog and a manifest for its host. "
                    "With --board, a configuration option left out takes the board's value.",
        formatter_class=argparse.HelpFormatter)
    for field in dataclasses.fields(AccelConfig):
        result.add_argument(_option(field.name), type=int, metavar="N", default=None,
                            help=f"{_HELP[field.name]} (default: "
                                 f"{_default(defaults, field.name)}, or the board's)")
    result.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write sparse_accel.v and manifest.json into")
    result.add_argument("--board", choices=sorted(BOARDS),
                        help="also write the sources of a bitstream for this board")
    result.add_argument("--build", action="store_true",
                        help="synthesize, place, route and pack the bitstream (needs --board), "
                             "and write report.json and report.md")
    result.add_argument("--no-baseline", action="store_true",
                        help="with --build, skip the dense MAC array the report compares with")
    result.add_argument("--allow-timing-fail", action="store_true",
                        help="with --build, exit 0 even if the clock's timing is not met")
    result.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return result


def main(argv=None):
    args = parser().parse_args(argv)
    if args.build and args.board is None:
        parser().error("argument --build: needs --board")
    target = BOARDS.get(args.board)
    base = target.config if target else AccelConfig()
    fields = {field.name: getattr(base, field.name) if getattr(args, field.name) is None
              else getattr(args, field.name) for field in dataclasses.fields(AccelConfig)}
    try:
        cfg = AccelConfig(**fields)
    except ConfigError as error:
        parser().error(f"argument {_option(error.field)}: {error}")
    started = time.monotonic()
    say = (lambda message: None) if args.quiet else \
        (lambda message: print(f"[{time.monotonic() - started:5.1f}s] {message}",
                               file=sys.stderr, flush=True))
    generate(cfg, args.out, progress=say)
    say(f"generated: {cfg.pes} PEs, latency {cfg.latency} cycles, "
        f"config hash {cfg.config_hash:#010x}")
    if target is None:
        return
    platform = target.platform()
    if not args.build:
        extract_sources(platform, cfg, args.out)
        say(f"wrote the {args.board} sources; --build makes the bitstream")
        return
    try:
        sparse = build_bitstream(platform, cfg, args.out, progress=say)
        dense = None if args.no_baseline else \
            build_bitstream(target.platform(), cfg, Path(args.out) / "baseline",
                            engine="dense", progress=say)
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    write_report(args.out, sparse, dense)
    say(f"wrote {Path(args.out) / 'report.md'}")
    if not args.quiet:
        print((Path(args.out) / "report.md").read_text())
    if not sparse["timing_met"] and not args.allow_timing_fail:
        print(f"error: timing not met: Fmax {sparse['fmax_mhz']} MHz < "
              f"{sparse['clock_mhz']:g} MHz (bitstream written anyway; "
              f"--allow-timing-fail accepts it)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
