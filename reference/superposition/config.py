"""The configuration of one delayed-recall run (one frozen dataclass, saved with the run)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .. import configs
from .model import MODELS, ModelConfig

LR_SCHEDULES = ("cosine", "exp")


@dataclass(frozen=True)
class SuperConfig:
    model: str = "linear"       # linear | ssm | relu
    k: int = 3                  # delay
    p: float = 0.1              # probability that a feature is active at a step
    features: int = 1           # N_x
    hidden: int = 2             # N_h
    untied: bool = False        # free readout W_y instead of W_y = W_h^k W_x
    bias: bool = True           # output bias b
    T: int = 0                  # sequence length; 0 = k + 20
    steps: int = 2000           # Adam steps
    batch: int = 0              # sequences per step; 0 = auto (≥ 512 and ≥ 200 active events per step)
    lr: float = 0.01            # Adam learning rate (AdamW with weight decay 0)
    lr_decay: float = 1.0       # final learning rate as a fraction of lr (1 = constant, the default); see lr_at
    lr_schedule: str = "cosine"  # cosine | exp: the shape of the decay (ignored when lr_decay = 1)
    decay: float = 0.9          # importance I_i = decay^i
    init_scale: float = 0.5     # weights ~ N(0, init_scale² / N_h)
    eval_every: int = 100       # metrics row (and checkpoint) every this many steps
    eval_events: int = 50_000   # active events (about) in the final evaluation batch
    seed: int = 0
    backend: str = "numba"      # numba (the fused kernel) or numpy (the reference)

    @property
    def seq_len(self) -> int:
        return self.T or self.k + 20

    @property
    def batch_size(self) -> int:
        return self.batch or max(512, math.ceil(200 / (self.p * self.seq_len * self.features)))

    @property
    def eval_batch(self) -> int:
        """Sequences of the final evaluation: about `eval_events` active events, 64 to 100,000 sequences."""
        return min(100_000, max(64, math.ceil(self.eval_events / (self.p * self.seq_len * self.features))))

    def lr_at(self, t: int) -> float:
        """The learning rate of update t = 1..steps, with f = lr_decay and u = t / steps:

            constant (f = 1):  lr                                     (exactly lr: runs without decay are unchanged)
            cosine:            lr · (f + (1 − f) · (1 + cos πu) / 2)
            exp:               lr · f^u
        The last update (t = steps) uses lr · f. It depends on (t, steps) alone, so a resumed run continues the
        same schedule (which is why a decaying run cannot change --steps on resume)."""
        if self.lr_decay == 1.0:
            return self.lr
        u, f = t / self.steps, self.lr_decay
        if self.lr_schedule == "exp":
            return self.lr * f ** u
        return self.lr * (f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * u)))

    def model_config(self) -> ModelConfig:
        return ModelConfig(self.model, self.features, self.hidden, self.k, not self.untied, self.bias)

    def validate(self) -> "SuperConfig":
        checks = [
            (self.model in MODELS, f"--model must be one of {', '.join(MODELS)}, got {self.model!r}"),
            (0 <= self.k <= 64, f"--k must be in 0..64, got {self.k}"),
            (0 < self.p <= 1, f"--p must be in (0, 1], got {self.p}"),
            (1 <= self.features <= 256, f"--features must be in 1..256, got {self.features}"),
            (1 <= self.hidden <= 256, f"--hidden must be in 1..256, got {self.hidden}"),
            (self.T == 0 or self.k < self.T <= 4096, f"--T must be 0 (auto) or in k+1..4096, got {self.T}"),
            (self.steps >= 1, f"--steps must be >= 1, got {self.steps}"),
            (0 <= self.batch <= 1_000_000, f"--batch must be in 0 (auto)..1000000, got {self.batch}"),
            (self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}"),
            (0 < self.lr_decay <= 1, f"--lr-decay must be in (0, 1], got {self.lr_decay}"),
            (self.lr_schedule in LR_SCHEDULES,
             f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"),
            (0 < self.decay <= 1, f"--decay must be in (0, 1], got {self.decay}"),
            (0 < self.init_scale < 100, f"--init-scale must be in (0, 100), got {self.init_scale}"),
            (self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}"),
            (self.eval_events >= 1, f"--eval-events must be >= 1, got {self.eval_events}"),
            (self.seed >= 0, f"--seed must be >= 0, got {self.seed}"),
            (self.backend in ("numba", "numpy"), f"--backend must be numba or numpy, got {self.backend!r}"),
        ]
        configs.require(checks)
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "SuperConfig":
        """A config from its JSON form; every key must be known and of its field's type."""
        return configs.from_dict(cls, d).validate()
