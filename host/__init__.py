"""The host side: pruning, quantization, encoding, the golden and cycle models."""

from .network import Layer, Network


__all__ = ["Layer", "Network", "SparseAccel", "Model", "from_torch", "from_onnx"]


def __getattr__(name):
    # Imported when asked for: the driver needs pyserial and builds the simulated board; the
    # importers need torch or onnx, optional extras.
    if name == "SparseAccel":
        from .driver import SparseAccel
        return SparseAccel
    if name == "Model":
        from .model import Model
        return Model
    if name == "from_torch":
        from .torch_import import from_torch
        return from_torch
    if name == "from_onnx":
        from .onnx_import import from_onnx
        return from_onnx
    raise AttributeError(f"module 'host' has no attribute {name!r}")
