"""``python -m gen``: write the Verilog, manifest, C header and register tables of one
accelerator configuration behind the host bus ``--bus``; with ``--estimate`` its resources per
block from synthesis alone; with ``--board``, its board sources, or with ``--build`` its
bitstream and report."""

import argparse
import dataclasses
import sys
import time

from pathlib import Path

from tqdm.auto import tqdm

from hw.accel import pipeline_latency
from hw.config import FIELD_SPECS, AccelConfig, ConfigError
from hw.top import HOST_BUSES

from .emit import TOP_NAME, generate


def _option(field):
    return "--" + field.replace("_", "-")


def _default(config, name):
    value = getattr(config, name)
    return FIELD_SPECS[name].none_means if value is None else value


def _boards(parser):
    """The board targets: amaranth-boards, the ``boards`` extra, is imported only for
    ``--board``."""
    try:
        from boards import BOARDS
    except ModuleNotFoundError as error:
        if error.name != "amaranth_boards":
            raise
        parser.error("argument --board: needs amaranth-boards, which the boards extra "
                     "installs: pip install -e \".[boards]\"")
    return BOARDS


def parser():
    defaults = AccelConfig()
    result = argparse.ArgumentParser(
        prog="python -m gen",
        description="Generate a sparse DNN accelerator: Verilog and a manifest for its host. "
                    "With --board, a configuration option left out takes the board's value.",
        formatter_class=argparse.HelpFormatter)
    for field in dataclasses.fields(AccelConfig):
        result.add_argument(_option(field.name), type=int, metavar="N", default=None,
                            help=f"{FIELD_SPECS[field.name].help} (default: "
                                 f"{_default(defaults, field.name)}, or the board's)")
    result.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write sparse_accel.v, manifest.json, sparse_accel.h, "
                             "registers.csv and registers.json into")
    result.add_argument("--bus", choices=list(HOST_BUSES), default=next(iter(HOST_BUSES)),
                        help="the top's host bus: " + "; ".join(
                            f"{bus.name}, {bus.summary}" for bus in HOST_BUSES.values()) +
                        f" (default: {next(iter(HOST_BUSES))})")
    result.add_argument("--estimate", action="store_true",
                        help="also synthesize the top with Yosys alone (no place and route) "
                             "and write its LUTs, FFs, DSPs and block RAMs per block to "
                             "estimate.json and estimate.md (needs the boards extra)")
    result.add_argument("--board", metavar="NAME",
                        help="also write the sources of a bitstream for this board, one of "
                             "boards.BOARDS (needs the boards extra)")
    result.add_argument("--build", action="store_true",
                        help="synthesize, place, route and pack the bitstream (needs --board), "
                             "and write report.json and report.md")
    result.add_argument("--no-baseline", action="store_true",
                        help="with --build, skip the dense MAC array the report compares with")
    result.add_argument("--seed", type=int, metavar="N", default=None,
                        help="with --build, nextpnr's placement seed, from 0 to 2**31 - 1 "
                             "(default: 1)")
    result.add_argument("--allow-timing-fail", action="store_true",
                        help="with --build, exit 0 even if the clock's timing is not met")
    result.add_argument("--program", action="store_true",
                        help="with --build, load the bitstream into the board with "
                             "openFPGALoader (python -m boards.program loads one later)")
    result.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return result


def _estimate(cfg, args, say):
    """``--estimate``: synthesize in ``out/estimate`` and write the figures beside the
    Verilog; returns them."""
    import json
    from .estimate import estimate, estimate_table
    from .tools import ToolError
    try:
        result = estimate(HOST_BUSES[args.bus].top(cfg), TOP_NAME, Path(args.out) / "estimate",
                          progress=say)
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    table = estimate_table(result)
    (Path(args.out) / "estimate.json").write_text(json.dumps(result, indent=2) + "\n")
    (Path(args.out) / "estimate.md").write_text(table)
    say(f"estimated in {result['seconds']} s; wrote {Path(args.out) / 'estimate.md'}")
    if not args.quiet:
        print(table)
    return result


def main(argv=None):
    args = parser().parse_args(argv)
    if args.build and args.board is None:
        parser().error("argument --build: needs --board")
    if args.board is not None and args.bus != "native":
        parser().error(f"argument --bus: {args.bus!r} with --board: a board reaches the "
                       f"accelerator through its link, on the native bus")
    if args.program and not args.build:
        parser().error("argument --program: needs --build")
    if args.seed is not None and not args.build:
        parser().error("argument --seed: needs --build")
    if args.seed is not None and not 0 <= args.seed < 2**31:
        parser().error(f"argument --seed: must be from 0 to 2**31 - 1, not {args.seed}")
    target = None
    if args.board is not None:
        boards = _boards(parser())
        if args.board not in boards:
            parser().error(f"argument --board: invalid choice: {args.board!r} (choose from "
                           f"{', '.join(map(repr, sorted(boards)))})")
        target = boards[args.board]
        if args.program:
            from boards.program import ProgramError, loader
            try:
                loader()
            except ProgramError as error:
                print(f"error: --program: {error}", file=sys.stderr)
                sys.exit(1)
    base = target.config if target else AccelConfig()
    fields = {field.name: getattr(base, field.name) if getattr(args, field.name) is None
              else getattr(args, field.name) for field in dataclasses.fields(AccelConfig)}
    try:
        cfg = AccelConfig(**fields)
    except ConfigError as error:
        parser().error(f"argument {_option(error.field)}: {error}")
    started = time.monotonic()
    say = (lambda message: None) if args.quiet else \
        (lambda message: tqdm.write(f"[{time.monotonic() - started:5.1f}s] {message}",
                                    file=sys.stderr))
    link = target.link if target else {}
    generate(cfg, args.out, bus=args.bus, progress=say, clock_hz=link.get("clock_hz"),
             baud_rate=link.get("nominal_baud_rate"))
    say(f"generated: {cfg.pes} PEs, latency {pipeline_latency(cfg)} cycles, "
        f"config hash {cfg.config_hash:#010x}, {args.bus} bus")
    # A build's report breaks the resources down by block (the estimate is an ECP5 one).
    ecp5 = target is not None and target.platform.device.startswith("LFE5")
    blocks = _estimate(cfg, args, say) if args.estimate or (args.build and ecp5) else None
    if target is None:
        return
    from .build import DEFAULT_SEED, ToolError, build_bitstream, extract_sources, write_report
    platform = target.platform()
    if not args.build:
        extract_sources(platform, cfg, args.out)
        say(f"wrote the {args.board} sources; --build makes the bitstream")
        return
    seed = DEFAULT_SEED if args.seed is None else args.seed
    try:
        sparse = build_bitstream(platform, cfg, args.out, seed=seed, progress=say,
                                 bar=not args.quiet)
        dense = None if args.no_baseline else \
            build_bitstream(target.platform(), cfg, Path(args.out) / "baseline",
                            engine="dense", seed=seed, progress=say,
                            bar=not args.quiet)
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    write_report(args.out, sparse, dense, link=target.link, blocks=blocks, progress=say)
    say(f"wrote {Path(args.out) / 'report.md'}")
    if not args.quiet:
        print((Path(args.out) / "report.md").read_text())
    if not sparse["timing_met"] and not args.allow_timing_fail:
        print(f"error: timing not met: Fmax {sparse['fmax_mhz']} MHz < "
              f"{sparse['clock_mhz']:g} MHz (bitstream written anyway; "
              f"--allow-timing-fail accepts it)", file=sys.stderr)
        sys.exit(1)
    if args.program:
        from boards.program import ProgramError, program
        try:
            program(args.board, Path(args.out) / sparse["bitstream"])
        except ProgramError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)
        say(f"loaded {sparse['bitstream']} into the {args.board}")


if __name__ == "__main__":
    main()
