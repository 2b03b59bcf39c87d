"""`onionref alrnn sweep`: one task over P × seeds on the lab's sweep engine, then the numbers against P.

Jobs (module-level functions a Dask worker imports by name; each idempotent):
    train_job(out, config)  trains OUT/<task>-m<M>-p<P>-s<seed>/ (skips a DONE run, resumes an interrupted one)
    regions_job(run)        the regions analysis of that run (depends on its training job)
A run that diverges (marked FAILED) counts as unsolved and is left out of the means (its count is reported).
Aggregate: per P (and per training-set size, --per-task), over seeds: mean ± std of the task's metrics, the fraction
of seeds that solve the task (config.SOLVED: addition test MSE < 0.01; context, multitask, digits accuracy ≥ 0.9;
copy sequence accuracy ≥ 0.9), codes used against 2^P; figures vs_P.png (performance; one line per training-set
size) and codes_vs_P.png.
"""
from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from .. import runs
from ..errors import UserError
from .config import SOLVED, ALRNNConfig

METRICS = {"addition": ("mse", "accuracy"), "context": ("loss", "accuracy"), "copy": ("sequence_accuracy", "accuracy"),
           "multitask": ("loss", "accuracy"), "digits": ("loss", "accuracy")}


def run_name(cfg: ALRNNConfig) -> str:
    """<task>-m<M>-p<P>-s<seed>; a low-data run (--per-task N) is <task>-m<M>-p<P>-n<N>-s<seed>."""
    size = f"-n{cfg.per_task}" if cfg.per_task else ""
    return f"{cfg.task}-m{cfg.hidden}-p{cfg.P}{size}-s{cfg.seed}"


def grid(base: ALRNNConfig, Ps, seeds) -> list[ALRNNConfig]:
    """One config per (P, seed), P ≤ M; M_reg stays the base's (the first units, linear whenever P ≤ M − M_reg)."""
    return [replace(base, P=P, seed=s).validate() for P in Ps for s in range(seeds)]


def train_job(out: str, config: dict) -> dict:
    """Train one run of the sweep (or return the stored result of a finished one); resumes from its checkpoint."""
    from .train import train
    cfg = ALRNNConfig.from_dict(config)
    run_dir = Path(out) / run_name(cfg)
    if (run_dir / "DONE").exists():
        return runs.read_json(run_dir / "result.json")
    if (run_dir / "FAILED").exists():       # diverged: an outcome of the sweep (unsolved), not an error
        return {"task": cfg.task, "P": cfg.P, "seed": cfg.seed, "failed": runs.read_json(run_dir / "FAILED")}
    resume = (run_dir / "checkpoint.safetensors").exists()
    try:
        return train(cfg, run_dir, resume=resume, progress=False)
    except UserError:
        if (run_dir / "FAILED").exists():
            return train_job(out, config)
        raise


def regions_job(run: str) -> dict:
    """The regions analysis of a finished run (stored in RUN/regions/regions.json; recomputed if missing)."""
    from .analyze import analyze
    path = Path(run) / "regions" / "regions.json"
    if (Path(run) / "FAILED").exists():
        return {"failed": True}
    res = runs.read_json(path) if path.exists() else analyze(Path(run))
    keep = ("task", "P", "codes_used", "bit_flips_per_step", "gate", "jsd_between_contexts", "final_step_codes",
            "jsd_mean", "jsd_matrix", "tasks")
    out = {k: res[k] for k in keep if k in res}
    out["dominant_region_eig_nearest_1"] = res["regions"][0]["eig_nearest_1"] if res["regions"] else None
    return out


def jobs_of(out: Path, configs: list[ALRNNConfig], Job) -> list:
    """The engine's jobs: a training job per run and its regions job after it."""
    jobs = []
    for cfg in configs:
        name = run_name(cfg)
        jobs.append(Job(f"train/{name}", train_job, {"out": str(out), "config": asdict(cfg)}))
        jobs.append(Job(f"regions/{name}", regions_job, {"run": str(Path(out) / name)}, deps=(f"train/{name}",)))
    return jobs


def collect(out: Path, configs: list[ALRNNConfig]) -> dict:
    """The results of the runs already finished (DONE or FAILED) in `out`, in this process, training nothing."""
    results = {}
    for cfg in configs:
        name = run_name(cfg)
        if (Path(out) / name / "DONE").exists() or (Path(out) / name / "FAILED").exists():
            results[f"train/{name}"] = train_job(str(out), asdict(cfg))
            results[f"regions/{name}"] = regions_job(str(Path(out) / name))
    return results


def aggregate(task: str, configs: list[ALRNNConfig], results: dict, out: Path) -> dict:
    """Per-(size, P) summary over seeds (JSON-ready) and the figures vs_P.png, codes_vs_P.png in `out`. A row has a
    "per_task" key only in a low-data sweep; the figures then draw one line per training-set size."""
    from .figures import plot_matrix, plot_vs_P
    rows = []
    for n in sorted({c.per_task for c in configs}):
        for P in sorted({c.P for c in configs if c.per_task == n}):
            row = _row(task, [run_name(c) for c in configs if c.P == P and c.per_task == n], results)
            if row is not None:
                rows.append({**({"per_task": n} if n else {}), "P": P, **row})
    sizes = sorted({r.get("per_task", 0) for r in rows})

    def series(m, label):
        return {(f"{n} per task" if n else label): ([r["P"] for r in rows if r.get("per_task", 0) == n],
                                                     [r[m]["mean"] for r in rows if r.get("per_task", 0) == n],
                                                     [r[m]["std"] for r in rows if r.get("per_task", 0) == n])
                for n in sizes}
    for m in METRICS[task]:
        plot_vs_P(series(m, m), out / f"{m}_vs_P.png", m.replace("_", " "), f"{task}: {m.replace('_', ' ')} vs P"
                  + (" (mean ± std over seeds)" if sizes != [0] else ""), log_y=(m == "mse"))
    Ps = sorted({r["P"] for r in rows})
    plot_vs_P({**series("codes_used", "codes used"), "2^P": (Ps, [2.0 ** P for P in Ps], [0.0] * len(Ps))},
              out / "codes_vs_P.png", "distinct bitcodes", f"{task}: codes used vs 2^P", log_y=True)
    if task == "multitask" and all("jsd_mean" in r for r in rows):
        plot_vs_P(series("jsd_mean", "mean JSD"), out / "jsd_vs_P.png", "mean JSD between tasks (bits)",
                  "multitask: code sharing vs P")
        from ..tasks.cognitive import TASKS
        for r in rows:
            size = f"_n{r['per_task']}" if "per_task" in r else ""
            plot_matrix(np.array(r["jsd_matrix_mean"]), list(TASKS), out / f"jsd{size}_P{r['P']}.png",
                        f"multitask P={r['P']}: JSD between tasks (mean over seeds)")
    summary = {"task": task, "rows": rows}
    runs.write_json(out / "summary.json", summary)
    return summary


def _row(task: str, names: list, results: dict) -> dict | None:
    """The numbers over the seeds of one grid point (runs `names`); None if none has finished."""
    key, solved, rule = SOLVED[task]
    every = [results[f"train/{n}"] for n in names if f"train/{n}" in results]
    tr = [r for r in every if "failed" not in r]
    rg = [results[f"regions/{n}"] for n in names if "failed" not in results.get(f"regions/{n}", {"failed": 1})]
    if not tr:
        return None
    P = tr[0]["P"]
    row = {"seeds": len(every), "diverged": len(every) - len(tr),
           "solved": sum(bool(solved(r[key])) for r in tr), "solved_rule": rule, "codes_possible": 2.0 ** P}
    for m in METRICS[task] + ("codes_used",):
        v = np.array([r[m] for r in tr], float)
        row[m] = {"mean": float(v.mean()), "std": float(v.std()), "per_seed": v.tolist()}
    if task == "context":
        row["jsd_between_contexts"] = [r.get("jsd_between_contexts") for r in rg]
    if task == "multitask" and rg:
        v = np.array([r["jsd_mean"] for r in rg], float)
        row["jsd_mean"] = {"mean": float(v.mean()), "std": float(v.std()), "per_seed": v.tolist()}
        row["jsd_matrix_mean"] = np.mean([r["jsd_matrix"] for r in rg], axis=0).tolist()
    if task == "addition":
        row["gate"] = [r.get("gate") for r in rg]
        row["eig_nearest_1"] = [r.get("dominant_region_eig_nearest_1") for r in rg]
    return row
