"""MTCNN's O-Net (facenet-pytorch's trained weights) imported with ``from_torch`` and run on
the simulated board: the face-probability AUC on scikit-image's ``lfw_subset()`` (100
faces, 100 non-faces, resized to 48x48), dense and pruned to 50 %, against torch float.

    python -m bench.onet [--images N] [--sparsity S]

facenet-pytorch is installed with ``--no-deps`` (it pins an old torch, and its package
imports torchvision and requests): the network is defined here, layer for layer as
facenet-pytorch's ``ONet``, and its weights are read from the package's ``data/onet.pt``.
"""

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np


__all__ = ["onet", "lfw_faces", "evaluate"]


def onet():
    """O-Net with facenet-pytorch's weights, in eval mode."""
    import torch
    from torch import nn

    class ONet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
            self.prelu1 = nn.PReLU(32)
            self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
            self.prelu2 = nn.PReLU(64)
            self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
            self.prelu3 = nn.PReLU(64)
            self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
            self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
            self.prelu4 = nn.PReLU(128)
            self.dense5 = nn.Linear(1152, 256)
            self.prelu5 = nn.PReLU(256)
            self.dense6_1 = nn.Linear(256, 2)
            self.softmax6_1 = nn.Softmax(dim=1)
            self.dense6_2 = nn.Linear(256, 4)
            self.dense6_3 = nn.Linear(256, 10)

        def forward(self, x):
            x = self.pool1(self.prelu1(self.conv1(x)))
            x = self.pool2(self.prelu2(self.conv2(x)))
            x = self.pool3(self.prelu3(self.conv3(x)))
            x = self.prelu4(self.conv4(x))
            x = x.permute(0, 3, 2, 1).contiguous()
            x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
            return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))

    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None:
        raise ImportError("O-Net's weights come with facenet-pytorch: "
                          "pip install --no-deps facenet-pytorch")
    weights = Path(spec.submodule_search_locations[0]) / "data" / "onet.pt"
    net = ONet()
    net.load_state_dict(torch.load(weights, weights_only=True))
    return net.eval()


def lfw_faces(count=None):
    """``(images (N, 3, 48, 48) float32 as O-Net takes them, labels (1 face, 0 not))``:
    scikit-image's ``lfw_subset()`` (its first 100 images faces, the rest not), resized to
    48x48 (bilinear, scikit-image's ``resize``), grey replicated to three channels,
    normalised as MTCNN does, ``(pixel - 127.5) / 128``. ``count`` takes that many of each."""
    from skimage.data import lfw_subset
    from skimage.transform import resize
    images = lfw_subset()
    labels = np.r_[np.ones(100), np.zeros(100)].astype(int)
    if count is not None:
        keep = np.r_[np.arange(count), 100 + np.arange(count)]
        images, labels = images[keep], labels[keep]
    resized = np.stack([resize(image, (48, 48), order=1, anti_aliasing=True)
                        for image in images])
    pixels = resized * 255.0
    x = ((pixels - 127.5) / 128.0).astype(np.float32)
    return np.repeat(x[:, None], 3, axis=1), labels


def evaluate(sparsity=None, count=None, accel=None, calibration=None):
    """AUC of the face probability: torch float, the imported float model, the integer
    model and (with ``accel``) the board; returns a dict with the loaded model's stats."""
    import torch
    from sklearn.metrics import roc_auc_score
    from host import from_torch
    net = onet()
    x, labels = lfw_faces(count)
    tensor = torch.tensor(x)
    pattern = None if sparsity is None else "unstructured"
    model = from_torch(net, tensor[:2] if pattern is None else None, pattern=pattern,
                       sparsity=sparsity)
    model.calibrate(tensor if calibration is None else calibration)
    with torch.no_grad():
        reference = net(tensor)[2][:, 1].numpy()
    result = {"torch": roc_auc_score(labels, reference),
              "float": roc_auc_score(labels, model.float(x)[2][:, 1]),
              "golden": roc_auc_score(labels, model.golden(x)[2][:, 1]), "model": model}
    if accel is not None:
        loaded = accel.load(model)
        started = time.monotonic()
        board = loaded(x)
        result["seconds"] = time.monotonic() - started
        result["board"] = roc_auc_score(labels, board[2][:, 1])
        result["exact"] = all(np.array_equal(a, b) for a, b in zip(board, model.golden(x)))
        result["stats"] = loaded.last_run
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.onet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100,
                        help="faces and as many non-faces (default: all 100)")
    parser.add_argument("--sparsity", type=float, action="append",
                        help="unstructured sparsity (repeatable; default: dense and 0.5)")
    args = parser.parse_args(argv)
    from host import SparseAccel
    with SparseAccel() as accel:
        for sparsity in args.sparsity or [None, 0.5]:
            result = evaluate(sparsity, args.images, accel)
            stats = result["stats"]
            name = "dense" if sparsity is None else f"unstructured {sparsity:.0%}"
            print(f"O-Net {name}, {2 * args.images} images: AUC torch {result['torch']:.4f}, "
                  f"float {result['float']:.4f}, integer {result['golden']:.4f}, board "
                  f"{result['board']:.4f} ({'bit-exact' if result['exact'] else 'DIFFERS'}); "
                  f"{stats.cycles} cycles (eta {stats.eta:.3f}), {stats.bytes_sent} bytes "
                  f"sent, {stats.bytes_received} received, {stats.runs} runs, "
                  f"{result['seconds']:.1f} s")
            print(stats.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
