"""Unstructured sparsity on the MiniLM linears, measured on the generated RTL (Verilator).

``python -m bench.unstructured [--pes 64]`` prints, per layer and sparsity: the measured
compute cycles, nnz/P, the efficiency eta = (nnz/P)/cycles, the speedup over the dense cycle
count M*K/P, and the simulated cycles per wall-clock second. Every result is checked bit for
bit against the golden model and every cycle count against the cycle model.
"""

import argparse
import sys
import time

import numpy as np

from hw.config import AccelConfig
from host.cycles import predict_run
from host.golden import golden_matvec
from host.models import load_minilm_linear, minilm_activations
from host.prune import prune_unstructured
from host.quant import quantize_activations, quantize_weights
from sim_tb.accel_runs import accel_build, run_layers


LAYERS = {
    "384x384 attention.self.query": "encoder.layer.0.attention.self.query",
    "1536x384 intermediate.dense": "encoder.layer.0.intermediate.dense",
}
SPARSITIES = (0.5, 0.9)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.unstructured", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pes", type=int, default=64, help="processing elements P")
    args = parser.parse_args(argv)

    cases = []
    for label, name in LAYERS.items():
        weights = load_minilm_linear(name)
        x, _ = quantize_activations(minilm_activations(weights.shape[1]))
        for sparsity in SPARSITIES:
            q, _ = quantize_weights(prune_unstructured(weights, sparsity))
            cases.append((label, sparsity, q, x))
    largest_nnz = max(np.count_nonzero(q) for _, _, q, _ in cases)
    cfg = AccelConfig(pes=args.pes, max_k=1536, max_m=1536,
                      weight_depth=-(-largest_nnz // args.pes))

    print(f"building the {cfg.pes}-PE accelerator for Verilator "
          f"(latency L = {cfg.latency} cycles) ...", file=sys.stderr)
    started = time.monotonic()
    accel_build(cfg)
    print(f"built in {time.monotonic() - started:.0f} s; running {len(cases)} layers ...",
          file=sys.stderr)
    runs = run_layers(cfg, [(q, x) for _, _, q, x in cases])

    header = (f"{'layer':30} {'sparsity':>8} {'nnz':>7} {'nnz/P':>8} {'cycles':>7} "
              f"{'eta':>6} {'dense M*K/P':>11} {'speedup':>7} {'sim cyc/s':>9}")
    print(f"P = {cfg.pes}, unstructured, per-row magnitude pruning, INT8")
    print(header)
    print("-" * len(header))
    for (label, sparsity, q, x), run in zip(cases, runs):
        if not np.array_equal(run.outputs, golden_matvec(q, x, cfg.acc_width)):
            raise SystemExit(f"{label} at {sparsity:.0%}: result differs from the golden model")
        if run.counters != predict_run(cfg, run.layer, x):
            raise SystemExit(f"{label} at {sparsity:.0%}: cycles differ from the cycle model")
        nnz = np.count_nonzero(q)
        cycles = run.counters.cycles
        dense = q.size / cfg.pes
        print(f"{label:30} {sparsity:>8.0%} {nnz:>7} {nnz / cfg.pes:>8.1f} {cycles:>7} "
              f"{nnz / cfg.pes / cycles:>6.3f} {dense:>11.0f} {dense / cycles:>7.2f} "
              f"{run.sim_cycles / run.wall_seconds:>9.0f}")
    print("every result bit-exact with the golden model; every counter equal to the cycle model")


if __name__ == "__main__":
    main()
