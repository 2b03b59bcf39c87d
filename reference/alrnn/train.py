"""Train an AL-RNN on one task: plain BPTT through the whole trial, Adam (lr 1e-3), MAR, in a run directory.

Each epoch visits the training set in the order of a permutation drawn from (seed, epoch), in batches of `batch`
(the last one smaller); every `eval_every` epochs the model is scored on the validation and test sets, the
run's selection rule (config.selection) updates the selected model, and a checkpoint is written (parameters,
Adam moments, the selected model and its score). Resuming continues bit-for-bit from the last checkpoint. With a
step budget (cfg.steps > 0) training stops after exactly that many Adam steps, inside the last epoch, and evaluates
there. With until_solved the run ends at the first evaluation whose validation metrics meet config.SOLVED
(result.json's "stopped_solved_epoch"; null when it ran its whole budget).

    RUN/config.json  metrics.jsonl  weights.safetensors (the selected model)  checkpoint.safetensors
    RUN/result.json  curves.png  DONE
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import adamw, divergence, runs
from ..cells import alrnn
from ..errors import UserError
from . import data, mar, model
from .config import SOLVED, ALRNNConfig, selection
from .figures import plot_curves
from .readout import task_loss
from .regions import bitcodes, distinct_codes


def init_params(cfg: ALRNNConfig) -> dict:
    K, N = data.io_sizes(cfg)
    return alrnn.init(cfg.hidden, cfg.P, K, N, np.random.default_rng([cfg.seed, 1]),
                      kind="multitask" if cfg.task == "multitask" else "sequence")


def evaluate(params: dict, trials, cfg: ALRNNConfig) -> dict:
    """Task loss (without MAR), the task's metrics and the number of distinct bitcodes over all steps."""
    zs, y = model.predict(params, trials, cfg.backend)
    loss = task_loss(y, trials)[0]
    return {"loss": loss, **data.score(cfg, y, trials),
            "codes_used": distinct_codes(bitcodes(zs, cfg.P, trials.length))}


def selection_score(cfg: ALRNNConfig, row: dict) -> float:
    """Higher is better: the row's score under the task's model-selection rule."""
    rule = selection(cfg)
    if rule == "best_valid_accuracy":
        return row["valid"]["accuracy"]
    if rule == "best_valid_loss":
        return -row["valid"]["loss"]
    if rule == "best_test_sequence_accuracy":
        return row["test"]["sequence_accuracy"]
    return float(row["epoch"])           # last


def _solved(cfg: ALRNNConfig, scores: dict) -> bool:
    key, test, _ = SOLVED[cfg.task]
    return bool(test(scores[key]))


def load_weights(run_dir: Path, cfg: ALRNNConfig, name: str = "weights.safetensors") -> dict:
    arrays, _ = runs.load_arrays(Path(run_dir) / name)
    _check(arrays, init_params(cfg), Path(run_dir) / name)
    return {k: arrays[k].astype(np.float32) for k in alrnn.NAMES}


def load_params(run_dir: Path, cfg: ALRNNConfig) -> tuple[dict, int]:
    """(the last parameters, their epoch) from RUN/checkpoint.safetensors: where the last session stopped."""
    arrays, meta = runs.load_checkpoint(Path(run_dir), ("epoch",))
    _check(arrays, init_params(cfg), Path(run_dir) / "checkpoint.safetensors")
    return {k: arrays[k].astype(np.float32) for k in alrnn.NAMES}, meta["epoch"]


def _check(arrays: dict, expect: dict, path: Path) -> None:
    for k, v in expect.items():
        if k not in arrays or arrays[k].shape != v.shape:
            raise UserError(f"{path} does not match the run's model: {k} "
                            f"{'missing' if k not in arrays else tuple(arrays[k].shape)}, expected {v.shape}")


def _save(run_dir, params, best, opt, epoch, best_epoch, best_score) -> None:
    runs.save_checkpoint(run_dir, {**params, **{"best." + k: v for k, v in best.items()}}, opt,
                         {"epoch": epoch, "best_epoch": best_epoch, "best_score": repr(best_score)})
    runs.save_arrays(run_dir / "weights.safetensors", best, {"epoch": best_epoch})


def _load(run_dir: Path, cfg: ALRNNConfig):
    path = run_dir / "checkpoint.safetensors"
    arrays, meta = runs.load_checkpoint(run_dir, ("epoch", "best_epoch"))
    expect = init_params(cfg)
    want = {**expect, **{"best." + k: v for k, v in expect.items()},
            **{p + k: v for k, v in expect.items() for p in ("m.", "v.")}}
    _check(arrays, want, path)
    epoch, opt_step, best_epoch = meta["epoch"], meta["opt_step"], meta["best_epoch"]
    try:
        best_score = float(meta["best_score"])
    except (KeyError, ValueError):
        raise UserError(f"corrupt checkpoint {path}: no best_score") from None
    if not 0 <= epoch <= cfg.epochs:
        raise UserError(f"checkpoint epoch {epoch} is outside 0..{cfg.epochs}")
    params = {k: arrays[k] for k in expect}
    best = {k: arrays["best." + k] for k in expect}
    opt = {"step": opt_step, **{p + k: arrays[p + k] for k in expect for p in ("m.", "v.")}}
    return params, best, opt, epoch, best_epoch, best_score


def train(cfg: ALRNNConfig, run_dir: Path, resume: bool = False, progress: bool = True) -> dict:
    """Train (or resume) a run in `run_dir`; returns result.json's dict."""
    cfg.validate()
    run_dir = Path(run_dir)
    not_empty = f"run directory {run_dir} is not empty; use --resume or another --out"
    runs.check_can_start(run_dir, resume, not_empty)
    splits = {s: data.make_split(cfg, s) for s in ("train", "valid", "test")}
    run_dir.mkdir(parents=True, exist_ok=True)
    with runs.RunLock(run_dir), np.errstate(all="ignore"):
        if not resume:
            runs.start_over(run_dir, not_empty)
        return _train_locked(cfg, run_dir, resume, progress, splits)


def _train_locked(cfg, run_dir, resume, progress, splits):
    from tqdm import tqdm

    if resume:
        params, best, opt, start, best_epoch, best_score = _load(run_dir, cfg)
        metrics = [m for m in runs.read_jsonl(run_dir / "metrics.jsonl") if m["step"] <= opt["step"]]
        runs.atomic_write_bytes(run_dir / "metrics.jsonl", "".join(runs.to_json(m) + "\n" for m in metrics).encode())
        (run_dir / "DONE").unlink(missing_ok=True)
        (run_dir / "FAILED").unlink(missing_ok=True)
    else:
        params = init_params(cfg)
        best, opt, start, best_epoch, best_score, metrics = dict(params), adamw.init_state(params), 0, 0, -np.inf, []
    runs.write_json(run_dir / "config.json", {"format": runs.RUN_FORMAT, "kind": "alrnn", "config": asdict(cfg),
                                              "selection": selection(cfg), "versions": runs.package_versions()})
    if cfg.backend == "numba":
        from ..cells import alrnn_numba
        alrnn_numba.pin_blas()
    opt_cfg = adamw.AdamWConfig(lr=cfg.lr, weight_decay=0.0)   # Adam
    train_set = splits["train"]
    t0, losses = time.time(), []
    last = metrics[-1] if metrics else None
    # A run that met its stop rule at its last checkpoint (and was cut off before DONE) trains no further.
    stopped = last["epoch"] if cfg.until_solved and last is not None and _solved(cfg, last["valid"]) else None
    bar = tqdm(total=cfg.epochs, initial=start, disable=not progress, dynamic_ncols=True, mininterval=0.5,
               desc=f"alrnn {cfg.task} M={cfg.hidden} P={cfg.P}")
    for epoch in range(start + 1, (cfg.epochs if stopped is None else start) + 1):
        order = np.random.default_rng([cfg.seed, 3, epoch]).permutation(cfg.n_train)
        for i in range(0, cfg.n_train, cfg.batch):
            if cfg.steps and opt["step"] >= cfg.steps:
                break
            loss, grads, _ = model.loss_and_grads(params, train_set.take(order[i:i + cfg.batch]), cfg.backend)
            if cfg.mar > 0 and cfg.mar_units > 0:
                mloss, mcache = mar.mar_forward(params, cfg.mar, cfg.mar_units)
                for k, g in mar.mar_backward(1.0, mcache).items():
                    grads[k] = grads[k] + g.astype(grads[k].dtype)
                loss += mloss
            what = divergence.update(params, grads, loss, opt, opt_cfg)
            if what is not None:
                bar.close()
                raise divergence.fail(run_dir, "training", opt["step"], what)
            losses.append(loss)
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            last = {"step": opt["step"], "epoch": epoch, "train_loss": float(np.mean(losses)),
                    "elapsed_s": time.time() - t0}
            for split in ("valid", "test"):
                if splits[split] is not None:
                    last[split] = evaluate(params, splits[split], cfg)
            if not np.isfinite(last["test"]["loss"]):
                bar.close()
                raise divergence.fail(run_dir, "training", opt["step"], "the test loss")
            score = selection_score(cfg, last)
            if score >= best_score or selection(cfg) == "last":
                best, best_epoch, best_score = {k: v.copy() for k, v in params.items()}, epoch, score
            runs.append_jsonl(run_dir / "metrics.jsonl", last)
            metrics.append(last)
            losses = []
            _save(run_dir, params, best, opt, epoch, best_epoch, best_score)
            if cfg.until_solved and _solved(cfg, last["valid"]):
                stopped = epoch
                break
        bar.update(1)
        if last is not None:
            bar.set_postfix(loss=f"{last['train_loss']:.4f}", acc=f"{last['test']['accuracy']:.3f}", refresh=False)
    bar.close()
    final = evaluate(best, splits["test"], cfg)
    result = {"run": str(run_dir), "task": cfg.task, "P": cfg.P, "hidden": cfg.hidden, "length": cfg.length,
              "seed": cfg.seed, "selected_epoch": best_epoch, "selection": selection(cfg), **final,
              **({"stopped_solved_epoch": stopped} if cfg.until_solved else {}), "codes_possible": 2.0 ** cfg.P,
              "train_seconds_this_session": time.time() - t0}
    if cfg.per_task or cfg.steps:
        result.update(per_task=cfg.per_task, adam_steps=int(opt["step"]), durations=cfg.durations,
                      valid_accuracy=evaluate(best, splits["valid"], cfg)["accuracy"] if splits["valid"] else None)
    runs.write_json(run_dir / "result.json", result)
    plot_curves(metrics, run_dir / "curves.png", f"{cfg.task} M={cfg.hidden} P={cfg.P} seed {cfg.seed}")
    runs.atomic_write_bytes(run_dir / "DONE", b"")
    return result
