"""PyTorch oracle (float64) for the stage-2 methods: every intervention's and probe's loss and gradients.

For each case: a random frozen seq2seq model, random analysis parameters, a batch and a seed. The random
corruption (pairs, masks, positions, new tokens, Gumbel noise) is drawn by onionref's own `corrupt` / `gumbel`
functions from that seed, in the order the methods draw them; everything after that (rotation through
`torch.nn.utils.parametrizations.orthogonal`, straight-through hard Gumbel-softmax, the frozen torch GRU, the onion
scale, the probes' layers, cross-entropy) is computed by torch autograd. Writes golden/analysis_*.npz.

    python golden/make_golden_analysis.py [CASE ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.parametrizations import orthogonal

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_golden import TorchSeq2Seq, random_model_params, to_numpy, to_torch, write_cases  # noqa: E402

from onionref.onion.interventions import corrupt, gumbel, rotation  # noqa: E402
from onionref.onion.interventions.autosegment import REG  # noqa: E402

torch.set_default_dtype(torch.float64)
H, C, L, B = 6, 5, 4, 8


def frozen_model(rng):
    params = random_model_params(rng, H, C, no_input=False)
    model = TorchSeq2Seq(H, C, C + 1)
    model.load_state_dict(to_torch(params))
    for p in model.parameters():
        p.requires_grad_(False)
    return params, model


def ce(logits, target, mask):
    labels = torch.where(mask, target, torch.full_like(target, -100))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def tm(tokens, lengths):
    """Time-major (enc_in, dec_in, target, mask) tensors, SOS-prefixed teacher forcing."""
    T = int(lengths.max())
    mask = np.arange(T)[:, None] < lengths[None, :]
    x = np.where(mask, tokens[:, :T].T, 0)
    dec = np.concatenate([np.full((1, x.shape[1]), C), x[:-1]])
    return torch.tensor(x), torch.tensor(dec), torch.tensor(mask)


def linear_case(ngram: int, seed: int, orthogonal_map: str = "matrix_exp", x_scale: float = 0.3) -> dict:
    """x_scale: the spread of X around −I (0.3: ‖A‖₁ ≈ 2, no squaring in expm; 2.5: ‖A‖₁ ≈ 12, two squarings)."""
    rng = np.random.default_rng(seed)
    mparams, model = frozen_model(rng)
    tok, ln = rng.integers(0, C, (B, L)), np.full(B, L)
    V = L - ngram + 1
    X = -np.eye(H) + x_scale * rng.standard_normal((H, H))
    base = rotation.init(H, rng)[1]
    M = rng.standard_normal((H, V + 1))
    draw = np.random.default_rng(seed + 1000)
    if ngram == 1:
        inputs, partner, m = corrupt.unigram_pairs(tok, ln, V, draw)
        enc = torch.tensor(inputs[:, :L].T)
    else:
        b_in, s_in, m, _ = corrupt.ngram_window(tok, ln, ngram, V, C, draw)
        enc = torch.tensor(np.concatenate([b_in, s_in])[:, :L].T)
    noise = gumbel.sample_noise(M.shape, draw)
    lin = orthogonal(torch.nn.Linear(H, H, bias=False), orthogonal_map=orthogonal_map)
    with torch.no_grad():
        lin.parametrizations.weight[0].base.copy_(torch.tensor(base))
        lin.parametrizations.weight.original.copy_(torch.tensor(X))
    Mt = torch.tensor(M, requires_grad=True)
    y = torch.softmax(Mt + torch.tensor(noise), -1)
    A = F.one_hot(y.argmax(-1), V + 1).to(y.dtype) - y.detach() + y
    h = model.encode(enc, torch.full((enc.shape[1],), L))
    h_base, h_src = (h, h[torch.tensor(partner)]) if ngram == 1 else (h[:B], h[B:])
    s_base, s_src = lin(h_base), lin(h_src)
    w = torch.tensor(m) @ A[:, :V].T
    h_new = (s_base + w * (s_src - s_base)) @ lin.weight
    x, dec, mask = tm(tok, ln)
    loss = ce(model.decode(h_new, dec), x, mask) + REG * (Mt[:, :V].mean() - Mt[:, V].mean())
    loss.backward()
    return {**{"model." + k: v for k, v in mparams.items()}, "tokens": tok, "lengths": ln, "seed": np.int64(seed + 1000),
            "param.X": X, "param.M": M, "buffer.base": base, "loss": np.float64(loss.item()),
            "grad.X": to_numpy(lin.parametrizations.weight.original.grad), "grad.M": to_numpy(Mt.grad),
            "ngram": np.int64(ngram)}


def onion_case(form: str, seed: int, from_end: bool = False) -> dict:
    """The onion intervention in one of its forms: onion (γ^p·g + p·ℓ + b), noscale (g + b), free (S[p]); with
    from_end the scale's position is counted from the sequence's end, q = L − 1 − p."""
    rng = np.random.default_rng(seed)
    mparams, model = frozen_model(rng)
    ln = rng.integers(1, L + 1, B)
    tok = np.where(np.arange(L)[None] < ln[:, None], rng.integers(0, C, (B, L)), 0)
    params = {"E": rng.standard_normal((C, H))}
    if form == "free":
        params["S"] = 1 + 0.5 * rng.standard_normal((L, H))
    else:
        params.update(g=1 + 0.2 * rng.standard_normal(H), b=0.2 * rng.standard_normal(H))
    if form == "onion":
        params.update(gamma=0.9 + 0.05 * rng.standard_normal(H), lin=1 + 0.2 * rng.standard_normal(H))
    draw = np.random.default_rng(seed + 1000)
    x_t, p, xo, xn = corrupt.single_token(tok, ln, C, draw)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    xt_enc, _, _ = tm(x_t, ln)
    with torch.no_grad():
        h_t = model.encode(xt_enc, torch.tensor(ln))
    q = ln - 1 - p if from_end else p
    pt = torch.tensor(q, dtype=torch.float64)[:, None]
    sc = {"onion": lambda: P["g"] * P["gamma"] ** pt + pt * P["lin"] + P["b"],
          "noscale": lambda: (P["g"] + P["b"]).expand(B, H),
          "free": lambda: P["S"][torch.tensor(q)]}[form]()
    h_new = h_t + (torch.tanh(P["E"][torch.tensor(xo)]) - torch.tanh(P["E"][torch.tensor(xn)])) * sc
    x, dec, mask = tm(tok, ln)
    loss = ce(model.decode(h_new, dec), x, mask)
    loss.backward()
    form_key = {"form": np.array(form)} if form == "free" else {"scale": np.int64(form == "onion")}
    return {**{"model." + k: v for k, v in mparams.items()}, "tokens": tok, "lengths": ln,
            "seed": np.int64(seed + 1000), "loss": np.float64(loss.item()), **form_key,
            **{"param." + k: v for k, v in params.items()}, **{"grad." + k: to_numpy(P[k].grad) for k in P}}


def probe_case(kind: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    mparams, model = frozen_model(rng)
    ln = rng.integers(1, L + 1, B)
    tok = np.where(np.arange(L)[None] < ln[:, None], rng.integers(0, C, (B, L)), 0)
    x, dec, mask = tm(tok, ln)
    T = x.shape[0]
    with torch.no_grad():
        h = model.encode(x, torch.tensor(ln))
    r = lambda *s: 0.5 * rng.standard_normal(s)  # noqa: E731
    if kind in ("linear", "mlp"):
        params = {"out.weight": r(C * L, H), "out.bias": r(C * L)}
        if kind == "mlp":
            params.update({"hidden.weight": r(H, H), "hidden.bias": r(H)})
    elif kind == "onion":
        params = {"E": r(C, H), "gamma": 0.9 + r(H) / 10, "g": 1 + r(H), "b": r(H), "lin": 0.1 + r(H) / 10,
                  "ln.weight": 1 + r(H), "ln.bias": r(H), "cls1.weight": r(H, H), "cls1.bias": r(H),
                  "cls2.weight": r(C, H), "cls2.bias": r(C)}
    else:
        params = {"gru." + k: r(*s) for k, s in [("weight_ih_l0", (3 * H, H)), ("weight_hh_l0", (3 * H, H)),
                                                 ("bias_ih_l0", (3 * H,)), ("bias_hh_l0", (3 * H,))]}
        params.update({"head.weight": r(C, H), "head.bias": r(C)})
        if kind == "gru-ar":
            params["embedding.weight"] = r(C + 1, H)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    if kind in ("linear", "mlp"):
        z = F.relu(F.linear(h, P["hidden.weight"], P["hidden.bias"])) if kind == "mlp" else h
        logits = F.linear(z, P["out.weight"], P["out.bias"]).view(B, L, C).transpose(0, 1)[:T]
    elif kind == "onion":
        hp, outs = h, []
        for p in range(T):
            outs.append(hp)
            hp = hp - P["E"][x[p]] * (P["g"] * P["gamma"] ** p + p * P["lin"] + P["b"])
        z = F.layer_norm(torch.stack(outs), (H,), P["ln.weight"], P["ln.bias"], eps=1e-5)
        logits = F.linear(F.relu(F.linear(z, P["cls1.weight"], P["cls1.bias"])), P["cls2.weight"], P["cls2.bias"])
    else:
        gru = torch.nn.GRU(H, H)
        inp = P["embedding.weight"][dec] if kind == "gru-ar" else torch.zeros(T, B, H)
        gp = {k[4:]: P[k] for k in P if k.startswith("gru.")}
        hs, _ = torch.func.functional_call(gru, gp, (inp, h[None]))
        logits = F.linear(hs, P["head.weight"], P["head.bias"])
    loss = ce(logits, x, mask)
    loss.backward()
    return {**{"model." + k: v for k, v in mparams.items()}, "tokens": tok, "lengths": ln,
            "loss": np.float64(loss.item()), "kind": np.array(kind),
            **{"param." + k: v for k, v in params.items()}, **{"grad." + k: to_numpy(P[k].grad) for k in P}}


CASES = {
    "analysis_unigram": lambda: linear_case(1, 11),
    "analysis_bigram": lambda: linear_case(2, 12),
    "analysis_unigram_cayley": lambda: linear_case(1, 15, "cayley"),
    "analysis_unigram_squarings": lambda: linear_case(1, 16, x_scale=2.5),
    "analysis_onion": lambda: onion_case("onion", 13),
    "analysis_onion_noscale": lambda: onion_case("noscale", 14),
    "analysis_onion_free": lambda: onion_case("free", 17),
    "analysis_onion_from_end": lambda: onion_case("onion", 19, from_end=True),
    **{f"analysis_probe_{k.replace('-', '_')}": (lambda k=k, s=s: probe_case(k, s))
       for s, k in enumerate(["linear", "mlp", "onion", "gru-ar", "gru-noinput"], start=20)},
}


def main() -> None:
    """All cases, or only those named on the command line."""
    names = sys.argv[1:] or list(CASES)
    write_cases({k: CASES[k] for k in names})


if __name__ == "__main__":
    main()
