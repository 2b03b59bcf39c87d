"""Read torch's pickle stream without running anything from it: the one module of onionref that unpickles.

`torch.save` pickles the checkpoint's object tree; tensors are calls to torch._utils._rebuild_tensor_v2 on a
persistent storage id ("storage", <dtype marker>, key, location, numel) whose bytes sit in the zip beside the pickle.
Research frameworks pickle their own objects next to the weights (an arguments object, a scheduler, a config), which
`torch.load(weights_only=True)` refuses outright. This unpickler reads such files and runs nothing of theirs:

find_class(module, name) admits exactly the globals of ALLOWED, each mapped to our own code:
    collections.OrderedDict                               the real class (a state dict is one)
    torch._utils._rebuild_tensor_v2 / _rebuild_tensor     -> rebuild(): a TensorRef; no byte is read here
    torch._utils._rebuild_parameter(_with_state)          -> the tensor inside
    torch._tensor._rebuild_from_type_v2                   -> rebuild() if the function it names is ours, else inert
    torch.<Dtype>Storage, torch.UntypedStorage            -> a dtype marker (a string; never called)
    builtins.set / frozenset, _codecs.encode(str, "latin1")  -> containers and bytes, arguments checked
Every other global becomes a fresh subclass of Foreign: calling it (REDUCE), NEWOBJ, BUILD (__setstate__), SETITEMS
and APPENDS only store their arguments on an inert instance. The module the global names is never imported, no method
of the file's classes is looked up, so nothing from the file runs. A foreign object's stored state is still walked
for tensors (sources.py), so even `torch.save(model)` of a model class onionref has never seen gives its weights.

persistent_load accepts only the storage-id tuple above and returns a Storage (key, dtype, numel); its bytes are
fetched later, on demand, by the TensorRef of a tensor the import chose, with the view bounds-checked.
"""
from __future__ import annotations

import collections
import io
import pickle  # the only import of pickle in the library; tests/test_no_pickle.py admits this one module
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .tensors import TensorRef, from_raw

MAX_ELEMENTS = 2 ** 31   # a tensor view larger than this is refused (a pickle could ask for any size)
MAX_GLOBALS = 10_000     # distinct foreign globals that get their own placeholder class
STORAGE_DTYPES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
                  "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
                  "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
                  "UntypedStorage": "uint8"}
ITEMSIZE = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2,
            "int8": 1, "uint8": 1, "bool": 1}


class Foreign:
    """An inert stand-in for a global outside the allowlist; `name` says which ("module.qualname").

    Its instances record what the pickle did to them (args of the call, the BUILD state, set items, appended
    values) and do nothing else."""
    name = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args, obj.state, obj.items, obj.values = args, None, [], []
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        self.items.append((key, value))

    def append(self, value):
        self.values.append(value)

    def extend(self, values):
        self.values.extend(values if isinstance(values, list) else [values])

    def __call__(self, *args, **kwargs):
        return Foreign(*args)

    def __repr__(self):
        return f"<{self.name}: not loaded>"


@dataclass(frozen=True, eq=False)
class Storage:
    """One persistent storage of the checkpoint: its record key, element dtype and element count."""
    key: str
    dtype: str
    numel: int
    fetch: Callable[[str, int], bytes]   # (key, nbytes) -> the record's bytes (torch_zip.py)
    big_endian: bool = False

    def __setstate__(self, state):  # a BUILD opcode on a storage: refused (it would replace `fetch`)
        raise TypeError("read-only")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def rebuild(storage, storage_offset, size, stride, *rest):
    """torch._utils._rebuild_tensor_v2 (and _rebuild_tensor): a TensorRef viewing `storage`, or an inert Foreign
    when the arguments are not a plain in-bounds view of one of our storages."""
    ok = (isinstance(storage, Storage) and _is_int(storage_offset) and storage_offset >= 0
          and isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= 16
          and all(_is_int(s) and s >= 0 for s in size + stride))
    if not ok:
        return Foreign(storage_offset, size, stride)
    count = int(np.prod(size, dtype=object))
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if count > MAX_ELEMENTS or (count > 0 and last >= storage.numel):
        return Foreign(storage_offset, size, stride)

    def read():
        nbytes = storage.numel * ITEMSIZE[storage.dtype]
        flat = from_raw(storage.fetch(storage.key, nbytes), storage.dtype, storage.numel, storage.big_endian)
        if count == 0:
            return np.zeros(size, flat.dtype)
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[storage_offset:], shape=size,
                                               strides=tuple(s * item for s in stride), writeable=False)
        return np.array(view)
    return TensorRef(tuple(size), storage.dtype, read)


def _rebuild_parameter(data, *rest):
    return data


def _rebuild_from_type(func, new_type, args, state=None):
    if func is ALLOWED[("torch._utils", "_rebuild_tensor_v2")] and isinstance(args, tuple):
        return rebuild(*args)
    return Foreign(func, new_type, args, state)


def _container(kind):
    def make(*args):
        try:
            if not args:
                return kind()
            if len(args) == 1 and isinstance(args[0], (list, tuple)):
                return kind(args[0])
        except TypeError:  # unhashable members
            pass
        return Foreign(*args)
    return make


def _encode(*args):
    if len(args) == 2 and isinstance(args[0], str) and args[1] == "latin1":
        try:
            return args[0].encode("latin1")
        except UnicodeEncodeError:
            pass
    return Foreign(*args)


class Admitted:
    """One of our functions as the pickle sees it: callable, and immutable (a BUILD opcode on it fails instead of
    setting attributes of the function for the rest of the process)."""
    __slots__ = ("fn",)

    def __init__(self, fn):
        object.__setattr__(self, "fn", fn)

    def __call__(self, *args):
        return self.fn(*args)

    def __setattr__(self, key, value):
        raise TypeError("read-only")

    def __setstate__(self, state):
        raise TypeError("read-only")


_rebuild = Admitted(rebuild)
ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
           ("torch._utils", "_rebuild_tensor_v2"): _rebuild,
           ("torch._utils", "_rebuild_tensor"): _rebuild,
           ("torch._utils", "_rebuild_parameter"): Admitted(_rebuild_parameter),
           ("torch._utils", "_rebuild_parameter_with_state"): Admitted(_rebuild_parameter),
           ("torch._tensor", "_rebuild_from_type_v2"): Admitted(_rebuild_from_type),
           ("builtins", "set"): Admitted(_container(set)), ("builtins", "frozenset"): Admitted(_container(frozenset)),
           ("_codecs", "encode"): Admitted(_encode),
           **{("torch", k): v for k, v in STORAGE_DTYPES.items()}}


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler with find_class limited to ALLOWED (everything else: Foreign) and persistent_load limited
    to torch's storage ids. `fetch(key, nbytes)` gives a storage's bytes when a chosen tensor is read."""

    def __init__(self, data: bytes, fetch, big_endian: bool = False):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._fetch, self._big = fetch, big_endian
        self._storages, self._foreign = {}, {}

    def find_class(self, module, name):
        module = "builtins" if module == "__builtin__" else module
        if (module, name) in ALLOWED:
            return ALLOWED[(module, name)]
        key = (str(module), str(name))
        if key not in self._foreign:
            if len(self._foreign) >= MAX_GLOBALS:
                return Foreign
            self._foreign[key] = type("Foreign", (Foreign,), {"name": f"{key[0]}.{key[1]}"})
        return self._foreign[key]

    def persistent_load(self, pid):
        ok = (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and pid[1] in ITEMSIZE
              and isinstance(pid[2], str) and _is_int(pid[4]) and 0 <= pid[4] < 2 ** 62)
        if not ok:
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        _, dtype, key, _, numel = pid
        known = self._storages.get(key)
        if known is None:
            known = self._storages[key] = Storage(key, dtype, numel, self._fetch, self._big)
        elif (known.dtype, known.numel) != (dtype, numel):
            raise pickle.UnpicklingError(f"storage {key!r:.40} is declared twice with different types")
        return known


def unpickle(data: bytes, fetch, big_endian: bool = False):
    """The object tree of a torch pickle stream, tensors as TensorRefs, foreign objects inert. Raises
    pickle.UnpicklingError (or another exception of a malformed stream) on a damaged stream."""
    return RestrictedUnpickler(data, fetch, big_endian).load()
