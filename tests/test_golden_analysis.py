"""Every intervention and probe against the PyTorch oracle's fixtures (golden/make_golden_analysis.py), float64."""
from pathlib import Path

import numpy as np
import pytest

from onionref.onion.frozen import Frozen
from onionref.onion.interventions.linear import LinearIntervention
from onionref.onion.interventions.onion import OnionIntervention
from onionref.onion.probes.gru_decoder import GruDecoderProbe
from onionref.onion.probes.onion import OnionProbe
from onionref.onion.probes.state_decoder import StateDecoderProbe

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
L = 4
CASES = {
    "analysis_unigram": lambda f: LinearIntervention(1, max_len=L),
    "analysis_bigram": lambda f: LinearIntervention(2, max_len=L),
    "analysis_unigram_cayley": lambda f: LinearIntervention(1, max_len=L, orthogonal_map="cayley"),
    "analysis_unigram_squarings": lambda f: LinearIntervention(1, max_len=L),   # ‖A‖₁ ≈ 12: expm squares twice
    "analysis_onion": lambda f: OnionIntervention("onion"),
    "analysis_onion_noscale": lambda f: OnionIntervention("noscale"),
    "analysis_onion_free": lambda f: OnionIntervention("free", max_len=L),
    "analysis_onion_from_end": lambda f: OnionIntervention("onion", count="end"),
    "analysis_probe_linear": lambda f: StateDecoderProbe(1, max_len=L),
    "analysis_probe_mlp": lambda f: StateDecoderProbe(2, max_len=L),
    "analysis_probe_onion": lambda f: OnionProbe(),
    "analysis_probe_gru_ar": lambda f: GruDecoderProbe(True),
    "analysis_probe_gru_noinput": lambda f: GruDecoderProbe(False),
}


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("name", sorted(CASES))
def test_method_matches_torch_oracle(name):
    f = dict(np.load(GOLDEN / f"{name}.npz", allow_pickle=False))
    method = CASES[name](f)
    model = {k[6:]: v for k, v in f.items() if k.startswith("model.")}
    C = model["head.weight"].shape[0]
    frozen = Frozen(model, C, False, "numpy")
    params = {k[6:]: v.copy() for k, v in f.items() if k.startswith("param.")}
    buffers = {k[7:]: v for k, v in f.items() if k.startswith("buffer.")}
    rng = np.random.default_rng(int(f["seed"])) if "seed" in f else np.random.default_rng(0)
    loss, _, cache = method.forward(params, buffers, frozen, f["tokens"], f["lengths"], rng, train=True)
    grads = method.backward(cache)
    assert abs(loss - float(f["loss"])) <= 1e-9 * abs(float(f["loss"]))
    assert set(grads) == {k[5:] for k in f if k.startswith("grad.")}
    for k, g in grads.items():
        assert rel(g, f["grad." + k]) <= 1e-9, k
