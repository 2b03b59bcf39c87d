"""The AL-RNN run configuration: one frozen dataclass, with each task's defaults (spec A3, shrunk where stated).

Per-task defaults (the spec's values unless marked "laptop"):
    addition  M 20 (laptop; spec 50), T 50 (laptop; spec 100), 10 000 / 1 000 train / test, batch 128,
              200 epochs (laptop; spec 2 000), model = last epoch
    context   M 10, P 5, T 100, 1 000 / 200 / 200 train / valid / test, batch 64, 1 000 epochs, model = best valid loss
    copy      M 20 (laptop; spec 50), seq_len 4, delay 20 (laptop; spec 8, 100), 5 symbols, 2 000 / 200 train / test,
              batch 64, 3 000 epochs (laptop; spec 8 000; at 300 it stops on a plateau, docs/alrnn.md), model = best
              test sequence accuracy (as the authors' code)
    multitask M 32 (spec A8; launcher 64), P 4, SIMPLE durations, 5 500 / 1 100 train / test (500 / 100 per task, fixed;
              the launcher draws 5 000 fresh trials per epoch), batch 64, 100 epochs (laptop; spec 300), MAR τ 0.01,
              the multi-task init (A ≈ 0.9), model = last epoch
    digits    M 50 (laptop; spec sMNIST 100), P 5, T 64 (8×8 pixels, fixed), 1 197 / 300 / 300 train / valid / test
              (tasks/digits.py: one fixed split for every seed), batch 64, 600 epochs (11 400 Adam steps; spec
              sMNIST: 100 epochs of 54k images, about 84 400 steps, with cosine lr annealing and gradient clipping
              at 5, neither used here), model = best valid loss (the spec's rule for classification)
MAR: τ = 0.1 (multitask 0.01) on the first M/2 units (the launchers' M_reg = M/2). Optimiser: Adam, lr 1e-3.
Stopping: the full budget of epochs (the spec's), or with until_solved at the first evaluation whose validation
metrics meet the task's SOLVED rule (the last model is then the stopped one).

Low-data multitask (Fig. 5a), all off by default: --per-task N fixes the training set at N trials of each task
(n_train = 11 N, the same trials every epoch; 50 per task validate unless --n-valid says otherwise) and selects the
model with the best validation accuracy; --steps S trains exactly S Adam steps whatever the set's size (epochs =
⌈S / batches per epoch⌉, the last one cut short; about 20 evaluations unless --eval-every is given); --durations
hard draws the launcher's HARD periods (tasks/cognitive.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import configs
from ..errors import UserError
from ..tasks import cognitive, copy as copy_task, digits

# The longest multi-task trial: context, stimulus, delay, second stimulus, response at their longest.
MULTITASK_MAX_LENGTH = sum(hi - 1 for _, hi in (cognitive.CONTEXT, cognitive.STIM, cognitive.DELAY, cognitive.STIM,
                                                 cognitive.RESPONSE))
TASKS = ("addition", "context", "copy", "multitask", "digits")
# When a run counts as solved: (metric, test, rule in words); a sweep's solved fraction and --until-solved use it.
SOLVED = {"addition": ("mse", lambda v: v < 0.01, "test MSE < 0.01"),
          "context": ("accuracy", lambda v: v >= 0.9, "accuracy >= 0.9"),
          "copy": ("sequence_accuracy", lambda v: v >= 0.9, "sequence accuracy >= 0.9"),
          "multitask": ("accuracy", lambda v: v >= 0.9, "accuracy >= 0.9"),
          "digits": ("accuracy", lambda v: v >= 0.9, "accuracy >= 0.9")}
SELECTION = {"addition": "last", "context": "best_valid_loss", "copy": "best_test_sequence_accuracy",
             "multitask": "last", "digits": "best_valid_loss"}
TASK_DEFAULTS = {
    "addition": dict(hidden=20, P=1, length=50, n_train=10_000, n_valid=0, n_test=1_000, batch=128, epochs=200,
                     eval_every=5),
    "context": dict(hidden=10, P=5, length=100, n_train=1_000, n_valid=200, n_test=200, batch=64, epochs=1_000,
                    eval_every=20),
    "copy": dict(hidden=20, P=5, length=copy_task.length(4, 20), n_train=2_000, n_valid=0, n_test=200, batch=64,
                 epochs=3_000, eval_every=10),
    "multitask": dict(hidden=32, P=4, length=MULTITASK_MAX_LENGTH, n_train=5_500, n_valid=0, n_test=1_100, batch=64,
                      epochs=100, eval_every=5, mar=0.01),
    "digits": dict(hidden=50, P=5, length=digits.T, n_train=digits.POOLS["train"], n_valid=digits.POOLS["valid"],
                   n_test=digits.POOLS["test"], batch=64, epochs=600, eval_every=10),
}


@dataclass(frozen=True)
class ALRNNConfig:
    task: str = "addition"
    hidden: int = 20          # M, all units
    P: int = 1                # ReLU units (the last P of the M)
    length: int = 50          # T, steps per trial
    seq_len: int = 4          # copy: symbols to recall
    delay: int = 20           # copy: blank steps between the cue and the recall (T = 2·seq_len + 1 + delay)
    symbols: int = 5          # copy: one-hot channels (channel 0 is the cue)
    mar: float = 0.1          # τ of the manifold-attractor regulariser (0: off)
    mar_units: int = 10       # M_reg: MAR acts on units 0..M_reg−1
    lr: float = 1e-3          # Adam
    batch: int = 128
    epochs: int = 100
    eval_every: int = 5       # epochs between evaluations (and checkpoints)
    n_train: int = 10_000
    n_valid: int = 0
    n_test: int = 1_000
    seed: int = 0
    backend: str = "numba"    # numba (the fast path) or numpy (the reference)
    until_solved: bool = False  # stop at the first evaluation whose validation metrics meet SOLVED[task]
    durations: str = "simple"  # multitask: simple or hard trial periods
    per_task: int = 0         # multitask: a fixed training set of this many trials per task (0: n_train as given)
    steps: int = 0            # Adam steps in all (0: epochs × batches); epochs must then be ⌈steps / batches⌉

    def validate(self) -> "ALRNNConfig":
        checks = [
            (self.task in TASKS, f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}"),
            (1 <= self.hidden <= 1024, f"--hidden must be in 1..1024, got {self.hidden}"),
            (self.P >= 0, f"--P must be >= 0, got {self.P}"),
            (self.P <= self.hidden, f"--P ({self.P}) must be <= --hidden ({self.hidden})"),
            (0 <= self.mar_units <= self.hidden, f"--mar-units must be in 0..{self.hidden}, got {self.mar_units}"),
            (self.mar >= 0 and np.isfinite(self.mar), f"--mar must be a number >= 0, got {self.mar}"),
            (self.lr > 0 and np.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}"),
            (self.batch >= 1, f"--batch must be >= 1, got {self.batch}"),
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}"),
            (self.n_train >= 1 and self.n_test >= 1 and self.n_valid >= 0, "--n-train and --n-test must be >= 1"),
            (self.n_valid >= 1 or SELECTION[self.task] != "best_valid_loss" if self.task in TASKS else True,
             f"task {self.task} selects its model on the validation set: --n-valid must be >= 1"),
            (self.seed >= 0, f"--seed must be >= 0, got {self.seed}"),
            (self.n_valid >= 1 or not self.until_solved,
             "--until-solved stops on the validation set: give --n-valid >= 1"),
            (self.backend in ("numba", "numpy"), f"--backend must be numba or numpy, got {self.backend}"),
            (1 <= self.length <= 100_000, f"--length must be in 1..100000, got {self.length}"),
        ]
        checks += [(self.durations in cognitive.DURATIONS and (self.durations == "simple" or self.task == "multitask"),
                    f"--durations must be simple or hard (hard: multitask only), got {self.durations}"),
                   (self.per_task >= 0 and (self.per_task == 0 or self.task == "multitask"),
                    f"--per-task must be >= 1 and applies to multitask only, got {self.per_task}"),
                   (self.per_task == 0 or self.n_train == len(cognitive.TASKS) * self.per_task,
                    f"--n-train {self.n_train} is not 11 × --per-task {self.per_task}"),
                   (self.per_task == 0 or self.n_valid >= 1, "--per-task selects on the validation set: --n-valid >= 1"),
                   (self.steps >= 0, f"--steps must be >= 1, got {self.steps}"),
                   (self.steps == 0 or self.epochs == epochs_for(self.steps, self.n_train, self.batch),
                    f"--steps {self.steps} needs --epochs {epochs_for(self.steps, self.n_train, self.batch)} "
                    f"at {self.n_train} trials in batches of {self.batch}, got {self.epochs}")]
        if self.task == "multitask" and self.durations in cognitive.DURATIONS:
            longest = cognitive.max_length(self.durations)
            checks.append((self.length == longest, f"multitask --length is the longest {self.durations} trial "
                           f"({longest}), got {self.length}"))
        if self.task == "addition":
            checks.append((self.length >= 4, f"the addition problem needs --length >= 4, got {self.length}"))
        if self.task == "context":
            checks.append((self.length >= 3, f"contextual integration needs --length >= 3, got {self.length}"))
        if self.task == "copy":
            checks += [(self.seq_len >= 1, f"--seq-len must be >= 1, got {self.seq_len}"),
                       (2 <= self.symbols <= 64, f"--symbols must be in 2..64, got {self.symbols}"),
                       (self.delay >= 0, f"--delay must be >= 0, got {self.delay}"),
                       (copy_task.length(self.seq_len, self.delay) == self.length,
                        f"--delay {self.delay} does not fit --length {self.length} with --seq-len {self.seq_len} "
                        f"(the copy task needs length = 2·seq_len + 1 + delay = "
                        f"{copy_task.length(self.seq_len, self.delay)})")]
        if self.task == "digits":
            checks += [(self.length == digits.T, f"the digits task reads {digits.T} pixels: --length must be "
                                                 f"{digits.T}, got {self.length}")]
            checks += [(getattr(self, f"n_{k}") <= digits.POOLS[k],
                        f"--n-{k} must be <= {digits.POOLS[k]} for digits (the fixed {k} set), "
                        f"got {getattr(self, f'n_{k}')}") for k in ("train", "valid", "test")]
        configs.require(checks)
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "ALRNNConfig":
        """A config from its JSON form (config.json); unknown keys or wrong types are a UserError."""
        return configs.from_dict(cls, d).validate()


def selection(cfg: ALRNNConfig) -> str:
    """The model-selection rule of the run: the task's, or the best validation accuracy in the low-data protocol."""
    return "best_valid_accuracy" if cfg.per_task > 0 else SELECTION[cfg.task]


def epochs_for(steps: int, n_train: int, batch: int) -> int:
    """Epochs that hold `steps` Adam steps at ⌈n_train / batch⌉ steps per epoch (the last epoch cut short)."""
    per_epoch = -(-max(n_train, 1) // max(batch, 1))
    return -(-steps // per_epoch)


def resolve(task: str, given: dict) -> ALRNNConfig:
    """The config of `task` with the task's defaults under the explicitly given values (None = not given).

    Copy: --length and --delay determine each other (T = 2·seq_len + 1 + delay); give either, or both consistently."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    kw = {**TASK_DEFAULTS[task], **{k: v for k, v in given.items() if v is not None}}
    if task == "copy":
        seq_len = kw.get("seq_len", ALRNNConfig.seq_len)
        if given.get("delay") is not None and given.get("length") is None:
            kw["length"] = copy_task.length(seq_len, given["delay"])
        elif given.get("delay") is None:
            kw["delay"] = kw["length"] - 2 * seq_len - 1
            if kw["delay"] < 0:
                raise UserError(f"--length {kw['length']} is too short for --seq-len {seq_len} "
                                f"(the copy task needs at least 2·seq_len + 1 = {2 * seq_len + 1} steps)")
    if task == "multitask" and given.get("length") is not None:
        raise UserError("--length does not apply to multitask: its trial lengths come from --durations")
    if task == "digits" and given.get("length") is not None:
        raise UserError(f"--length does not apply to digits: an 8×8 image is read in {digits.T} steps")
    if task == "multitask":
        durations = kw.get("durations", "simple")
        if durations not in cognitive.DURATIONS:
            raise UserError(f"--durations must be simple or hard, got {durations}")
        kw["length"] = cognitive.max_length(durations)
    for flag in ("per_task", "steps"):
        if given.get(flag) is not None and given[flag] < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 1, got {given[flag]}")
    if given.get("per_task") is not None and task != "multitask":
        raise UserError(f"--per-task applies to multitask only, not {task}")
    if kw.get("per_task", 0) > 0:
        kw["n_train"] = given.get("n_train") or len(cognitive.TASKS) * kw["per_task"]
        kw["n_valid"] = given.get("n_valid") or len(cognitive.TASKS) * 50
    if kw.get("steps", 0) > 0:
        if given.get("epochs") is not None:
            raise UserError("give --steps or --epochs, not both")
        kw["epochs"] = epochs_for(kw["steps"], kw.get("n_train", ALRNNConfig.n_train), kw.get("batch", ALRNNConfig.batch))
        if given.get("eval_every") is None:
            kw["eval_every"] = max(1, kw["epochs"] // 20)
    if given.get("mar_units") is None:
        kw["mar_units"] = kw.get("hidden", ALRNNConfig.hidden) // 2
    return ALRNNConfig(task=task, **kw).validate()
