"""Every stage-2 analysis as a competent PyTorch user writes it, for `onionref bench --analyses` (CPU, float32).

The frozen model is `nn.Embedding` → `nn.GRU` → `nn.Linear` without gradients; the encoder state of each sequence is
read from the GRU's outputs at its own length. The analysis parameters are `nn.Parameter`s trained by autograd and
`torch.optim.AdamW` (lr 1e-3, wd 0.1). The random corruptions are drawn by onionref's own `corrupt` functions (NumPy,
from the same per-step seed), as the golden oracle does; the Gumbel noise by `F.gumbel_softmax(hard=True)`; the
rotation is `parametrizations.orthogonal` (default map: matrix_exp; cayley for the *-cayley rows), evaluated once per
step, from the same trained-like start state X as onionref's (analyses.rotation_start).
torch is imported only here, and only by the bench's torch worker.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

from .analyses import rotation_start, sequences
from .models import B, L, N_SYMBOLS
from ..onion import seq2seq
from ..onion.interventions import corrupt
from ..tasks.repeat import epoch_batches, make_batch

C = N_SYMBOLS


class Model(nn.Module):
    """The frozen seq2seq model (weights from onionref's init, so both sides run the same model)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.embedding, self.gru, self.head = nn.Embedding(C + 1, hidden), nn.GRU(hidden, hidden), nn.Linear(hidden, C)
        params = seq2seq.init_params(hidden, C, C + 1, np.random.default_rng(0))
        self.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
        self.requires_grad_(False)

    def encode(self, enc_in, lengths):
        """enc_in [T, B], lengths [B] → the state after each sequence's last token [B, H] (no gradient)."""
        with torch.no_grad():
            out, _ = self.gru(self.embedding(enc_in))
            return out[lengths - 1, torch.arange(enc_in.shape[1])]

    def decode(self, h0, dec_in):
        out, _ = self.gru(self.embedding(dec_in), h0[None])
        return self.head(out)


def _ce(logits, target, mask):
    labels = torch.where(mask, target, torch.full_like(target, -100))
    return F.cross_entropy(logits.reshape(-1, C), labels.reshape(-1), ignore_index=-100)


def _tensors(tokens, lengths):
    b = make_batch(tokens, lengths, C)
    return (torch.from_numpy(b.enc_in), torch.from_numpy(b.dec_in), torch.from_numpy(b.target),
            torch.from_numpy(b.mask), torch.from_numpy(lengths))


class Onion(nn.Module):
    def __init__(self, hidden: int, form: str, from_end: bool = False):
        super().__init__()
        self.form, self.from_end = form, from_end
        self.E = nn.Parameter(torch.randn(C, hidden))
        if form == "free":
            q = torch.arange(L, dtype=torch.float32)[:, None]
            self.S = nn.Parameter((0.9 ** q + q).expand(L, hidden).clone())
            return
        self.g, self.b = nn.Parameter(torch.ones(hidden)), nn.Parameter(torch.zeros(hidden))
        if form == "onion":
            self.gamma, self.lin = nn.Parameter(torch.full((hidden,), 0.9)), nn.Parameter(torch.ones(hidden))

    def loss(self, model, tokens, lengths, rng):
        x_t, p, xo, xn = corrupt.single_token(tokens, lengths, C, rng)
        enc, dec, target, mask, ln = _tensors(tokens, lengths)
        h = model.encode(torch.from_numpy(np.ascontiguousarray(x_t[:, :enc.shape[0]].T)), ln)
        q = lengths - 1 - p if self.from_end else p
        pt = torch.from_numpy(q).float()[:, None]
        sc = {"onion": lambda: self.g * self.gamma ** pt + pt * self.lin + self.b, "noscale": lambda: self.g + self.b,
              "free": lambda: self.S[torch.from_numpy(q)]}[self.form]()
        h = h + (torch.tanh(self.E[torch.from_numpy(xo)]) - torch.tanh(self.E[torch.from_numpy(xn)])) * sc
        return _ce(model.decode(h, dec), target, mask)


class Subspace(nn.Module):
    def __init__(self, hidden: int, ngram: int, orthogonal_map: str = "matrix_exp"):
        super().__init__()
        self.ngram, self.V = ngram, L - ngram + 1
        self.rot = orthogonal(nn.Linear(hidden, hidden, bias=False), orthogonal_map=orthogonal_map)
        with torch.no_grad():                                 # the bench's trained-like start state, as onionref's
            self.rot.parametrizations.weight.original.copy_(torch.from_numpy(rotation_start(hidden)))
        self.M = nn.Parameter(0.01 * torch.randn(hidden, self.V + 1))

    def loss(self, model, tokens, lengths, rng):
        enc, dec, target, mask, ln = _tensors(tokens, lengths)
        if self.ngram == 1:
            inputs, partner, m = corrupt.unigram_pairs(tokens, lengths, self.V, rng)
            h = model.encode(torch.from_numpy(np.ascontiguousarray(inputs.T)), ln)
            h_base, h_src = h, h[torch.from_numpy(partner)]
        else:
            base, src, m, _ = corrupt.ngram_window(tokens, lengths, self.ngram, self.V, C, rng)
            h = model.encode(torch.from_numpy(np.ascontiguousarray(np.concatenate([base, src]).T)), ln.repeat(2))
            h_base, h_src = h[:B], h[B:]
        R = self.rot.weight                                   # one matrix_exp per step
        A = F.gumbel_softmax(self.M, tau=1.0, hard=True)
        w = torch.from_numpy(m).float() @ A[:, :self.V].T
        s_base, s_src = h_base @ R.T, h_src @ R.T
        h_new = (s_base + w * (s_src - s_base)) @ R
        reg = 0.001 * (self.M[:, :self.V].mean() - self.M[:, self.V].mean())
        return _ce(model.decode(h_new, dec), target, mask) + reg


class StateDecoder(nn.Module):
    def __init__(self, hidden: int, n_layers: int):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU()) if n_layers == 2 else nn.Identity()
        self.out = nn.Linear(hidden, C * L)

    def loss(self, model, tokens, lengths, rng):
        enc, dec, target, mask, ln = _tensors(tokens, lengths)
        logits = self.out(self.hidden(model.encode(enc, ln))).view(len(ln), -1, C).transpose(0, 1)[:enc.shape[0]]
        return _ce(logits, target, mask)


class Peeling(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.E = nn.Parameter(torch.randn(C, hidden))
        self.gamma, self.g = nn.Parameter(torch.full((hidden,), 0.9)), nn.Parameter(torch.ones(hidden))
        self.b, self.lin = nn.Parameter(torch.zeros(hidden)), nn.Parameter(torch.full((hidden,), 0.1))
        self.cls = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, C))

    def loss(self, model, tokens, lengths, rng):
        enc, dec, target, mask, ln = _tensors(tokens, lengths)
        h, states = model.encode(enc, ln), []
        for p in range(enc.shape[0]):
            states.append(h)
            h = h - self.E[target[p]] * (self.g * self.gamma ** p + p * self.lin + self.b)
        return _ce(self.cls(torch.stack(states)), target, mask)


class GruDecoder(nn.Module):
    def __init__(self, hidden: int, autoregressive: bool):
        super().__init__()
        self.embedding = nn.Embedding(C + 1, hidden) if autoregressive else None
        self.gru, self.head = nn.GRU(hidden, hidden), nn.Linear(hidden, C)

    def loss(self, model, tokens, lengths, rng):
        enc, dec, target, mask, ln = _tensors(tokens, lengths)
        h = model.encode(enc, ln)
        x = self.embedding(dec) if self.embedding is not None else h.new_zeros(dec.shape + (h.shape[1],))
        out, _ = self.gru(x, h[None])
        return _ce(self.head(out), target, mask)


ANALYSES = {"onion": lambda H: Onion(H, "onion"), "onion-noscale": lambda H: Onion(H, "noscale"),
            "onion-free": lambda H: Onion(H, "free"), "onion-from-end": lambda H: Onion(H, "onion", from_end=True),
            "linear": lambda H: Subspace(H, 1), "bigram": lambda H: Subspace(H, 2),
            "linear-cayley": lambda H: Subspace(H, 1, "cayley"), "bigram-cayley": lambda H: Subspace(H, 2, "cayley"),
            "probe-linear": lambda H: StateDecoder(H, 1), "probe-mlp": lambda H: StateDecoder(H, 2),
            "probe-onion": Peeling, "probe-gru-ar": lambda H: GruDecoder(H, True),
            "probe-gru-noinput": lambda H: GruDecoder(H, False)}


def make_step(hidden: int, name: str, threads: int):
    """One training step of analysis `name` at size `hidden` in torch (float32, `threads` threads)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, analysis = Model(hidden), ANALYSES[name](hidden)
    opt = torch.optim.AdamW(analysis.parameters(), lr=1e-3, weight_decay=0.1)
    tokens, lengths = sequences(name)
    batches, counter = epoch_batches(len(lengths), B, 0), itertools.count(1)

    def step():
        idx = next(batches)
        loss = analysis.loss(model, tokens[idx], lengths[idx], np.random.default_rng([0, 3, next(counter)]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step
