"""Whole-model quality of pruned, INT8 all-MiniLM-L6-v2, and of a small MLP on digits.

``python -m bench.quality`` prints, for MiniLM run through the accelerator's arithmetic:

- Lee-50 Pearson and Spearman (cosine of document embeddings against the human ratings of
  Lee et al. 2005, as gensim ships them), WordSim353 Spearman, and the mean cosine of each
  Lee document's embedding to its dense float embedding;
- for every method (magnitude, activation-aware, reconstruction) and pattern, uniform over
  the 36 encoder linears;
- the sparsity planner's per-layer table for a target speedup, and that plan's quality;
- the same methods on an MLP trained on scikit-learn's digits (test accuracy).

Calibration uses documents of gensim's Lee background corpus, never the 50 test documents.
``--quick`` runs a reduced table.
"""

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
import scipy.stats
from tqdm.auto import tqdm

from host.minilm import LINEARS, MiniLM, linear_inputs
from host.planner import plan_sparsity
from host.runner import LayerChoice, SparseModel, int8_linear, prune_plan, prune_sequential
from host.quant import quantize_weights
from host.reconstruct import prune_layer


__all__ = ["lee_documents", "wordsim_pairs", "background_documents", "minilm_quality",
           "DigitsMLP", "plan_minilm"]


@functools.cache
def _test_data():
    try:
        import gensim
    except ImportError as error:
        raise ImportError("The quality data comes with gensim: pip install gensim") from error
    return Path(gensim.__file__).parent / "test" / "test_data"


def _lines(name):
    text = (_test_data() / name).read_text(encoding="latin-1")
    return [line.strip() for line in text.splitlines() if line.strip()]


def lee_documents():
    """The 50 Lee documents and their 50x50 human similarity ratings."""
    return _lines("lee.cor"), np.loadtxt(_test_data() / "similarities0-1.txt")


def background_documents():
    """The 300 documents of the Lee background corpus: calibration text."""
    return _lines("lee_background.cor")


def wordsim_pairs():
    """WordSim353: ``(word pairs, human scores)``."""
    pairs, scores = [], []
    for line in _lines("wordsim353.tsv"):
        if line.startswith("#"):
            continue
        first, second, score = line.split("\t")[:3]
        pairs.append((first, second))
        scores.append(float(score))
    return pairs, np.array(scores)


@functools.cache
def _reference(documents):
    return MiniLM().embed(list(documents))


def minilm_quality(model, *, documents=None, wordsim=True):
    """Quality figures of a :class:`~host.runner.SparseModel` (or anything with ``embed``)."""
    lee, ratings = lee_documents()
    if documents is not None:
        lee, ratings = lee[:documents], ratings[:documents, :documents]
    embeddings = model.embed(lee)
    cosines = embeddings @ embeddings.T
    upper = np.triu_indices(len(lee), 1)
    result = {
        "lee_pearson": scipy.stats.pearsonr(cosines[upper], ratings[upper])[0],
        "lee_spearman": scipy.stats.spearmanr(cosines[upper], ratings[upper])[0],
        "cosine_to_dense": float(np.mean(np.sum(embeddings * _reference(tuple(lee)), axis=1))),
    }
    if wordsim:
        pairs, scores = wordsim_pairs()
        words = sorted({word for pair in pairs for word in pair})
        vectors = dict(zip(words, model.embed(words)))
        similarity = [vectors[a] @ vectors[b] for a, b in pairs]
        result["wordsim_spearman"] = scipy.stats.spearmanr(similarity, scores)[0]
    return result


def plan_minilm(calibration, probe, *, target_speedup=None, max_drift=None, cache=None,
                progress=None):
    """Plan all 37 MiniLM linears: drift is 1 - mean cosine to the dense INT8 embeddings of
    the ``probe`` texts; runs are the calibration's tokens (one for the pooler per text)."""
    inputs = linear_inputs(calibration)
    cache = {} if cache is None else cache
    base = SparseModel()
    reference = base.embed(probe)

    def prune(name, choice):
        return prune_plan({name: choice}, inputs, cache=cache)[name]

    def drift(replaced):
        model = SparseModel({**base.weights, **replaced})
        return 1 - float(np.mean(np.sum(model.embed(probe) * reference, axis=1)))

    layers = {name: (base.weights[name], len(inputs[name])) for name in LINEARS}
    return plan_sparsity(layers, prune, drift, target_speedup=target_speedup,
                         max_drift=max_drift, progress=progress), inputs


class DigitsMLP:
    """A 64-128-64-10 ReLU MLP on scikit-learn's digits, its linears run in INT8."""
    LAYERS = ("fc1", "fc2", "fc3")

    def __init__(self, seed=0):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.neural_network import MLPClassifier
        digits = load_digits()
        x = digits.data / 16.0
        self.x_train, self.x_test, self.y_train, self.y_test = train_test_split(
            x, digits.target, test_size=0.3, random_state=seed)
        mlp = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=400, random_state=seed)
        mlp.fit(self.x_train, self.y_train)
        self.weights = {name: w.T.copy() for name, w in zip(self.LAYERS, mlp.coefs_)}
        self.biases = dict(zip(self.LAYERS, mlp.intercepts_))

    def logits(self, x, weights=None, *, quantize=True):
        weights = {**self.weights, **(weights or {})}
        for index, name in enumerate(self.LAYERS):
            if quantize:
                x = int8_linear(quantize_weights(weights[name]), self.biases[name], x)
            else:
                x = x @ weights[name].T + self.biases[name]
            if index + 1 < len(self.LAYERS):
                x = np.maximum(x, 0)
        return x

    def inputs(self, x, weights=None):
        """The rows each linear sees on ``x``, through the INT8 model."""
        weights = {**self.weights, **(weights or {})}
        seen = {}
        for index, name in enumerate(self.LAYERS):
            seen[name] = x
            x = int8_linear(quantize_weights(weights[name]), self.biases[name], x)
            if index + 1 < len(self.LAYERS):
                x = np.maximum(x, 0)
        return seen

    def accuracy(self, weights=None, *, quantize=True):
        return float(np.mean(self.logits(self.x_test, weights, quantize=quantize).argmax(1)
                             == self.y_test))

    def pruned(self, choice, calibration_rows=256):
        calibration = self.inputs(self.x_train[:calibration_rows])
        return {name: prune_layer(self.weights[name], choice.pattern, choice.method,
                                  sparsity=choice.sparsity, calibration=calibration[name])
                for name in self.LAYERS}


def _label(pattern, sparsity):
    return pattern + (f" {sparsity:.0%}" if sparsity is not None else "")


def _pruned(plan, calibration, inputs):
    """Reconstruction is calibrated sequentially (each layer on the inputs of the model pruned
    so far); the other methods on the dense model's inputs."""
    if any(choice.method == "reconstruct" for choice in plan.values()):
        return prune_sequential(plan, calibration)
    return prune_plan(plan, inputs)


_PATTERNS = [("unstructured", 0.5), ("2:4", None), ("4:8", None), ("unstructured", 0.75),
             ("1:4", None), ("bank:16", 0.5), ("tile:8", 0.5)]
_METHODS = ("magnitude", "activation", "reconstruct")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2:4 and unstructured 50 %% only, no WordSim353")
    parser.add_argument("--calibration", type=int, default=32, metavar="N",
                        help="background documents used for calibration")
    parser.add_argument("--probe", type=int, default=8, metavar="N",
                        help="background documents (after the calibration ones) on which the "
                             "planner measures each layer's drift")
    parser.add_argument("--target-speedup", type=float, default=1.7, metavar="S",
                        help="the planner's target: predicted whole-model speedup at P = 64")
    args = parser.parse_args(argv)
    started = time.monotonic()

    def say(message):
        tqdm.write(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr)

    wordsim = not args.quick
    patterns = _PATTERNS[:2] if args.quick else _PATTERNS
    background = background_documents()
    calibration = background[:args.calibration]
    probe = background[args.calibration:args.calibration + args.probe]

    print("## Digits MLP (64-128-64-10), test accuracy\n")
    mlp = DigitsMLP()
    print(f"float {mlp.accuracy(quantize=False):.4f}, INT8 {mlp.accuracy():.4f}\n")
    print("| pattern | " + " | ".join(_METHODS) + " |\n|---|" + "---|" * len(_METHODS))
    for pattern, sparsity in patterns:
        cells = [f"{mlp.accuracy(mlp.pruned(LayerChoice(pattern, sparsity, method))):.4f}"
                 for method in _METHODS]
        print(f"| {_label(pattern, sparsity)} | " + " | ".join(cells) + " |", flush=True)

    print("\n## all-MiniLM-L6-v2, 36 encoder linears pruned alike, INT8\n")
    columns = ["lee_pearson", "lee_spearman", "cosine_to_dense"] + \
        (["wordsim_spearman"] if wordsim else [])
    print("| model | method | " + " | ".join(columns) + " | sparsity |")
    print("|---|---|" + "---|" * (len(columns) + 1))

    def row(label, method, model):
        figures = minilm_quality(model, wordsim=wordsim)
        print(f"| {label} | {method} | " + " | ".join(f"{figures[c]:.4f}" for c in columns)
              + f" | {model.sparsity():.3f} |", flush=True)
        return figures

    row("dense float", "-", SparseModel(quantize=False))
    row("dense INT8", "-", SparseModel())
    inputs = linear_inputs(calibration)
    encoder = [name for name in LINEARS if name != "pooler.dense"]
    models = [(pattern, sparsity, method) for pattern, sparsity in patterns
              for method in _METHODS]
    with tqdm(models, desc="pruned MiniLMs", unit="model", file=sys.stderr) as bar:
        for pattern, sparsity, method in bar:
            bar.set_postfix_str(f"{_label(pattern, sparsity)} {method}")
            plan = {name: LayerChoice(pattern, sparsity, method) for name in encoder}
            row(_label(pattern, sparsity), method,
                SparseModel(_pruned(plan, calibration, inputs)))

    print(f"\n## Planner, target speedup {args.target_speedup} (P = 64, cycle model)\n")
    cache = {}
    plan, _ = plan_minilm(calibration, probe, target_speedup=args.target_speedup,
                          cache=cache, progress=say)
    print(plan.table())
    print()
    row(f"planned {plan.speedup:.2f}x", "planner",
        SparseModel(_pruned(plan.choices(), calibration, inputs)))


if __name__ == "__main__":
    main()
