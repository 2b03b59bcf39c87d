"""The onion paper's grid as one sweep: hidden size × decoder variant × cell × seed, each model trained once, then
analysed (the cell axis is issue 22's: the GRU by default, or any entry CELL_SPEC matches).

    OUT/sweep.json                          grid, budget, versions (sweep/sweepdir.py)
    OUT/h{H}-{variant}-s{seed}/             exactly what `onionref train --hidden H [--no-input] --seed S` writes
    OUT/h{H}-{variant}-{cell}-s{seed}/      another cell: `... --cell lstm`, `--cell alrnn --P 4` (alrnn-p4), ...
    OUT/h48-ar-s0/intervene/onion/          exactly what `onionref intervene RUN --mode onion` writes
    OUT/h48-ar-s0/probe/gru-ar/             exactly what `onionref probe RUN --kind gru-ar` writes

Training a cell is one job on the sweep engine (Dask); each analysis of it is a job that depends on it. Jobs are
idempotent: a finished directory (DONE) is read back, an interrupted one resumes from its checkpoint, anything else
starts; a directory whose config.json disagrees with the sweep's budget is refused, naming the cell.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .. import runs
from ..cells.choice import CELLS
from ..errors import UserError
from ..sweep.engine import Job, connect, run_jobs
from ..sweep.sweepdir import open_sweep
from . import methods
from .analysis import AnalysisConfig
from .convergence import still_rising
from .train import TrainConfig

VARIANTS = ("ar", "noinput")               # ar: the autoregressive decoder; noinput: `train --no-input`
# analysis name in the grid -> (subdirectory of the cell, method name); `all` = the paper's nine (not onion-free or
# onion-from-end)
ANALYSES = {**{m: ("intervene", m) for m in methods.INTERVENTIONS},
            **{f"probe-{k}": ("probe", k) for k in methods.PROBES}}
PAPER_ANALYSES = tuple(a for a in ANALYSES if a not in ("onion-free", "onion-from-end"))
CELL_NAME = re.compile(r"^h(\d+)-(ar|noinput)-s(\d+)$")          # a GRU cell (what report / transition read)
# --cells: gru, lstm, elman (tanh), elman-relu, linear, alrnn-p<N> (N ReLU units) or alrnn-pH (P = the hidden size),
# an AL-RNN entry with -uniform appended for torch's uniform init (alrnn-p4-uniform)
CELL_SPEC = re.compile(r"^(gru|lstm|elman|elman-relu|linear|alrnn-p(\d+|H)(-uniform)?)$")
ANY_CELL_NAME = re.compile(
    r"^h(\d+)-(ar|noinput)(?:-(lstm|elman|elman-relu|linear|alrnn-p\d+(?:-uniform)?))?-s(\d+)$")
LOCK_POLL_S = 0.5


@dataclass(frozen=True)
class Budget:
    """Everything besides the grid that makes two sweeps' cells differ (recorded in sweep.json)."""
    train_steps: int = 40_000
    analysis_steps: int = 60_000
    batch: int = 256            # sequences per step, training and analyses
    lr: float = 1e-3
    wd: float = 0.1
    eval_every: int = 1000      # validate and checkpoint every this many steps (training and analyses)
    n_train: int = 1_000_000
    backend: str = "numba"
    analysis_seed: int = 0      # what `onionref intervene` / `probe` use by default
    task: str = "repeat"        # repeat | reverse | lookup (tasks/access.py): one task per sweep directory

    def train_config(self, hidden: int, variant: str, seed: int, cell: str = "gru") -> TrainConfig:
        """The run of one grid cell; `cell` a --cells entry (CELL_SPEC), on the budget's backend (every cell has a
        Numba fast path: cells/gru_numba.py, cells/seq_numba.py)."""
        name, nonlinearity, P = cell_config(cell, hidden)
        init = "uniform" if cell.endswith("-uniform") else None
        return TrainConfig(hidden=hidden, steps=self.train_steps, batch=self.batch, lr=self.lr, wd=self.wd,
                           eval_every=self.eval_every, seed=seed, no_input=variant == "noinput",
                           n_train=self.n_train, backend=self.backend, task=self.task,
                           cell=name, nonlinearity=nonlinearity, P=P, init=init)

    def analysis_config(self) -> AnalysisConfig:
        return AnalysisConfig(steps=self.analysis_steps, batch=self.batch, lr=self.lr, wd=self.wd,
                              eval_every=self.eval_every, seed=self.analysis_seed)


def cell_config(cell: str, hidden: int) -> tuple[str, str, int | None]:
    """(TrainConfig's cell, nonlinearity, P) of a --cells entry at a hidden size: "alrnn-p4" -> ("alrnn", "tanh", 4),
    "alrnn-pH" -> P = hidden, "elman-relu" -> ("elman", "relu", None); "alrnn-p4-uniform" as "alrnn-p4" (its init
    is TrainConfig's `init`, set by Budget.train_config)."""
    m = CELL_SPEC.match(cell)
    if m is None:
        raise UserError(f"unknown cell {cell!r} in --cells; choose from gru, lstm, elman, elman-relu, linear, "
                        "alrnn-p<N> (N ReLU units), alrnn-pH (P = the hidden size), each AL-RNN with an optional "
                        "-uniform (torch's init)")
    if m.group(2) is not None:
        return "alrnn", "tanh", hidden if m.group(2) == "H" else int(m.group(2))
    return ("elman", "relu", None) if cell == "elman-relu" else (cell, "tanh", None)


def cell_tag(cell: str, hidden: int) -> str:
    """The cell's part of a directory name: "" for the GRU (the paper's names), "-lstm", "-alrnn-p48" (pH at 48),
    "-alrnn-p48-uniform"."""
    name, _, P = cell_config(cell, hidden)
    init = "-uniform" if cell.endswith("-uniform") else ""
    return "" if name == "gru" else f"-{cell}" if P is None else f"-alrnn-p{P}{init}"


def cell_name(hidden: int, variant: str, seed: int, cell: str = "gru") -> str:
    return f"h{hidden}-{variant}{cell_tag(cell, hidden)}-s{seed}"


def expand_analyses(analyses) -> list[str]:
    """"all" (the paper's nine), or names from ANALYSES as a list or a comma-separated string (order kept,
    duplicates dropped)."""
    if isinstance(analyses, str):
        analyses = analyses.split(",")
    names = list(PAPER_ANALYSES) if list(analyses) == ["all"] else list(dict.fromkeys(analyses))
    unknown = [a for a in names if a not in ANALYSES]
    if unknown:
        raise UserError(f"unknown analysis {unknown[0]!r}; choose from all, {', '.join(ANALYSES)}")
    return names


def _same_config(path_dir: Path, want: dict, cell: str, longer_ok: bool = False) -> None:
    """UserError naming the cell if path_dir/config.json exists and its config differs from `want`. With
    `longer_ok` (analyses), more steps than `want` are allowed: an analysis extended past the budget."""
    if not (path_dir / "config.json").exists():
        return
    have = runs.read_config(path_dir)
    want = json.loads(runs.to_json(want))
    for k, old in (("task", "repeat"), ("cell", "gru"), ("nonlinearity", "tanh"), ("P", None), ("init", None)):
        if k in want and k not in have:   # a run trained before --task / --cell / --P / --init existed
            have = {**have, k: old}
    if longer_ok and isinstance(have.get("steps"), int) and have["steps"] > want["steps"]:
        want = {**want, "steps": have["steps"]}
    if have != want:
        diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        shown = ", ".join(f"{k} {have.get(k)} (sweep: {want.get(k)})" for k in diff)
        raise UserError(f"cell {cell}: {path_dir / 'config.json'} disagrees with the sweep's budget: {shown}")


def _when_unlocked(fn):
    """fn(), retried while another process holds the lock of the directory it works in (the task of a dead worker
    or driver still exiting, or one Dask let run on after its client left): that process finishes or dies, and
    the retry reads its result or resumes from its checkpoint."""
    while True:
        try:
            return fn()
        except runs.LockedError:
            time.sleep(LOCK_POLL_S)


def train_job(run_dir: str, config: dict) -> dict:
    """Train one cell: its result.json if DONE, else resume from its checkpoint, else start."""
    from .train import train

    run_dir, cfg = Path(run_dir), TrainConfig.from_dict(config)
    _same_config(run_dir, asdict(cfg), run_dir.name)

    def go():
        if (run_dir / "DONE").exists():
            return runs.read_json(run_dir / "result.json")
        return train(cfg, run_dir, resume=(run_dir / "checkpoint.safetensors").exists(), progress=False)
    return _when_unlocked(go)


def metric_of(analysis: str) -> str:
    """The score an analysis of ANALYSES reports: "iia" (interventions) or "accuracy" (probes)."""
    return "iia" if ANALYSES[analysis][0] == "intervene" else "accuracy"


def _analysis_steps(out_dir: Path, budget_steps: int, extend_rising_to: int | None, metric: str) -> int:
    """The steps an analysis directory must reach: the budget, or `extend_rising_to` if its curve is still rising
    at the budget (convergence.py), or whatever more it was already extended to (by this or by `--resume --steps`).
    Only what the directory holds decides, so the same command always asks for the same steps."""
    have = runs.read_config(out_dir)["steps"] if (out_dir / "config.json").exists() else budget_steps
    target = max(have, budget_steps)
    if extend_rising_to is not None and extend_rising_to > target and (out_dir / "metrics.jsonl").exists():
        rows = runs.read_metrics(out_dir / "metrics.jsonl", metric)
        if any(r["step"] == budget_steps for r in rows) and still_rising(rows, metric, budget_steps):
            target = extend_rising_to
    return target


def analysis_job(run_dir: str, analysis: str, config: dict, extend_rising_to: int | None = None) -> dict:
    """One analysis of a trained cell, in RUN/intervene/MODE or RUN/probe/KIND; idempotent like train_job. With
    `extend_rising_to`, an analysis still rising at its budget is then resumed up to that many steps."""
    from .analysis import run
    from .frozen import Frozen
    from .train import load_run

    kind, name = ANALYSES[analysis]
    run_dir, cfg = Path(run_dir), AnalysisConfig(**config).validate()
    out_dir = run_dir / kind / name
    _same_config(out_dir, asdict(cfg), f"{run_dir.name} ({analysis})", longer_ok=True)

    def go():
        model = None
        while True:                   # the budget, then (if still rising there) the extension
            steps = _analysis_steps(out_dir, cfg.steps, extend_rising_to, metric_of(analysis))
            done = _finished(out_dir, steps)
            if done is not None:
                return done
            if model is None:
                model_cfg, params = model = load_run(run_dir, cells=CELLS)
                method = methods.fitted(methods.intervention(name) if kind == "intervene" else methods.probe(name),
                                        model_cfg)
                frozen = Frozen.of_run(model_cfg, params)
            run(method, frozen, model_cfg, replace(cfg, steps=steps), out_dir, name, progress=False,
                resume=(out_dir / "checkpoint.safetensors").exists())
    return _when_unlocked(go)


def _is_cell(path: Path) -> bool:
    """A run directory named like a cell (cells trained before the sweep existed can be adopted)."""
    return path.is_dir() and ANY_CELL_NAME.match(path.name) is not None and (path / "config.json").is_file()


def plan(out: Path, cells: list[tuple], analyses: list[str], budget: Budget,
         extend_rising_to: int | None = None) -> list[Job]:
    """The jobs of a grid, after checking every existing cell against the budget (before anything is written).
    cells: (hidden, variant, seed) or (hidden, variant, seed, --cells entry); the GRU when the entry is left out."""
    jobs, acfg = [], asdict(budget.analysis_config())
    for hidden, variant, seed, *spec in cells:
        spec = spec[0] if spec else "gru"
        cell = cell_name(hidden, variant, seed, spec)
        run_dir, tcfg = out / cell, asdict(budget.train_config(hidden, variant, seed, spec))
        _same_config(run_dir, tcfg, cell)
        jobs.append(Job(f"{cell}/train", train_job, {"run_dir": str(run_dir), "config": tcfg},
                        result=_finished(run_dir)))
        for a in analyses:
            kind, name = ANALYSES[a]
            a_dir = run_dir / kind / name
            _same_config(a_dir, acfg, f"{cell} ({a})", longer_ok=True)
            steps = _analysis_steps(a_dir, budget.analysis_steps, extend_rising_to, metric_of(a))
            jobs.append(Job(f"{cell}/{a}", analysis_job, {"run_dir": str(run_dir), "analysis": a, "config": acfg,
                                                          "extend_rising_to": extend_rising_to},
                            deps=(f"{cell}/train",), result=_finished(a_dir, steps)))
    return jobs


def _finished(run_dir: Path, steps: int | None = None) -> dict | None:
    """The result of a finished run directory (DONE; with `steps`, finished at exactly that many), read by the
    driver so the bar counts it from the start, and by a job that finds its work done."""
    if steps is not None and (run_dir / "DONE").is_file() and runs.read_config(run_dir)["steps"] != steps:
        return None
    return runs.finished_result(run_dir)


def budget_record(out: Path, b: Budget) -> dict:
    """The budget as sweep.json records it: every field, the task included, except in a repeat sweep created before
    --task existed (its sweep.json has no "task"; it stays as it is, and reads as repeat)."""
    rec = asdict(b)
    path = Path(out) / "sweep.json"
    if b.task == "repeat" and path.is_file():
        old = runs.read_json(path).get("budget")
        if isinstance(old, dict) and "task" not in old:
            rec.pop("task")
    return rec


def task_of(sweep_record: dict) -> str:
    """The task of a sweep.json record (repeat when it predates --task)."""
    return (sweep_record.get("budget") or {}).get("task", "repeat")


def run_sweep(out, *, hidden=(48,), variants=("ar",), seeds=1, analyses="all", train_steps=40_000,
              analysis_steps=60_000, workers=None, scheduler=None, progress=True, threads_per_job=1,
              extend_rising_to=None, cells=("gru",), **budget) -> dict:
    """Run the grid hidden × variants × cells × range(seeds) with `analyses` on every cell, in OUT. `cells`: entries
    of the form cell_config reads (gru, lstm, elman, elman-relu, linear, alrnn-p<N>, alrnn-pH); with the GRU alone
    (the default) sweep.json and every directory are as before the axis existed.

    `budget` may also set batch, lr, wd, eval_every, n_train, backend, analysis_seed, task (see Budget). Each job runs on
    `threads_per_job` threads (recorded in its run's config.json; results are bit-identical for a fixed count), on
    one worker per that many cores unless `workers` is given. With `extend_rising_to`, every analysis whose
    score still rose by more than 0.01 over the last 20 % of its budget (convergence.py) is resumed up to that many
    steps (the budget in sweep.json stays; the extended run's config.json says its steps). Every check
    (the grid, the budget against OUT/sweep.json and every existing cell, the scheduler) happens before anything is
    written. Returns {"out", "cells": {cell: {"train": result, analysis: result, ...}}, "jobs", "wall_s"}."""
    t0 = time.time()
    out = Path(out)
    try:
        b = Budget(train_steps=train_steps, analysis_steps=analysis_steps, **budget)
    except TypeError as e:
        raise UserError(f"unknown budget setting: {e}") from None
    hidden, variants, analyses = list(dict.fromkeys(hidden)), list(dict.fromkeys(variants)), expand_analyses(analyses)
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise UserError(f"unknown variant {bad[0]!r}; choose from {', '.join(VARIANTS)}")
    if not isinstance(seeds, int) or seeds < 0:
        raise UserError(f"--seeds must be a count >= 1, got {seeds}")
    specs = list(dict.fromkeys(cells))
    for c in specs:
        cell_config(c, 1)                   # unknown entries: one line, before anything else
    grid = [(h, v, s, c) for h in hidden for v in variants for c in specs for s in range(seeds)]
    if not grid:
        raise UserError("the grid is empty: give at least one --hidden, one --variants, one --cells and --seeds >= 1")
    for h, v, s, c in grid:
        b.train_config(h, v, s, c).validate()
    b.analysis_config().validate()
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    if not isinstance(threads_per_job, int) or threads_per_job < 1:
        raise UserError(f"--threads-per-job must be >= 1, got {threads_per_job}")
    if extend_rising_to is not None and extend_rising_to <= analysis_steps:
        raise UserError(f"--extend-rising-to {extend_rising_to} must be above --analysis-steps {analysis_steps}")
    manifest = {"kind": "onion", "grid": {"hidden": hidden, "variant": variants, "seed": list(range(seeds)),
                                          "analysis": analyses, **({} if specs == ["gru"] else {"cell": specs})}}
    record = budget_record(out, b)
    open_sweep(out, manifest, record, is_cell=_is_cell, write=False)
    jobs = plan(out, grid, analyses, b, extend_rising_to)
    with connect(workers, scheduler, threads_per_job) as client:
        open_sweep(out, manifest, record, is_cell=_is_cell)
        results = run_jobs(jobs, progress=progress, desc=f"sweep {out.name}", client=client,
                           threads_per_job=threads_per_job)
    by_cell: dict = {}
    for key, res in results.items():
        cell, what = key.split("/", 1)
        by_cell.setdefault(cell, {})[what] = json.loads(runs.to_json(res))   # as result.json reads back
    return {"out": str(out), "cells": by_cell, "jobs": len(jobs), "wall_s": time.time() - t0}
