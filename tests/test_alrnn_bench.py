"""`onionref bench --alrnn` runs and reports every requested backend (no timing is asserted: benchmarks are commands)."""
from __future__ import annotations

import json

from onionref.cli import main


def test_bench_alrnn_json(capsys):
    main(["bench", "--alrnn", "--steps", "1", "--backends", "numba,numpy", "--threads", "1", "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res["ms_per_step"]) == {"numba", "numpy"} and all(v > 0 for v in res["ms_per_step"].values())
    assert (res["M"], res["T"], res["batch"]) == (50, 100, 128) and "numpy" in res["speedup_vs_numba"]
