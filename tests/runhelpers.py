"""Shared helpers of the reliability tests: tiny configurations, the CLI as a subprocess, file checks.

Timing fields (wall-clock seconds) are the only part of a run's output that may differ between two runs of the
same configuration; `strip_timing` removes them before comparing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from onionref import runs

# The console script, without relying on PATH: `onionref ARGS...`.
CLI = [sys.executable, "-c", "import sys; from onionref.cli import main; sys.exit(main(sys.argv[1:]))"]

# A tiny stage-1 run: trains in about a second with the NumPy backend.
TINY_TRAIN = dict(hidden=8, n_train=3000, batch=32, steps=40, eval_every=5, seed=3, backend="numpy")
# A tiny stage-2 analysis on it.
TINY_ANALYSIS = dict(steps=6, batch=16, eval_every=3, seed=5)

TIMING_KEYS = {"elapsed_s", "seconds", "train_seconds_this_session"}
# `.<name>.<random>.tmp`: what runs.atomic_write_bytes leaves behind when killed mid-write.
TMP_NAME = re.compile(r"^\..+\.[^.]+\.tmp$")


def train_args(out: Path, **over) -> list:
    cfg = {**TINY_TRAIN, **over}
    args = ["train", "--out", str(out), "--quiet"]
    for k, v in cfg.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def analysis_args(**over) -> list:
    cfg = {**TINY_ANALYSIS, **over}
    return [a for k, v in cfg.items() for a in (f"--{k.replace('_', '-')}", str(v))] + ["--quiet"]


def run_cli(args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    return subprocess.run(CLI + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env)


def strip_timing(obj):
    """`obj` without its wall-clock fields (elapsed_s, seconds, train_seconds_this_session), recursively."""
    if isinstance(obj, dict):
        return {k: strip_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [strip_timing(v) for v in obj]
    return obj


def arrays_of(path: Path) -> dict:
    return runs.load_arrays(path)[0]


def assert_same_arrays(a: dict, b: dict, what: str = "") -> None:
    assert sorted(a) == sorted(b), f"{what}: tensors differ: {sorted(a)} vs {sorted(b)}"
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, f"{what}: {k} dtype/shape differ"
        assert a[k].tobytes() == b[k].tobytes(), f"{what}: {k} is not bit-identical"


def outputs(run_dir: Path, weights_name: str) -> dict:
    """Everything a finished run (or analysis) reports, minus timing fields: metrics rows, result, weights."""
    run_dir = Path(run_dir)
    return {"metrics": strip_timing(runs.read_jsonl(run_dir / "metrics.jsonl")),
            "result": strip_timing(runs.read_json(run_dir / "result.json")),
            "weights": arrays_of(run_dir / weights_name),
            "checkpoint": arrays_of(run_dir / "checkpoint.safetensors"),
            "done": (run_dir / "DONE").exists(), "failed": (run_dir / "FAILED").exists()}


def assert_same_outputs(a: dict, b: dict, what: str) -> None:
    assert a["metrics"] == b["metrics"], f"{what}: metrics differ (timing fields excluded)"
    # The run directory's own path is part of a training result; every other field must agree.
    ra, rb = ({k: v for k, v in r.items() if k != "run"} for r in (a["result"], b["result"]))
    assert ra == rb, f"{what}: result.json differs (timing fields excluded)"
    assert_same_arrays(a["weights"], b["weights"], f"{what} weights")
    assert_same_arrays(a["checkpoint"], b["checkpoint"], f"{what} checkpoint")
    assert (a["done"], a["failed"]) == (b["done"], b["failed"]), f"{what}: DONE/FAILED markers differ"


def _png_ok(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")


def check_files(root: Path) -> list:
    """Assert that every file under `root` is whole: JSON parses, safetensors load, PNGs end in IEND, markers
    are what they should be. Temp files of a killed writer (`.<name>.<random>.tmp`) are skipped and returned.
    A file that vanishes while we look (a marker removed by a resuming process) is not an error."""
    tmps = []
    for path in sorted(Path(root).rglob("*")):
        if path.is_dir():
            continue
        name = path.name
        try:
            if TMP_NAME.match(name):
                tmps.append(path)
            elif name == ".lock":
                pass
            elif name == "DONE":
                assert path.read_bytes() == b"", f"{path} is not empty"
            elif name in ("config.json", "result.json", "FAILED"):
                runs.read_json(path)
            elif name == "metrics.jsonl":
                raw = path.read_bytes()
                assert raw == b"" or raw.endswith(b"\n"), f"{path} ends mid-line"
                for line in raw.decode().splitlines():
                    assert isinstance(json.loads(line)["step"], int), f"{path}: bad row {line[:80]}"
            elif name.endswith(".safetensors"):
                runs.load_arrays(path)
            elif name.endswith(".png"):
                assert _png_ok(path.read_bytes()), f"{path} is not a whole PNG"
            else:
                raise AssertionError(f"unexpected file {path}")
        except FileNotFoundError:
            continue
    return tmps


def tree_hashes(root: Path) -> dict:
    """sha256 of every file under root (and the set of directories), by relative path."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "<dir>" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def no_plots(monkeypatch) -> None:
    """Skip the PNG figures in in-process runs (slow, and not what these tests are about)."""
    from onionref.onion import analysis, train
    monkeypatch.setattr(train, "plot_run", lambda *a, **k: None)
    monkeypatch.setattr(analysis, "plot_run", lambda *a, **k: None)


def finite(a) -> bool:
    return bool(np.all(np.isfinite(a)))


def call_main(argv, capsys):
    """`onionref ARGV` in this process: (exit code, stdout, stderr). Any exception other than SystemExit escapes,
    which is what a traceback would be."""
    from onionref.cli import main
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *needles) -> str:
    """Exit code 2, exactly one line on stderr, `onionref: error: ...`, no traceback, containing every needle."""
    assert code == 2, f"exit code {code}, stderr {err!r}"
    assert "Traceback" not in out + err, err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("onionref: error: "), lines[0]
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


def tiny_trained_run(tmp_path_factory, name: str, steps: int, eval_every: int) -> Path:
    """A tiny run trained in-process through the CLI (no figures), for tests that need a frozen model."""
    import pytest

    from onionref.cli import main
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    d = tmp_path_factory.mktemp(name) / "run"
    try:
        assert main(train_args(d, steps=steps, eval_every=eval_every)) == 0
    finally:
        mp.undo()
    return d


@contextmanager
def time_limit(seconds: float):
    """Turn a hang (a loader or sampler that never returns) into a TimeoutError, via SIGALRM."""
    def fail(*_):
        raise TimeoutError(f"no answer within {seconds} s (a hang?)")
    old = signal.signal(signal.SIGALRM, fail)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def load_oracle(name: str):
    """The torch oracle script golden/<name>.py as a module. The scripts are not a package and run from their folder
    (one imports a sibling), so golden/ is on sys.path while the script loads."""
    import importlib.util

    golden = str(Path(__file__).resolve().parents[1] / "golden")
    spec = importlib.util.spec_from_file_location(name, Path(golden) / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, golden)
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(golden)
    return mod


def assert_oracle_output_matches(fresh: dict, stored: dict, what: str, rel: float = 1e-10) -> None:
    """The oracle's output today equals a committed fixture up to rounding, never bit for bit.

    The fixture was written on some other processor, where torch and BLAS may pick other kernels (1–4 ulp apart on
    an AVX2 machine for fixtures made on an AVX-512 one). So each float array must agree within `rel` times its own
    largest magnitude (a cancelling gradient entry carries the rounding of the big terms it came from); integer and
    boolean arrays (tokens, lengths, masks) must be equal. 1e-10 is ~10⁶ ulp in float64 and far below any real change.
    """
    assert set(fresh) == set(stored), (what, sorted(set(fresh) ^ set(stored)))
    for k in fresh:
        a, b = np.asarray(fresh[k]), np.asarray(stored[k])
        assert a.shape == b.shape, (what, k, a.shape, b.shape)
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            scale = float(np.max(np.abs(b))) if b.size else 0.0
            err = float(np.max(np.abs(a - b))) if b.size else 0.0
            assert err <= rel * scale, f"{what} {k}: |Δ| {err:.3g} > {rel:g} × max|x| {scale:.3g}"
        else:
            assert np.array_equal(a, b), (what, k)


def hand_stats(values) -> dict:
    """report_table.stats computed by hand (statistics module): {"mean", "std" (sample; 0 for one value), "n"}."""
    import statistics
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def assert_stats_equal(got: dict, want: dict) -> None:
    """Two {"mean", "std", "n"} dicts equal (n exactly, mean and std to 1e-12)."""
    import pytest
    assert got["n"] == want["n"]
    assert got["mean"] == pytest.approx(want["mean"], abs=1e-12)
    assert got["std"] == pytest.approx(want["std"], abs=1e-12)
