"""Seconds spent per sweep, summed over its finished runs (result.json: a model's train_seconds_this_session, an
analysis's seconds; one thread each, so the sum is also the core-seconds, an upper bound when the machine was shared).
A run resumed after an interruption counts only its last session. Usage: python walltime.py DIR [DIR ...]"""
import json
import sys
from pathlib import Path

for top in sys.argv[1:]:
    train = analyses = 0.0
    n_train = n_analyses = 0
    for done in Path(top).rglob("DONE"):
        r = json.loads((done.parent / "result.json").read_text())
        if "train_seconds_this_session" in r:
            train += r["train_seconds_this_session"]
            n_train += 1
        elif "seconds" in r:
            analyses += r["seconds"]
            n_analyses += 1
    print(f"{top}: {n_train} models {train / 3600:.2f} h, {n_analyses} analyses {analyses / 3600:.2f} h, "
          f"total {(train + analyses) / 3600:.2f} core-h")
