"""The host side: pruning, quantization, encoding, the golden and cycle models."""

from .network import Layer, Network


__all__ = ["Layer", "Network"]
