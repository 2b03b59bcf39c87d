"""Bad input across the CLI, table-driven: out-of-range and malformed values, incompatible flags, missing, empty,
truncated, corrupt and mismatched files, and run directories locked by another process.

Every case must give exit code 2, exactly one line on stderr (`onionref: error: ...`), no traceback, and leave the
directory tree exactly as it was (sha256 of every file, and the set of files and directories, before and after;
the one exception is the empty `.lock` file a command creates when it takes a directory's lock).
Cases run in-process through `onionref.cli.main` (fast); a few also run through a real subprocess.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from onionref import runs
from runhelpers import (analysis_args, assert_one_line_error, call_main, no_plots, run_cli, train_args,
                        tree_hashes)



def tr(*extra, out="{new}", **over):
    """`train` on a tiny config into `out`, with flags overridden (str values, as typed) and extra arguments."""
    flags = {"hidden": "8", "n-train": "3000", "batch": "32", "steps": "5", **{k.replace("_", "-"): v
                                                                                 for k, v in over.items()}}
    return ["train"] + [a for k, v in flags.items() for a in (f"--{k}", v)] + ["--quiet", "--out", out] + list(extra)


class _Seq(list):
    """Mutations applied in order; a "lock:DIR" entry holds the flock on DIR/.lock for the command's duration."""


def _seq(*ms):
    return _Seq(ms)


# ------------------------------------------------------------------------------------------------ mutations
def _cfg(fn):
    """Edit RUN/config.json as a JSON object."""
    def mutate(root):
        p = root / "run" / "config.json"
        obj = json.loads(p.read_text())
        fn(obj)
        p.write_text(json.dumps(obj))
    return mutate


def _set(key, value):
    return _cfg(lambda o: o["config"].__setitem__(key, value))


def _write(rel, data: bytes):
    def mutate(root):
        p = root / rel
        if p.is_dir():
            shutil.rmtree(p)
        p.write_bytes(data)
    return mutate


def _truncate(rel, frac=0.5):
    def mutate(root):
        p = root / rel
        raw = p.read_bytes()
        p.write_bytes(raw[:int(len(raw) * frac)])
    return mutate


def _remove(rel):
    return lambda root: (root / rel).unlink()


def _make_dir(rel):
    def mutate(root):
        (root / rel).unlink()
        (root / rel).mkdir()
        (root / rel / "x").write_text("x")
    return mutate


def _copy(src_rel, dst_rel):
    def mutate(root):
        (root / dst_rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / src_rel, root / dst_rel)
    return mutate


def _arrays(rel, fn, meta_fn=None):
    """Rewrite a safetensors file through fn(arrays) (and meta_fn(metadata))."""
    def mutate(root):
        arrays, meta = runs.load_arrays(root / rel)
        arrays = fn(dict(arrays))
        meta = meta_fn(dict(meta)) if meta_fn else meta
        runs.save_arrays(root / rel, arrays, meta)
    return mutate


def _nan_in(arrays):
    k = sorted(arrays)[0]
    arrays[k] = arrays[k].copy()
    arrays[k].reshape(-1)[0] = np.nan
    return arrays


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/onionref_bad_input_pwned",))


W, CK, M = "run/weights.safetensors", "run/checkpoint.safetensors", "run/metrics.jsonl"
ON = "run/intervene/onion"
RESUME = ["train", "--resume", "--quiet", "--out", "{run}"]
EVAL = ["eval", "{run}"]

# (id, argv, mutation or None, text the error line must contain)
CASES = [
    # ---- values and flags of `train`
    ("hidden-zero", tr(hidden="0"), None, "--hidden"),
    ("hidden-negative", tr(hidden="-3"), None, "--hidden"),
    ("hidden-huge", tr(hidden="100000000000"), None, "--hidden"),
    ("hidden-malformed", tr(hidden="abc"), None, "--hidden"),
    ("hidden-float", tr(hidden="8.5"), None, "--hidden"),
    ("steps-zero", tr(steps="0"), None, "--steps"),
    ("batch-one", tr(batch="1"), None, "--batch"),
    ("lr-zero", tr(lr="0"), None, "--lr"),
    ("lr-nan", tr(lr="nan"), None, "--lr"),
    ("lr-inf", tr(lr="inf"), None, "--lr"),
    ("lr-malformed", tr(lr="1e-3x"), None, "--lr"),
    ("wd-negative", tr(wd="-0.1"), None, "--wd"),
    ("lr-times-wd", tr(lr="0.5", wd="2"), None, "--wd"),
    ("symbols-one", tr(symbols="1"), None, "--symbols"),
    ("symbols-63", tr(symbols="63"), None, "--symbols"),
    ("symbols-zero", tr(symbols="0"), None, "--symbols"),
    ("symbols-negative", tr(symbols="-4"), None, "--symbols"),
    ("min-above-max", tr(min_len="6", max_len="4"), None, "--min-len"),
    ("max-len-overflow", tr(max_len="25"), None, "--max-len"),      # 30 symbols: keys hold 24 positions
    ("min-len-zero", tr(min_len="0"), None, "--min-len"),
    ("eval-every-zero", tr(eval_every="0"), None, "--eval-every"),
    ("seed-negative", tr(seed="-1"), None, "--seed"),
    ("n-train-below-batch", tr(n_train="10"), None, "training set"),
    ("n-train-impossible", tr(n_train="100000000000000", batch="2"),
     None, "unique sequences"),
    ("backend-unknown", tr(backend="torch"), None, "--backend"),
    ("cell-unknown", tr(cell="transformer"), None, "--cell"),
    ("P-without-alrnn", tr(P="2"), None, "--P"),
    ("P-with-lstm", tr(cell="lstm", P="2"), None, "--P"),
    ("alrnn-without-P", tr(cell="alrnn"), None, "--cell alrnn needs --P"),
    ("alrnn-P-negative", tr(cell="alrnn", P="-1"), None, "--P"),
    ("alrnn-P-above-H", tr(cell="alrnn", P="9"), None, "--P must be in 0..8"),
    ("alrnn-P-malformed", tr(cell="alrnn", P="two"), None, "--P"),
    ("option-unknown", tr("--bogus"), None, "--bogus"),
    ("option-missing-value", tr("--hidden"), None, "--hidden"),
    ("command-unknown", ["frobnicate"], None, "frobnicate"),
    ("out-is-a-file", tr(out="{run}/config.json"), None, "is a file"),
    ("out-holds-a-run", tr(out="{run}"), None, "not empty"),
    ("out-holds-foreign-files", tr(out="{root}/mine"),
     _seq(lambda r: (r / "mine").mkdir(), _write("mine/notes.txt", b"mine")), "not empty"),
    ("out-foreign-config", tr(out="{root}/mine"),
     _seq(lambda r: (r / "mine").mkdir(), _write("mine/config.json", b'{"mine": 1}')), "not empty"),
    ("resume-nothing", ["train", "--resume", "--quiet", "--out", "{new}"], None, "nothing to resume"),
    ("resume-other-hidden-flag", RESUME + ["--hidden", "16"], None, "--hidden 16 differs"),
    ("resume-other-seed-flag", RESUME + ["--seed", "9"], None, "--seed 9 differs"),
    ("resume-steps-below-checkpoint", RESUME + ["--steps", "5"], None, "outside"),
    # ---- values and flags of `eval`, `intervene`, `probe`
    ("eval-no-run", ["eval"], None, "RUN"),
    ("eval-extra-arg", EVAL + ["extra"], None, "extra"),
    ("eval-missing-run", ["eval", "{new}"], None, "no run directory"),
    ("eval-run-is-a-file", ["eval", "{run}/DONE"], None, "no run directory"),
    ("intervene-no-mode", ["intervene", "{run}"], None, "--mode"),
    ("intervene-bad-mode", ["intervene", "{run}", "--mode", "foo"], None, "--mode"),
    ("ngram-without-bigram", ["intervene", "{run}", "--mode", "linear", "--ngram", "3"], None, "--ngram"),
    ("ngram-out-of-range", ["intervene", "{run}", "--mode", "bigram", "--ngram", "12"], None, "--ngram"),
    ("orthogonal-map-without-linear", ["intervene", "{run}", "--mode", "onion", "--orthogonal-map", "cayley"], None,
     "--orthogonal-map"),
    ("orthogonal-map-unknown", ["intervene", "{run}", "--mode", "linear", "--orthogonal-map", "qr"], None,
     "--orthogonal-map"),
    ("analysis-odd-batch", ["intervene", "{run}", "--mode", "onion", "--batch", "3"], None, "--batch"),
    ("analysis-steps-negative", ["probe", "{run}", "--kind", "linear", "--steps", "-5"], None, "--steps"),
    ("analysis-lr-negative", ["probe", "{run}", "--kind", "linear", "--lr", "-1"], None, "--lr"),
    ("analysis-wd-malformed", ["probe", "{run}", "--kind", "linear", "--wd", "lots"], None, "--wd"),
    ("probe-bad-kind", ["probe", "{run}", "--kind", "nope"], None, "--kind"),
    ("probe-missing-run", ["probe", "{new}", "--kind", "linear"], None, "no run directory"),
    ("analysis-batch-above-set", ["probe", "{run}", "--kind", "onion", "--batch", "4000", "--quiet"], None,
     "larger than the training set"),
    ("analysis-exists", ["intervene", "{run}", "--mode", "onion", "--quiet"], None, "already holds"),
    ("analysis-resume-nothing", ["probe", "{run}", "--kind", "mlp", "--resume", "--quiet"], None,
     "nothing to resume"),
    ("analysis-resume-other-lr", ["intervene", "{run}", "--mode", "onion", "--resume", "--lr", "0.5"], None,
     "--lr 0.5 differs"),
    ("analysis-resume-steps-below", ["intervene", "{run}", "--mode", "onion", "--resume", "--steps", "2"], None,
     "outside"),
    # ---- `capacity`
    ("capacity-no-run", ["capacity", "--out", "{new}"], None, "RUN"),
    ("capacity-missing-run", ["capacity", "{new}", "--out", "{root}/out"], None, "no run directory"),
    ("capacity-not-a-run", ["capacity", "{root}", "--out", "{root}/out"], None, "not a run directory"),
    ("capacity-second-run-missing", ["capacity", "{run}", "{new}", "--out", "{root}/out"], None, "no run directory"),
    ("capacity-threshold-zero", ["capacity", "{run}", "--out", "{root}/out", "--threshold", "0"], None,
     "--threshold"),
    ("capacity-threshold-above-one", ["capacity", "{run}", "--out", "{root}/out", "--threshold", "1.5"], None,
     "--threshold"),
    ("capacity-threshold-nan", ["capacity", "{run}", "--out", "{root}/out", "--threshold", "nan"], None,
     "--threshold"),
    ("capacity-n-zero", ["capacity", "{run}", "--out", "{root}/out", "--n", "0"], None, "--n"),
    ("capacity-mixed-variants", ["capacity", "{run}", "{root}/noin", "--out", "{root}/out"], None,
     "differ in no_input"),
    # ---- config.json
    ("config-missing", EVAL, _remove("run/config.json"), "missing file"),
    ("config-empty", EVAL, _write("run/config.json", b""), "corrupt JSON"),
    ("config-truncated", EVAL, _truncate("run/config.json"), "corrupt JSON"),
    ("config-not-utf8", EVAL, _write("run/config.json", b'{"format": "\xff\xfe"}'), "corrupt JSON"),
    ("config-deep", EVAL, _write("run/config.json", b"[" * 100_000), "corrupt JSON"),
    ("config-a-list", EVAL, _write("run/config.json", b"[1, 2]"), "expected an object"),
    ("config-a-directory", EVAL, _make_dir("run/config.json"), "not a file"),
    ("config-other-version", EVAL, _cfg(lambda o: o.__setitem__("format", "onionref-run/0")), "another version"),
    ("config-no-format", EVAL, _cfg(lambda o: o.pop("format")), "another version"),
    ("config-bare-config", EVAL, _cfg(lambda o: (o.clear(), o.update(hidden=8))), "another version"),
    ("config-null-config", EVAL, _cfg(lambda o: o.__setitem__("config", None)), "no config object"),
    ("config-unknown-key", EVAL, _set("dropout", 0.1), "unknown keys: dropout"),
    ("config-hidden-string", EVAL, _set("hidden", "8"), "'hidden'"),
    ("config-hidden-float", EVAL, _set("hidden", 8.0), "'hidden'"),
    ("config-P-string", EVAL, _set("P", "4"), "'P'"),
    ("config-P-on-a-gru", EVAL, _set("P", 4), "--P"),
    ("config-cell-unknown", EVAL, _set("cell", "transformer"), "--cell"),
    ("config-hidden-bool", EVAL, _set("hidden", True), "'hidden'"),
    ("config-no-input-int", EVAL, _set("no_input", 0), "'no_input'"),
    ("config-lr-string", EVAL, _set("lr", "0.001"), "'lr'"),
    ("config-hidden-negative", EVAL, _set("hidden", -1), "--hidden"),
    ("config-hidden-huge", EVAL, _set("hidden", 10 ** 12), "--hidden"),
    ("config-hidden-other", EVAL, _set("hidden", 16), "does not match"),
    ("config-backend-unknown", EVAL, _set("backend", "cuda"), "--backend"),
    ("config-symbols-zero", EVAL, _set("symbols", 0), "--symbols"),
    ("config-lr-huge-int", EVAL, _set("lr", 10 ** 400), "too large"),
    ("config-int-of-5000-digits", EVAL,
     lambda r: (r / "run/config.json").write_text((r / "run/config.json").read_text().replace(
         '"seed": 3', '"seed": ' + "7" * 5000)), "corrupt JSON"),
    # ---- weights.safetensors
    ("weights-missing", EVAL, _remove(W), "missing file"),
    ("weights-empty", EVAL, _write(W, b""), "corrupt safetensors"),
    ("weights-truncated", EVAL, _truncate(W), "corrupt safetensors"),
    ("weights-header-only", EVAL, _truncate(W, 0.1), "corrupt safetensors"),
    ("weights-garbage", EVAL, _write(W, bytes(np.random.default_rng(1).integers(0, 256, 4000, np.uint8))),
     "corrupt safetensors"),
    ("weights-huge-header-length", EVAL, _write(W, (2 ** 63).to_bytes(8, "little") + b"{}"), "corrupt"),
    ("weights-a-directory", EVAL, _make_dir(W), "not a file"),
    ("weights-other-hidden", EVAL, _copy("h4/weights.safetensors", W), "does not match"),
    ("weights-no-input-architecture", EVAL, _copy("noin/weights.safetensors", W), "does not match"),
    ("weights-nan", EVAL, _arrays(W, _nan_in), "NaN or Inf"),
    ("weights-missing-tensor", EVAL, _arrays(W, lambda a: {k: v for k, v in a.items() if k != "head.bias"}),
     "missing ['head.bias']"),
    ("weights-extra-tensor", EVAL, _arrays(W, lambda a: {**a, "gru.weight_ih_l1": a["head.bias"]}), "unexpected"),
    ("weights-pickle", EVAL, _write(W, pickle.dumps(_Evil())), "corrupt safetensors"),
    ("weights-npy", EVAL, _write(W, b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
                                   + b" " * 44 + b"\n" + pickle.dumps(_Evil())), "corrupt safetensors"),
    # ---- checkpoint.safetensors and metrics.jsonl, on resume
    ("checkpoint-truncated", RESUME, _truncate(CK), "corrupt safetensors"),
    ("checkpoint-other-hidden", RESUME, _copy("h4/checkpoint.safetensors", CK), "does not match"),
    ("checkpoint-no-step", RESUME, _arrays(CK, lambda a: a, lambda m: {}), "no step"),
    ("checkpoint-step-not-int", RESUME, _arrays(CK, lambda a: a, lambda m: {**m, "step": "ten"}), "no step"),
    ("checkpoint-no-moments", RESUME, _arrays(CK, lambda a: {k: v for k, v in a.items() if k[:2] != "v."}),
     "corrupt checkpoint"),
    ("checkpoint-is-weights", RESUME, _copy(W, CK), "no step"),
    ("metrics-corrupt-line", RESUME, _write(M, b'{"step": 5, "valid": {}}\n{"step": 1'), "corrupt line 2"),
    ("metrics-row-without-valid", RESUME, _write(M, b'{"step": 5}\n'), "corrupt row"),
    ("metrics-row-wrong-types", RESUME,
     _write(M, b'{"step": 5, "valid": {"accuracy": "high", "per_length": {}}, "train_loss": 1.0}\n'), "corrupt row"),
    ("metrics-step-bool", RESUME, _write(M, b'{"step": true}\n'), "integer step"),
    ("metrics-deep", RESUME, _write(M, b"[" * 100_000 + b"\n"), "corrupt line 1"),
    ("metrics-a-directory", RESUME, _make_dir(M), "not a file"),
    # ---- an analysis's own files, on resume
    ("analysis-checkpoint-of-other-method", ["probe", "{run}", "--kind", "onion", "--resume", "--quiet"],
     _seq(_copy(f"{ON}/checkpoint.safetensors", "run/probe/onion/checkpoint.safetensors"),
          _copy(f"{ON}/config.json", "run/probe/onion/config.json")), "does not match this analysis"),
    ("analysis-config-unknown-key", ["intervene", "{run}", "--mode", "onion", "--resume", "--quiet"],
     lambda r: _rewrite_json(r / ON / "config.json", lambda o: o["config"].__setitem__("momentum", 0.9)),
     "bad config key 'momentum'"),
    ("analysis-config-lr-huge-int", ["intervene", "{run}", "--mode", "onion", "--resume", "--quiet"],
     lambda r: _rewrite_json(r / ON / "config.json", lambda o: o["config"].__setitem__("lr", 10 ** 400)),
     "too large"),
    ("analysis-config-other-version", ["intervene", "{run}", "--mode", "onion", "--resume", "--quiet"],
     lambda r: _rewrite_json(r / ON / "config.json", lambda o: o.__setitem__("format", "x")), "another version"),
    ("analysis-metrics-corrupt", ["intervene", "{run}", "--mode", "onion", "--resume", "--quiet"],
     _write(f"{ON}/metrics.jsonl", b'{"step": 3, "valid": 0.5}\n'), "corrupt row"),
    ("analysis-checkpoint-truncated", ["intervene", "{run}", "--mode", "onion", "--resume", "--quiet"],
     _truncate(f"{ON}/checkpoint.safetensors", 0.7), "corrupt safetensors"),
    # ---- run directories locked by another process (the test holds the flock)
    ("locked-train-resume", RESUME, "lock:run", "in use by another process"),
    ("locked-analysis-resume", ["intervene", "{run}", "--mode", "onion", "--resume", "--quiet"], f"lock:{ON}",
     "in use by another process"),
    ("locked-fresh-directory", tr(out="{root}/fresh"),
     _seq(lambda r: (r / "fresh").mkdir(), lambda r: (r / "fresh" / ".lock").touch(), "lock:fresh"),
     "in use by another process"),
]
SUBPROCESS = {"hidden-malformed", "config-deep", "weights-other-hidden", "locked-train-resume",
              "metrics-row-without-valid"}


EMPTY = hashlib.sha256(b"").hexdigest()


def _rewrite_json(path, fn):
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj))


def test_enough_cases():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)
    print(f"bad inputs tried: {len(CASES)} in-process, {len(SUBPROCESS)} of them also as a subprocess")


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """A tiny run with an onion intervention, a hidden-4 run and a no-input run (all in-process)."""
    from onionref.cli import main
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    src = tmp_path_factory.mktemp("bad") / "src"
    try:
        assert main(train_args(src / "run", steps=10, eval_every=5)) == 0
        assert main(["intervene", str(src / "run"), "--mode", "onion"] + analysis_args(steps=6, eval_every=3)) == 0
        assert main(train_args(src / "h4", steps=5, hidden=4)) == 0
        assert main(train_args(src / "noin", steps=5) + ["--no-input"]) == 0
    finally:
        mp.undo()
    return src


def _prepare(material, tmp_path, case):
    _, argv, mutate, _ = case
    root = tmp_path / "case"
    shutil.copytree(material, root)
    fds = []
    steps = mutate if isinstance(mutate, _Seq) else [mutate]
    for m in steps:
        if isinstance(m, str) and m.startswith("lock:"):
            fd = os.open(root / m[5:] / ".lock", os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fds.append(fd)
        elif m is not None:
            m(root)
    fmt = {"root": root, "run": root / "run", "new": root / "new"}
    return root, [a.format(**fmt) if isinstance(a, str) else str(a) for a in argv], fds


def _check(material, tmp_path, case, invoke):
    root, argv, fds = _prepare(material, tmp_path, case)
    before = tree_hashes(root)
    try:
        code, out, err = invoke(argv)
    finally:
        for fd in fds:
            os.close(fd)
    assert_one_line_error(code, out, err, case[3])
    after = tree_hashes(root)
    # Taking the lock of an analysis directory may create its (empty) .lock file; nothing else may appear.
    new_locks = {k for k in set(after) - set(before) if Path(k).name == ".lock" and after[k] == EMPTY}
    assert {k: v for k, v in after.items() if k not in new_locks} == before, \
        "a failing command changed, added or removed files"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_in_process(material, tmp_path, capsys, monkeypatch, case):
    no_plots(monkeypatch)
    _check(material, tmp_path, case, lambda argv: call_main(argv, capsys))


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in SUBPROCESS], ids=sorted(SUBPROCESS, key=[
    c[0] for c in CASES].index))
def test_bad_input_console_script(material, tmp_path, case):
    def invoke(argv):
        p = run_cli(argv)
        return p.returncode, p.stdout, p.stderr
    _check(material, tmp_path, case, invoke)
