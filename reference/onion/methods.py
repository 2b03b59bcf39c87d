"""The stage-2 methods by the names the CLI and the sweep use: `intervene --mode MODE`, `probe --kind KIND`.

    intervention("onion")  -> OnionIntervention(True)        probe("gru-ar") -> GruDecoderProbe(True)
    fitted(method, model_cfg)  the method with its max_len set to the trained model's (methods that have one)
"""
from __future__ import annotations

from dataclasses import replace

from .interventions.linear import LinearIntervention
from .interventions.onion import OnionIntervention
from .probes.gru_decoder import GruDecoderProbe
from .probes.onion import OnionProbe
from .probes.state_decoder import StateDecoderProbe

INTERVENTIONS = ("linear", "bigram", "onion", "onion-noscale")
PROBES = ("linear", "mlp", "onion", "gru-ar", "gru-noinput")


def intervention(mode: str, ngram: int = 2):
    """linear: unigram subspaces; bigram: n-gram subspaces; onion: per-position scale; onion-noscale: ablation."""
    return {"linear": lambda: LinearIntervention(1), "bigram": lambda: LinearIntervention(ngram),
            "onion": lambda: OnionIntervention(True), "onion-noscale": lambda: OnionIntervention(False)}[mode]()


def probe(kind: str):
    """linear / mlp: all positions from the final state at once; onion: peeling; gru-*: a fresh GRU decoder."""
    return {"linear": lambda: StateDecoderProbe(1), "mlp": lambda: StateDecoderProbe(2), "onion": OnionProbe,
            "gru-ar": lambda: GruDecoderProbe(True), "gru-noinput": lambda: GruDecoderProbe(False)}[kind]()


def fitted(method, model_cfg):
    """The method sized for the trained model: methods with a max_len take the model's."""
    if getattr(method, "max_len", model_cfg.max_len) != model_cfg.max_len:
        return replace(method, max_len=model_cfg.max_len)
    return method
