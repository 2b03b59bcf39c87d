"""examples/train_in_torch.py: a plain-PyTorch training of the paper's model, at a tiny budget (seconds), imported
with `onionref import`; `onionref eval` must give the script's own greedy-decoding exact match on the same sequences
(onionref's `valid` set, handed to the script as an .npz), overall and per length.

onionref's evaluation is teacher-forced and the script's is greedy: a sequence is exactly right under one iff under
the other (while every prediction is right, the decoder's inputs coincide), so the two accuracies agree up to the
argmax near-ties that two float32 implementations may break differently (on any CPU): at most 2 sequences of the
~5 000, overall and at each length.
Both variants: autoregressive saved as a framework checkpoint (.pt), no-input saved as safetensors.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onionref.tasks.repeat import load_set
from runhelpers import call_main

torch = pytest.importorskip("torch")
SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "train_in_torch.py"


@pytest.mark.parametrize("no_input, out", [(False, "model.pt"), (True, "model.safetensors")])
def test_script_accuracy_equals_onionref_eval(tmp_path, capsys, no_input, out):
    tokens, lengths = load_set("valid")
    np.savez(tmp_path / "valid.npz", tokens=tokens, lengths=lengths)
    args = [sys.executable, str(SCRIPT), "--hidden", "32", "--steps", "300", "--batch", "64", "--lr", "1e-2",
            "--eval-every", "300", "--threads", "1", "--eval-seqs", str(tmp_path / "valid.npz"),
            "--eval-json", str(tmp_path / "script.json"), "--out", str(tmp_path / out)]
    p = subprocess.run(args + (["--no-input"] if no_input else []), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    script = json.loads((tmp_path / "script.json").read_text())
    assert script["n"] == len(lengths)

    flags = ["--no-input"] if no_input else []
    code, _, err = call_main(["import", tmp_path / out, "--out", tmp_path / "run"] + flags, capsys)
    assert code in (0, None), err
    code, text, err = call_main(["eval", tmp_path / "run", "--json"], capsys)
    assert code in (0, None), err
    ours = json.loads(text)["sets"]["valid"]
    print(f"no_input={no_input}: script {script['exact_match']:.4f}, onionref eval {ours['accuracy']:.4f}")
    assert ours["n"] == script["n"]
    assert 0 < script["exact_match"] < 1      # a trained but imperfect model: the comparison means something
    n = ours["n"]
    assert abs(ours["accuracy"] - script["exact_match"]) * n <= 2 + 1e-9
    counts = {int(L): int(c) for L, c in zip(*np.unique(lengths, return_counts=True))}
    assert sorted(map(int, ours["per_length"])) == sorted(map(int, script["per_length"])) == sorted(counts)
    for L, v in ours["per_length"].items():
        assert abs(v - script["per_length"][L]) * counts[int(L)] <= 2 + 1e-9, L
