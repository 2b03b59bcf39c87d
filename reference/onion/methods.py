"""The stage-2 methods by the names the CLI and the sweep use: `intervene --mode MODE`, `probe --kind KIND`.

    intervention("onion")  -> OnionIntervention("onion")     probe("gru-ar") -> GruDecoderProbe(True)
    fitted(method, model_cfg)  the method with its max_len set to the trained model's (methods that have one)
    intervention_name(mode, ngram, orthogonal_map) -> (directory name, n)   checked: "ngram3" for --mode bigram
                                                           --ngram 3, "linear-cayley" for the Cayley rotation
    analyse(run_dir, group, name, method, cfg, ...)        train a method on a run's frozen model (the CLI's and
                                                           the Python API's one way to run an analysis)
    view_name(name, view) -> name, or name-h / name-c      the directory of an analysis of the LSTM's h or c alone
                                                           (`--state`, frozen.py), beside the whole state's
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..cells.choice import CELLS
from ..errors import UserError

from .interventions.linear import LinearIntervention
from .interventions.onion import OnionIntervention
from .probes.gru_decoder import GruDecoderProbe
from .probes.onion import OnionProbe
from .probes.state_decoder import StateDecoderProbe

INTERVENTIONS = ("linear", "bigram", "onion", "onion-noscale", "onion-free", "onion-from-end")
PROBES = ("linear", "mlp", "onion", "gru-ar", "gru-noinput")


def intervention(mode: str, ngram: int = 2, orthogonal_map: str = "matrix_exp"):
    """linear: unigram subspaces; bigram: n-gram subspaces; onion: per-position scale; onion-noscale: ablation;
    onion-free: a free scale vector per position instead of the onion's γ^p·g + p·ℓ + b; onion-from-end: the onion
    with positions counted from the sequence's end (scale(L−1−p)).
    orthogonal_map: the linear interventions' rotation (rotation.py; matrix_exp is the paper's)."""
    return {"linear": lambda: LinearIntervention(1, orthogonal_map=orthogonal_map),
            "bigram": lambda: LinearIntervention(ngram, orthogonal_map=orthogonal_map),
            "onion": lambda: OnionIntervention("onion"), "onion-noscale": lambda: OnionIntervention("noscale"),
            "onion-free": lambda: OnionIntervention("free"),
            "onion-from-end": lambda: OnionIntervention("onion", count="end")}[mode]()


def probe(kind: str):
    """linear / mlp: all positions from the final state at once; onion: peeling; gru-*: a fresh GRU decoder."""
    return {"linear": lambda: StateDecoderProbe(1), "mlp": lambda: StateDecoderProbe(2), "onion": OnionProbe,
            "gru-ar": lambda: GruDecoderProbe(True), "gru-noinput": lambda: GruDecoderProbe(False)}[kind]()


def fitted(method, model_cfg):
    """The method sized for the trained model: methods with a max_len take the model's."""
    if getattr(method, "max_len", model_cfg.max_len) != model_cfg.max_len:
        return replace(method, max_len=model_cfg.max_len)
    return method


def intervention_name(mode: str, ngram: int | None = None, orthogonal_map: str = "matrix_exp") -> tuple[str, int]:
    """(directory name, n) of an intervention: the mode itself, or ngram<n> for a bigram mode with n != 2; with
    a "-cayley" suffix for the Cayley rotation (so it never mixes with the paper's matrix_exp run)."""
    if mode not in INTERVENTIONS:
        raise UserError(f"unknown intervention {mode!r}; known: {', '.join(INTERVENTIONS)}")
    if ngram is not None and mode != "bigram":
        raise UserError("--ngram only applies to --mode bigram")
    if orthogonal_map != "matrix_exp" and mode not in ("linear", "bigram"):
        raise UserError("--orthogonal-map only applies to --mode linear and --mode bigram")
    n = 2 if ngram is None else ngram
    if mode == "bigram" and not 2 <= n <= 9:
        raise UserError(f"--ngram must be in 2..9, got {n}")
    name = f"ngram{n}" if mode == "bigram" and n != 2 else mode
    return (name if orthogonal_map == "matrix_exp" else f"{name}-{orthogonal_map}"), n


def view_name(name: str, view: str = "all") -> str:
    """The directory name of an analysis that sees `view` of the state: name itself for all, name-h / name-c."""
    return name if view == "all" else f"{name}-{view}"


def analyse(run_dir: Path, group: str, name: str, method, cfg, backend: str | None = None, progress: bool = True,
            resume: bool = False, model: tuple | None = None, view: str = "all") -> dict:
    """Train `method` on the frozen model of run_dir into run_dir/<group>/<view_name(name, view)>/ (group:
    intervene | probe) and return its result dict. backend None: the run's own; model: its (config, params) if
    already loaded; view: the part of the state the method sees and edits (frozen.py; UserError for h or c on a run
    that is not an LSTM)."""
    from .analysis import run
    from .frozen import Frozen
    from .train import load_run

    model_cfg, params = load_run(Path(run_dir), cells=CELLS) if model is None else model
    frozen = Frozen.of_run(model_cfg, params, backend, view)
    name = view_name(name, view)
    return run(fitted(method, model_cfg), frozen, model_cfg, cfg.validate(), Path(run_dir) / group / name, name,
               progress=progress, resume=resume)
