"""Copy every finished (DONE) run / analysis directory of the sweeps into the repo (docs/beyond/runs/<sweep>/),
so a wiped machine loses nothing that finished: each model's weights and every analysis's config, result and curve;
the learned parameters of the onion-family interventions (a few KB; `onionref transition` and the report read
their scales) with their checkpoints (run_form60k.sh resumes them to 60,000 steps) and of the onion probe (the
report's run figures draw its scales); no locks, PNGs, training checkpoints, or the larger parameters of the linear
/ bigram interventions and the linear / MLP probes. restart_all.sh copies them back.
Usage: python persist.py SWEEP [SWEEP ...]     (names of directories under $RUNS)"""
import json
import os, shutil, sys
from pathlib import Path
SRC = Path(os.environ.get("RUNS", Path.home() / "onionref-runs"))
DST = Path(__file__).resolve().parents[1]           # docs/beyond/runs
n = 0
for sweep in sys.argv[1:]:
    root = SRC / sweep
    if not (root / "sweep.json").exists() and not any(root.glob("*/DONE")):
        continue
    for done in sorted(root.rglob("DONE")):
        d = done.parent
        if sweep == "form60k" and d.parent.name == "intervene" and json.loads((d / "result.json").read_text())["steps"] != 60000:
            continue                   # still at the transition sweep's 10,000 steps: not this sweep's result yet
        onion = d.parent.name == "intervene" and d.name.startswith("onion")
        analysis = d.parent.name in ("intervene", "probe")
        onion_probe = d.parent.name == "probe" and d.name == "onion"
        out = DST / sweep / d.relative_to(root)
        out.mkdir(parents=True, exist_ok=True)
        for f in d.iterdir():
            if not f.is_file() or f.suffix == ".png" or f.name == ".lock":
                continue
            if f.name == "checkpoint.safetensors" and not onion:      # a model's or another analysis's
                continue
            if f.name == "params.safetensors" and analysis and not (onion or onion_probe):
                continue
            tgt = out / f.name
            if not tgt.exists() or tgt.stat().st_size != f.stat().st_size or tgt.stat().st_mtime < f.stat().st_mtime:
                shutil.copy2(f, tgt)
                n += 1
    if (root / "sweep.json").exists():
        (DST / sweep).mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / "sweep.json", DST / sweep / "sweep.json")
print(f"{n} files copied")
