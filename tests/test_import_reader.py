"""The readers of `onionref import` (reference/importing/{tensors,unpickler,torch_zip,sources}.py), against torch.

- every tensor of a torch.save checkpoint (plain state dict, nested, views with offsets and strides, float16 / bfloat16
  / float64 / int, a whole pickled nn.Module) reads back equal to torch's own tensor, without torch being called;
- objects of classes the reader has never seen (a test-only class, argparse.Namespace, an optimizer state) become
  inert placeholders and the tensors still come out; a payload whose unpickling runs os.system or exec never runs
  (the control: torch.load(weights_only=False) in another interpreter does create the marker);
- the allowlist: find_class admits exactly ALLOWED, everything else (os.system, builtins.eval / getattr / exec,
  torch.load itself) is a Foreign placeholder whose call, NEWOBJ, BUILD, SETITEMS and APPENDS only store data;
  BUILD on an admitted function, a tensor or a storage fails; an out-of-bounds view is not a tensor;
- hypothesis: random views (shape, offset, strides) of random storages read back as torch sees them;
- safetensors: our reader agrees with safetensors.numpy, reads bfloat16, and refuses bad headers with one line.
"""
from __future__ import annotations

import argparse
import io
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from importhelpers import Args, ExecPayload, Payload, paper_model, save_safetensors, torch_load_in_subprocess
from onionref.errors import UserError
from onionref.importing import unpickler
from onionref.importing.sources import flatten, read_source
from onionref.importing.tensors import read_safetensors
from onionref.importing.torch_zip import read_tree

torch = pytest.importorskip("torch")


def _same(ref, t):
    a = ref.load()
    want = t.detach().float().numpy()
    assert a.shape == tuple(t.shape) and a.dtype == np.float32
    assert np.array_equal(a, want), (a, want)


def test_plain_and_nested_state_dicts_read_back_exactly(tmp_path):
    m = paper_model(torch, hidden=6, embed=5)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    torch.save(m.state_dict(), tmp_path / "plain.pt")
    opt = torch.optim.AdamW(m.parameters())
    m["out"](m["emb"].weight @ torch.ones(5, 6)).sum().backward()
    opt.step()
    sd = m.state_dict()
    torch.save({"model": sd, "optimizer": opt.state_dict(), "step": 7, "args": argparse.Namespace(lr=1e-3)},
               tmp_path / "nested.pth")
    plain, info = read_source(tmp_path / "plain.pt")
    assert info["format"] == "pytorch-zip" and len(info["sha256"]) == 64
    assert list(plain) == list(sd)
    nested, _ = read_source(tmp_path / "nested.pth")
    for k, t in sd.items():
        _same(plain[k], before[k])
        _same(nested["model." + k], t)
    moments = [n for n in nested if n.startswith("optimizer.state.")]
    assert moments, list(nested)  # the optimizer's tensors are found too (never read unless chosen)


def test_dtypes_views_and_big_endian_free_layouts(tmp_path):
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10) / 7
    tensors = {"view": base[1:, 2::3], "t": base.T, "f16": base.half()[2:4], "bf16": base.bfloat16()[:, 1:],
               "f64": base.double()[::2], "i64": torch.arange(5), "scalar": torch.tensor(3.5),
               "empty": torch.zeros(0, 4), "expanded": torch.ones(3, 1).expand(3, 4)}
    torch.save(tensors, tmp_path / "v.pt")
    got, _ = read_source(tmp_path / "v.pt")
    for k, t in tensors.items():
        assert got[k].shape == tuple(t.shape)
        assert np.array_equal(got[k].load(), t.float().numpy()), k
    assert got["bf16"].dtype == "bfloat16" and got["bf16"].floating and not got["i64"].floating


def test_a_whole_pickled_module_of_an_unknown_class_gives_its_state_dict_names(tmp_path):
    m = paper_model(torch, hidden=4)
    torch.save(m, tmp_path / "whole.pt")           # the ModuleDict, GRU, ... classes: never imported by us
    got, _ = read_source(tmp_path / "whole.pt")
    sd = m.state_dict()
    assert list(got) == list(sd)
    for k, t in sd.items():
        _same(got[k], t)


def test_test_only_class_is_inert_and_the_tensors_come_out(tmp_path):
    sd = paper_model(torch, hidden=4).state_dict()
    args = Args(lr=0.1, note="framework object", tensor=torch.ones(2))
    torch.save({"model": sd, "args": args, "step": 3}, tmp_path / "ck.pt")
    # torch's own safe loader refuses the file outright (another interpreter: nothing here unpickles)
    p = torch_load_in_subprocess(tmp_path / "ck.pt", weights_only=True)
    assert p.returncode != 0 and "loaded" not in p.stdout
    tree = read_tree(tmp_path / "ck.pt")
    obj = tree["args"]
    assert isinstance(obj, unpickler.Foreign) and obj.name == "importhelpers.Args"
    assert obj.state["lr"] == 0.1 and obj.state["note"] == "framework object"
    got = flatten(tree)
    assert "args.tensor" in got and tree["step"] == 3
    for k, t in sd.items():
        _same(got["model." + k], t)


@pytest.mark.parametrize("payload", [Payload, ExecPayload])
def test_payloads_never_run(tmp_path, payload):
    marker = tmp_path / "PWNED"
    sd = paper_model(torch, hidden=4).state_dict()
    torch.save({"model": sd, "evil": payload(marker)}, tmp_path / "evil.pt")
    tree = read_tree(tmp_path / "evil.pt")
    assert isinstance(tree["evil"], unpickler.Foreign)
    assert tree["evil"].name in ("posix.system", "builtins.exec")
    assert set(flatten(tree)) == {"model." + k for k in sd}
    assert not marker.exists(), "the payload ran"
    # control: the payload is live (torch's full unpickler, in another interpreter)
    torch_load_in_subprocess(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_find_class_admits_exactly_the_allowlist():
    u = unpickler.RestrictedUnpickler(b".", fetch=None)
    for (mod, name), obj in unpickler.ALLOWED.items():
        assert u.find_class(mod, name) is obj
    for mod, name in [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
                      ("builtins", "getattr"), ("builtins", "__import__"), ("subprocess", "Popen"),
                      ("torch", "load"), ("torch.serialization", "load"), ("collections", "OrderedDict.fromkeys"),
                      ("torch._utils", "_rebuild_tensor_v3"), ("numpy", "load"), ("__builtin__", "eval")]:
        cls = u.find_class(mod, name)
        assert isinstance(cls, type) and issubclass(cls, unpickler.Foreign), (mod, name)
        obj = cls("rm -rf /", flag=1)               # REDUCE / NEWOBJ: stores, runs nothing
        obj.__setstate__({"x": 1})                  # BUILD
        obj["k"] = "v"                              # SETITEMS
        obj.extend([1, 2])                          # APPENDS
        assert obj.args == ("rm -rf /",) and obj.state == {"x": 1} and obj.items == [("k", "v")]
        assert obj.values == [1, 2] and isinstance(obj(1), unpickler.Foreign)


def _stream(*ops: bytes) -> bytes:
    return b"\x80\x02" + b"".join(ops) + b"."


def test_build_on_admitted_functions_tensors_and_storages_fails():
    # GLOBAL torch._utils _rebuild_tensor_v2, then BUILD {"fn": None}: would rebind our function for the process
    attack = _stream(b"ctorch._utils\n_rebuild_tensor_v2\n", b"}", b"X\x02\x00\x00\x00fn", b"N", b"s", b"b")
    with pytest.raises(TypeError):
        unpickler.unpickle(attack, fetch=None)
    assert unpickler.ALLOWED[("torch._utils", "_rebuild_tensor_v2")].fn is unpickler.rebuild
    # a storage, then BUILD on it
    pid = b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ"
    with pytest.raises(TypeError):
        unpickler.unpickle(_stream(pid, b"}", b"b"), fetch=lambda k, n: bytes(n))
    # a tensor, then BUILD on it (it would replace `read`)
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"K\x00K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n"
              b")RtR")
    ref = unpickler.unpickle(_stream(tensor), fetch=lambda k, n: np.arange(4, dtype="<f4").tobytes())
    assert ref.shape == (4,) and np.array_equal(ref.load(), np.arange(4, dtype=np.float32))
    with pytest.raises(TypeError):
        unpickler.unpickle(_stream(tensor, b"}", b"b"), fetch=None)


def test_out_of_bounds_views_and_bad_persistent_ids_are_not_tensors():
    pid = b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ"
    fetch = lambda k, n: bytes(n)
    for offset, size, stride in [(b"K\x02", b"K\x04\x85", b"K\x01\x85"),     # runs past the 4 elements
                                 (b"K\x00", b"K\x03\x85", b"K\x02\x85"),     # stride 2 reaches element 4
                                 (b"J\xff\xff\xff\xff", b"K\x01\x85", b"K\x01\x85")]:  # negative offset
        s = _stream(b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + offset + size + stride + b"\x89NtR")
        assert isinstance(unpickler.unpickle(s, fetch), unpickler.Foreign)
    for bad in [b"X\x03\x00\x00\x00abcQ",                                        # a string id
                b"(X\x07\x00\x00\x00storageX\x07\x00\x00\x00float32X\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ\xff"
                b"\xff\xff\xfftQ"]:                                               # a negative element count
        with pytest.raises(pickle.UnpicklingError):
            unpickler.unpickle(_stream(bad), fetch)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_random_views_read_back_as_torch_sees_them(data):
    n = data.draw(st.integers(1, 40))
    dtype = data.draw(st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.float64]))
    base = torch.randn(n, generator=torch.Generator().manual_seed(data.draw(st.integers(0, 999)))).to(dtype)
    ndim = data.draw(st.integers(0, 3))
    size = tuple(data.draw(st.integers(0, 4)) for _ in range(ndim))
    stride = tuple(data.draw(st.integers(0, 5)) for _ in range(ndim))
    extent = sum((s - 1) * d for s, d in zip(size, stride)) if all(size) else 0
    if extent >= n:
        return
    offset = data.draw(st.integers(0, n - 1 - extent))
    view = base.as_strided(size, stride, offset)
    buf = io.BytesIO()
    torch.save({"v": view}, buf)
    zf = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    pkl = [x for x in zf.namelist() if x.endswith("/data.pkl")][0]
    prefix = pkl[:-len("data.pkl")]
    tree = unpickler.unpickle(zf.read(pkl), lambda k, nbytes: zf.read(f"{prefix}data/{k}"))
    assert tree["v"].shape == size
    assert np.array_equal(tree["v"].load(), view.float().numpy())


def test_safetensors_reader_agrees_with_safetensors(tmp_path):
    from safetensors.numpy import load_file
    from safetensors.torch import save_file
    sd = paper_model(torch, hidden=5, embed=3).state_dict()
    path = save_safetensors(sd, tmp_path / "m.safetensors")
    ours, ref = read_safetensors(path), load_file(str(path))
    assert set(ours) == set(ref)
    for k in ref:
        assert np.array_equal(ours[k].load(), ref[k])
    save_file({"b": torch.randn(3, 2).bfloat16(), "i": torch.arange(3)}, str(tmp_path / "bf.safetensors"))
    got = read_safetensors(tmp_path / "bf.safetensors")
    assert got["b"].dtype == "bfloat16" and got["b"].floating and got["i"].dtype == "int64"


@pytest.mark.parametrize("mutate, needle", [
    (lambda raw: raw[:4], "truncated"),
    (lambda raw: (10 ** 9).to_bytes(8, "little") + raw[8:], "exceeds the file"),
    (lambda raw: raw[:len(raw) - 8], "past the end"),
    (lambda raw: raw[:8] + b"[" + raw[9:], "not JSON"),
])
def test_safetensors_reader_refuses_damage_with_one_line(tmp_path, mutate, needle):
    path = save_safetensors(paper_model(torch, hidden=3).state_dict(), tmp_path / "m.safetensors")
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(UserError, match=needle) as e:
        read_safetensors(path)
    assert "\n" not in str(e.value)


def test_parameters_and_tensors_with_attributes(tmp_path):
    """nn.Parameter pickles through _rebuild_parameter, a tensor with attributes through _rebuild_from_type_v2."""
    t = torch.arange(6.0).reshape(2, 3)
    t.note = "an attribute"
    p = torch.nn.Parameter(torch.linspace(0, 1, 4))
    torch.save({"t": t, "p": p}, tmp_path / "a.pt")
    got, _ = read_source(tmp_path / "a.pt")
    _same(got["t"], t)
    _same(got["p"], p)
