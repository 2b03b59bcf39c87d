"""Train delayed-recall models with Adam, several seeds side by side in one set of arrays (spec B2, B6).

Each seed has its own run directory (see runs.py): config.json, metrics.jsonl (the geometry trace: a_s, kθ, ρ and
the train loss every `eval_every` steps), weights.safetensors, checkpoint.safetensors, result.json, figures, DONE.
The seeds of one call share every array with a leading seed axis; their parameters, Adam moments and batches stay
separate (the batch of step t of seed s depends on (s, t) alone), so the sum of their losses has each seed's own
gradient. A resumed run continues from its checkpoint; seeds whose checkpoints are at different steps are trained
in separate groups. Update t uses the learning rate cfg.lr_at(t) (constant unless --lr-decay; config.py).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from .. import adamw, divergence, runs
from ..errors import UserError
from ..tasks.delay_recall import delayed_targets, importance, seed_batches
from .config import SuperConfig
from .measure import geometry_row, measure
from .model import init_params, loss_and_grads


def seed_params(params: dict, i: int) -> dict:
    return {k: v[i] for k, v in params.items()}


def _save_checkpoint(run_dir: Path, params: dict, opt: dict, step: int) -> None:
    runs.save_checkpoint(run_dir, params, opt, {"step": step})
    runs.save_arrays(run_dir / "weights.safetensors", params, {"step": step})


def _load_checkpoint(run_dir: Path, cfg: SuperConfig):
    """(params, opt, step) of one seed, each array checked against the shapes the config implies."""
    path = run_dir / "checkpoint.safetensors"
    arrays, meta = runs.load_checkpoint(run_dir)
    step, opt_step = meta["step"], meta["opt_step"]
    expect = init_params(cfg.model_config(), np.random.default_rng(0))
    want = set(expect) | {pre + k for k in expect for pre in ("m.", "v.")}
    if set(arrays) != want:
        raise UserError(f"{path} does not match the run's model (keys {sorted(arrays)})")
    for key, v in arrays.items():
        if v.shape != expect[key.split(".", 1)[1] if key[:2] in ("m.", "v.") else key].shape:
            raise UserError(f"{path}: {key} has shape {tuple(v.shape)}, the config implies another")
    if not 0 <= step <= cfg.steps:
        raise UserError(f"checkpoint step {step} is outside 0..{cfg.steps}")
    opt = {"step": opt_step, **{k: v.astype(np.float64) for k, v in arrays.items() if k[:2] in ("m.", "v.")}}
    return {k: arrays[k].astype(np.float64) for k in expect}, opt, step


def _check_schedule(run_dir: Path, cfg: SuperConfig) -> None:
    """A run with a learning-rate decay resumes only under the schedule it started with: lr_at(t) depends on
    --steps, so a changed --steps (or --lr, --lr-decay, --lr-schedule) would splice two schedules together."""
    if not (run_dir / "config.json").is_file():
        return
    old = SuperConfig.from_dict(runs.read_config(run_dir))
    keys = ("steps", "lr", "lr_decay", "lr_schedule")
    if (old.lr_decay != 1.0 or cfg.lr_decay != 1.0) and any(getattr(old, k) != getattr(cfg, k) for k in keys):
        shown = ", ".join(f"{k} {getattr(old, k)} -> {getattr(cfg, k)}" for k in keys
                          if getattr(old, k) != getattr(cfg, k))
        raise UserError(f"{run_dir} has a learning-rate decay tied to its steps; it cannot resume with {shown}")


def load_weights(run_dir: Path, cfg: SuperConfig) -> dict:
    """The final weights of a run, checked against its config."""
    path = Path(run_dir) / "weights.safetensors"
    arrays, _ = runs.load_arrays(path)
    expect = init_params(cfg.model_config(), np.random.default_rng(0))
    if set(arrays) != set(expect) or any(arrays[k].shape != v.shape for k, v in expect.items()):
        raise UserError(f"{path} does not match the run's config")
    return {k: v.astype(np.float64) for k, v in arrays.items()}


def train(cfg: SuperConfig, run_dir: Path, resume: bool = False, progress: bool = True, figures: bool = True) -> dict:
    """One seed: train_seeds with a single run directory."""
    return train_seeds(cfg, [cfg.seed], [run_dir], resume=resume, progress=progress, figures=figures)[0]


def train_seeds(cfg: SuperConfig, seeds, run_dirs, resume: bool = False, progress: bool = True,
                figures: bool = True) -> list[dict]:
    """Train cfg for every seed (cfg.seed is ignored), seed i in run_dirs[i]; the result dict of each seed.

    resume=False: every directory must be new (or hold only the leftovers of a run that never checkpointed).
    resume=True: a finished directory (DONE) returns its result.json, a checkpointed one continues, others start."""
    cfg.validate()
    cfgs = [replace(cfg, seed=int(s)).validate() for s in seeds]
    dirs = [Path(d) for d in run_dirs]
    if len(set(dirs)) != len(dirs):
        raise UserError("two seeds share a run directory")
    for d in dirs:
        if not resume and d.exists() and not runs.never_checkpointed(d):
            raise UserError(f"run directory {d} is not empty; use --resume or another --out")
        d.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict] = {}
    with contextlib.ExitStack() as stack, np.errstate(all="ignore"):
        for d in dirs:
            stack.enter_context(runs.RunLock(d))
        groups: dict[int, list] = {}
        for i, (c, d) in enumerate(zip(cfgs, dirs)):
            stored = runs.read_json(d / "result.json") if resume and (d / "DONE").exists() else None
            if stored is not None and stored.get("step") == c.steps:
                results[i] = stored
            elif resume and (d / "checkpoint.safetensors").exists():
                _check_schedule(d, c)
                p, o, step = _load_checkpoint(d, c)
                groups.setdefault(step, []).append((i, p, o))
            else:
                runs.start_over(d, f"run directory {d} is not empty; use --resume or another --out")
                p = init_params(c.model_config(), np.random.default_rng([c.seed, 1]), scale=c.init_scale)
                groups.setdefault(0, []).append((i, p, adamw.init_state(p)))
        for start, members in sorted(groups.items()):
            idx = [m[0] for m in members]
            done = _train_group(cfg, [cfgs[i] for i in idx], [dirs[i] for i in idx], members, start, progress)
            for i, params in zip(idx, done):
                results[i] = _finish(cfgs[i], dirs[i], params, figures)
    return [results[i] for i in range(len(dirs))]


def _stack(members, key_fn):
    return {k: np.stack([key_fn(m)[k] for m in members]) for k in key_fn(members[0]) if k != "step"}


def _train_group(cfg, cfgs, dirs, members, start, progress) -> list[dict]:
    """Train the seeds of `members` [(index, params, opt)] from `start` to cfg.steps; their final params."""
    from tqdm import tqdm

    params = _stack(members, lambda m: m[1])
    opt = {"step": members[0][2]["step"], **_stack(members, lambda m: m[2])}
    seeds = [c.seed for c in cfgs]
    for c, d in zip(cfgs, dirs):
        runs.write_json(d / "config.json", {"format": runs.RUN_FORMAT, "config": asdict(c),
                                            "versions": runs.package_versions(), "trained_with_seeds": seeds})
        if start > 0:  # keep the metrics rows the checkpoint has seen
            rows = [r for r in runs.read_jsonl(d / "metrics.jsonl") if r["step"] <= start]
            runs.atomic_write_bytes(d / "metrics.jsonl", "".join(runs.to_json(r) + "\n" for r in rows).encode())
        (d / "FAILED").unlink(missing_ok=True)
        (d / "DONE").unlink(missing_ok=True)
    mcfg, imp = cfg.model_config(), importance(cfg.features, cfg.decay)
    T, B = cfg.seq_len, cfg.batch_size
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, dynamic_ncols=True, mininterval=0.5,
               desc=f"{cfg.model} k={cfg.k} p={cfg.p:g} seeds={seeds[0]}..{seeds[-1]}")
    t0, losses = time.time(), []
    for step in range(start + 1, cfg.steps + 1):
        x = seed_batches(seeds, step, T, B, cfg.features, cfg.p)
        loss, grads, _ = loss_and_grads(params, mcfg, x, delayed_targets(x, cfg.k), imp, cfg.backend)
        opt_cfg = adamw.AdamWConfig(lr=cfg.lr_at(step), weight_decay=0.0)
        what = divergence.update(params, grads, float(loss.sum()), opt, opt_cfg)
        if what is not None:
            bar.close()
            errs = [divergence.fail(d, "training", step, what) for d in dirs]
            raise errs[0]
        losses.append(loss)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            train_loss = np.mean(losses, axis=0)
            for i, (c, d) in enumerate(zip(cfgs, dirs)):
                row = {"step": step, "train_loss": float(train_loss[i]), "elapsed_s": time.time() - t0,
                       **({"lr": opt_cfg.lr} if cfg.lr_decay != 1.0 else {}),
                       **geometry_row(seed_params(params, i), c)}
                runs.append_jsonl(d / "metrics.jsonl", row)
                o = {"step": opt["step"], **{k: v[i] for k, v in opt.items() if k != "step"}}
                _save_checkpoint(d, seed_params(params, i), o, step)
            losses = []
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss.mean()):.4g}", refresh=False)
    bar.close()
    return [seed_params(params, i) for i in range(len(cfgs))]


def _finish(cfg: SuperConfig, run_dir: Path, params: dict, figures: bool) -> dict:
    result = {"run": str(run_dir), "step": cfg.steps, **measure(params, cfg)}
    runs.write_json(run_dir / "result.json", result)
    if figures:
        from .figures import run_figures
        run_figures(runs.read_jsonl(run_dir / "metrics.jsonl"), params, cfg, result, run_dir)
    runs.atomic_write_bytes(run_dir / "DONE", b"")
    return result
