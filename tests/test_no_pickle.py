"""No code execution on load: nothing in the project unpickles, except the one restricted unpickler of
`onionref import`, which runs nothing from the file.

1. A static scan of reference/, cli/, golden/ and tests/: `np.load` only with `allow_pickle=False`, no `torch.load`,
   no pickle / dill / joblib / shelve / marshal loading (the library and golden scripts do not even import them;
   tests may import pickle only to *craft* payloads with `pickle.dumps`). One library module may import pickle:
   reference/importing/unpickler.py, whose Unpickler subclass admits only torch's tensor-rebuild functions and plain
   containers (its restrictions are tested in tests/test_import_reader.py); even it may not call pickle.load(s).
2. A crafted malicious pickle (its `__reduce__` creates a marker file) saved as weights.safetensors,
   checkpoint.safetensors, .npy and .npz goes through the project's loaders and commands: a clean error every time,
   and the marker is never created. A control run in a separate interpreter proves the payload is live.
   The same payload as a checkpoint for `onionref import`, raw and inside a PyTorch zip archive, never runs either.
"""
from __future__ import annotations

import ast
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onionref import runs
from onionref.cli.eval_cmd import load_run
from onionref.errors import UserError
from onionref.onion.train import TrainConfig, load_weights
from runhelpers import tiny_trained_run, assert_one_line_error, call_main, run_cli

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("reference", "cli", "golden", "tests")
UNPICKLING_CALLS = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "_pickle.Unpickler",
    "cPickle.load", "cPickle.loads", "dill.load", "dill.loads", "cloudpickle.load", "cloudpickle.loads",
    "joblib.load", "torch.load", "shelve.open", "marshal.load", "marshal.loads", "pandas.read_pickle",
    "yaml.load", "yaml.unsafe_load", "jsonpickle.decode", "numpy.lib.format.read_array",
}
NUMPY_LOAD = {"numpy.load"}
PICKLE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "jsonpickle"}
# The one library module that may import pickle (to subclass pickle.Unpickler with an allowlist), and only that.
RESTRICTED_UNPICKLER = "reference/importing/unpickler.py"


def scan_source(src: str, name: str, library: bool) -> list:
    """Problems in one source file: unpickling calls, np.load without allow_pickle=False, and (for library code)
    any import of a pickling module."""
    tree = ast.parse(src, filename=name)
    alias = {"np": "numpy", "pd": "pandas"}
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                alias[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
                if library and a.name.split(".")[0] in PICKLE_MODULES:
                    problems.append(f"{name}:{node.lineno}: imports {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                alias[a.asname or a.name] = f"{node.module}.{a.name}"
            if library and node.module.split(".")[0] in PICKLE_MODULES:
                problems.append(f"{name}:{node.lineno}: imports from {node.module}")
            if any(f"{node.module}.{a.name}" in UNPICKLING_CALLS for a in node.names):
                problems.append(f"{name}:{node.lineno}: imports an unpickling function from {node.module}")
        elif isinstance(node, ast.Call):
            dotted = _dotted(node.func)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            full = alias.get(head, head) + ("." + rest if rest else "")
            if full in UNPICKLING_CALLS:
                problems.append(f"{name}:{node.lineno}: calls {full}")
            if full in NUMPY_LOAD:
                kw = {k.arg: k.value for k in node.keywords}
                v = kw.get("allow_pickle")
                if not (isinstance(v, ast.Constant) and v.value is False):
                    problems.append(f"{name}:{node.lineno}: np.load without allow_pickle=False")
    return problems


def _dotted(f):
    parts = []
    while isinstance(f, ast.Attribute):
        parts.append(f.attr)
        f = f.value
    if isinstance(f, ast.Name):
        return ".".join([f.id] + parts[::-1])
    return None


def test_scanner_catches_what_it_should():
    bad = {
        "import numpy as np\nnp.load('x.npy')": "allow_pickle",
        "import numpy\nnumpy.load('x', allow_pickle=True)": "allow_pickle",
        "from numpy import load\nload('x')": "allow_pickle",
        "import pickle\npickle.loads(b'')": "pickle.loads",
        "import pickle as p\np.load(open('x', 'rb'))": "pickle.load",
        "import torch\ntorch.load('x.pt')": "torch.load",
        "from pickle import loads": "unpickling function",
        "import joblib\njoblib.load('x')": "joblib.load",
        "import yaml\nyaml.load(s)": "yaml.load",
    }
    for src, needle in bad.items():
        found = scan_source(src, "<t>", library=False)
        assert any(needle in p for p in found), (src, found)
    assert scan_source("import pickle", "<t>", library=True)
    assert scan_source("import numpy as np\nnp.load('x', allow_pickle=False)\nimport pickle\npickle.dumps(1)",
                       "<t>", library=False) == []


def test_no_source_unpickles():
    files = [p for d in SCANNED for p in sorted((ROOT / d).rglob("*.py")) if "__pycache__" not in p.parts]
    assert len(files) > 20, files
    problems = []
    for p in files:
        rel = p.relative_to(ROOT)
        found = scan_source(p.read_text(), str(rel), library=rel.parts[0] != "tests")
        if rel.as_posix() == RESTRICTED_UNPICKLER:
            assert any(f.endswith(": imports pickle") for f in found), found  # the scanner does see it
            found = [f for f in found if not f.endswith(": imports pickle")]
        problems += found
    assert problems == [], "\n".join(problems)
    print(f"scanned {len(files)} source files")


def test_the_one_module_that_imports_pickle_only_subclasses_its_unpickler():
    """reference/importing/unpickler.py imports pickle once, plainly, and uses it only for the Unpickler base class
    and UnpicklingError; its class overrides find_class and persistent_load."""
    src = (ROOT / RESTRICTED_UNPICKLER).read_text()
    tree = ast.parse(src)
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
               and any(a.name.split(".")[0] in PICKLE_MODULES for a in n.names) or isinstance(n, ast.ImportFrom)
               and (n.module or "").split(".")[0] in PICKLE_MODULES]
    assert len(imports) == 1 and isinstance(imports[0], ast.Import) and imports[0].names[0].asname is None
    uses = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
            and n.value.id == "pickle"}
    assert uses == {"Unpickler", "UnpicklingError"}, uses
    from onionref.importing.unpickler import RestrictedUnpickler
    assert {"find_class", "persistent_load"} <= set(vars(RestrictedUnpickler))


def test_golden_fixtures_hold_no_objects():
    """Every array of every committed .npz loads with allow_pickle=False (no object arrays hide in them)."""
    npz = sorted((ROOT / "golden").glob("*.npz"))
    assert npz
    for p in npz:
        with np.load(p, allow_pickle=False) as f:
            for k in f.files:
                assert f[k].dtype != object


# --------------------------------------------------------------------------------------- malicious payloads
class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def payloads(tmp_path):
    marker = tmp_path / "PWNED"
    raw = pickle.dumps(_Evil(marker))
    npy = tmp_path / "evil.npy"
    np.save(npy, np.array([_Evil(marker), 1], dtype=object), allow_pickle=True)
    npz = tmp_path / "evil.npz"
    np.savez(npz, a=np.array([_Evil(marker)], dtype=object))
    assert not marker.exists()
    return {"marker": marker, "pickle": raw, "npy": npy.read_bytes(), "npz": npz.read_bytes()}


def test_payload_is_live_in_a_separate_interpreter(payloads, tmp_path):
    """Control: unpickling the payload really creates the marker (in another interpreter, so this process and the
    scanned sources never unpickle)."""
    p = tmp_path / "evil.pickle"
    p.write_bytes(payloads["pickle"])
    code = "import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())"
    subprocess.run([sys.executable, "-c", code, str(p)], check=True, timeout=60)
    assert payloads["marker"].exists()


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    return tiny_trained_run(tmp_path_factory, "nopickle", steps=5, eval_every=5)


@pytest.mark.parametrize("kind", ["pickle", "npy", "npz"])
def test_payloads_through_the_loaders(payloads, good_run, tmp_path, capsys, kind):
    marker, data = payloads["marker"], payloads[kind]
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    cfg = TrainConfig.from_dict(runs.read_config(run))
    (run / "weights.safetensors").write_bytes(data)
    (run / "checkpoint.safetensors").write_bytes(data)
    (tmp_path / f"evil.{kind}").write_bytes(data)
    for call in (lambda: runs.load_arrays(run / "weights.safetensors"),
                 lambda: runs.load_arrays(tmp_path / f"evil.{kind}"),
                 lambda: load_weights(run, cfg),
                 lambda: load_run(run)):
        with pytest.raises(UserError, match="corrupt safetensors"):
            call()
    # The way the tests read .npy / .npz fixtures refuses the payload too.
    with pytest.raises(ValueError, match="allow_pickle"):
        arr = np.load(tmp_path / f"evil.{kind}", allow_pickle=False)
        if kind == "npz":
            arr["a"]
    # And the commands (in this process: nothing here may unpickle).
    for args in (["eval", run], ["train", "--resume", "--quiet", "--out", run],
                 ["probe", run, "--kind", "linear", "--steps", "2", "--quiet"]):
        assert_one_line_error(*call_main(args, capsys), "corrupt safetensors")
    if kind == "pickle":  # and once through the console script
        p = run_cli(["eval", run])
        assert_one_line_error(p.returncode, p.stdout, p.stderr, "corrupt safetensors")
    assert not marker.exists(), "the payload ran"


def test_payloads_through_import(payloads, tmp_path, capsys):
    """`onionref import` of the payload as a raw (legacy-format) pickle, and as data.pkl of a PyTorch zip archive
    (which the restricted unpickler does read: the payload's global stays an inert placeholder)."""
    import zipfile
    marker = payloads["marker"]
    (tmp_path / "raw.pt").write_bytes(payloads["pickle"])
    with zipfile.ZipFile(tmp_path / "zip.pt", "w") as z:
        z.writestr("archive/data.pkl", payloads["pickle"])
        z.writestr("archive/byteorder", "little")
    for src, needle in (("raw.pt", "legacy"), ("zip.pt", "no GRU")):
        assert_one_line_error(*call_main(["import", tmp_path / src, "--out", tmp_path / "new"], capsys), needle)
        assert not (tmp_path / "new").exists()
    p = run_cli(["import", tmp_path / "zip.pt", "--out", tmp_path / "new"])
    assert_one_line_error(p.returncode, p.stdout, p.stderr, "no GRU")
    assert not marker.exists(), "the payload ran"
