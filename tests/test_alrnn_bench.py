"""`onionref bench --alrnn` runs and reports every requested backend (no timing is asserted: benchmarks are commands)."""
from __future__ import annotations

import json

import pytest

from onionref.cli import main


def test_bench_alrnn_json(capsys):
    main(["bench", "--alrnn", "--steps", "1", "--backends", "numba,numpy", "--threads", "1", "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res["ms_per_step"]) == {"numba", "numpy"} and all(v > 0 for v in res["ms_per_step"].values())
    assert (res["M"], res["T"], res["batch"]) == (50, 100, 128) and "numpy" in res["speedup_vs_numba"]


def test_bench_alrnn_times_torch_with_and_without_flushing_and_leaves_mxcsr_as_it_was():
    pytest.importorskip("torch")
    from onionref.bench import alrnn as suite
    from onionref.jit import denormals

    before = denormals.mxcsr() & 0xFFC0
    res = suite.run(threads=1, steps=1, warmup=1, backends=("numba", "torch"))
    assert set(res["ms_per_step"]) == {"numba", "torch", "torch-ftz"}
    assert set(res["speedup_vs_numba"]) == {"torch", "torch-ftz"}
    assert denormals.mxcsr() & 0xFFC0 == before
