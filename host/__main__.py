"""``python -m host``: run one all-MiniLM-L6-v2 linear on the accelerator and print the costs;
with ``--network digits``, the digits MLP resident on the accelerator, a batch in one run.

With no ``--port``, the simulated board is built (once, cached) and started: the real
generated RTL, UART included, in Verilator. With ``--port`` and ``--manifest``, a board.

The compute, link and total time are measured (wall-clock; compute as the cycles at the
manifest's clock) on the board the run used, and estimated for each board of
``boards.BOARDS`` at its clock and link rate: for a single layer, tiled for that board's own
memories, its cycles from the cycle model and its link bytes counted frame by frame; for a
network, this run's cycles and bytes. ``--plot FILE`` draws the cycles per layer and the
times as a PNG (needs matplotlib).
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
    parser.add_argument("--baudrate", type=int, metavar="BAUD",
                        help="the port's rate (default: the manifest's nominal_baud_rate)")
    parser.add_argument("--plot", metavar="FILE",
                        help="also draw the cycles per layer and the compute and link time "
                             "of each board to this PNG (needs matplotlib)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars on stderr")
    args = parser.parse_args(argv)
    if args.plot:
        from gen.plots import PlotsUnavailable, require
        try:
            require()
        except PlotsUnavailable as error:
            parser.error(f"argument --plot: {error}")
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
    if args.baudrate is not None and (args.port is None or args.baudrate < 1):
        parser.error("argument --baudrate: a positive rate, with --port")
    if args.port and args.baudrate is None and not _manifest_rate(args.manifest):
        parser.error("argument --baudrate: required: the manifest states no baud rate (it "
                     "was generated for no board)")
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
    with _accel(args) as accel:
        connected = time.monotonic()
        y = accel.run(weights, x, pattern, sparsity=sparsity)
        finished = time.monotonic()
        stats, cfg = accel.last_run, accel.cfg
        link = accel.manifest.get("link") or {"clock_hz": None}

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
    where = "simulated board" if args.port is None else "board"
    compute = stats.compute_seconds(link["clock_hz"]) if link["clock_hz"] else None
    times = {f"{where} (measured)": (compute or 0.0, stats.link_seconds)}
    print(f"  {'time':<19}{'compute':>11}{'link':>11}{'total':>11}")
    print(f"  {where:<19}{_duration(compute):>11}{_duration(stats.link_seconds):>11}"
          f"{_duration(finished - connected):>11}  measured: wall-clock of run(), its waits "
          f"{_duration(stats.run_seconds).strip()}; compute "
          + (f"at {link['clock_hz'] / 1e6:g} MHz" if compute is not None
             else "unknown (the manifest states no clock)"))
    for name, estimate in _single_estimates(weights, x, pattern, sparsity):
        if isinstance(estimate, str):
            print(f"  {name:<19}n/a: {estimate}")
            continue
        times[name] = estimate[:2]
        print(f"  {name:<19}{_duration(estimate[0]):>11}{_duration(estimate[1]):>11}"
              f"{_duration(sum(estimate[:2])):>11}  estimated: {estimate[2]}")
    print(f"  wall-clock         {finished - started:.2f} s "
          f"({connected - started:.2f} s to connect)")
    print(f"  result             {'bit-exact with the golden model' if exact else 'DIFFERS'}")
    if args.plot:
        from gen.plots import cost_plot
        cost_plot(f"{weights.shape[0]}x{weights.shape[1]}, {pattern.name}, batch {args.batch}",
                  [("layer", stats.cycles, stats.ideal_cycles)], times, args.plot)
        print(f"  plot               {args.plot}")
    return 0 if exact else 1


def _manifest_rate(path):
    """The ``nominal_baud_rate`` of the manifest at ``path``, or ``None``."""
    import json
    from pathlib import Path
    return (json.loads(Path(path).read_text()).get("link") or {}).get("nominal_baud_rate")


def _accel(args):
    from host.driver import SparseAccel
    return SparseAccel(args.port, manifest=args.manifest, baudrate=args.baudrate,
                       progress=False if args.no_progress else None)


def _duration(seconds):
    """``seconds`` in the unit that reads best; blank when unknown."""
    if seconds is None:
        return ""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _single_estimates(weights, x, pattern, sparsity):
    """``(board, (compute_s, link_s, how))`` for each board of ``boards.BOARDS``: the layer
    tiled for the board's memories, run's cycles from the cycle model, link bytes counted
    frame by frame (:class:`host.link.CountingLink`, one status poll a run), at the board's
    clock and link rate; or ``(board, reason)`` when it cannot run there."""
    from boards import BOARDS
    from host.cycles import run_cycles
    from host.encode import LayerTooBig
    from host.link import CountingLink
    from host.patterns import prune
    from host.protocol import run_layer
    from host.quant import quantize_activations, quantize_weights
    from host.tiling import tile_layer
    for name, target in BOARDS.items():
        cfg, link = target.config, target.link
        q, _ = quantize_weights(prune(weights, pattern, sparsity=sparsity), cfg.quant_max)
        xq, _ = quantize_activations(np.atleast_2d(x), cfg.quant_max)
        counting = CountingLink(cfg.frame_words)
        cycles = 0
        try:
            tiles = list(tile_layer(q, cfg, pattern))
        except (LayerTooBig, ValueError) as error:
            yield name, str(error)
            continue
        for tile in tiles:
            width = tile.layer.shape[1]
            run_layer(counting, cfg, tile.layer, [row[tile.col0:tile.col0 + width]
                                                  for row in xq], check=False)
            cycles += len(xq) * run_cycles(cfg, tile.layer)
        link_bytes = counting.bytes_sent + counting.bytes_received
        yield name, (cycles / link["clock_hz"], link_bytes * 10 / link["baud_rate"],
                     f"P = {cfg.pes}, {len(tiles)} tile(s), {cycles} cycles at "
                     f"{link['clock_hz'] / 1e6:g} MHz, {link_bytes} bytes at "
                     f"{link['baud_rate']:.0f} baud, {counting.transactions} round trips")


def _network(args, pattern, sparsity):
    """``--network digits``: the per-layer table and the inferences per second."""
    from boards import BOARDS
    from host.datasets import digits_mlp, digits_network
    from host.link import frame_overhead
    network = digits_network(pattern.name, sparsity,
                             method="magnitude" if pattern.name == "dense" else "reconstruct")
    mlp = digits_mlp(0)
    x = mlp.x_test[:args.batch]
    with _accel(args) as accel:
        loaded = accel.load(network)
        started = time.monotonic()
        y = loaded(x)
        seconds = time.monotonic() - started
        stats, cfg = loaded.last_run, accel.cfg
        clock_hz = (accel.manifest.get("link") or {}).get("clock_hz")
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
    where = "simulated board" if args.port is None else "board"
    compute = stats.cycles / clock_hz if clock_hz else None
    times = {f"{where} (measured)": (compute or 0.0, seconds)}
    print(f"  {'time per batch':<19}{'compute':>11}{'link':>11}{'total':>11}")
    print(f"  {where:<19}{_duration(compute):>11}{_duration(seconds):>11}"
          f"{_duration(seconds):>11}  measured: {args.batch / seconds:.0f} inferences/s "
          f"wall-clock (the link's time includes the simulated run)"
          + (f"; compute at {clock_hz / 1e6:g} MHz" if compute is not None else ""))
    for name, target in BOARDS.items():
        if not target.config.chains:
            print(f"  {name:<19}n/a: its build has no resident-network hardware")
            continue
        rate, clock = target.link["baud_rate"], target.clock_hz
        estimate = ((link - poll_bytes) * 10 / rate, stats.cycles / clock)
        times[name] = estimate[::-1]
        print(f"  {name:<19}{_duration(estimate[1]):>11}{_duration(estimate[0]):>11}"
              f"{_duration(sum(estimate)):>11}  {args.batch / sum(estimate):.0f} "
              f"inferences/s estimated ({rate:.0f} baud, 10 bits a byte, no polls, "
              f"{clock / 1e6:g} MHz)")
    if args.plot:
        from gen.plots import cost_plot
        cost_plot(f"digits MLP, {pattern.name}, batch {args.batch}",
                  [(f"{index} {layer.format}", layer.cycles, layer.ideal_cycles)
                   for index, layer in enumerate(stats.layers)], times, args.plot)
        print(f"  plot               {args.plot}")
    print(f"  accuracy           {accuracy:.3f} on these inputs; "
          f"{'bit-exact with the golden model' if exact else 'DIFFERS'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
