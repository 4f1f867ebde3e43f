"""The host side: pruning, quantization, encoding, the golden and cycle models."""

from .network import Layer, Network


__all__ = ["Layer", "Network", "SparseAccel"]


def __getattr__(name):
    # The driver needs pyserial and builds the simulated board: imported when asked for.
    if name == "SparseAccel":
        from .driver import SparseAccel
        return SparseAccel
    raise AttributeError(f"module 'host' has no attribute {name!r}")
