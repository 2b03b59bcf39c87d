"""The PyTorch oracle: the paper's model rebuilt in torch float64, run forward and backward, saved as .npz fixtures.

torch is a test-time oracle only; `onionref` never imports it, and this file never imports `onionref`: inputs,
weights and the decoder input are built here from the spec (§1.3, §2), so the comparison is between two
independent implementations.

    encoder:  h_enc = GRU(E[x_1..x_L]; h_0 = 0) through pack_padded_sequence (each sequence stops at its own L)
    decoder:  h_t = GRU(E[dec_in_t]; h_enc) over all T steps,  logits_t = W_o h_t + b_o
              dec_in = SOS, x_1..x_{T-1} (x zero-padded)   or   SOS, NI, NI, ... (no-input)
    loss:     F.cross_entropy over the positions t < L (ignore_index elsewhere), mean
    AdamW:    torch.optim.AdamW(lr, weight_decay) for `steps` steps on the same batch

The standalone GRU case runs an explicitly masked loop over nn.GRUCell, h ← h + m ⊙ (cell(x_t, h) − h), with a
random (not prefix-shaped) mask and a nonzero h_0, and backpropagates a random linear functional Σ W ⊙ hs.

Run `python golden/make_golden.py` to rewrite the fixtures next to this file. The output is byte-for-byte
deterministic (fixed seeds, one torch thread, zip entries with a fixed timestamp).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

HERE = Path(__file__).resolve().parent
GRU_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


# ---------------------------------------------------------------------------------------------------- inputs (NumPy)
def random_tokens(rng: np.random.Generator, n_symbols: int, lengths) -> np.ndarray:
    """tokens [B, max(lengths)] int64, uniform ids < n_symbols, zero past each length."""
    lengths = np.asarray(lengths, dtype=np.int64)
    tok = rng.integers(0, n_symbols, size=(len(lengths), int(lengths.max())))
    return np.where(np.arange(tok.shape[1])[None, :] < lengths[:, None], tok, 0).astype(np.int64)


def random_gru_params(rng: np.random.Generator, hidden: int, in_size: int, scale: float = 1.0) -> dict:
    """torch's default GRU init U(−k, k), k = scale/√H, float64."""
    k = scale / np.sqrt(hidden)
    shapes = {"weight_ih_l0": (3 * hidden, in_size), "weight_hh_l0": (3 * hidden, hidden),
              "bias_ih_l0": (3 * hidden,), "bias_hh_l0": (3 * hidden,)}
    return {n: rng.uniform(-k, k, size=s) for n, s in shapes.items()}


def random_model_params(rng: np.random.Generator, hidden: int, n_symbols: int, no_input: bool) -> dict:
    """The seq2seq parameter dict with the model's names (spec §2), float64."""
    vocab = n_symbols + 1 + int(no_input)
    k = 1.0 / np.sqrt(hidden)
    p = {"embedding.weight": rng.standard_normal((vocab, hidden))}
    p.update({"gru." + n: v for n, v in random_gru_params(rng, hidden, hidden).items()})
    p["head.weight"] = rng.uniform(-k, k, size=(n_symbols, hidden))
    p["head.bias"] = rng.uniform(-k, k, size=(n_symbols,))
    return p


def time_major(tokens: np.ndarray, lengths: np.ndarray, n_symbols: int, no_input: bool):
    """(enc_in, dec_in, target, mask), each [T, B], built from the spec's rule (§1.3)."""
    T = int(lengths.max())
    mask = np.arange(T)[:, None] < lengths[None, :]
    x = np.where(mask, tokens[:, :T].T, 0)
    dec = np.empty_like(x)
    dec[0] = n_symbols                                    # SOS
    dec[1:] = n_symbols + 1 if no_input else x[:-1]       # NI, or teacher forcing
    return x, dec, x.copy(), mask


# --------------------------------------------------------------------------------------------------- model (torch)
class TorchSeq2Seq(nn.Module):
    """The authors' model: one embedding and one GRU shared by encoder and decoder, a linear head."""

    def __init__(self, hidden: int, n_symbols: int, vocab: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.gru = nn.GRU(hidden, hidden, num_layers=1, batch_first=False)
        self.head = nn.Linear(hidden, n_symbols)

    def encode(self, enc_in: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """enc_in [T, B], lengths [B] → h_enc [B, H], the state after each sequence's own last token."""
        packed = pack_padded_sequence(self.embedding(enc_in), lengths, enforce_sorted=False)
        _, h_n = self.gru(packed)          # h_n is returned in the batch's original order
        return h_n[0]

    def decode(self, h0: torch.Tensor, dec_in: torch.Tensor) -> torch.Tensor:
        """h0 [B, H], dec_in [T, B] → logits [T, B, C]."""
        hs, _ = self.gru(self.embedding(dec_in), h0[None])
        return self.head(hs)


def to_torch(params: dict) -> dict:
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()


def model_loss(model: TorchSeq2Seq, enc_in, dec_in, target, mask, lengths):
    """Returns (loss, h_enc, logits); h_enc keeps its gradient."""
    h_enc = model.encode(enc_in, lengths)
    h_enc.retain_grad()
    logits = model.decode(h_enc, dec_in)
    labels = torch.where(mask, target, torch.full_like(target, -100))
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    return loss, h_enc, logits


# ------------------------------------------------------------------------------------------------------------ cases
def seq2seq_case(hidden: int, n_symbols: int, lengths, no_input: bool, seed: int,
                 steps: int = 20, lr: float = 1e-3, wd: float = 0.1) -> dict:
    """One batch through the torch model: inputs, forward outputs, loss, gradients, and an AdamW trajectory.

    Keys: tokens [B, Lmax], lengths [B], n_symbols, no_input, enc_in/dec_in/target/mask [T, B],
    param.<name>, h_enc [B, H], logits [T, B, C], loss, dh_enc [B, H], grad.<name>,
    adamw.lr, adamw.wd, adamw.losses [steps] (loss before each step), adamw.final.<name>."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    tokens = random_tokens(rng, n_symbols, lengths)
    params = random_model_params(rng, hidden, n_symbols, no_input)
    enc_in, dec_in, target, mask = time_major(tokens, lengths, n_symbols, no_input)

    model = TorchSeq2Seq(hidden, n_symbols, n_symbols + 1 + int(no_input)).double()
    model.load_state_dict(to_torch(params), strict=True)
    t_in = [torch.from_numpy(a) for a in (enc_in, dec_in, target, mask)] + [torch.from_numpy(lengths)]
    loss, h_enc, logits = model_loss(model, *t_in)
    loss.backward()

    out = {"tokens": tokens, "lengths": lengths, "n_symbols": np.int64(n_symbols), "no_input": np.bool_(no_input),
           "enc_in": enc_in, "dec_in": dec_in, "target": target, "mask": mask}
    out.update({"param." + k: v for k, v in params.items()})
    out.update({"h_enc": to_numpy(h_enc), "logits": to_numpy(logits), "loss": np.float64(loss.item()),
                "dh_enc": to_numpy(h_enc.grad)})
    out.update({"grad." + k: to_numpy(p.grad) for k, p in model.named_parameters()})

    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_k, _, _ = model_loss(model, *t_in)
        loss_k.backward()
        opt.step()
        losses.append(loss_k.item())
    out.update({"adamw.lr": np.float64(lr), "adamw.wd": np.float64(wd), "adamw.losses": np.array(losses)})
    out.update({"adamw.final." + k: to_numpy(v) for k, v in model.state_dict().items()})
    return out


def gru_case(T: int, B: int, E: int, H: int, seed: int, p_step: float = 0.7) -> dict:
    """A masked GRU over nn.GRUCell: keys x [T,B,E], h0 [B,H], mask [T,B] (0/1 float), W [T,B,H] (the functional),
    param.<name>, hs [T,B,H], dx, dh0, grad.<name>."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, E))
    h0 = rng.uniform(-1.0, 1.0, size=(B, H))
    mask = (rng.random((T, B)) < p_step).astype(np.float64)
    W = rng.standard_normal((T, B, H))
    params = random_gru_params(rng, H, E, scale=2.0)     # a wider init, so the gates leave their linear range

    cell = nn.GRUCell(E, H).double()
    cell.load_state_dict({n[:-3]: v for n, v in to_torch(params).items()}, strict=True)   # weight_ih_l0 → weight_ih
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    mt = torch.tensor(mask)
    h, hs = h0t, []
    for t in range(T):
        h = h + mt[t, :, None] * (cell(xt[t], h) - h)
        hs.append(h)
    hs = torch.stack(hs)
    (hs * torch.tensor(W)).sum().backward()

    out = {"x": x, "h0": h0, "mask": mask, "W": W, "hs": to_numpy(hs), "dx": to_numpy(xt.grad),
           "dh0": to_numpy(h0t.grad)}
    out.update({"param." + k: v for k, v in params.items()})
    out.update({"grad." + n + "_l0": to_numpy(p.grad) for n, p in cell.named_parameters()})
    return out


CASES = {
    # H=8, 5 symbols; lengths 1, 2 and the maximum (twice), the rest in between.
    "tiny_ar": lambda: seq2seq_case(8, 5, [1, 7, 2, 4, 7, 3, 5, 2], no_input=False, seed=1),
    "tiny_noinput": lambda: seq2seq_case(8, 5, [1, 7, 2, 4, 7, 3, 5, 2], no_input=True, seed=2),
    # The paper's smallest model (H=48, 30 symbols, lengths 2..9) on one batch of 16.
    "paper_h48": lambda: seq2seq_case(48, 30, [9, 2, 5, 9, 3, 7, 4, 8, 6, 2, 9, 5, 3, 8, 7, 4],
                                      no_input=False, seed=3),
    "gru_masked": lambda: gru_case(T=6, B=5, E=4, H=7, seed=4),
}


def save_npz(path: Path, arrays: dict) -> None:
    """np.savez, then the zip entries rewritten with a fixed timestamp so the bytes depend only on the arrays."""
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise TypeError(f"{k}: object arrays are not allowed in fixtures")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_STORED
            zout.writestr(fixed, zin.read(info.filename))
    path.write_bytes(out.getvalue())


def write_cases(cases: dict) -> None:
    """Build every case and write it to golden/<name>.npz."""
    for name, build in cases.items():
        path = HERE / f"{name}.npz"
        save_npz(path, build())
        print(f"wrote {path.name} ({path.stat().st_size / 1024:.0f} KiB)")


def main() -> None:
    write_cases(CASES)


if __name__ == "__main__":
    main()
