"""``python -m gen``: write the Verilog and manifest of one accelerator configuration."""

import argparse
import dataclasses
import sys
import time

from hw.config import AccelConfig, ConfigError

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
    "output_ports": "rows written to the output memory per cycle, a power of two from 1 to 16",
    "baud_divisor": "clock cycles per bit of the board's UART, 1 to 65535",
    "link_timeout": "cycles without a byte before the link abandons a frame, 16 to 2**30",
}


def _option(field):
    return "--" + field.replace("_", "-")


def parser():
    defaults = AccelConfig()
    result = argparse.ArgumentParser(
        prog="python -m gen",
        description="Generate a sparse DNN accelerator: Verilog and a manifest for its host.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for field in dataclasses.fields(AccelConfig):
        result.add_argument(_option(field.name), type=int, metavar="N",
                            default=getattr(defaults, field.name), help=_HELP[field.name])
    result.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write sparse_accel.v and manifest.json into")
    result.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return result


def main(argv=None):
    args = parser().parse_args(argv)
    fields = {field.name: getattr(args, field.name) for field in dataclasses.fields(AccelConfig)}
    try:
        cfg = AccelConfig(**fields)
    except ConfigError as error:
        parser().error(f"argument {_option(error.field)}: {error}")
    started = time.monotonic()
    say = (lambda message: None) if args.quiet else \
        (lambda message: print(f"[{time.monotonic() - started:5.1f}s] {message}",
                               file=sys.stderr))
    generate(cfg, args.out, progress=say)
    say(f"done: {cfg.pes} PEs, latency {cfg.latency} cycles, "
        f"config hash {cfg.config_hash:#010x}")


if __name__ == "__main__":
    main()
