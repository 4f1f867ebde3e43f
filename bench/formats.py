"""Every sparsity format on the MiniLM linears, measured on the generated RTL (Verilator).

``python -m bench.formats [--pes 64] [--patterns ...]`` prunes the first encoder layer's
384x384 query projection and 1536x384 intermediate linear of all-MiniLM-L6-v2 (magnitude,
INT8), runs each on one accelerator in simulation, one layer after the other without reset,
and prints per layer and pattern:

- cycles: the RTL's cycle counter from start to done;
- nnz/P and eta = (nnz/P) / cycles, nnz being the non-zero INT8 weights;
- x dense: speedup over the dense format on the same array (its measured cycles);
- x MK/P: speedup over the dense cycle count M*K/P;
- bits/w and meta: stream bits per non-zero weight, and the share of them that is not weight
  values (indices, row ends, filler and padding lanes);
- reads/prod: activation reads per product;
- x bytes and table B: bytes of activations written per input vector (broadcast to every
  lane, laid out as the format reads it), and of the pattern table written once per layer;
- sim cyc/s: simulated cycles per wall-clock second, loading included.

Every result is checked bit for bit against the golden model and every counter against the
cycle model; a mismatch stops the bench. ``--plot FILE`` also draws the cycles, eta and link
bytes (weight stream and pattern table) per format as a PNG (needs matplotlib).
"""

import argparse
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from hw.accel import pipeline_latency
from hw.config import AccelConfig
from host.bus import input_writes
from host.cycles import predict_run
from host.golden import golden_matvec
from host.models import load_minilm_linear, minilm_activations
from host.patterns import parse_pattern, prune
from host.quant import quantize_activations, quantize_weights
from sim_tb.accel_runs import accel_build, run_layers


LAYERS = {
    "384x384 query": "encoder.layer.0.attention.self.query",
    "1536x384 intermediate": "encoder.layer.0.intermediate.dense",
}
PATTERNS = ["dense", "unstructured@0.5", "unstructured@0.75", "unstructured@0.9", "2:4",
            "1:4", "4:8", "bank:16@0.5", "bank:16@0.75", "tile:8@0.5"]


def split(spec):
    """``"bank:16@0.5"`` -> ``("bank:16", 0.5)``; ``"2:4"`` -> ``("2:4", None)``."""
    name, _, sparsity = spec.partition("@")
    return name, float(sparsity) if sparsity else None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.formats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pes", type=int, default=64, help="processing elements P")
    parser.add_argument("--patterns", nargs="+", default=PATTERNS, metavar="PATTERN[@S]",
                        help="patterns, with @sparsity where the pattern needs one "
                             "(default: %(default)s)")
    parser.add_argument("--plot", metavar="FILE",
                        help="also draw cycles, eta and bytes per format to this PNG")
    args = parser.parse_args(argv)
    if args.plot:
        from gen.plots import PlotsUnavailable, require
        try:
            require()
        except PlotsUnavailable as error:
            parser.error(f"argument --plot: {error}")
    specs = [split(spec) for spec in args.patterns]
    for name, sparsity in specs:
        if parse_pattern(name).needs_sparsity != (sparsity is not None):
            parser.error(f"pattern {name!r} " + ("needs @sparsity" if sparsity is None
                                                  else "takes no @sparsity"))
    if all(parse_pattern(name).prunes for name, _ in specs):
        specs.insert(0, ("dense", None))

    cases = []
    for label, tensor in LAYERS.items():
        weights = load_minilm_linear(tensor)
        x, _ = quantize_activations(minilm_activations(weights.shape[1]))
        for name, sparsity in tqdm(specs, desc=f"pruning {label}", unit="pattern",
                                   leave=False, file=sys.stderr):
            q, _ = quantize_weights(prune(weights, name, sparsity=sparsity))
            cases.append((label, name, sparsity, q, x))
    cfg = AccelConfig(pes=args.pes, max_k=1536, max_m=1536, max_group_width=16,
                      weight_depth=max(-(-q.size // args.pes) for *_, q, _ in cases))

    say = lambda message: print(message, file=sys.stderr, flush=True)
    say(f"building the {cfg.pes}-PE accelerator for Verilator (L = {pipeline_latency(cfg)}) ...")
    started = time.monotonic()
    accel_build(cfg)
    say(f"built in {time.monotonic() - started:.0f} s; running {len(cases)} layers ...")
    runs = run_layers(cfg, [(q, x, name) for _, name, _, q, x in cases])

    header = (f"{'layer':22} {'pattern':14} {'nnz':>7} {'nnz/P':>7} {'cycles':>6} {'eta':>6} "
              f"{'x dense':>7} {'x MK/P':>6} {'bits/w':>6} {'meta':>5} {'reads/prod':>10} "
              f"{'x bytes':>7} {'table B':>7} {'sim cyc/s':>9}")
    print(f"P = {cfg.pes}, L = {pipeline_latency(cfg)}, all-MiniLM-L6-v2 layer 0, "
          "magnitude pruning, INT8")
    print(header)
    print("-" * len(header))
    dense_cycles = {}
    rows = []
    for (label, name, sparsity, q, x), run in zip(cases, runs):
        where = f"{label}, {name}"
        if not np.array_equal(run.outputs, golden_matvec(q, x, cfg.acc_width)):
            raise SystemExit(f"{where}: result differs from the golden model")
        if run.counters != predict_run(cfg, run.layer, x):
            raise SystemExit(f"{where}: counters differ from the cycle model")
        nnz = np.count_nonzero(q)
        cycles = run.counters.cycles
        if not parse_pattern(name).prunes:
            dense_cycles[label] = cycles
        shown = name if sparsity is None else f"{name} {sparsity:.0%}"
        print(f"{label:22} {shown:14} {nnz:>7} {nnz / cfg.pes:>7.1f} {cycles:>6} "
              f"{nnz / cfg.pes / cycles:>6.3f} {dense_cycles[label] / cycles:>7.2f} "
              f"{q.size / cfg.pes / cycles:>6.2f} {run.layer.bits_per_kept_weight(cfg):>6.2f} "
              f"{run.layer.metadata_share(cfg):>5.0%} "
              f"{run.counters.act_reads / max(nnz, 1):>10.2f} "
              f"{4 * len(input_writes(cfg, run.layer, x)[1]):>7} "
              f"{run.layer.table_bits(cfg) // 8:>7} "
              f"{run.sim_cycles / run.wall_seconds:>9.0f}")
        rows.append({"layer": label, "pattern": shown, "cycles": cycles,
                     "eta": nnz / cfg.pes / cycles,
                     "bytes": run.layer.stream_bits(cfg) // 8 + run.layer.table_bits(cfg) // 8})
    print("every result bit-exact with the golden model; every counter equal to the cycle model")
    if args.plot:
        from gen.plots import formats_plot
        print(f"plot: {formats_plot(rows, args.plot)}")


if __name__ == "__main__":
    main()
