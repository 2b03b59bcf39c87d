"""`onionref import SRC --out RUN` end to end, with torch as the oracle.

- a safetensors file with odd names and E != H: the run's weights are the file's tensors, config.json records
  where they came from (path, sha256, our name -> theirs), and onionref's teacher-forced logits equal torch's
  forward of the same model (packed encoder, shared GRU, SOS / NI conventions of spec §1) within float tolerance,
  on both backends; `eval` reports the accuracy import recorded;
- a .pt plain state dict, a nested {"model", "optimizer", "step", "args"} checkpoint, one holding an object of a
  test-only class (imported in a separate interpreter, where that class cannot be found), one whose object would run
  os.system / exec when unpickled: all import, and the payload's marker file is never written;
- the imported E != H run goes through intervene (onion, linear), probe (onion, gru-ar) and report RUN unchanged;
- bad input, table-driven: exit 2, one line on stderr, no traceback, and the directory tree exactly as before
  (no --out created); a few cases also through the console script.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from importhelpers import Args, ExecPayload, Payload, paper_model, save_safetensors, state_numpy
from onionref import runs
from onionref.onion.backends import predict_fn
from onionref.onion.train import load_run
from onionref.tasks.repeat import load_set, make_batch
from runhelpers import assert_one_line_error, call_main, no_plots, run_cli, tree_hashes

torch = pytest.importorskip("torch")
NAMES = ("tok_emb", "encoder_decoder_rnn", "classifier")   # saved under the prefix "net."


def torch_logits(m, names, tokens, lengths, no_input):
    """The paper's teacher-forced forward in torch (spec §1-§2) on a ModuleDict of paper_model: [T, B, 30]."""
    emb, gru, head = (m[n] for n in names)
    b = make_batch(tokens, lengths, 30, no_input)
    x, dec = torch.as_tensor(b.enc_in), torch.as_tensor(b.dec_in)
    packed = torch.nn.utils.rnn.pack_padded_sequence(emb(x), torch.as_tensor(lengths), enforce_sorted=False)
    with torch.no_grad():
        _, h = gru(packed)
        out, _ = gru(emb(dec), h)
        return head(out).numpy()


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    """A safetensors file of the paper's model with odd names, E = 12 != H = 16, imported."""
    d = tmp_path_factory.mktemp("odd")
    m = paper_model(torch, hidden=16, embed=12, names=NAMES, seed=1)
    save_safetensors({"net." + k: v for k, v in m.state_dict().items()}, d / "odd.safetensors")
    mp = pytest.MonkeyPatch()
    no_plots(mp)
    try:
        from onionref.cli import main
        assert main(["import", str(d / "odd.safetensors"), "--out", str(d / "run"), "--json"]) == 0
    finally:
        mp.undo()
    return m, d


def test_safetensors_with_odd_names_and_e_ne_h(odd, capsys):
    m, d = odd
    run = d / "run"
    assert sorted(p.name for p in run.iterdir()) == ["DONE", "config.json", "result.json", "weights.safetensors"]
    conf = runs.read_json(run / "config.json")
    imp = conf["imported_from"]
    assert imp["path"] == str((d / "odd.safetensors").resolve()) and imp["embedding_size"] == 12
    assert imp["sha256"] == __import__("hashlib").sha256((d / "odd.safetensors").read_bytes()).hexdigest()
    assert imp["tensors"]["embedding.weight"] == "net.tok_emb.weight"
    assert imp["tensors"]["gru.weight_hh_l0"] == "net.encoder_decoder_rnn.weight_hh_l0"
    assert imp["tensors"]["head.bias"] == "net.classifier.bias"
    assert conf["config"]["hidden"] == 16 and conf["config"]["steps"] == 0 and conf["config"]["symbols"] == 30
    cfg, params = load_run(run)
    sd = {"net." + k: v for k, v in state_numpy(m.state_dict()).items()}
    for ours, theirs in imp["tensors"].items():
        assert params[ours].dtype == np.float32 and np.array_equal(params[ours], sd[theirs])
    tok, ln = load_set("valid")
    tok, ln = tok[:300], ln[:300]
    want = torch_logits(m, NAMES, tok, ln, False)
    mask = make_batch(tok, ln).mask
    for backend in ("numpy", "numba"):
        got = predict_fn(backend)(params, make_batch(tok, ln))
        np.testing.assert_allclose(got[mask], want[mask], rtol=1e-4, atol=1e-5, err_msg=backend)
    code, out, err = call_main(["eval", run, "--json"], capsys)
    assert code in (0, None), err
    assert json.loads(out)["sets"]["valid"]["accuracy"] == runs.read_json(run / "result.json")["accuracy"]


def test_the_imported_e_ne_h_run_goes_through_the_analyses(odd, tmp_path, capsys, monkeypatch):
    no_plots(monkeypatch)
    run = tmp_path / "run"
    shutil.copytree(odd[1] / "run", run)
    small = ["--steps", "3", "--batch", "16", "--eval-every", "3", "--quiet", "--json"]
    for args in (["intervene", run, "--mode", "onion"], ["intervene", run, "--mode", "linear"],
                 ["probe", run, "--kind", "onion"], ["probe", run, "--kind", "gru-ar", "--backend", "numpy"]):
        code, out, err = call_main(args + small, capsys)
        assert code in (0, None), (args, err)
        res = json.loads(out)
        assert np.isfinite(res.get("iia", res.get("accuracy")))
    code, out, err = call_main(["report", run, "--quiet"], capsys)
    assert code in (0, None), err
    assert (run / "figures" / "gates.png").is_file()


@pytest.mark.parametrize("nested", [False, True])
def test_pt_plain_and_nested_checkpoints(tmp_path, capsys, nested):
    m = paper_model(torch, hidden=8, no_input=True)
    opt = torch.optim.AdamW(m.parameters())
    obj = {"model": m.state_dict(), "optimizer": opt.state_dict(), "step": 12} if nested else m.state_dict()
    torch.save(obj, tmp_path / "m.pt")
    code, out, err = call_main(["import", tmp_path / "m.pt", "--out", tmp_path / "run", "--no-input"], capsys)
    assert code in (0, None), err
    assert "no-input" in out and "H=8, E=8" in out
    cfg, params = load_run(tmp_path / "run")
    assert cfg.no_input and params["embedding.weight"].shape == (32, 8)
    assert np.array_equal(params["gru.bias_hh_l0"], m["rnn"].bias_hh_l0.detach().numpy())


@pytest.mark.parametrize("payload", [None, Payload, ExecPayload])
def test_foreign_objects_import_in_a_fresh_interpreter_and_never_run(tmp_path, payload):
    """The framework's own objects (a class that exists only in this test's helpers) or a payload next to the
    weights: `onionref import` in another interpreter, where the class cannot even be imported, takes the weights."""
    marker = tmp_path / "PWNED"
    m = paper_model(torch, hidden=8)
    extra = Args(lr=1e-3, schedule=[1, 2]) if payload is None else payload(marker)
    torch.save({"model": m.state_dict(), "args": extra, "step": 3}, tmp_path / "ck.pth")
    p = run_cli(["import", tmp_path / "ck.pth", "--out", tmp_path / "run", "--json"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["hidden"] == 8
    assert not marker.exists(), "the payload ran"
    assert np.array_equal(load_run(tmp_path / "run")[1]["head.weight"], m["out"].weight.detach().numpy())


def test_import_needs_no_torch(tmp_path):
    """A .pt checkpoint imports in an interpreter where `import torch` fails: the reader never calls torch."""
    torch.save({"model": paper_model(torch, hidden=8).state_dict(), "step": 1}, tmp_path / "m.pt")
    # torch made uninstallable (a finder that refuses it), as on a machine without it; a None entry in
    # sys.modules instead would break libraries that look torch up there (scipy.stats does)
    code = ("import sys\n"
            "class NoTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch': raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "from onionref.cli import main; code = main(sys.argv[1:])\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'torch']; sys.exit(code)")
    p = subprocess.run([sys.executable, "-c", code, "import", str(tmp_path / "m.pt"), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "run" / "DONE").is_file()


# ------------------------------------------------------------------------------------------------ bad input
def _save(obj, path):
    torch.save(obj, path)


def _sd(**kw):
    return paper_model(torch, **kw).state_dict()


def _with(sd, **changes):
    sd = dict(sd)
    sd.update({k: torch.as_tensor(v) for k, v in changes.items()})
    return sd


def _rezip(src: Path, dst: Path, drop=None, replace=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if drop and info.filename.endswith(drop):
                continue
            data = zin.read(info)
            if replace and info.filename.endswith(replace[0]):
                data = replace[1]
            zout.writestr(info.filename, data)


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    root = tmp_path_factory.mktemp("badimport") / "root"
    root.mkdir()
    good = _sd(hidden=8)
    _save({"model": good, "step": 1}, root / "good.pt")
    save_safetensors(good, root / "good.safetensors")
    save_safetensors(_sd(hidden=8, bias=False), root / "nobias.safetensors")
    _save(_sd(hidden=8, num_layers=2), root / "twolayer.pt")
    _save(_sd(hidden=8, bidirectional=True), root / "bidir.pt")
    _save(_with(good, **{"out.weight": torch.zeros(30, 9)}), root / "head9.pt")
    _save(_with(good, **{"emb.weight": torch.zeros(40, 8)}), root / "v40.pt")
    _save(_sd(hidden=8, no_input=True), root / "v32.pt")
    nan = state_numpy(good)
    nan["rnn.weight_hh_l0"][3, 2] = np.nan
    save_safetensors({k: torch.as_tensor(v) for k, v in nan.items()}, root / "nan.safetensors")
    _save(_with(good, **{"out.bias": torch.full((30,), float("inf"))}), root / "inf.pt")
    raw = (root / "good.pt").read_bytes()
    (root / "trunc.pt").write_bytes(raw[:len(raw) // 2])
    raw = (root / "good.safetensors").read_bytes()
    (root / "trunc.safetensors").write_bytes(raw[:len(raw) // 2])
    (root / "adir").mkdir()
    (root / "empty.pt").write_bytes(b"")
    (root / "garbage.bin").write_bytes(b"this is not a checkpoint at all")
    torch.save(good, root / "legacy.pt", _use_new_zipfile_serialization=False)
    _save({"model": good, "ema": _sd(hidden=8, seed=1)}, root / "two.pt")
    lstm = torch.nn.ModuleDict({"emb": torch.nn.Embedding(31, 8), "rnn": torch.nn.LSTM(8, 8),
                                "out": torch.nn.Linear(8, 30)})
    _save(lstm.state_dict(), root / "lstm.pt")
    with zipfile.ZipFile(root / "plain.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    _rezip(root / "good.pt", root / "nostorage.pt", drop="/data/0")
    _rezip(root / "good.pt", root / "badpickle.pt", replace=("/data.pkl", b"\x80\x02}q\x00(X\x01"))
    (root / "full").mkdir()
    (root / "full" / "keep.txt").write_text("mine")
    (root / "afile").write_text("mine")
    return root


CASES = [  # (id, argv, needle)
    ("missing-tensor", ["nobias.safetensors"], "lacks"),
    ("two-layer", ["twolayer.pt"], "more than one layer"),
    ("bidirectional", ["bidir.pt"], "bidirectional"),
    ("head-hidden-disagrees", ["head9.pt"], "no readout [30, 8]"),
    ("vocab-40", ["v40.pt"], "no embedding [31, 8]"),
    ("vocab-32-without-no-input", ["v32.pt"], "add --no-input"),
    ("no-input-on-vocab-31", ["good.pt", "--no-input"], "drop --no-input"),
    ("nan", ["nan.safetensors"], "NaN or Inf"),
    ("inf", ["inf.pt"], "NaN or Inf"),
    ("truncated-pt", ["trunc.pt"], "truncated"),
    ("truncated-safetensors", ["trunc.safetensors"], "truncated"),
    ("directory", ["adir"], "is a directory"),
    ("missing-file", ["nothere.pt"], "no such file"),
    ("empty-file", ["empty.pt"], "is empty"),
    ("garbage", ["garbage.bin"], "neither a safetensors file nor a PyTorch zip checkpoint"),
    ("legacy-format", ["legacy.pt"], "save_file"),
    ("two-grus", ["two.pt"], "--gru PREFIX"),
    ("lstm", ["lstm.pt"], "LSTM"),
    ("zip-not-torch", ["plain.zip"], "not a PyTorch checkpoint"),
    ("storage-missing", ["nostorage.pt"], "no record"),
    ("damaged-pickle", ["badpickle.pt"], "cannot read its pickled data"),
    ("gru-flag-unknown", ["two.pt", "--gru", "nope"], "--gru nope"),
    ("out-not-empty", ["good.pt", "--out", "{root}/full"], "not empty"),
    ("out-is-a-file", ["good.pt", "--out", "{root}/afile"], "not a directory"),
    ("no-out", ["good.pt", "--out"], "--out"),
]
SUBPROCESS = {"two-layer", "truncated-pt", "legacy-format", "out-not-empty", "nan"}


def _argv(root, args):
    src, rest = args[0], [a.format(root=root) for a in args[1:]]
    return ["import", str(root / src)] + (rest if "--out" in rest else rest + ["--out", str(root / "new")])


def test_enough_cases():
    assert len(CASES) >= 20 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad, capsys, case):
    _, args, needle = case
    before = tree_hashes(bad)
    assert_one_line_error(*call_main(_argv(bad, args), capsys), needle)
    assert tree_hashes(bad) == before and not (bad / "new").exists()


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in SUBPROCESS], ids=sorted(SUBPROCESS, key=[
    c[0] for c in CASES].index))
def test_bad_input_console_script(bad, case):
    _, args, needle = case
    before = tree_hashes(bad)
    p = run_cli(_argv(bad, args))
    assert_one_line_error(p.returncode, p.stdout, p.stderr, needle)
    assert tree_hashes(bad) == before and not (bad / "new").exists()


def test_an_empty_out_directory_is_taken(bad, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = call_main(["import", bad / "good.safetensors", "--out", tmp_path / "empty"], capsys)
    assert code in (0, None), err
    assert (tmp_path / "empty" / "DONE").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]   # no temporary directory left behind


def test_an_imported_run_is_never_trained_over(odd, capsys):
    """steps 0 marks a run trained elsewhere: train neither resumes it (no checkpoint) nor starts over it."""
    run = odd[1] / "run"
    before = tree_hashes(run)
    assert_one_line_error(*call_main(["train", "--resume", "--out", run, "--quiet"], capsys), "nothing to resume")
    assert_one_line_error(*call_main(["train", "--out", run, "--quiet", "--steps", "5"], capsys), "not empty")
    assert_one_line_error(*call_main(["train", "--out", odd[1] / "fresh", "--steps", "0"], capsys), "--steps")
    assert tree_hashes(run) == before and not (odd[1] / "fresh").exists()
