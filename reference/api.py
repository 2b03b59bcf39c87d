"""The Python API for notebooks, mirroring the CLI: train, open a run, evaluate, intervene, probe, sweep, report;
and direct access to the model: encoder states, the gates of every step, the decoder's output for any state.

    from onionref import api
    run = api.train(hidden=48, out="runs/h48-s0")      # or api.open_run("runs/h48-s0")
    run.evaluate()["valid"]["accuracy"]
    run.intervene("onion", steps=10_000)["iia"];  run.probe("onion", steps=10_000)["accuracy"]
    h = run.states("a b 1 c")                           # [B, S] final encoder states (S = H; the LSTM's 2H)
    g = run.gates("a b 1 c")                            # GRU runs: {"encoder"|"decoder": {"h","r","z","n"}}
    run.decode(h)                                       # ["a b 1 c"]: what the decoder says from a state
    run.decode(run.onion_edit("a b 1 c", 2, "7"))       # the state of "a b 7 c" edited back with the onion scale
    api.report("runs/h48-s0")                           # figures into RUN/figures/ (or a sweep's report.md)

Sequences are strings of the alphabet's symbols ("a b 1 c"; spaces optional) or lists of token ids; several at
once as a list. A `Run` is a frozen record (path, config, params); every method calls the library's functions. A run of any cell
(`onionref train --cell`) opens; only `gates` is the GRU's alone.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from . import runs
from .errors import UserError
from .onion import inspect, methods
from .onion.analysis import AnalysisConfig
from .cells.choice import CELLS
from .onion.train import TrainConfig, evaluate_run, load_run, require_task
from .tasks.repeat import ALPHABET, decode_tokens


@dataclass(frozen=True)
class Run:
    path: Path
    config: TrainConfig
    params: dict            # the model's parameters (float32, torch names)

    @property
    def result(self) -> dict | None:
        """The run's result.json (None until it has finished)."""
        return runs.read_json(self.path / "result.json") if (self.path / "DONE").is_file() else None

    def evaluate(self, sets=None) -> dict:
        """{set: {"accuracy", "loss", "n", "per_length"}} on the named validation sets (default: all), as
        `onionref eval`."""
        return evaluate_run(self.config, self.params, sets)

    def intervene(self, mode: str, ngram: int | None = None, backend: str | None = None, progress: bool = True,
                  resume: bool = False, state: str = "all", **cfg) -> dict:
        """`onionref intervene RUN --mode MODE [--state h|c]`: train the intervention; cfg = AnalysisConfig fields
        (steps, batch, lr, wd, eval_every, seed). Returns its result.json dict (IIA and the model's own accuracy)."""
        name, n = methods.intervention_name(mode, ngram)
        return methods.analyse(self.path, "intervene", name, methods.intervention(mode, n),
                               _analysis_config(cfg), backend, progress, resume, view=state)

    def probe(self, kind: str, backend: str | None = None, progress: bool = True, resume: bool = False,
              state: str = "all", **cfg) -> dict:
        """`onionref probe RUN --kind KIND [--state h|c]`; as `intervene`."""
        if kind not in methods.PROBES:
            raise UserError(f"unknown probe {kind!r}; known: {', '.join(methods.PROBES)}")
        return methods.analyse(self.path, "probe", kind, methods.probe(kind),
                               _analysis_config(cfg), backend, progress, resume, view=state)

    def analysis_result(self, group: str, name: str) -> dict | None:
        """The result.json of RUN/<group>/<name>/ once it has finished, else None."""
        d = self.path / group / name
        return runs.read_json(d / "result.json") if (d / "DONE").is_file() else None

    def analysis_params(self, group: str, name: str) -> dict:
        """The trained parameters of RUN/<group>/<name>/ (group: intervene | probe)."""
        return runs.load_arrays(self.path / group / name / "params.safetensors")[0]

    @property
    def cell(self):
        """The run's recurrent cell (cells/choice.py): the module cells/gru.py for a GRU run."""
        return self.config.cell_module()

    def tokens(self, seqs):
        """(tokens [B, Lmax], lengths [B]) of sequences given as strings or id lists."""
        return inspect.parse_sequences(seqs, self.config.symbols)

    def states(self, seqs, every_step: bool = False) -> np.ndarray:
        """Final encoder states [B, S] (each at its own length), or with every_step the state after every
        input token [T, B, S]; S = H (the LSTM: 2H, [h; c])."""
        hs = inspect.encoder_states(self.params, *self.tokens(seqs), self.cell)
        return hs if every_step else hs[-1]

    def gates(self, seqs) -> dict:
        """{"encoder": G, "decoder": G}, G = {"h", "r", "z", "n"} each [T, B, H]; the decoder teacher-forced
        (repeat runs: the decoder steps are repeat's)."""
        require_task(self.config, "Run.gates")
        if self.config.cell != "gru":
            raise UserError(f"Run.gates reads a GRU's gates; {self.path} is a {self.config.cell} run")
        return inspect.gates(self.params, *self.tokens(seqs), self.config.no_input)

    def decode(self, h, length: int | None = None, logits: bool = False):
        """What the decoder says from states h [B, S] (or [S]): greedy, `length` tokens (default max_len).
        Returns a list of strings, or (strings, logits [T, B, C]) with logits=True."""
        require_task(self.config, "Run.decode", ("repeat", "reverse"))
        h = np.asarray(h)
        L = self.config.max_len if length is None else length
        toks, lg = inspect.greedy_decode(self.params, h, np.full(h.reshape(-1, h.shape[-1]).shape[0], L),
                                         self.config.no_input, self.cell)
        texts = [decode_tokens(t[t >= 0]) for t in toks]
        return (texts, lg) if logits else texts

    def lookup(self, seqs, positions) -> list:
        """A lookup run's answers: for each sequence, the symbol it outputs when asked for its 0-based position
        (one int for all, or one per sequence). UserError (one line) for a position outside its sequence."""
        from .onion.backends import predict_fn
        from .tasks.lookup import make_batch

        require_task(self.config, "Run.lookup", ("lookup",))
        tok, ln = self.tokens(seqs)
        q = np.broadcast_to(np.asarray(positions), ln.shape) if np.ndim(positions) == 0 else np.asarray(positions)
        b = make_batch(tok, ln, q, self.config.symbols)
        return [ALPHABET[int(i)] for i in predict_fn(self.config.backend, self.config.cell, self.config.nonlinearity,
                                                           self.config.P)(self.params, b)[0].argmax(-1)]

    def onion_edit(self, seq, position: int, new_symbol) -> np.ndarray:
        """The trained onion intervention (RUN/intervene/onion) applied by hand: encode `seq` with the token at
        0-based `position` replaced by `new_symbol`, then add (tanh E[orig] − tanh E[new]) ⊙ scale(position).
        If the model stores an onion, decoding the result gives back `seq`. Returns h' [1, S]."""
        from .onion.interventions.onion import scale_forward

        tok, ln = self.tokens(seq)
        if len(ln) != 1 or not 0 <= position < ln[0]:
            raise UserError(f"onion_edit takes one sequence and a position in 0..{int(ln[-1]) - 1}")
        new = int(self.tokens(new_symbol if isinstance(new_symbol, str) else [[new_symbol]])[0][0, 0])
        p = self.analysis_params("intervene", "onion")
        edited = tok.copy()
        edited[0, position] = new
        h = inspect.final_states(self.params, edited, ln, self.cell)
        sc = scale_forward(p, np.array([position]))[0]
        delta = (np.tanh(p["E"][tok[0, position]]) - np.tanh(p["E"][new])) * sc
        return (h + delta).astype(h.dtype)


def _analysis_config(cfg: dict) -> AnalysisConfig:
    known = {f.name for f in fields(AnalysisConfig)}
    if set(cfg) - known:
        raise UserError(f"unknown analysis settings {sorted(set(cfg) - known)}; known: {sorted(known)}")
    return AnalysisConfig(**cfg).validate()


def open_run(path) -> Run:
    """A trained (or checkpointed) run directory."""
    cfg, params = load_run(Path(path), cells=CELLS, what="the Python API")
    return Run(Path(path), cfg, params)


def train(out, resume: bool = False, progress: bool = True, **cfg) -> Run:
    """`onionref train`: cfg = TrainConfig fields (hidden, steps, batch, lr, wd, ..., no_input, backend)."""
    from .onion.train import train as _train

    known = {f.name for f in fields(TrainConfig)}
    if set(cfg) - known:
        raise UserError(f"unknown training settings {sorted(set(cfg) - known)}; known: {sorted(known)}")
    _train(TrainConfig(**cfg).validate(), Path(out), resume=resume, progress=progress)
    return open_run(out)


def sweep(out, **kw) -> dict:
    """`onionref sweep`: onionref.onion.sweep.run_sweep(out, hidden=, variants=, seeds=, analyses=, train_steps=,
    analysis_steps=, workers=, scheduler=, progress=)."""
    from .onion.sweep import run_sweep

    return run_sweep(Path(out), **kw)


def report(path, sequence: str | None = None, progress: bool = False, out=None) -> dict:
    """`onionref report`: a sweep directory gets report.md, report.json and figures/; a run gets RUN/figures/
    (or both go to `out`)."""
    from .onion.report import kind_of, write_sweep_report

    path = Path(path)
    if kind_of(path) == "sweep":
        return write_sweep_report(path, sequence, progress, out)
    from .onion.run_figures import write_run_report
    return write_run_report(path, sequence, out)
