"""One run's figures (`onionref report RUN`): the gate heat map, a one-token pair's state difference over every
step, single-token state differences at the final state, the learned onion scale, and the analyses' scores per
sequence length; with the numbers behind them.

    run_figures(run_dir, sequence=None) -> (figures {file name: PNG bytes}, numbers {...})
    write_run_report(run_dir, sequence=None, out=None)     writes OUT/*.png and OUT/figures.json (OUT = RUN/figures)

The gate figure's default input is the paper's "a b 1 c a d f 2" (spec §5, gate.pdf) when the run's alphabet and
lengths allow it, otherwise the first sequence of maximal length from a fixed generator.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import runs
from ..errors import UserError
from ..tasks.repeat import ALPHABET, decode_tokens
from . import figures, inspect
from .interventions.onion import scale_table
from .methods import INTERVENTIONS, PROBES
from .report_table import per_length_stats
from .train import load_run

PAPER_INPUT = "a b 1 c a d f 2"
N_PAIRS = 256          # sequences whose single-token edits the state-difference figure averages over


def _per_length(result: dict, where: Path) -> dict:
    """{L: score} of a result.json, checked (one-line errors on a damaged file)."""
    return {L: s["mean"] for L, s in per_length_stats([result.get("per_length")], [str(where)]).items()}


def default_sequence(cfg) -> str:
    tokens = PAPER_INPUT.split()
    if all(ALPHABET.index(t) < cfg.symbols for t in tokens) and cfg.min_len <= len(tokens) <= cfg.max_len:
        return PAPER_INPUT
    return decode_tokens(np.random.default_rng(0).integers(0, cfg.symbols, size=cfg.max_len))


def run_figures(run_dir: Path, sequence: str | None = None):
    """(figures {name: PNG bytes}, numbers) of one run; reads only, writes nothing."""
    run_dir = Path(run_dir)
    cfg, params = load_run(run_dir)
    seq = default_sequence(cfg) if sequence is None else sequence
    tok, ln = inspect.parse_sequences(seq, cfg.symbols)
    if len(ln) != 1:
        raise UserError("--input takes one sequence")
    tag = f"H={cfg.hidden}{' no-input' if cfg.no_input else ''}{'' if cfg.task == 'repeat' else ' ' + cfg.task}"
    out, numbers = {}, {"run": str(run_dir), "hidden": cfg.hidden, "no_input": cfg.no_input, "input": seq}

    if cfg.task == "repeat":   # the gate and pair figures run repeat's decoder; the rest reads the encoder only
        _decoder_figures(out, numbers, params, cfg, tok, ln, seq, tag)
    else:
        numbers["task"] = cfg.task

    rng = np.random.default_rng(0)
    d = inspect.single_token_differences(params, rng.integers(0, cfg.symbols, size=(N_PAIRS, cfg.max_len)), rng)
    norms = np.median(np.linalg.norm(d, axis=-1), axis=1)
    out["state_differences.png"] = figures.state_differences(
        d, f"{tag}, L={cfg.max_len}: one token changed")
    numbers["state_differences"] = {"length": cfg.max_len, "median_norm_per_position": norms,
                                    "max_over_min": float(norms.max() / max(norms.min(), 1e-30))}

    scales = {}
    for label, sub in (("intervention", "intervene/onion"), ("probe", "probe/onion")):
        if runs.finished_result(run_dir / sub) is not None:
            scales[label] = scale_table(runs.load_arrays(run_dir / sub / "params.safetensors")[0], cfg.max_len)
    if scales:
        out["onion_scale.png"] = figures.onion_scale(scales, f"learned onion scale, {tag}")
        numbers["onion_scale_median"] = {k: np.median(np.abs(s), axis=1) for k, s in scales.items()}

    model = runs.finished_result(run_dir)
    model_per_length = _per_length(model, run_dir / "result.json") if model else None
    for group, names, fname, ylabel in (("intervene", INTERVENTIONS, "iia_per_length.png", "IIA"),
                                        ("probe", PROBES, "probe_per_length.png", "probe accuracy")):
        curves = {n: _per_length(r, run_dir / group / n / "result.json") for n in names
                  if (r := runs.finished_result(run_dir / group / n)) is not None}
        if curves:
            out[fname] = figures.per_length(curves, model_per_length, ylabel, f"{ylabel} per length, {tag}")
            numbers[f"{group}_per_length"] = curves
    return out, numbers


def _decoder_figures(out, numbers, params, cfg, tok, ln, seq, tag):
    """gates.png and pair_difference.png (encoder and repeat decoder steps), and the greedy decode (repeat runs)."""
    L = int(ln[0])
    g = inspect.gates(params, tok, ln, cfg.no_input)
    one_minus_z = np.concatenate([1 - g["encoder"]["z"][:, 0], 1 - g["decoder"]["z"][:, 0]]).T   # [H, 2L]
    enc_labels = [ALPHABET[t] for t in tok[0]]
    dec_labels = ["S"] + (["NI"] * (L - 1) if cfg.no_input else enc_labels[:-1])
    out["gates.png"] = figures.gate_heatmap(one_minus_z, enc_labels + dec_labels, L, f"1 − z, {tag}: {seq}")
    i = min(2, L - 1)
    tok2 = tok.copy()
    tok2[0, i] = (tok[0, i] + 1) % cfg.symbols
    g2 = inspect.gates(params, tok2, ln, cfg.no_input)
    diff = np.abs(np.concatenate([g2[k]["h"][:, 0] - g[k]["h"][:, 0] for k in ("encoder", "decoder")])).T
    out["pair_difference.png"] = figures.pair_difference(
        diff, enc_labels + dec_labels, L, f"{tag}: {seq} vs {decode_tokens(tok2[0])}")
    numbers["pair_difference"] = {"other": decode_tokens(tok2[0]), "norm_per_step": np.linalg.norm(diff, axis=0)}
    pred, _ = inspect.greedy_decode(params, g["encoder"]["h"][-1], ln, cfg.no_input)
    numbers["gates"] = {"mean_1_minus_z_encoder": one_minus_z[:, :L].mean(0), "mean_1_minus_z_decoder":
                        one_minus_z[:, L:].mean(0), "decoded": decode_tokens(pred[0])}


def write_figures(out_dir: Path, figs: dict, numbers: dict) -> list:
    """Write figures and figures.json into out_dir; returns the written paths."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in figs.items():
        runs.atomic_write_bytes(out_dir / name, data)
        paths.append(out_dir / name)
    runs.write_json(out_dir / "figures.json", numbers)
    return paths


def write_run_report(run_dir: Path, sequence: str | None = None, out: Path | None = None) -> dict:
    """Draw one run's figures into OUT (default RUN/figures/); returns {"figures": [paths], **numbers}."""
    out = Path(run_dir) / "figures" if out is None else Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is not a directory")
    figs, numbers = run_figures(run_dir, sequence)
    paths = write_figures(out, figs, numbers)
    return {"figures": [str(p) for p in paths], **numbers}
