"""``python -m host``: run one all-MiniLM-L6-v2 linear on the accelerator and print the costs;
with ``--network digits``, the digits MLP resident on the accelerator, a batch in one run.

With no ``--port``, the simulated board is built (once, cached) and started: the real
generated RTL, UART included, in Verilator. With ``--port`` and ``--manifest``, a board.
"""

import argparse
import sys
import time

import numpy as np


LAYERS = {
    "query": "encoder.layer.0.attention.self.query",
    "ffn-in": "encoder.layer.0.intermediate.dense",
    "ffn-out": "encoder.layer.0.output.dense",
}


def main(argv=None):
    from host.driver import SparseAccel
    from host.golden import golden_matvec
    from host.models import load_minilm_linear, minilm_activations
    from host.patterns import parse_pattern, prune
    from host.quant import quantize_activations, quantize_weights

    parser = argparse.ArgumentParser(prog="python -m host", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", choices=LAYERS, default="ffn-out",
                        help="which linear of layer 0: query 384x384, ffn-in 1536x384, "
                             "ffn-out 384x1536 (default: %(default)s)")
    parser.add_argument("--pattern", default="unstructured",
                        help="sparsity pattern: dense, unstructured, N:M, bank:W, tile:G "
                             "(default: %(default)s)")
    parser.add_argument("--sparsity", type=float, default=None,
                        help="for unstructured, bank:W and tile:G (default: 0.5)")
    parser.add_argument("--batch", type=int, default=None,
                        help="inputs run (default: 1, 64 with --network)")
    parser.add_argument("--network", choices=["digits"],
                        help="run a whole network resident on the accelerator instead: the "
                             "digits MLP 64-128-64-10 (batch: default 64)")
    parser.add_argument("--port", help="serial port or pyserial URL of a board")
    parser.add_argument("--manifest", help="the board's manifest.json (with --port)")
    args = parser.parse_args(argv)
    try:
        pattern = parse_pattern(args.pattern)
    except ValueError as error:
        parser.error(f"argument --pattern: {error}")
    sparsity = args.sparsity
    if pattern.needs_sparsity and sparsity is None:
        sparsity = 0.5
    if not pattern.needs_sparsity and sparsity is not None:
        parser.error(f"argument --sparsity: pattern {pattern.name!r} fixes its own sparsity")
    if args.port and not args.manifest:
        parser.error("argument --manifest: required with --port")
    if args.batch is None:
        args.batch = 64 if args.network else 1
    if args.batch < 1:
        parser.error("argument --batch: must be at least 1")
    if args.network:
        return _network(args, pattern, sparsity)

    weights = load_minilm_linear(LAYERS[args.layer])
    x = np.stack([minilm_activations(weights.shape[1], token=7570 + i)
                  for i in range(args.batch)])
    started = time.monotonic()
    with SparseAccel(args.port, manifest=args.manifest) as accel:
        connected = time.monotonic()
        y = accel.run(weights, x, pattern, sparsity=sparsity)
        finished = time.monotonic()
        stats, cfg = accel.last_run, accel.cfg

    q, weight_scale = quantize_weights(prune(weights, pattern, sparsity=sparsity))
    xq, input_scale = quantize_activations(x)
    golden = weight_scale * input_scale[:, None] * golden_matvec(q, xq, cfg.acc_width)
    exact = np.array_equal(y, golden)
    dense_bytes = weights.size
    print(f"all-MiniLM-L6-v2 {LAYERS[args.layer]} {weights.shape[0]}x{weights.shape[1]}, "
          f"{pattern.name}" + (f" {sparsity:.0%}" if sparsity is not None else "") +
          f", batch {args.batch}, P = {cfg.pes}")
    print(f"  kept weights       {stats.nnz} of {weights.size} ({stats.nnz / weights.size:.1%})")
    print(f"  tiles              {stats.tiles}")
    print(f"  compute cycles     {stats.cycles} (ideal nnz/P {stats.ideal_cycles:.0f}, "
          f"eta {stats.eta:.3f})")
    print(f"  bytes sent         {stats.bytes_sent} ({stats.bytes_sent / dense_bytes:.2f} x "
          f"dense INT8 weights), received {stats.bytes_received}, retries {stats.retries}")
    print(f"  compute time       {stats.compute_seconds(100e6) * 1e6:.1f} us at 100 MHz")
    print(f"  link time          {stats.link_seconds:.2f} s, run time {stats.run_seconds:.2f} s "
          f"(wall-clock, simulated board or serial link)")
    print(f"  wall-clock         {finished - started:.2f} s "
          f"({connected - started:.2f} s to connect)")
    print(f"  result             {'bit-exact with the golden model' if exact else 'DIFFERS'}")
    return 0 if exact else 1


def _network(args, pattern, sparsity):
    """``--network digits``: the per-layer table and the inferences per second."""
    from boards import BAUD_RATE, BOARDS
    from host.datasets import digits_mlp, digits_network
    from host.driver import SparseAccel
    from host.link import frame_overhead
    network = digits_network(pattern.name, sparsity,
                             method="magnitude" if pattern.name == "dense" else "reconstruct")
    mlp = digits_mlp(0)
    x = mlp.x_test[:args.batch]
    with SparseAccel(args.port, manifest=args.manifest) as accel:
        loaded = accel.load(network)
        started = time.monotonic()
        y = loaded(x)
        seconds = time.monotonic() - started
        stats, cfg = loaded.last_run, accel.cfg
    exact = np.array_equal(y, network.golden(x))
    accuracy = np.mean(y.argmax(axis=1) == mlp.y_test[:args.batch])
    print(f"digits MLP 64-128-64-10, {pattern.name}" +
          (f" {sparsity:.0%}" if sparsity is not None else "") +
          f", batch {args.batch} in {stats.runs} run(s), P = {cfg.pes}; loaded once: "
          f"{loaded.load_bytes} bytes")
    print(f"  {'layer':<8}{'format':<14}{'kept':>7}{'cycles':>9}{'ideal':>9}{'eta':>7}")
    for index, layer in enumerate(stats.layers):
        print(f"  {index:<8}{layer.format:<14}{layer.nnz:>7}{layer.cycles:>9}"
              f"{layer.ideal_cycles:>9.0f}{layer.eta:>7.3f}")
    print(f"  network cycles     {stats.cycles} (ideal {stats.ideal_cycles:.0f}, "
          f"eta {stats.eta:.3f})")
    poll_bytes = stats.polls * frame_overhead(1)
    link = stats.bytes_sent + stats.bytes_received
    print(f"  link               {stats.bytes_sent} bytes sent, {stats.bytes_received} "
          f"received, {stats.round_trips} round trips and {stats.polls} status polls; "
          f"{(link - poll_bytes) / args.batch:.1f} bytes per inference without the polls "
          f"(input {network.inputs}, output {network.outputs})")
    print(f"  simulated board    {args.batch / seconds:.0f} inferences/s (wall-clock)")
    for name, target in BOARDS.items():
        if not target.config.chains:
            print(f"  {name:<18} n/a: its build has no resident-network hardware")
            continue
        clock = target.platform.clock_hz
        estimate = (link - poll_bytes) * 10 / BAUD_RATE + stats.cycles / clock
        print(f"  {name:<18} {args.batch / estimate:.0f} inferences/s estimated "
              f"({BAUD_RATE} baud, 10 bits a byte, {clock / 1e6:.0f} MHz; the link "
              f"{(link - poll_bytes) * 10 / BAUD_RATE * 1e3:.1f} ms, compute "
              f"{stats.cycles / clock * 1e6:.1f} us per batch)")
    print(f"  accuracy           {accuracy:.3f} on these inputs; "
          f"{'bit-exact with the golden model' if exact else 'DIFFERS'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
