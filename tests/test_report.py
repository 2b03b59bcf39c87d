"""`onionref report`: the paper's tables from a sweep directory, the figures, one run's figures, bad input.

The sweep is laid out by hand with the single-run functions (train, methods.analyse, open_sweep), tiny sizes:
h4-ar-s{0,1}, h8-ar-s0 and h4-noinput-s0, with a few analyses each; h8-ar-s1 is trained but not finished (no DONE).
- table(): mean, std (ddof 1) and n over seeds, the model's own accuracy, per-length stats (synthetic results);
- report.md holds every row and the numbers recomputed here from the cells' result.json files, the paper's
  values only beside N = 48/64 autoregressive rows; figures are whole PNGs under 200 KB; --json is one line;
- report RUN draws the run's figures into RUN/figures/; with --out both write elsewhere and leave DIR/RUN unchanged;
- a directory that is neither a sweep nor a run, an empty sweep, another kind of sweep, damaged cell results, a run
  with damaged analysis results or onion parameters: one line, exit 2, nothing written.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from runhelpers import _png_ok, run_cli, tree_hashes
from onionref import runs
from onionref.onion import methods, report, report_table
from onionref.onion import sweep as sweep_mod
from onionref.onion.analysis import AnalysisConfig
from onionref.onion.train import TrainConfig, train
from onionref.sweep.sweepdir import open_sweep

ANALYSES = {"h4-ar-s0": ("onion", "probe-onion", "linear"), "h4-ar-s1": ("onion", "probe-onion"),
            "h8-ar-s0": ("onion",), "h4-noinput-s0": ("onion",)}


def _analyse(cell, name):
    cfg = AnalysisConfig(steps=2, batch=16, eval_every=2, seed=5)
    group, dname = ("probe", name[6:]) if name.startswith("probe-") else ("intervene", name)
    method = methods.probe(dname) if group == "probe" else methods.intervention(dname)
    methods.analyse(cell, group, dname, method, cfg, progress=False)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "sw"
    open_sweep(out, {"kind": "onion", "grid": {"hidden": [4, 8], "variant": ["ar", "noinput"], "seed": [0, 1],
                                               "analysis": ["onion", "linear", "probe-onion"]}},
               {"train_steps": 12, "analysis_steps": 2})
    for name in list(ANALYSES) + ["h8-ar-s1"]:
        H, variant, seed = sweep_mod.CELL_NAME.match(name).groups()
        train(TrainConfig(hidden=int(H), n_train=3000, batch=32, steps=12, eval_every=6, seed=int(seed),
                          backend="numpy", no_input=variant == "noinput"), out / name, progress=False)
        for a in ANALYSES.get(name, ()):
            _analyse(out / name, a)
    (out / "h8-ar-s1" / "DONE").unlink()       # an unfinished cell is left out
    return out


def test_table_statistics():
    def res(v, m, per):
        return {"iia": v, "model_accuracy": m, "per_length": per, "accuracy": m}
    cells = {"h48-ar-s0": {"hidden": 48, "variant": "ar", "seed": 0, "train": {"accuracy": 0.9},
                           "onion": res(0.2, 0.9, {"2": 0.1, "3": 0.3})},
             "h48-ar-s1": {"hidden": 48, "variant": "ar", "seed": 1, "train": {"accuracy": 0.7},
                           "onion": res(0.4, 0.8, {"2": 0.5})},
             "h48-noinput-s3": {"hidden": 48, "variant": "noinput", "seed": 3, "train": {"accuracy": 0.5}}}
    rows = report_table.table(cells)
    assert [(r["hidden"], r["variant"], r["seeds"]) for r in rows] == [(48, "ar", [0, 1]), (48, "noinput", [3])]
    ar = rows[0]
    assert ar["accuracy"]["mean"] == pytest.approx(0.8) and ar["accuracy"]["std"] == pytest.approx(np.sqrt(0.02))
    assert ar["onion"]["mean"] == pytest.approx(0.3) and ar["onion"]["n"] == 2
    assert ar["onion"]["std"] == pytest.approx(0.1 * np.sqrt(2))
    assert ar["onion"]["model_accuracy"] == pytest.approx(0.85)
    assert ar["onion"]["per_length"][2]["mean"] == pytest.approx(0.3) and ar["onion"]["per_length"][3]["n"] == 1
    assert "onion" not in rows[1] and rows[1]["accuracy"] == {"mean": 0.5, "std": 0.0, "n": 1}
    md = "\n".join(report._md_table(rows, report.INTERVENTIONS, with_model=True))
    assert "| 48 | Autoregressive | – | – | 0.300 ± 0.141 (n=2); model 0.850 | – |" in md
    assert "| 48 | *paper* | *0.00–0.01* | *0.00–0.01* | *≈0.83–0.89* |  |" in md
    assert md.count("*paper*") == 1                   # beside the autoregressive row only
    assert ar["onion"]["still_rising"] == 0 and "↑" not in md


def test_cells_still_rising_are_counted_and_marked():
    def res(v, rising):
        return {"iia": v, "model_accuracy": 0.9, "per_length": {"9": v}, "steps": 20_000, "still_rising": rising}
    cells = {f"h256-ar-s{s}": {"hidden": 256, "variant": "ar", "seed": s, "train": {"accuracy": 0.99},
                               "bigram": res(0.5 + s / 10, s < 2)} for s in range(3)}
    rows = report_table.table(cells)
    assert rows[0]["bigram"]["still_rising"] == 2 and rows[0]["bigram"]["steps"] == [20_000]
    md = "\n".join(report._md_table(rows, report.INTERVENTIONS, with_model=True))
    assert "0.600 ± 0.100 (n=3) **↑2**; model 0.900" in md
    cells["h256-ar-s2"]["bigram"]["steps"] = 60_000                  # one seed extended past the budget
    md = "\n".join(report._md_table(report_table.table(cells), report.INTERVENTIONS, with_model=True, show_steps=True))
    assert "0.600 ± 0.100 (n=3) **↑2** @20k–60k; model 0.900" in md


def test_read_sweep_applies_the_rule_to_each_analysis_curve(sweep, tmp_path):
    """read_sweep marks an analysis by convergence.still_rising on its own metrics.jsonl."""
    from onionref.onion.convergence import still_rising
    data = report_table.read_sweep(sweep)
    for name, cell in data["cells"].items():
        for q in ANALYSES.get(name, ()):
            group, dname = ("probe", q[6:]) if q.startswith("probe-") else ("intervene", q)
            metric = "accuracy" if group == "probe" else "iia"
            rows = runs.read_jsonl(sweep / name / group / dname / "metrics.jsonl")
            assert cell[q]["still_rising"] == still_rising(rows, metric)


def test_report_of_a_sweep(sweep):
    before = tree_hashes(sweep)
    r = run_cli(["report", sweep, "--json", "--quiet"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["cells"] == 4
    md = (sweep / "report.md").read_text()
    assert "## GRU accuracy (exact match, valid, L 2–9)" in md       # a GRU-only sweep (a --cells one: "Model")
    for name, analyses in ANALYSES.items():
        H, variant, _ = sweep_mod.CELL_NAME.match(name).groups()
        label = report_table.VARIANTS[variant]
        assert f"| {H} | {label} |" in md
    # h4 autoregressive onion IIA: recompute from the cells' own result.json files
    vals = [runs.read_json(sweep / f"h4-ar-s{s}" / "intervene/onion/result.json") for s in (0, 1)]
    iia = [v["iia"] for v in vals]
    want = f"{np.mean(iia):.3f} ± {np.std(iia, ddof=1):.3f} (n=2); model {np.mean([v['model_accuracy'] for v in vals]):.3f}"
    assert want in md
    acc = runs.read_json(sweep / "h8-ar-s0" / "result.json")["accuracy"]
    assert f"| 8 | Autoregressive | {acc:.3f} (n=1) |" in md        # h8-ar-s1 has no DONE: n = 1
    assert "| *paper* |" not in md                                  # no N = 48 / 64 rows here
    pngs = sorted((sweep / "figures").rglob("*.png"))
    assert {p.name for p in pngs} >= {"iia_vs_hidden.png", "probe_vs_hidden.png", "onion_iia_per_length.png",
                                      "gates.png", "pair_difference.png", "state_differences.png", "onion_scale.png"}
    for p in pngs:
        data = p.read_bytes()
        assert _png_ok(data) and len(data) < 200_000, p
        assert f"]({p.relative_to(sweep)})" in md
    after = tree_hashes(sweep)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert all(k.startswith(("figures", "report.")) for k in changed), changed   # the cells are only read


def test_onion_free_column_only_where_it_was_run(sweep, tmp_path):
    """onion-free is not the paper's: its column appears only when some cell has it, with that cell's number."""
    label = report.LABELS["onion-free"]
    r = run_cli(["report", sweep, "--out", tmp_path / "without", "--quiet"])
    assert r.returncode == 0, r.stderr
    assert label not in (tmp_path / "without" / "report.md").read_text()
    with_free = tmp_path / "sw"
    shutil.copytree(sweep, with_free)
    _analyse(with_free / "h4-ar-s0", "onion-free")
    r = run_cli(["report", with_free, "--out", tmp_path / "with", "--quiet"])
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "with" / "report.md").read_text()
    iia = runs.read_json(with_free / "h4-ar-s0" / "intervene/onion-free/result.json")["iia"]
    assert label in md and f"{iia:.3f} (n=1)" in md


def test_report_elsewhere_leaves_the_sweep_untouched(sweep, tmp_path):
    before = tree_hashes(sweep)
    r = run_cli(["report", sweep, "--out", tmp_path / "docs", "--quiet"])
    assert r.returncode == 0, r.stderr
    assert tree_hashes(sweep) == before
    md = (tmp_path / "docs" / "report.md").read_text()
    for link in md.split("](")[1:]:
        assert (tmp_path / "docs" / link.split(")")[0]).is_file()
    r = run_cli(["report", sweep / "h4-ar-s1", "--out", tmp_path / "run-figs"])
    assert r.returncode == 0 and len(list((tmp_path / "run-figs").glob("*.png"))) == 6, r.stderr
    assert tree_hashes(sweep) == before
    (tmp_path / "file").write_text("x")
    r = run_cli(["report", sweep, "--out", tmp_path / "file"])
    assert r.returncode == 2 and "not a directory" in r.stderr and tree_hashes(sweep) == before


def test_report_of_a_run(sweep, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sweep / "h4-ar-s0", run)
    r = run_cli(["report", run, "--input", "a b 1 c", "--json"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    names = {p.split("/")[-1] for p in out["figures"]}
    assert names == {"gates.png", "pair_difference.png", "state_differences.png", "onion_scale.png", "iia_per_length.png",
                     "probe_per_length.png"}
    assert out["input"] == "a b 1 c" and len(out["gates"]["mean_1_minus_z_encoder"]) == 4
    assert len(out["state_differences"]["median_norm_per_position"]) == 9
    assert json.loads((run / "figures" / "figures.json").read_text())["hidden"] == 4


def _refused(path, *needles):
    before = tree_hashes(path) if path.exists() else None
    r = run_cli(["report", path])
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and all(n in r.stderr for n in needles), r.stderr
    assert (tree_hashes(path) if path.exists() else None) == before


def test_bad_input(sweep, tmp_path):
    _refused(tmp_path / "missing", "no directory")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    _refused(tmp_path / "junk", "neither a sweep")
    _refused(sweep / "h4-ar-s0" / "intervene" / "onion", "neither a sweep")     # an analysis directory
    empty = tmp_path / "empty"
    open_sweep(empty, {"kind": "onion", "grid": {"hidden": [4]}}, {"train_steps": 1})
    shutil.copytree(sweep / "h8-ar-s1", empty / "h8-ar-s1")                     # trained, not DONE
    _refused(empty, "no finished cell")
    other = tmp_path / "other"
    shutil.copytree(empty, other)
    rec = json.loads((other / "sweep.json").read_text())
    (other / "sweep.json").write_text(json.dumps({**rec, "kind": "superposition"}))
    _refused(other, "not an onion sweep")
    (other / "sweep.json").write_text("{")
    _refused(other, "corrupt JSON")
    r = run_cli(["report", sweep / "h4-ar-s0", "--input", "a z"])
    assert r.returncode == 2 and "unknown symbol" in r.stderr and not (sweep / "h4-ar-s0" / "figures").exists()


def test_corrupt_results_are_one_line_errors(sweep, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(sweep, bad, ignore=shutil.ignore_patterns("figures", "report.*"))
    res = bad / "h4-ar-s1" / "intervene" / "onion" / "result.json"
    good = json.loads(res.read_text())
    for broken, needle in (({**good, "iia": "high"}, "expected a number"),
                           ({**good, "per_length": {"two": 0.5}}, "not a length"),
                           ({**good, "per_length": None}, "no per_length")):
        res.write_text(json.dumps(broken))
        _refused(bad, needle)
    res.write_text("[1, 2]")
    _refused(bad, "corrupt JSON")


def test_a_damaged_run_is_refused_before_any_figure_is_written(sweep, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sweep / "h4-ar-s0", run)
    res = run / "probe" / "onion" / "result.json"
    res.write_text(json.dumps({**json.loads(res.read_text()), "per_length": {"2": "x"}}))
    _refused(run, "expected a number")
    res.write_text(json.dumps({**json.loads(res.read_text()), "per_length": {"2": 0.5}}))
    params = run / "intervene" / "onion" / "params.safetensors"
    arrays = runs.load_arrays(params)[0]
    runs.save_arrays(params, {k: v for k, v in arrays.items() if k != "gamma"})
    _refused(run, "lack 'gamma'")


def _split(sweep, tmp_path):
    """The fixture sweep as two sweep directories: h4-* in one, h8-* in the other."""
    a, b = tmp_path / "a", tmp_path / "b"
    for d, prefix in ((a, "h4-"), (b, "h8-")):
        d.mkdir()
        shutil.copy(sweep / "sweep.json", d / "sweep.json")
        for cell in sweep.iterdir():
            if cell.name.startswith(prefix):
                shutil.copytree(cell, d / cell.name)
    return a, b


def test_one_report_of_several_sweeps_equals_the_report_of_their_union(sweep, tmp_path):
    a, b = _split(sweep, tmp_path)
    r = run_cli(["report", a, b, "--out", tmp_path / "joint", "--json", "--quiet"])
    assert r.returncode == 0, r.stderr
    joint = json.loads((tmp_path / "joint" / "report.json").read_text())
    whole = report_table.table(report_table.read_sweep(sweep)["cells"])
    assert json.loads(runs.to_json(joint["rows"])) == json.loads(runs.to_json(whole))
    md = (tmp_path / "joint" / "report.md").read_text()
    assert "`a`: Grid:" in md and "`b`: Grid:" in md and "†" not in md
    assert (tmp_path / "joint" / "figures" / "h8-ar-s0" / "gates.png").is_file()


def test_rows_from_an_earlier_report_fill_the_sizes_the_sweeps_lack(sweep, tmp_path):
    a, b = _split(sweep, tmp_path)
    assert run_cli(["report", a, b, "--out", tmp_path / "old", "--quiet"]).returncode == 0
    r = run_cli(["report", b, "--out", tmp_path / "new", "--rows-from", tmp_path / "old" / "report.json", "--quiet"])
    assert r.returncode == 0, r.stderr
    new = json.loads((tmp_path / "new" / "report.json").read_text())["rows"]
    old = json.loads((tmp_path / "old" / "report.json").read_text())["rows"]
    assert [(x["hidden"], x["variant"], bool(x.get("carried_from"))) for x in new] == \
        [(4, "ar", True), (4, "noinput", True), (8, "ar", False)]
    assert new[0]["onion"]["mean"] == old[0]["onion"]["mean"] and new[0]["onion"]["n"] == 2
    md = (tmp_path / "new" / "report.md").read_text()
    assert "| 4 | Autoregressive † |" in md and "| 8 | Autoregressive |" in md and "carried over unchanged" in md
    assert not (tmp_path / "new" / "figures" / "h4-ar-s0").exists()      # no cells, no run figures


def test_several_paths_bad_input_is_one_line(sweep, tmp_path):
    a, b = _split(sweep, tmp_path)
    shutil.copytree(a / "h4-ar-s0", b / "h4-ar-s0")
    for args, needle in [([a, b, "--out", tmp_path / "x"], "cell h4-ar-s0 is in both"),
                         ([a, sweep], "several sweep directories need --out"),
                         ([a, a / "h4-ar-s0", "--out", tmp_path / "x"], "is a run, not a sweep"),
                         ([a / "h4-ar-s0", "--rows-from", a / "sweep.json"], "--rows-from applies to sweep reports"),
                         ([a, "--out", tmp_path / "x", "--rows-from", a / "sweep.json"], "is not an onionref report")]:
        r = run_cli(["report"] + args)
        assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert not (tmp_path / "x").exists()
