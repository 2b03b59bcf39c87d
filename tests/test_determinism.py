"""Determinism: the same seed, config and thread count give identical outputs across two runs, for training, every
intervention mode and every probe kind, with the NumPy backend and (when onionref.cells.gru_numba imports) Numba.

Identical means: metrics.jsonl rows and result.json equal except the wall-clock fields (`elapsed_s`, `seconds`,
`train_seconds_this_session`), and weights / analysis parameters / checkpoints bit-identical. Runs are in-process
(`onionref.cli.main`, figures skipped), so both runs of a pair share the thread pools.
"""
from __future__ import annotations

import json
import shutil

import pytest

from runhelpers import analysis_args, assert_same_outputs, call_main, no_plots, outputs, train_args


def _numba_ok() -> bool:
    try:
        import onionref.cells.gru_numba  # noqa: F401
        return True
    except Exception:  # an unavailable fast path only narrows what this test covers
        return False


BACKENDS = ["numpy"] + (["numba"] if _numba_ok() else [])
ANALYSES = [("intervene", "--mode", m) for m in ("linear", "bigram", "onion", "onion-noscale", "onion-free")] + \
           [("probe", "--kind", k) for k in ("linear", "mlp", "onion", "gru-ar", "gru-noinput")]
STAGE2 = dict(steps=4, eval_every=2, batch=16)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Per backend: two runs of the same training (in-process), shared by the tests below."""
    from onionref.cli import main
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    tmp = tmp_path_factory.mktemp("det")
    out = {}
    try:
        for backend in BACKENDS:
            out[backend] = [tmp / f"{backend}-a", tmp / f"{backend}-b"]
            for d in out[backend]:
                assert main(train_args(d, steps=20, eval_every=10, backend=backend)) == 0
    finally:
        mp.undo()
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_is_deterministic(trained, backend):
    a, b = trained[backend]
    assert_same_outputs(outputs(a, "weights.safetensors"), outputs(b, "weights.safetensors"), f"train {backend}")


@pytest.mark.parametrize("cmd, flag, name", ANALYSES, ids=[f"{c}-{n}" for c, _, n in ANALYSES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_analysis_is_deterministic(trained, tmp_path, monkeypatch, capsys, backend, cmd, flag, name):
    no_plots(monkeypatch)
    src = trained[backend][0]
    runs_ = [tmp_path / "a", tmp_path / "b"]
    for r in runs_:
        shutil.copytree(src, r, ignore=shutil.ignore_patterns("intervene", "probe"))
        code, _, err = call_main([cmd, r, flag, name, "--backend", backend] + analysis_args(**STAGE2), capsys)
        assert code == 0, err
    a, b = (outputs(r / cmd / name, "params.safetensors") for r in runs_)
    assert len(a["metrics"]) == 2
    assert_same_outputs(a, b, f"{cmd} {name} ({backend})")


@pytest.mark.parametrize("backend", BACKENDS)
def test_cayley_intervention_is_deterministic(trained, tmp_path, monkeypatch, capsys, backend):
    """--orthogonal-map cayley: its own directory, recorded in config.json, bit-identical twice."""
    no_plots(monkeypatch)
    runs_ = [tmp_path / "a", tmp_path / "b"]
    for r in runs_:
        shutil.copytree(trained[backend][0], r, ignore=shutil.ignore_patterns("intervene", "probe"))
        code, _, err = call_main(["intervene", r, "--mode", "linear", "--orthogonal-map", "cayley", "--backend",
                                  backend] + analysis_args(**STAGE2), capsys)
        assert code == 0, err
    out = runs_[0] / "intervene" / "linear-cayley"
    assert json.loads((out / "config.json").read_text())["method"]["orthogonal_map"] == "cayley"
    assert not (runs_[0] / "intervene" / "linear").exists()
    a, b = (outputs(r / "intervene" / "linear-cayley", "params.safetensors") for r in runs_)
    assert_same_outputs(a, b, f"intervene linear-cayley ({backend})")


def test_backends_covered():
    print(f"determinism backends: {BACKENDS}")
    assert "numpy" in BACKENDS
