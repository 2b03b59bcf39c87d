"""`onionref import`: a GRU trained elsewhere (safetensors or a PyTorch checkpoint) as an onionref run directory.

    tensors.py     TensorRef: a tensor's name, shape and dtype, read only when asked; the safetensors reader
    unpickler.py   the restricted unpickler: torch's tensor-rebuild functions and plain containers, nothing else runs
    torch_zip.py   PyTorch's zip checkpoint format (torch.save) on top of it, without torch
    sources.py     SRC -> {name: TensorRef}, whatever the file's format and nesting
    find_gru.py    which tensors are the embedding, the GRU and the readout
    make_run.py    the run directory (config.json, weights.safetensors, result.json, DONE), written atomically
"""
