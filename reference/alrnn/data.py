"""Each task's data splits and scores for an AL-RNN run, drawn from (seed, split): the same config gives the same
trials in every process, so a resumed or re-analysed run sees exactly its own data. Digits is a fixed set of images,
split the same way for every seed (tasks/digits.py)."""
from __future__ import annotations

import numpy as np

from ..tasks import addition, cognitive, context, copy as copy_task, digits
from .config import ALRNNConfig

SPLIT_IDS = {"train": 0, "valid": 1, "test": 2}


def io_sizes(cfg: ALRNNConfig) -> tuple[int, int]:
    """(K inputs, N outputs) of the task."""
    return {"addition": (2, 1), "context": (4, 2), "copy": (cfg.symbols, cfg.symbols - 1),
            "multitask": (cognitive.K, cognitive.N), "digits": (1, digits.CLASSES)}[cfg.task]


def make_split(cfg: ALRNNConfig, split: str):
    """The trials of one split ("train", "valid", "test"); None for an empty split."""
    n = {"train": cfg.n_train, "valid": cfg.n_valid, "test": cfg.n_test}[split]
    if n == 0:
        return None
    if cfg.task == "digits":
        return digits.make(split, n)
    rng = np.random.default_rng([cfg.seed, 2, SPLIT_IDS[split]])
    if cfg.task == "addition":
        return addition.make(n, cfg.length, rng)
    if cfg.task == "context":
        return context.make(n, cfg.length, rng)
    if cfg.task == "multitask":
        return cognitive.make(n, rng, cfg.durations)
    return copy_task.make(n, cfg.seq_len, cfg.delay, cfg.symbols, rng)


def score(cfg: ALRNNConfig, y_pred, trials) -> dict:
    """The task's metrics (accuracy always; mse for addition; sequence_accuracy for copy)."""
    return {"addition": addition.score, "context": context.score, "copy": copy_task.score,
            "multitask": cognitive.score, "digits": digits.score}[cfg.task](y_pred, trials)
