"""The host side: pruning, quantization, encoding, the golden and cycle models."""
