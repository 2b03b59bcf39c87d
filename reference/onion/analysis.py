"""Stage 2 (spec §4): the one loop every intervention and probe uses.

The trained model is frozen; a fresh AdamW (lr 1e-3, wd 0.1 on every analysis parameter, constant LR, no clipping)
trains only the method's parameters for 60,000 steps of batch 256. A *method* is a small frozen dataclass with
    train_set, valid_set, metric               names of the sequence sets; "iia" or "accuracy"
    init(frozen, rng) -> (params, buffers)
    forward(params, buffers, frozen, tokens, lengths, rng, train) -> (loss, correct [B], cache)
    backward(cache) -> grads
Evaluation draws its random corruptions from a fixed seed, so evaluating twice gives the same number.
Every method decodes for the frozen model's task (frozen.task; config.json records it), see interventions/*.py; the
probes read the input sequence whatever the task. Every method sees the part of the state frozen.view shows it (the
whole state, or an LSTM's h or c alone: frozen.py; config.json records it as "state"). Results land in RUN/<kind>/<name>/: config.json, metrics.jsonl, params.safetensors, checkpoint.safetensors,
result.json, DONE. The randomness of step s depends only on (seed, s), so a resumed analysis is bit-identical to an
uninterrupted one.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import adamw, adamw_numba, configs, divergence, runs
from ..errors import UserError
from ..jit.threads import thread_record
from .evaluate import evaluate, length_batches
from ..plots import plot_run
from ..tasks.repeat import epoch_batches, load_set

EVAL_SEED = 20240820


@dataclass(frozen=True)
class AnalysisConfig:
    steps: int = 60_000     # analysis steps
    batch: int = 256        # sequences per step (even: the unigram intervention pairs them)
    lr: float = 1e-3        # fresh AdamW
    wd: float = 0.1
    eval_every: int = 1000
    seed: int = 0           # analysis-parameter init and batch order

    def validate(self) -> "AnalysisConfig":
        configs.require([(self.steps >= 1, f"--steps must be >= 1, got {self.steps}"),
                         (self.batch >= 2 and self.batch % 2 == 0, f"--batch must be even and >= 2, got {self.batch}"),
                         (self.lr > 0 and np.isfinite(self.lr), f"--lr must be positive, got {self.lr}"),
                         (0 <= self.wd and self.lr * self.wd < 1, f"--wd must be >= 0 with lr·wd < 1, got {self.wd}"),
                         (self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}"),
                         (self.seed >= 0, f"--seed must be >= 0, got {self.seed}")])
        return self


def score(method, params, buffers, frozen, tokens, lengths, batch: int = 256) -> dict:
    """Exact-match score of a method on a set, with corruptions drawn from the fixed evaluation seed."""
    rng = np.random.default_rng(EVAL_SEED)
    correct = np.zeros(len(lengths), bool)
    loss_sum = 0.0
    for idx in length_batches(lengths, batch):
        loss, ok, _ = method.forward(params, buffers, frozen, tokens[idx], lengths[idx], rng, train=False)
        correct[idx] = ok
        loss_sum += loss * len(idx)
    per_length = {int(L): float(correct[lengths == L].mean()) for L in np.unique(lengths)}
    return {method.metric: float(correct.mean()), "loss": loss_sum / len(lengths), "per_length": per_length}


def model_accuracy(frozen, tokens, lengths) -> float:
    """The frozen model's own exact-match accuracy on a set (reported next to every analysis score): the decode of
    the whole encoded state, whatever part of it the analysis sees."""
    def predict(b):
        h = frozen.encode(b.enc_in, b.mask)
        return frozen.decode(h, b.dec_in, b.target, b.mask, need_grad=False)[2]
    return evaluate(predict, tokens, lengths, frozen.n_symbols, frozen.no_input, task=frozen.task)["accuracy"]


def train_step(method, params, buffers, frozen, tokens, lengths, rng, opt, opt_cfg) -> tuple[float, str | None]:
    """One analysis step: forward, backward, the checked AdamW update of params (in place).
    Returns (loss, what is not finite or None). The numba backend updates on adamw_numba (bit-identical)."""
    loss, _, cache = method.forward(params, buffers, frozen, tokens, lengths, rng, train=True)
    grads = method.backward(cache)
    update = adamw_numba.update if frozen.backend == "numba" else divergence.update
    return loss, update(params, grads, loss, opt, opt_cfg)


def _save_checkpoint(out_dir, params, buffers, opt, step):
    runs.save_checkpoint(out_dir, {**params, **{"buffer." + k: v for k, v in buffers.items()}}, opt, {"step": step})
    runs.save_arrays(out_dir / "params.safetensors", {**params, **buffers}, {"step": step})


def _load_checkpoint(out_dir, params, buffers, steps):
    """(params, buffers, opt, step) from out_dir's checkpoint, checked against the freshly initialised shapes."""
    path = out_dir / "checkpoint.safetensors"
    arrays, meta = runs.load_checkpoint(out_dir)
    step, opt_step = meta["step"], meta["opt_step"]
    want = {**{k: v.shape for k, v in params.items()}, **{"buffer." + k: v.shape for k, v in buffers.items()},
            **{p + k: v.shape for k, v in params.items() for p in ("m.", "v.")}}
    if set(arrays) != set(want) or any(arrays[k].shape != s for k, s in want.items()):
        raise UserError(f"{path} does not match this analysis (another method or model size?)")
    if not 0 < step <= steps:
        raise UserError(f"checkpoint step {step} is outside 1..{steps}")
    opt = {"step": opt_step, **{k: arrays[k] for k in want if k[:2] in ("m.", "v.")}}
    return ({k: arrays[k] for k in params}, {k: arrays["buffer." + k] for k in buffers}, opt, step)


def run(method, frozen, model_cfg, cfg: AnalysisConfig, out_dir: Path, name: str, progress: bool = True,
        resume: bool = False) -> dict:
    """Train `method` on the frozen model; write results into out_dir; return the result dict."""
    from tqdm import tqdm

    cfg.validate()
    out_dir = Path(out_dir)
    not_empty = f"{out_dir} already holds an analysis; use --resume, or remove it to run again"
    runs.check_can_start(out_dir, resume, not_empty)
    try:
        train = load_set(method.train_set, model_cfg.symbols, model_cfg.min_len, model_cfg.max_len,
                         model_cfg.n_train)
        valid = load_set(method.valid_set, model_cfg.symbols, model_cfg.min_len, model_cfg.max_len,
                         model_cfg.n_train)
    except ValueError as e:
        raise UserError(str(e)) from None
    if cfg.batch > len(train[1]):
        raise UserError(f"--batch {cfg.batch} is larger than the training set ({len(train[1])} sequences)")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Divergence is caught by explicit finiteness checks; numpy's overflow warnings would only add noise.
    with runs.RunLock(out_dir), np.errstate(all="ignore"):
        if not resume:
            runs.start_over(out_dir, not_empty)  # again, under the lock
        params, buffers = method.init(frozen, np.random.default_rng([cfg.seed, 2]))
        opt, start = adamw.init_state(params), 0
        if resume:
            params, buffers, opt, start = _load_checkpoint(out_dir, params, buffers, cfg.steps)
            kept = [m for m in runs.read_metrics(out_dir / "metrics.jsonl", method.metric) if m["step"] <= start]
            runs.atomic_write_bytes(out_dir / "metrics.jsonl", "".join(runs.to_json(m) + "\n" for m in kept).encode())
            for marker in ("DONE", "FAILED"):
                (out_dir / marker).unlink(missing_ok=True)
        opt_cfg = adamw.AdamWConfig(lr=cfg.lr, weight_decay=cfg.wd)
        runs.write_json(out_dir / "config.json", {"format": runs.RUN_FORMAT, "analysis": name, "task": frozen.task,
                                                  "method": {"class": type(method).__name__, **asdict(method)},
                                                  "config": asdict(cfg), "backend": frozen.backend,
                                                  "state": frozen.view,
                                                  "versions": runs.package_versions(),
                                                  "threads": thread_record(frozen.backend)})
        batches = epoch_batches(len(train[1]), cfg.batch, cfg.seed, start)
        t0, losses, last, res = time.time(), [], float("nan"), None
        bar = tqdm(total=cfg.steps, initial=start, disable=not progress, dynamic_ncols=True, mininterval=0.5,
                   desc=name)
        for step in range(start + 1, cfg.steps + 1):
            idx = next(batches)
            loss, what = train_step(method, params, buffers, frozen, train[0][idx], train[1][idx],
                                    np.random.default_rng([cfg.seed, 3, step]), opt, opt_cfg)
            if what is not None:
                raise divergence.fail(out_dir, name, step, what)
            losses.append(loss)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                res = score(method, params, buffers, frozen, *valid)
                if not np.isfinite(res["loss"]):  # finite parameters that still overflow the forward pass
                    raise divergence.fail(out_dir, name, step, "the validation loss")
                last = res[method.metric]
                runs.append_jsonl(out_dir / "metrics.jsonl", {"step": step, "valid": res,
                                                              "train_loss": float(np.mean(losses)),
                                                              "elapsed_s": time.time() - t0})
                _save_checkpoint(out_dir, params, buffers, opt, step)
                losses = []
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", **{method.metric: f"{last:.4f}"}, refresh=False)
        bar.close()
        if res is None:  # resumed at the very end
            res = score(method, params, buffers, frozen, *valid)
            last = res[method.metric]
        result = {"analysis": name, "task": frozen.task, method.metric: last, "set": method.valid_set,
                  "model_accuracy": model_accuracy(frozen, *valid), "steps": cfg.steps,
                  "per_length": res["per_length"], "seconds": time.time() - t0}
        runs.write_json(out_dir / "result.json", result)
        plot_run(runs.read_jsonl(out_dir / "metrics.jsonl"), out_dir, method.metric, f"{name} (H={frozen.hidden})")
        runs.atomic_write_bytes(out_dir / "DONE", b"")
        return result
