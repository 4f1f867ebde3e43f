"""The digits CNN (``host.datasets.digits_cnn``, pruned to 50 %) imported with ``from_torch``
and run on the simulated board: accuracy against float, and the table of which op ran where.

    python -m bench.cnn
"""

import sys

import numpy as np


def main():
    from host import SparseAccel, from_torch
    from host.datasets import digits_cnn
    net, x_train, _, x_test, y_test = digits_cnn()
    model = from_torch(net, x_test[:4]).calibrate(x_train)
    with SparseAccel() as accel:
        loaded = accel.load(model)
        y = loaded(x_test)
    stats = loaded.last_run
    board = np.mean(y.argmax(1).numpy() == y_test)
    float_accuracy = np.mean(model.float(x_test).argmax(1).numpy() == y_test)
    exact = np.array_equal(y.numpy(), model.golden(x_test).numpy())
    print(f"digits CNN, 50 %, {len(x_test)} test images: accuracy float {float_accuracy:.4f}, "
          f"board {board:.4f} ({'bit-exact with the golden model' if exact else 'DIFFERS'}); "
          f"loaded once with {loaded.load_bytes} bytes; {stats.cycles} cycles (eta "
          f"{stats.eta:.3f}), {stats.runs} runs, {stats.bytes_sent} bytes sent, "
          f"{stats.bytes_received} received, {stats.round_trips} round trips")
    print(stats.table())
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
