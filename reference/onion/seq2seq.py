"""The paper's model (spec §2): one embedding and one recurrent cell shared by encoder and decoder, a linear head.

Parameters: a flat dict with the names of the authors' torch module, so a torch model built the same way loads them
with `load_state_dict`:
    embedding.weight [V, E]    V = n_symbols + 1 (SOS) [+ 1 (NI) in the no-input variant]; E = H in the paper
                               and in onionref's own runs, any E in an imported one (the cell takes E inputs)
    gru.* | lstm.* | rnn.*     the cell's own parameters, under torch's module name (cells/gru.py, lstm.py, elman.py)
    head.weight [C, H], head.bias [C]      C = n_symbols   (H is read from here: the size of the cell's output)

    encode:  s_enc = cell(E[x_1..x_L]; s_0 = 0 [B, S]), each sequence's state taken at its own length
    decode:  s_t = cell(E[dec_in_t]; s_enc),  logits_t = W_o output(s_t) + b_o
    loss:    token cross-entropy averaged over the valid positions t < L of the batch

S = cell.state_size(H): H for the GRU and Elman, 2H for the LSTM (s = [h; c], output(s) = h); the decoder starts
from the whole encoder state. `cell` is cells/gru.py (the default), cells/lstm.py or choice.Elman(φ): see
cells/choice.py for what a cell provides. Its parameters live under the prefix `<cell.TORCH_NAME>.`.
"""
from __future__ import annotations

import numpy as np

from .. import layers
from ..cells import gru


def cell_prefix(cell) -> str:
    return cell.TORCH_NAME + "."


def init_params(hidden: int, n_symbols: int, vocab: int, rng: np.random.Generator, dtype=np.float32, cell=gru,
                embedding: int | None = None):
    """Embedding [V, E] ~ N(0, 1) (E = `embedding`, default H); cell and head with torch's default
    U(−1/√H, 1/√H)."""
    k = 1.0 / np.sqrt(hidden)
    E = hidden if embedding is None else embedding
    params = {"embedding.weight": rng.standard_normal((vocab, E)).astype(dtype)}
    params.update({cell_prefix(cell) + n: v for n, v in cell.init(hidden, E, rng, dtype).items()})
    params["head.weight"] = rng.uniform(-k, k, size=(n_symbols, hidden)).astype(dtype)
    params["head.bias"] = rng.uniform(-k, k, size=(n_symbols,)).astype(dtype)
    return params


def cell_params(params: dict, cell=gru) -> dict:
    pre = cell_prefix(cell)
    return {k[len(pre):]: v for k, v in params.items() if k.startswith(pre)}


def _embed_backward(dx, ids, shape, dtype):
    return layers.embedding_backward(ids, dx, shape[0]).astype(dtype, copy=False)


def encode_forward(params, enc_in, mask, cell=gru):
    """enc_in [T, B] token ids, mask [T, B] bool. Returns (s_enc [B, S], cache)."""
    E = params["embedding.weight"]
    x = E[enc_in]
    h0 = np.zeros((enc_in.shape[1], cell.state_size(params["head.weight"].shape[1])), dtype=E.dtype)
    hs, c = cell.forward(x, h0, cell_params(params, cell), mask.astype(E.dtype))
    return hs[-1], (enc_in, c, E.shape)


def encode_backward(dh_enc, cache, cell=gru):
    """dh_enc [B, S] → gradients of the embedding and the cell (a dict with the model's names)."""
    enc_in, c, eshape = cache
    dhs = np.zeros((enc_in.shape[0],) + dh_enc.shape, dtype=dh_enc.dtype)
    dhs[-1] = dh_enc
    dx, _, g = cell.backward(dhs, c)
    grads = {cell_prefix(cell) + k: v for k, v in g.items()}
    grads["embedding.weight"] = _embed_backward(dx, enc_in, eshape, dh_enc.dtype)
    return grads


def decode_forward(params, h0, dec_in, cell=gru):
    """h0 [B, S] the state to decode, dec_in [T, B] token ids. Returns (logits [T, B, C], cache)."""
    E = params["embedding.weight"]
    ss, c = cell.forward(E[dec_in], h0, cell_params(params, cell))
    hs = cell.output(ss)
    logits = hs @ params["head.weight"].T + params["head.bias"]
    return logits, (dec_in, c, hs, E.shape, params["head.weight"])


def decode_backward(dlogits, cache, cell=gru):
    """dlogits [T, B, C] → (dh0 [B, S], grads of embedding, cell and head)."""
    dec_in, c, hs, eshape, W = cache
    H = hs.shape[-1]
    grads = {"head.weight": dlogits.reshape(-1, W.shape[0]).T @ hs.reshape(-1, H),
             "head.bias": dlogits.sum(axis=(0, 1))}
    dx, dh0, g = cell.backward(cell.output_backward(dlogits @ W), c)
    grads.update({cell_prefix(cell) + k: v for k, v in g.items()})
    grads["embedding.weight"] = _embed_backward(dx, dec_in, eshape, dlogits.dtype)
    return dh0, grads


def cross_entropy(logits, target, mask):
    """Mean token cross-entropy over the positions where mask is True.

    logits [T, B, C], target [T, B], mask [T, B]. Returns (loss, dlogits [T, B, C]).
        loss = Σ w · (log Σ_k e^{z_k} − z_target),   z = logits − max,   w = mask / n_valid
        dlogits = w · (softmax(z) − onehot(target))"""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=-1)
    w = mask.astype(logits.dtype) / max(int(mask.sum()), 1)
    picked = np.take_along_axis(z, target[..., None], axis=-1)[..., 0]
    loss = ((np.log(s) - picked) * w).sum()
    dlogits = e * (w / s)[..., None]
    idx = target[..., None]
    np.put_along_axis(dlogits, idx, np.take_along_axis(dlogits, idx, -1) - w[..., None], -1)
    return float(loss), dlogits.astype(logits.dtype, copy=False)


def exact_match(logits, target, mask):
    """Sequence-level exact match (spec §4.1): [B] bool, True iff argmax = target at every t < L."""
    wrong = (logits.argmax(-1) != target) & mask
    return ~wrong.any(axis=0)


def add_grads(a: dict, b: dict) -> dict:
    """Sum two gradient dicts key by key (keys missing from one count as zero)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = out[k] + v if k in out else v
    return out


def loss_and_grads(params, batch, cell=gru):
    """Forward and backward of the whole model on one batch. Returns (loss, grads, logits)."""
    h, ec = encode_forward(params, batch.enc_in, batch.mask, cell)
    logits, dc = decode_forward(params, h, batch.dec_in, cell)
    loss, dlogits = cross_entropy(logits, batch.target, batch.loss_mask)   # = batch.mask but for lookup
    dh, g = decode_backward(dlogits, dc, cell)
    return loss, add_grads(g, encode_backward(dh, ec, cell)), logits


def predict(params, batch, cell=gru):
    """Teacher-forced logits [T, B, C] for a batch (no gradients kept)."""
    h, _ = encode_forward(params, batch.enc_in, batch.mask, cell)
    return decode_forward(params, h, batch.dec_in, cell)[0]
