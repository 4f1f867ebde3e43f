"""The link's soak: the simulated board through at least 10,000 injected link faults.

``python -m bench.soak [--faults N] [--seed S]``: runs layers of every pattern (single inputs
and batches of up to 16) and a resident network (loaded, then a batch of up to 32), through a
:class:`host.link.FaultyPort` that damages requests and answers (flipped bits, dropped,
duplicated and inserted bytes), until ``--faults`` faults have been injected. Every run must
return the exact result (the golden model's) or raise ``LinkError``/``AcceleratorError``,
and finish within its bound (``--run-bound`` seconds); otherwise the soak stops with an
error. It prints the faults by place and kind, the runs by outcome and the retries.
"""

import argparse
import collections
import signal
import time

import numpy as np

from hw.config import AccelConfig
from host.driver import AcceleratorError, SparseAccel
from host.golden import golden_matvec
from host.link import FaultyPort, LinkError
from host.network import Layer, Network
from host.patterns import prune
from host.quant import quantize_activations, quantize_weights


#: A small board at one cycle per UART bit: the link is the bottleneck, as on a real board.
SOAK_CONFIG = AccelConfig(pes=4, max_k=64, max_m=32, weight_depth=96, max_group_width=16,
                          baud_divisor=1, link_timeout=4096)

LAYER_PATTERNS = [("unstructured", 0.5), ("2:4", None), ("tile:4", 0.5), ("bank:8", 0.5),
                  ("dense", None), (None, None)]


class RunHung(RuntimeError):
    """A run went past its bound."""


def expected_layer(weights, x, pattern, sparsity):
    pruned = weights if pattern is None else prune(weights, pattern, sparsity=sparsity)
    q, weight_scale = quantize_weights(pruned)
    xq, input_scale = quantize_activations(np.atleast_2d(x))
    y = weight_scale * input_scale[:, None] * golden_matvec(q, xq)
    return y[0] if np.ndim(x) == 1 else y


def bounded(seconds, function, *args):
    """``function(*args)``, or :exc:`RunHung` after ``seconds``."""
    def expire(signum, frame):
        raise RunHung(f"a run took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def soak(faults=10_000, seed=1, run_bound=60.0, request_rate=0.2, answer_rate=0.005,
         say=print):
    """Runs until ``faults`` faults are injected; returns the figures as a dict."""
    rng = np.random.default_rng(seed)
    outcomes = collections.Counter()
    messages = collections.Counter()
    started = time.monotonic()
    longest = 0.0
    with SparseAccel(config=SOAK_CONFIG, timeout=0.1, retries=6) as accel:
        rng_net = np.random.default_rng(seed + 1)
        network = Network([Layer(rng_net.normal(size=(24, 16)), rng_net.normal(size=24),
                                 pattern="2:4", activation="relu"),
                           Layer(rng_net.normal(size=(8, 24)), rng_net.normal(size=8),
                                 pattern="unstructured", sparsity=0.5)])
        network.calibrate(rng_net.normal(size=(32, 16)))
        port = FaultyPort(accel.link.port, seed=seed, request_rate=request_rate,
                          answer_rate=answer_rate)
        accel.link.port = port
        runs = 0
        while sum(port.faults.values()) < faults:
            runs += 1
            if runs % 4 == 0:
                kind = "network"
                x = rng.normal(size=(int(rng.integers(1, 33)), 16))
                expected = network.golden(x)
                run = lambda: accel.load(network)(x)     # a layer run replaced it
            else:
                pattern, sparsity = LAYER_PATTERNS[runs % len(LAYER_PATTERNS)]
                kind = f"layer {pattern or 'as given'}"
                weights = rng.normal(size=(20, 40))
                if pattern is None:
                    weights *= rng.random(weights.shape) < 0.3
                batch = int(rng.integers(1, 17))
                x = rng.normal(size=(batch, 40)) if batch > 1 else rng.normal(size=40)
                expected = expected_layer(weights, x, pattern, sparsity)
                run = lambda: accel.run(weights, x, pattern, sparsity=sparsity)
            begun = time.monotonic()
            try:
                y = bounded(run_bound, run)
            except (LinkError, AcceleratorError) as error:
                outcomes[f"raised {type(error).__name__}"] += 1
                outcomes[f"{kind}: raised"] += 1
                messages[f"{type(error).__name__}: {str(error)[:60]}"] += 1
            else:
                np.testing.assert_array_equal(y, expected)
                outcomes["exact"] += 1
                outcomes[f"{kind}: exact"] += 1
            finally:
                longest = max(longest, time.monotonic() - begun)
            if runs % 50 == 0:
                say(f"{runs} runs, {sum(port.faults.values())} faults, "
                    f"{accel.link.retries_made} retries, {time.monotonic() - started:.0f} s")
        figures = {
            "faults": sum(port.faults.values()),
            "faults_by_kind": {f"{where} {kind}": count
                               for (where, kind), count in sorted(port.faults.items())},
            "runs": runs,
            "outcomes": dict(sorted(outcomes.items())),
            "errors": dict(messages.most_common(8)),
            "retries": accel.link.retries_made,
            "transactions": accel.link.transactions,
            "longest_run_s": round(longest, 2),
            "seconds": round(time.monotonic() - started, 1),
        }
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--faults", type=int, default=10_000, help="faults to inject")
    parser.add_argument("--seed", type=int, default=1, help="seed of the runs and the faults")
    parser.add_argument("--run-bound", type=float, default=60.0,
                        help="seconds a run may take, retries included")
    parser.add_argument("--request-rate", type=float, default=0.2,
                        help="probability that a request frame is damaged")
    parser.add_argument("--answer-rate", type=float, default=0.005,
                        help="probability that an answer byte is damaged")
    args = parser.parse_args(argv)
    figures = soak(args.faults, args.seed, args.run_bound, args.request_rate,
                   args.answer_rate)
    print(f"faults injected: {figures['faults']}")
    for name, count in figures["faults_by_kind"].items():
        print(f"  {name}: {count}")
    print(f"runs: {figures['runs']}")
    for name, count in figures["outcomes"].items():
        print(f"  {name}: {count}")
    print("most common errors:")
    for name, count in figures["errors"].items():
        print(f"  {count} x {name}")
    print(f"transactions: {figures['transactions']}, retries: {figures['retries']}")
    print(f"longest run: {figures['longest_run_s']} s (bound {args.run_bound} s); "
          f"total {figures['seconds']} s")
    if figures["outcomes"].get("exact", 0) == 0:
        raise SystemExit("no run was exact")


if __name__ == "__main__":
    main()
