"""Small workloads trained on the spot, for tests and benches: the digits MLP."""

import functools
from dataclasses import dataclass

import numpy as np


__all__ = ["DigitsMLP", "digits_mlp", "digits_network", "digits_cnn"]


@dataclass(frozen=True, eq=False)
class DigitsMLP:
    """A 64-128-64-10 ReLU MLP trained on scikit-learn's digits (pixels scaled to 0..1).

    ``weights`` and ``biases``: one (M, K) matrix and one (M,) vector per layer, float64;
    ``x_train`` (1257, 64), ``y_train``, ``x_test`` (540, 64), ``y_test``: a 70/30 split.
    The hidden layers are ReLU, the last is the identity (the logits).
    """
    weights: tuple
    biases: tuple
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def logits(self, x):
        """The float model on inputs (B, 64)."""
        for index, (weights, bias) in enumerate(zip(self.weights, self.biases)):
            x = x @ weights.T + bias
            if index + 1 < len(self.weights):
                x = np.maximum(x, 0)
        return x


@functools.cache
def digits_mlp(seed=0):
    """Train the :class:`DigitsMLP` (``MLPClassifier(hidden_layer_sizes=(128, 64))``, 400
    iterations at most, split and initialised by ``seed``); cached per process. About two
    seconds on one core (BLAS is limited to one thread: on a shared machine more are slower).
    Needs scikit-learn."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.3, random_state=seed)
    with threadpool_limits(1):
        mlp = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=400, random_state=seed)
        mlp.fit(x_train, y_train)
    return DigitsMLP(weights=tuple(w.T.copy() for w in mlp.coefs_),
                     biases=tuple(b.copy() for b in mlp.intercepts_),
                     x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def digits_network(pattern="dense", sparsity=None, *, method="magnitude", seed=0):
    """The digits MLP as a calibrated :class:`~host.network.Network` (on its training
    inputs), pruned to ``pattern``; ``method="reconstruct"`` prunes each layer with
    :func:`host.reconstruct.reconstruct_prune` on the inputs the layers before it give."""
    from .network import Layer, Network
    mlp = digits_mlp(seed)
    layers, x = [], mlp.x_train
    for index, (weights, bias) in enumerate(zip(mlp.weights, mlp.biases)):
        if method == "reconstruct" and pattern != "dense":
            from .reconstruct import reconstruct_prune
            weights = reconstruct_prune(weights, pattern, x, sparsity=sparsity)
        elif method not in ("magnitude", "reconstruct"):
            raise ValueError(f"method must be 'magnitude' or 'reconstruct', not {method!r}")
        layers.append(Layer(weights, bias, pattern=pattern, sparsity=sparsity,
                            activation=None if index + 1 == len(mlp.weights) else "relu"))
        x = layers[-1].float(x)
    return Network(layers).calibrate(mlp.x_train)


def digits_cnn(seed=0):
    """A small CNN on the digits images (8x8): two 3x3 convolutions (8 and 16 channels) with
    ReLU and 2x2 max pooling, then linears 64 -> 32 (ReLU) -> 10; trained 60 full-batch Adam
    steps, pruned to 50 % of every layer with ``torch.nn.utils.prune.l1_unstructured`` and
    fine-tuned 40 steps, on one thread. Returns ``(net, x_train, y_train, x_test, y_test)``,
    the images as float32 tensors (N, 1, 8, 8) scaled to 0..1. Needs torch."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torch import nn
    from torch.nn.utils import prune
    data = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        data.images[:, None] / 16.0, data.target, test_size=0.3, random_state=seed)
    x_train = torch.tensor(x_train, dtype=torch.float32)
    x_test = torch.tensor(x_test, dtype=torch.float32)
    labels = torch.tensor(y_train)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

            def train(steps, rate):
                optimizer = torch.optim.Adam(net.parameters(), rate)
                for _ in range(steps):
                    optimizer.zero_grad()
                    nn.functional.cross_entropy(net(x_train), labels).backward()
                    optimizer.step()

            train(60, 1e-2)
            for layer in net:
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    prune.l1_unstructured(layer, "weight", amount=0.5)
            train(40, 3e-3)
    finally:
        torch.set_num_threads(threads)
    return net.eval(), x_train, y_train, x_test, y_test
