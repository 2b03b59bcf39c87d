"""Bad input to `onionref sweep`: exit code 2, one line on stderr, and the directory tree exactly as it was (sha256 of
every file, and the set of files and directories) — checked before anything starts, scheduler included."""
from __future__ import annotations

import shutil

import pytest

from runhelpers import assert_one_line_error, call_main, run_cli, tree_hashes
from sweephelpers import sweep_args

NOWHERE = "tcp://127.0.0.1:9"          # nothing listens on the discard port

CASES = [  # (id, --out, extra flags as typed, overrides of the tiny grid's flags, what the line must say)
    ("unknown analysis", "new", [], {"analyses": "onion,nope"}, "unknown analysis 'nope'"),
    ("unknown variant", "new", [], {"variants": "ar,bogus"}, "unknown variant 'bogus'"),
    ("no hidden size", "new", [], {"hidden": ""}, "the grid is empty"),
    ("no seeds", "new", [], {"seeds": "0"}, "the grid is empty"),
    ("hidden not a list of ints", "new", [], {"hidden": "8,x"}, "comma-separated integers"),
    ("hidden out of range", "new", [], {"hidden": "0"}, "--hidden must be in 1..4096"),
    ("odd batch (analyses pair sequences)", "new", [], {"batch": "33"}, "--batch must be even"),
    ("zero workers", "new", ["--workers", "0"], {}, "--workers must be >= 1"),
    ("workers and scheduler", "new", ["--workers", "2", "--scheduler", NOWHERE], {}, "exclude each other"),
    ("unreachable scheduler, wider grid of a sweep", "sweep", ["--scheduler", NOWHERE], {"seeds": "2"},
     "cannot reach the Dask scheduler"),
    ("another budget in an existing sweep", "sweep", [], {"train_steps": "41"},
     "another budget (train_steps 40 -> 41)"),
    ("a directory that is not a sweep", "notes", [], {}, "not a sweep directory"),
    ("a run directory is not a sweep", "sweep/h8-ar-s0", [], {}, "not a sweep directory"),
    ("a file", "notes/notes.txt", [], {}, "not a sweep directory"),
    ("a pre-trained cell with another budget", "pretrained", [], {"train_steps": "30"},
     "cell h8-ar-s0: "),
    ("corrupt sweep.json", "corrupt", [], {}, "corrupt JSON"),
]


@pytest.fixture
def root(reference_sweep, tmp_path):
    ref, _ = reference_sweep
    shutil.copytree(ref, tmp_path / "sweep")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes/notes.txt").write_text("mine")
    (tmp_path / "pretrained").mkdir()
    shutil.copytree(ref / "h8-ar-s0", tmp_path / "pretrained/h8-ar-s0")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt/sweep.json").write_text("{not json")
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(root, capsys, case):
    _, out, extra, over, needle = case
    before = tree_hashes(root)
    code, stdout, stderr = call_main(sweep_args(root / out, *extra, **over), capsys)
    assert_one_line_error(code, stdout, stderr, needle)
    assert tree_hashes(root) == before


def test_a_cell_with_another_budget_inside_a_sweep_is_refused_naming_it(root, capsys):
    cfg = root / "sweep/h8-noinput-s0/probe/linear/config.json"
    # Fewer steps than the budget (more would be an analysis extended past it, which the sweep keeps).
    cfg.write_text(cfg.read_text().replace('"steps": 6', '"steps": 5'))
    before = tree_hashes(root)
    code, stdout, stderr = call_main(sweep_args(root / "sweep"), capsys)
    assert_one_line_error(code, stdout, stderr, "cell h8-noinput-s0 (probe-linear)", "steps 5 (sweep: 6)")
    assert tree_hashes(root) == before


def test_unreachable_scheduler_through_the_real_command_is_one_line(root):
    """Also: nothing that Dask logs while it tries reaches stderr besides the one line."""
    before = tree_hashes(root)
    p = run_cli(sweep_args(root / "new", "--scheduler", NOWHERE), timeout=120)
    assert_one_line_error(p.returncode, p.stdout, p.stderr, "cannot reach the Dask scheduler at " + NOWHERE)
    assert tree_hashes(root) == before


@pytest.mark.parametrize("args, needle", [(["--workers", "0"], "--workers takes comma-separated integers in"),
                                          (["--workers", "1,x"], "comma-separated integers"),
                                          (["--train-steps", "0"], "--train-steps must be >= 1"),
                                          (["--workers", "2,1", "--threads-per-job", "1"],
                                           "--threads-per-job needs one count per --workers entry (2), got 1"),
                                          (["--threads-per-job", "0"], "--threads-per-job takes comma-separated")])
def test_bench_sweep_bad_input_is_one_line(capsys, args, needle):
    assert_one_line_error(*call_main(["bench", "--sweep"] + args, capsys), needle)
