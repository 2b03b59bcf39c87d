"""Stage 1: train the seq2seq GRU on the repeat task with the paper's protocol (spec §3), or on reverse / lookup
(tasks/access.py: the same sequences in another output order; lookup's query of step s from (seed, s)).

AdamW (lr 1e-3, wd 0.1 on every parameter), batch 256, 40,000 steps, constant LR, no clipping, fp32, validation
every 1,000 steps. The run lives in a directory (see runs.py) and can be resumed bit-for-bit: the batch of step s
depends only on (seed, s), and the checkpoint holds the parameters, the optimizer moments and the step.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import adamw, configs, divergence, runs
from . import seq2seq
from .backends import loss_and_grads_fn, predict_fn
from ..cells import choice
from ..errors import UserError
from ..jit.threads import thread_record
from .evaluate import evaluate
from ..plots import plot_run
from ..tasks import access, lookup
from ..tasks.repeat import epoch_batches, load_set, max_seq_len, valid_sets


@dataclass(frozen=True)
class TrainConfig:
    hidden: int = 48            # H; the embedding size E equals H (an imported run's E is its embedding's width)
    steps: int = 40_000         # optimizer steps (0: trained elsewhere, see `onionref import`)
    batch: int = 256            # sequences per step
    lr: float = 1e-3            # AdamW learning rate (constant)
    wd: float = 0.1             # AdamW decoupled weight decay, on every parameter
    symbols: int = 30           # vocabulary of the sequences
    min_len: int = 2            # shortest training / validation sequence
    max_len: int = 9            # longest
    eval_every: int = 1000      # validate (and checkpoint) every this many steps
    seed: int = 0               # parameter init and batch order
    no_input: bool = False      # decoder gets SOS, NI, NI, ... instead of the previous target
    n_train: int = 1_000_000    # size of the training set
    backend: str = "numba"      # numba (the fast path) or numpy (the reference)
    task: str = "repeat"        # repeat | reverse | lookup (tasks/access.py): the output order
    cell: str = "gru"           # gru | lstm | elman | linear | alrnn (cells/choice.py); older runs are GRU runs
    nonlinearity: str = "tanh"  # elman's φ: tanh | relu (the other cells: tanh, meaning nothing)
    P: int | None = None        # alrnn's number of ReLU units, 0..H (the other cells: None)
    init: str | None = None     # alrnn's init: None (the spec's "sequence" init) or "uniform" (the others: None)

    def validate(self) -> "TrainConfig":
        """Raise UserError on an impossible configuration."""
        key_len = max_seq_len(self.symbols) if 2 <= self.symbols <= 62 else 0  # (loops forever below 1 symbol)
        checks = [
            (1 <= self.hidden <= 4096, f"--hidden must be in 1..4096, got {self.hidden}"),
            (self.steps >= 0, f"--steps must be >= 1, got {self.steps}"),  # train() refuses 0
            (self.batch >= 2, f"--batch must be >= 2, got {self.batch}"),
            (self.lr > 0 and np.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}"),
            (self.wd >= 0 and np.isfinite(self.wd) and self.lr * self.wd < 1,
             f"--wd must be >= 0 with lr·wd < 1, got {self.wd}"),
            (2 <= self.symbols <= 62, f"--symbols must be in 2..62, got {self.symbols}"),
            (1 <= self.min_len, f"--min-len must be >= 1, got {self.min_len}"),
            (self.min_len <= self.max_len, f"--min-len ({self.min_len}) is above --max-len ({self.max_len})"),
            (self.max_len <= key_len,
             f"--max-len must be <= {key_len} with {self.symbols} symbols, got {self.max_len}"),
            (self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}"),
            (self.seed >= 0, f"--seed must be >= 0, got {self.seed}"),
            (self.n_train >= self.batch, f"the training set ({self.n_train}) must hold at least one batch"),
            (self.backend in ("numpy", "numba"), f"--backend must be numpy or numba, got {self.backend}"),
            (self.cell in choice.CELLS, f"--cell must be one of {', '.join(choice.CELLS)}, got {self.cell}"),
            (self.nonlinearity in ("tanh", "relu"), f"--nonlinearity must be tanh or relu, got {self.nonlinearity}"),
            (self.cell == "elman" or self.nonlinearity == "tanh",
             f"--nonlinearity is the Elman cell's (--cell elman), not the {self.cell}'s"),
            (self.P is None or self.cell == "alrnn",
             f"--P is the AL-RNN's number of ReLU units (--cell alrnn), not the {self.cell}'s"),
            (self.P is not None or self.cell != "alrnn", "--cell alrnn needs --P N, its number of ReLU units (0..H)"),
            (self.P is None or 0 <= self.P <= self.hidden, f"--P must be in 0..{self.hidden} (--hidden), got {self.P}"),
            (self.init is None or self.cell == "alrnn", f"--init is the AL-RNN's (--cell alrnn), not the {self.cell}'s"),
            (self.init in (None, "uniform"), f"--init must be sequence or uniform, got {self.init}"),
        ]
        configs.require(checks)
        access.check(self.task, self.no_input)
        return self

    def cell_module(self):
        """The cell seq2seq runs (cells/choice.py): the module cells/gru.py for a GRU run."""
        return choice.cell_of(self.cell, self.nonlinearity, self.P, self.init)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config from its JSON form; every key must be known and of its field's type."""
        return configs.from_dict(cls, d).validate()


def train_batch(cfg: TrainConfig, tokens, lengths, step: int):
    """The batch of training step `step` (lookup: its queries drawn from (seed, 5, step), so a resumed run asks the
    same questions; repeat and reverse draw nothing)."""
    queries = lookup.draw_queries(lengths, np.random.default_rng([cfg.seed, 5, step])) if cfg.task == "lookup" else None
    return access.batch(cfg.task, tokens, lengths, cfg.symbols, cfg.no_input, queries)


def require_task(cfg: TrainConfig, what: str, tasks=("repeat",)) -> None:
    """UserError (one line) if the run's task is not one `what` handles."""
    if cfg.task not in tasks:
        raise UserError(f"{what} handles --task {' / '.join(tasks)} runs only; this run was trained on {cfg.task}")


def load_data(cfg: TrainConfig):
    """(train tokens, train lengths), (valid tokens, valid lengths) of the configuration."""
    try:
        train = load_set("train", cfg.symbols, cfg.min_len, cfg.max_len, cfg.n_train)
        valid = load_set("valid", cfg.symbols, cfg.min_len, cfg.max_len, cfg.n_train)
    except ValueError as e:
        raise UserError(str(e)) from None
    return train, valid


def load_run(run: Path, cells=("gru",), what: str = "this command"):
    """(config, params) of a run directory, with clear errors. A run of a cell not in `cells` is refused in one
    line: the analyses read the GRU's state and parameters (issue 22: `onionref eval` takes every cell)."""
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"no run directory at {run}")
    cfg = TrainConfig.from_dict(runs.read_config(run))
    if cfg.cell not in cells:
        raise UserError(f"{what} handles {' / '.join(cells)} runs only; {run} is a {cfg.cell} run")
    return cfg, load_weights(run, cfg)


def load_weights(run_dir: Path, cfg: TrainConfig) -> dict:
    """The run's weights, checked against the shapes its config implies (and the embedding's own width E)."""
    params, _ = runs.load_arrays(Path(run_dir) / "weights.safetensors")
    check_shapes(params, expected_shapes(cfg, params, Path(run_dir) / "weights.safetensors"),
                 Path(run_dir) / "weights.safetensors")
    return {k: v.astype(np.float32) for k, v in params.items()}


def evaluate_run(cfg: TrainConfig, params: dict, names=None, query: int | None = None) -> dict:
    """{set name: evaluate(...) result} of a model on the named validation sets (default: every one that exists
    for the config, see tasks.repeat.valid_sets). query (lookup runs): ask every sequence for this 0-based
    position, on the sequences of each set that have it (a set with none is left out). A lookup run skips the sets
    longer than its max_len (valid_longer_*): it has position tokens for 0..max_len−1 only."""
    if query is not None:
        require_task(cfg, "--query", ("lookup",))
        if not 0 <= query < cfg.max_len:
            raise UserError(f"lookup position {query} is outside the sequences (positions 0..{cfg.max_len - 1})")
    predict = predict_fn(cfg.backend, cfg.cell, cfg.nonlinearity, cfg.P)
    results = {}
    for name in valid_sets(cfg.symbols, cfg.min_len, cfg.max_len) if names is None else names:
        try:
            tok, ln = load_set(name, cfg.symbols, cfg.min_len, cfg.max_len, cfg.n_train)
        except ValueError as e:
            raise UserError(str(e)) from None
        if cfg.task == "lookup" and ln.max() > cfg.max_len:
            continue   # longer sequences than the model's positions: it has no token to ask for the extra ones
        queries = None
        if query is not None:
            keep = ln > query
            if not keep.any():
                continue
            tok, ln, queries = tok[keep], ln[keep], np.full(int(keep.sum()), query, np.int64)
        results[name] = evaluate(lambda b: predict(params, b), tok, ln, cfg.symbols, cfg.no_input, task=cfg.task,
                                 queries=queries)
    return results


def expected_shapes(cfg: TrainConfig, got: dict, path: Path) -> dict:
    """{name: shape} of the model the config implies, with the embedding's width E taken from the file's
    embedding.weight [V, E] (E = H in onionref's own runs; an imported GRU's input size may differ); the cell's
    parameters under its torch name (gru., lstm., rnn.)."""
    V = access.vocab(cfg.task, cfg.symbols, cfg.no_input, cfg.max_len)
    emb = got.get("embedding.weight")
    if emb is None or emb.ndim != 2 or emb.shape[0] != V or emb.shape[1] < 1:
        raise UserError(f"{path} does not match the run's model: embedding.weight has shape "
                        f"{None if emb is None else tuple(emb.shape)}, the config implies ({V}, E)")
    H, E = cfg.hidden, int(emb.shape[1])
    cell = cfg.cell_module()
    return {"embedding.weight": (V, E), **{cell.TORCH_NAME + "." + k: s for k, s in cell.shapes(H, E).items()},
            "head.weight": (cfg.symbols, H), "head.bias": (cfg.symbols,)}


def check_shapes(got: dict, expect: dict, path: Path) -> None:
    """UserError unless `got` has exactly the names of `expect` ({name: shape}), each of its shape."""
    if set(got) != set(expect):
        missing, extra = sorted(set(expect) - set(got)), sorted(set(got) - set(expect))
        raise UserError(f"{path} does not match the run's model (missing {missing}, unexpected {extra})")
    for k, shape in expect.items():
        if got[k].shape != tuple(shape):
            raise UserError(f"{path} does not match the run's model: {k} has shape {tuple(got[k].shape)}, "
                            f"the config implies {tuple(shape)}")


def _save_checkpoint(run_dir: Path, params: dict, opt: dict, step: int) -> None:
    runs.save_checkpoint(run_dir, params, opt, {"step": step})
    runs.save_arrays(run_dir / "weights.safetensors", params, {"step": step})


def _load_checkpoint(run_dir: Path, cfg: TrainConfig):
    arrays, meta = runs.load_checkpoint(run_dir)
    step, opt_step = meta["step"], meta["opt_step"]
    params = {k: v for k, v in arrays.items() if not k.startswith(("m.", "v."))}
    check_shapes(params, expected_shapes(cfg, params, run_dir / "checkpoint.safetensors"),
                 run_dir / "checkpoint.safetensors")
    opt = {"step": opt_step}
    for k in params:
        for pre in ("m.", "v."):
            if pre + k not in arrays or arrays[pre + k].shape != params[k].shape:
                raise UserError(f"corrupt checkpoint {run_dir / 'checkpoint.safetensors'}: no {pre + k}")
            opt[pre + k] = arrays[pre + k]
    if not 0 <= step <= cfg.steps:
        raise UserError(f"checkpoint step {step} is outside 0..{cfg.steps}")
    return params, opt, step


def train(cfg: TrainConfig, run_dir: Path, resume: bool = False, progress: bool = True) -> dict:
    """Train (or resume) a run in `run_dir`; returns the final result dict (also written to result.json)."""
    cfg.validate()
    run_dir = Path(run_dir)
    not_empty = f"run directory {run_dir} is not empty; use --resume or another --out"
    runs.check_can_start(run_dir, resume, not_empty)
    if cfg.steps < 1:  # validate() admits 0 for an imported run's config, which is never trained here
        raise UserError(f"--steps must be >= 1, got {cfg.steps}")
    data = load_data(cfg)  # before anything is written: a bad size fails on a clean directory
    run_dir.mkdir(parents=True, exist_ok=True)
    # Divergence is caught by explicit finiteness checks; numpy's overflow warnings would only add noise.
    with runs.RunLock(run_dir), np.errstate(all="ignore"):
        if not resume:
            runs.start_over(run_dir, not_empty)  # again, under the lock
        return _train_locked(cfg, run_dir, resume, progress, data)


def _train_locked(cfg, run_dir, resume, progress, data):
    from tqdm import tqdm

    (train_tok, train_len), (valid_tok, valid_len) = data
    vocab = access.vocab(cfg.task, cfg.symbols, cfg.no_input, cfg.max_len)
    if resume:
        params, opt, start = _load_checkpoint(run_dir, cfg)
        metrics = [m for m in runs.read_metrics(run_dir / "metrics.jsonl", "accuracy") if m["step"] <= start]
        runs.atomic_write_bytes(run_dir / "metrics.jsonl", "".join(runs.to_json(m) + "\n" for m in metrics).encode())
        (run_dir / "DONE").unlink(missing_ok=True)
        (run_dir / "FAILED").unlink(missing_ok=True)
    else:
        params = seq2seq.init_params(cfg.hidden, cfg.symbols, vocab, np.random.default_rng([cfg.seed, 1]),
                                     cell=cfg.cell_module())
        opt, start, metrics = adamw.init_state(params), 0, []
    runs.write_json(run_dir / "config.json", {"format": runs.RUN_FORMAT, "config": asdict(cfg),
                                              "versions": runs.package_versions(),
                                              "threads": thread_record(cfg.backend)})
    step_fn = loss_and_grads_fn(cfg.backend, cfg.cell, cfg.nonlinearity, cfg.P)
    predict = predict_fn(cfg.backend, cfg.cell, cfg.nonlinearity, cfg.P)
    update = divergence.update
    if cfg.backend == "numba":
        from ..adamw_numba import update  # the same step, bit for bit, on kernels
    opt_cfg = adamw.AdamWConfig(lr=cfg.lr, weight_decay=cfg.wd)

    def validate(step):
        res = evaluate(lambda b: predict(params, b), valid_tok, valid_len, cfg.symbols, cfg.no_input, task=cfg.task)
        if not np.isfinite(res["loss"]):  # finite parameters that still overflow the forward pass
            bar.close()
            raise divergence.fail(run_dir, "training", step, "the validation loss")
        row = {"step": step, "valid": res, "train_loss": float(np.mean(losses)) if losses else None,
               "elapsed_s": time.time() - t0}
        runs.append_jsonl(run_dir / "metrics.jsonl", row)
        metrics.append(row)
        return res

    t0, losses = time.time(), []
    last_acc = metrics[-1]["valid"]["accuracy"] if metrics else float("nan")
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, dynamic_ncols=True, mininterval=0.5,
               desc=f"train H={cfg.hidden}")
    batches = epoch_batches(len(train_len), cfg.batch, cfg.seed, start)
    for step in range(start + 1, cfg.steps + 1):
        idx = next(batches)
        b = train_batch(cfg, train_tok[idx], train_len[idx], step)
        loss, grads, _ = step_fn(params, b)
        what = update(params, grads, loss, opt, opt_cfg)
        if what is not None:
            bar.close()
            raise divergence.fail(run_dir, "training", step, what)
        losses.append(loss)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            last_acc = validate(step)["accuracy"]
            losses = []
            _save_checkpoint(run_dir, params, opt, step)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", acc=f"{last_acc:.4f}", refresh=False)
    bar.close()
    if not metrics or metrics[-1]["step"] != cfg.steps:  # resumed at the very end
        validate(cfg.steps)
        _save_checkpoint(run_dir, params, opt, cfg.steps)
    final = metrics[-1]["valid"]
    result = {"run": str(run_dir), "step": cfg.steps, "accuracy": final["accuracy"], "loss": final["loss"],
              "per_length": final["per_length"], "train_seconds_this_session": time.time() - t0,
              "hidden": cfg.hidden, "no_input": cfg.no_input, "backend": cfg.backend, "task": cfg.task,
              "cell": cfg.cell, **({} if cfg.P is None else {"P": cfg.P}),
              **({} if cfg.init is None else {"init": cfg.init})}
    runs.write_json(run_dir / "result.json", result)
    name = {"gru": "GRU", "lstm": "LSTM", "elman": f"Elman-{cfg.nonlinearity}", "linear": "linear RNN",
            "alrnn": f"AL-RNN P={cfg.P}{'' if cfg.init is None else ' (' + cfg.init + ' init)'}"}[cfg.cell]
    plot_run(metrics, run_dir, "accuracy", f"{name} H={cfg.hidden}{' no-input' if cfg.no_input else ''}"
                                           f"{'' if cfg.task == 'repeat' else ' ' + cfg.task}")
    runs.atomic_write_bytes(run_dir / "DONE", b"")
    return result
