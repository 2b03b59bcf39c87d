"""Fuzzing the loaders, in-process: arbitrary bytes, truncations and bit flips of a real run's weights.safetensors,
checkpoint.safetensors, config.json and metrics.jsonl. Each loader must either load correctly (and what it returns
must be well-formed) or raise UserError; any other exception, or taking longer than a few seconds, fails.

Loaders: runs.load_arrays, runs.read_config + TrainConfig.from_dict, runs.read_jsonl, train.load_weights and
cli.eval_cmd.load_run. Besides the hypothesis-generated examples, every truncation of the safetensors header region
and every single-bit flip of config.json and of the safetensors header are tried exhaustively. The number of
examples run is counted and printed.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from onionref import runs
from onionref.cli.eval_cmd import load_run
from onionref.errors import UserError
from onionref.onion.train import TrainConfig, load_weights
from runhelpers import time_limit, no_plots, train_args

COUNT = {}
TIME_LIMIT_S = 10
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A real tiny run (source files) and a scratch run directory the fuzzed bytes are written into."""
    from onionref.cli import main
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    base = tmp_path_factory.mktemp("fuzz")
    try:
        assert main(train_args(base / "run", steps=10, eval_every=5)) == 0
    finally:
        mp.undo()
    files = {n: (base / "run" / n).read_bytes()
             for n in ("weights.safetensors", "checkpoint.safetensors", "config.json", "metrics.jsonl")}
    # Thousands of small writes: in memory (/dev/shm) when there is one, else next to the run.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    tmp = Path(tempfile.mkdtemp(prefix="onionref-fuzz-", dir=shm or base))
    scratch = tmp / "scratch"
    shutil.copytree(base / "run", scratch)
    yield {"files": files, "dir": scratch, "cfg": TrainConfig.from_dict(runs.read_config(base / "run"))}
    shutil.rmtree(tmp, ignore_errors=True)


def _count(name):
    COUNT[name] = COUNT.get(name, 0) + 1


def _header_len(raw: bytes) -> int:
    return 8 + int.from_bytes(raw[:8], "little")


# ------------------------------------------------------------------------------------------- checked loaders
def check_load_arrays(path: Path):
    try:
        with time_limit(TIME_LIMIT_S):
            arrays, meta = runs.load_arrays(path)
    except UserError:
        return "error"
    assert isinstance(arrays, dict) and isinstance(meta, dict)
    for k, v in arrays.items():
        assert isinstance(k, str) and isinstance(v, np.ndarray)
        if v.dtype.kind == "f":
            assert np.all(np.isfinite(v))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    return "ok"


def check_config(run_dir: Path):
    try:
        with time_limit(TIME_LIMIT_S):
            cfg = TrainConfig.from_dict(runs.read_config(run_dir))
    except UserError:
        return "error"
    assert isinstance(cfg, TrainConfig)
    assert cfg.validate() is cfg
    return "ok"


def check_jsonl(path: Path):
    try:
        with time_limit(TIME_LIMIT_S):
            rows = runs.read_jsonl(path)
    except UserError:
        return "error"
    assert isinstance(rows, list)
    assert all(isinstance(r, dict) and type(r["step"]) is int for r in rows)
    return "ok"


def check_load_weights(run_dir: Path, cfg: TrainConfig):
    try:
        with time_limit(TIME_LIMIT_S):
            params = load_weights(run_dir, cfg)
    except UserError:
        return "error"
    assert params["embedding.weight"].shape[1] == cfg.hidden
    assert all(v.dtype == np.float32 and np.all(np.isfinite(v)) for v in params.values())
    return "ok"


def check_load_run(run_dir: Path):
    try:
        with time_limit(TIME_LIMIT_S):
            cfg, params = load_run(run_dir)
    except UserError:
        return "error"
    assert isinstance(cfg, TrainConfig)
    assert params["embedding.weight"].shape[1] == cfg.hidden
    assert all(v.dtype == np.float32 for v in params.values())
    return "ok"


def _put(real, name, data: bytes) -> Path:
    """Write `data` as the scratch run's `name`, every other file holding its real content."""
    d, dirty = real["dir"], real.setdefault("dirty", set())
    for n in dirty - {name}:
        (d / n).write_bytes(real["files"][n])
    dirty.clear()
    dirty.add(name)
    (d / name).write_bytes(data)
    return d


def _flip(raw: bytes, bit: int) -> bytes:
    b = bytearray(raw)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# ------------------------------------------------------------------------------------------ hypothesis tests
@st.composite
def damaged(draw, name):
    """Bytes derived from a real file: a truncation, a few bit flips (biased to the header), a spliced chunk,
    or arbitrary bytes."""
    def build(raw):
        kind = draw(st.sampled_from(["truncate", "flip", "splice", "random", "header"]))
        if kind == "truncate":
            return raw[:draw(st.integers(0, len(raw)))]
        if kind == "flip":
            hi = _header_len(raw) if name.endswith(".safetensors") and draw(st.booleans()) else len(raw)
            out = raw
            for bit in draw(st.lists(st.integers(0, 8 * min(hi, len(raw)) - 1), min_size=1, max_size=8)):
                out = _flip(out, bit)
            return out
        if kind == "splice":
            i = draw(st.integers(0, len(raw)))
            j = draw(st.integers(i, len(raw)))
            return raw[:i] + draw(st.binary(max_size=64)) + raw[j:]
        if kind == "header" and name.endswith(".safetensors"):
            return draw(st.integers(0, 2 ** 64 - 1)).to_bytes(8, "little") + raw[8:]
        return draw(st.binary(max_size=512))
    return build


def _run_fuzz(label, inner, at_least=100):
    """Run a hypothesis test and require that it really ran `at_least` examples (counted by the test body)."""
    before = COUNT.get(label, 0)
    inner()
    ran = COUNT.get(label, 0) - before
    print(f"{label}: {ran} examples")
    assert ran >= at_least, f"only {ran} examples ran"


def test_fuzz_load_arrays(real):
    @FUZZ
    @given(data=st.data(), name=st.sampled_from(["weights.safetensors", "checkpoint.safetensors"]))
    def inner(data, name):
        raw = data.draw(damaged(name))(real["files"][name])
        check_load_arrays(_put(real, name, raw) / name)
        _count("load_arrays")
    _run_fuzz("load_arrays", inner)


def test_fuzz_config(real):
    @FUZZ
    @given(data=st.data())
    @example(data=None)
    def inner(data):
        if data is None:  # an integer of more digits than Python converts
            raw = real["files"]["config.json"].replace(b'"seed": 3', b'"seed": ' + b"9" * 5000)
            assert raw != real["files"]["config.json"]
        else:
            raw = data.draw(damaged("config.json"))(real["files"]["config.json"])
        d = _put(real, "config.json", raw)
        check_config(d)
        check_load_run(d)
        _count("read_config+from_dict+load_run")
    _run_fuzz("read_config+from_dict+load_run", inner)


VALUES = st.one_of(st.integers(-2, 70), st.integers(-10 ** 30, 10 ** 400), st.floats(allow_nan=True),
                   st.booleans(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2))
KEYS = ["hidden", "steps", "batch", "lr", "wd", "symbols", "min_len", "max_len", "eval_every", "seed", "no_input",
        "n_train", "backend", "extra"]


def test_fuzz_config_values(real):
    """Well-formed JSON, arbitrary values: types, ranges, huge integers, NaN, missing and unknown keys."""
    @FUZZ
    @given(cfg=st.fixed_dictionaries({}, optional={k: VALUES for k in KEYS}))
    def inner(cfg):
        raw = json.dumps({"format": runs.RUN_FORMAT, "config": cfg}).encode()
        d = _put(real, "config.json", raw)
        check_config(d)
        check_load_run(d)
        _count("from_dict(values)+load_run")
    _run_fuzz("from_dict(values)+load_run", inner)


LINES = st.lists(st.one_of(
    st.just('{"step": 5}'), st.just("[" * 3000), st.just('{"step": ' + "1" * 5000 + "}"), st.just('{"step": 1.5}'),
    st.just('{"step": true}'), st.just('{"step": null}'), st.just("NaN"), st.text(max_size=40)), max_size=6)


def test_fuzz_read_jsonl(real):
    @FUZZ
    @given(data=st.data(), lines=LINES)
    def inner(data, lines):
        raw = data.draw(damaged("metrics.jsonl"))(real["files"]["metrics.jsonl"])
        if lines and data.draw(st.booleans()):
            raw = "\n".join(lines).encode("utf-8", "replace")
        check_jsonl(_put(real, "metrics.jsonl", raw) / "metrics.jsonl")
        _count("read_jsonl")
    _run_fuzz("read_jsonl", inner)


def test_fuzz_load_weights(real):
    @FUZZ
    @given(data=st.data())
    def inner(data):
        raw = data.draw(damaged("weights.safetensors"))(real["files"]["weights.safetensors"])
        d = _put(real, "weights.safetensors", raw)
        check_load_weights(d, real["cfg"])
        check_load_run(d)
        _count("load_weights+load_run")
    _run_fuzz("load_weights+load_run", inner)


# ----------------------------------------------------------------------------------------- exhaustive sweeps
def test_every_truncation_of_the_safetensors_header_region(real):
    raw = real["files"]["weights.safetensors"]
    stop = min(len(raw), _header_len(raw) + 64)
    outcomes = {check_load_arrays(_put(real, "weights.safetensors", raw[:n]) / "weights.safetensors")
                for n in range(stop)}
    COUNT["truncations"] = stop
    print(f"truncations: {stop}")
    assert outcomes == {"error"}  # every one of them is missing data


def test_every_bit_flip_of_the_safetensors_header(real):
    raw = real["files"]["weights.safetensors"]
    n = 8 * _header_len(raw)
    results = [check_load_weights(_put(real, "weights.safetensors", _flip(raw, bit)), real["cfg"])
               for bit in range(n)]
    COUNT["header bit flips"] = n
    print(f"header bit flips: {n}, loaded: {results.count('ok')}")
    assert "error" in results


def test_every_bit_flip_of_config_json(real):
    raw = real["files"]["config.json"]
    n = 8 * len(raw)
    results = [check_config(_put(real, "config.json", _flip(raw, bit))) for bit in range(n)]
    COUNT["config bit flips"] = n
    print(f"config bit flips: {n}, loaded: {results.count('ok')}")
    assert "error" in results and "ok" in results
