"""Train the paper's GRU on the repeat task in plain PyTorch, then hand it to onionref:

    python examples/train_in_torch.py --out model.pt            # the paper's settings: H 48, 40,000 steps
    onionref import model.pt --out runs/torch-h48               # (add --no-input for a --no-input model)
    onionref intervene runs/torch-h48 --mode onion

The model and tokens follow the paper (spec §1-§2): 30 symbols with ids '0'..'9' -> 0..9, 'a'..'t' -> 10..29,
SOS = 30, NI = 31 (no-input variant only); one Embedding(31 [+1], H) and one GRU(H, H) shared by encoder and
decoder, a Linear(H, 30) readout. Encoder over x_1..x_L from h = 0 (each sequence's state at its own length);
decoder from that state over [SOS, x_1, ..., x_{L-1}] (teacher forcing) or [SOS, NI, NI, ...]; cross-entropy on
x_1..x_L. AdamW (lr 1e-3, weight decay 0.1), batch 256, constant LR. Sequences: L ~ U{2..9}, tokens uniform (this
script does not keep train and validation sequences disjoint as onionref's datasets do).

Validation is greedy decoding: the decoder feeds back its own argmax (or NI), and a sequence counts when every one
of its L tokens is right. --eval-seqs FILE.npz (arrays tokens [N, Lmax], lengths [N]) evaluates those sequences
instead of a sampled set, and --eval-json FILE writes the result.

The checkpoint is saved as research frameworks save theirs, {"model": state_dict, "step": ..., "args": {...}}
(.pt / .pth), or as a plain state dict in safetensors (.safetensors). Both go into `onionref import` unchanged.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

N_SYMBOLS, SOS, NI = 30, 30, 31


class Seq2Seq(nn.Module):
    def __init__(self, hidden: int, no_input: bool):
        super().__init__()
        self.no_input = no_input
        self.embedding = nn.Embedding(N_SYMBOLS + 1 + int(no_input), hidden)   # init N(0, 1)
        self.gru = nn.GRU(hidden, hidden)
        self.readout = nn.Linear(hidden, N_SYMBOLS)

    def encode(self, x, lengths):
        """x [T, B] ids, lengths [B] -> h [1, B, H], each sequence's state after its own last token."""
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(x), lengths.cpu(), enforce_sorted=False)
        return self.gru(packed)[1]

    def decoder_input(self, x):
        """[SOS, x_1 .. x_{T-1}] or [SOS, NI, ..., NI], [T, B]."""
        dec = torch.full_like(x, NI if self.no_input else SOS)
        dec[0] = SOS
        if not self.no_input:
            dec[1:] = x[:-1]
        return dec

    def forward(self, x, lengths):
        """Teacher-forced logits [T, B, 30]."""
        out, _ = self.gru(self.embedding(self.decoder_input(x)), self.encode(x, lengths))
        return self.readout(out)

    @torch.no_grad()
    def greedy(self, x, lengths):
        """Predicted ids [T, B]: the decoder fed its own previous argmax (or NI), T = max length."""
        h = self.encode(x, lengths)
        tok = torch.full((x.shape[1],), SOS, dtype=torch.long)
        preds = []
        for _ in range(x.shape[0]):
            out, h = self.gru(self.embedding(tok)[None], h)
            pred = self.readout(out[0]).argmax(-1)
            preds.append(pred)
            tok = torch.full_like(pred, NI) if self.no_input else pred
        return torch.stack(preds)


def sample(rng, n: int, min_len: int = 2, max_len: int = 9):
    """tokens [n, max_len] (0 past each length), lengths [n]."""
    lengths = rng.integers(min_len, max_len + 1, size=n)
    tokens = rng.integers(0, N_SYMBOLS, size=(n, max_len))
    tokens[np.arange(max_len)[None, :] >= lengths[:, None]] = 0
    return tokens, lengths


def batch(tokens, lengths):
    """Time-major x [T, B] and the loss mask [T, B] (t < L)."""
    T = int(lengths.max())
    x = torch.as_tensor(tokens[:, :T].T.copy(), dtype=torch.long)
    mask = torch.arange(T)[:, None] < torch.as_tensor(lengths)[None, :]
    return x, torch.as_tensor(lengths, dtype=torch.long), mask


def exact_match(model, tokens, lengths, chunk: int = 1000) -> dict:
    """Greedy-decoding exact match overall and per length."""
    correct = np.zeros(len(lengths), dtype=bool)
    for i in range(0, len(lengths), chunk):
        x, ln, mask = batch(tokens[i:i + chunk], lengths[i:i + chunk])
        wrong = (model.greedy(x, ln) != x) & mask
        correct[i:i + chunk] = ~wrong.any(0).numpy()
    per = {int(L): float(correct[lengths == L].mean()) for L in np.unique(lengths)}
    return {"exact_match": float(correct.mean()), "n": int(len(lengths)), "per_length": per}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--steps", type=int, default=40_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-input", action="store_true", help="decoder input SOS, NI, NI, ... (NI = 31)")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--n-valid", type=int, default=5000)
    ap.add_argument("--eval-seqs", default=None, help="validate on these sequences (.npz: tokens, lengths)")
    ap.add_argument("--eval-json", default=None, help="write the final validation result here")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="model.pt", help="model.pt / .pth (a checkpoint dict) or model.safetensors")
    args = ap.parse_args()
    if args.steps < 1 or args.eval_every < 1:
        ap.error("--steps and --eval-every must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.eval_seqs:
        with np.load(args.eval_seqs, allow_pickle=False) as f:
            valid = f["tokens"].astype(np.int64), f["lengths"].astype(np.int64)
    else:
        valid = sample(np.random.default_rng([args.seed, 1]), args.n_valid)

    model = Seq2Seq(args.hidden, args.no_input)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    t0 = time.time()
    for step in range(1, args.steps + 1):
        x, ln, mask = batch(*sample(rng, args.batch))
        logits = model(x, ln)
        loss = nn.functional.cross_entropy(logits[mask], x[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            res = exact_match(model, *valid)
            print(f"step {step}: loss {loss.item():.4f}, greedy exact match {res['exact_match']:.4f} "
                  f"({time.time() - t0:.0f} s)", flush=True)

    if args.out.endswith(".safetensors"):
        from safetensors.torch import save_file
        save_file(model.state_dict(), args.out)
    else:
        torch.save({"model": model.state_dict(), "step": args.steps, "args": vars(args)}, args.out)
    if args.eval_json:
        with open(args.eval_json, "w") as f:
            json.dump(res, f)
    print(f"saved {args.out}; import it with: onionref import {args.out} --out RUN"
          f"{' --no-input' if args.no_input else ''}")


if __name__ == "__main__":
    main()
