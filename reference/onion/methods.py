"""The stage-2 methods by the names the CLI, the sweep and the Python API use, and running one on a run directory.

    intervention(mode, ngram=None) -> (name, method)   mode: linear | bigram | onion | onion-noscale
    probe(kind) -> (name, method)                      kind: linear | mlp | onion | gru-ar | gru-noinput
    analyse(run_dir, group, name, method, cfg, ...)    train it on the frozen model; RUN/<group>/<name>/
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .analysis import AnalysisConfig, run
from .frozen import Frozen
from .interventions.linear import LinearIntervention
from .interventions.onion import OnionIntervention
from .probes.gru_decoder import GruDecoderProbe
from .probes.onion import OnionProbe
from .probes.state_decoder import StateDecoderProbe
from .train import load_run

MODES = ("linear", "bigram", "onion", "onion-noscale")
KINDS = ("linear", "mlp", "onion", "gru-ar", "gru-noinput")


def intervention(mode: str, ngram: int | None = None):
    """(directory name, method) of an intervention; `ngram` (default 2) only with mode bigram."""
    if mode not in MODES:
        raise UserError(f"unknown intervention {mode!r}; known: {', '.join(MODES)}")
    if ngram is not None and mode != "bigram":
        raise UserError("--ngram only applies to --mode bigram")
    n = 2 if ngram is None else ngram
    if mode == "bigram" and not 2 <= n <= 9:
        raise UserError(f"--ngram must be in 2..9, got {n}")
    methods = {"linear": LinearIntervention(1), "bigram": LinearIntervention(n),
               "onion": OnionIntervention(True), "onion-noscale": OnionIntervention(False)}
    return (f"ngram{n}" if mode == "bigram" and n != 2 else mode), methods[mode]


def probe(kind: str):
    """(directory name, method) of a probe."""
    probes = {"linear": StateDecoderProbe(1), "mlp": StateDecoderProbe(2), "onion": OnionProbe(),
              "gru-ar": GruDecoderProbe(True), "gru-noinput": GruDecoderProbe(False)}
    if kind not in probes:
        raise UserError(f"unknown probe {kind!r}; known: {', '.join(KINDS)}")
    return kind, probes[kind]


def analyse(run_dir: Path, group: str, name: str, method, cfg: AnalysisConfig, backend: str | None = None,
            progress: bool = True, resume: bool = False) -> dict:
    """Train `method` on the frozen model of run_dir into run_dir/<group>/<name>/ (group: intervene | probe);
    returns its result dict. backend None: the run's own."""
    model_cfg, params = load_run(Path(run_dir))
    if getattr(method, "max_len", model_cfg.max_len) != model_cfg.max_len:
        method = type(method)(**{**method.__dict__, "max_len": model_cfg.max_len})
    frozen = Frozen(params, model_cfg.symbols, model_cfg.no_input, backend or model_cfg.backend)
    return run(method, frozen, model_cfg, cfg.validate(), Path(run_dir) / group / name, name, progress=progress,
               resume=resume)
