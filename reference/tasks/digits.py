"""Sequential digits: scikit-learn's bundled 8×8 handwritten digits read pixel by pixel (an offline stand-in for the
AL-RNN paper's sequential MNIST, spec A3; no download: the 1 797 images ship inside scikit-learn).

    image x ∈ {0..16}^{8×8}, row-major;  input s_t = x_t / 16 ∈ [0, 1] for t = 0..63 (K = 1, T = 64)
    label c ∈ {0..9};  cross-entropy on 10 logits D z_{63} (the last step only)

The split is fixed, the same for every run seed: one permutation of the 1 797 images drawn from SPLIT_SEED, cut
into train / valid / test pools of 1 197 / 300 / 300 (disjoint; not stratified: each class holds 25–39 of the 300
test images). A split of n < its pool takes the pool's first n images, so every run tests on (part of) one test set.
Unlike sMNIST in the authors' code there is no convolutional encoder: the AL-RNN sees raw pixels.
A linear AL-RNN (P = 0) is a linear function of the 64 pixels, i.e. a linear classifier on the image.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import UserError
from .trials import Trials, label_accuracy, single

T = 64
CLASSES = 10
SPLIT_SEED = 20
POOLS = {"train": 1_197, "valid": 300, "test": 300}


@lru_cache(maxsize=1)
def _images():
    """(pixels [1797, 64] float32 in [0, 1], labels [1797] int64) from sklearn.datasets.load_digits."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UserError("the digits task needs scikit-learn: pip install 'onionref[data]'") from None
    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)


def pool(split: str) -> np.ndarray:
    """The image indices of a split's pool (fixed; independent of the run seed)."""
    order = np.random.default_rng(SPLIT_SEED).permutation(sum(POOLS.values()))
    start = {"train": 0, "valid": POOLS["train"], "test": POOLS["train"] + POOLS["valid"]}[split]
    return order[start:start + POOLS[split]]


def make(split: str, n: int) -> Trials:
    """The first n ≤ POOLS[split] images of the split's pool: s [64, n, 1], read out at step 63, labels [1, n]."""
    if not 1 <= n <= POOLS[split]:
        raise UserError(f"the digits {split} set holds {POOLS[split]} images; asked for {n}")
    x, c = _images()
    idx = pool(split)[:n]
    return single(x[idx].T[:, :, None], np.full((1, n), T - 1), c[idx].reshape(1, n))


score = label_accuracy      # accuracy of the argmax (as contextual integration)
