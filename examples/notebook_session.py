"""A notebook session with onionref's Python API, as a script: train (or open) a GRU, evaluate it, run the onion
intervention and the peeling probe, look at its states and gates, decode an edited state, draw its figures.

    python examples/notebook_session.py --out runs/h48-s0                 # the paper's H = 48 model (minutes)
    python examples/notebook_session.py --run runs/h48-s0                 # a run trained before
    python examples/notebook_session.py --out /tmp/tiny --tiny            # seconds: what the tests run
"""
from __future__ import annotations

import argparse

import numpy as np

from onionref import api

TINY = dict(hidden=8, steps=40, batch=32, n_train=3000, eval_every=20, backend="numpy")
TINY_ANALYSIS = dict(steps=6, batch=16, eval_every=3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="train a new run here")
    ap.add_argument("--run", help="open this trained run instead of training")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (seconds)")
    ap.add_argument("--analysis-steps", type=int, default=10_000)
    args = ap.parse_args(argv)
    if (args.out is None) == (args.run is None):
        ap.error("give --out (train) or --run (open)")
    analysis = TINY_ANALYSIS if args.tiny else dict(steps=args.analysis_steps)

    run = api.open_run(args.run) if args.run else api.train(args.out, progress=False, **(TINY if args.tiny else {}))
    print(f"H = {run.config.hidden}, valid exact match {run.evaluate(['valid'])['valid']['accuracy']:.4f}")

    for group, name, go in (("intervene", "onion", lambda: run.intervene("onion", progress=False, **analysis)),
                            ("probe", "onion", lambda: run.probe("onion", progress=False, **analysis))):
        res = run.analysis_result(group, name) or go()
        metric = "iia" if group == "intervene" else "accuracy"
        print(f"{group} {name}: {metric} {res[metric]:.4f} (model {res['model_accuracy']:.4f}, {res['steps']} steps)")

    seq = "a b 1 c a d f 2"
    h = run.states(seq)
    print(f"state of {seq!r}: shape {h.shape}, norm {np.linalg.norm(h):.3f}")
    g = run.gates(seq)
    print("mean 1 - z per encoder step:", " ".join(f"{v:.2f}" for v in 1 - g["encoder"]["z"][:, 0].mean(-1)))
    print("decoded from the state:", run.decode(h, 8)[0])
    edited = run.states("a b 7 c a d f 2")
    print("decoded from the state of 'a b 7 c a d f 2':", run.decode(edited, 8)[0])
    print("... after the onion edit 7 -> 1 at position 2:", run.decode(run.onion_edit(seq, 2, "7"), 8)[0])
    figs = api.report(run.path)["figures"]
    print(f"{len(figs)} figures in {run.path / 'figures'}")


if __name__ == "__main__":
    main()
