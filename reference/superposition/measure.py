"""The numbers of one trained model (spec B4): loss (raw and normalised), geometry, the analytic loss.

    loss_normalised = loss / Σ_i I_i Var(X)   with an output bias,   loss / Σ_i I_i ν   without (ν = p E[U²])
"""
from __future__ import annotations

import numpy as np

from ..tasks.delay_recall import delayed_targets, importance, moments, sample_inputs, EVAL_STREAM
from . import geometry as G
from .analytic_loss import analytic_loss
from .config import SuperConfig
from .model import loss_and_grads, readout_weight


def normaliser(cfg: SuperConfig) -> float:
    m = moments(cfg.p)
    return float(importance(cfg.features, cfg.decay).sum() * (m["var"] if cfg.bias else m["second"]))


def linear_analytic_loss(params: dict, cfg: SuperConfig) -> dict:
    """The four-term expected loss (analytic_loss.py) of a linear model's weights."""
    W_x, W_h = params["weight_ih"], params["weight_hh"]
    W_y, _ = readout_weight(params, cfg.model_config())
    m = moments(cfg.p)
    return analytic_loss(G.projections(W_y, W_x, W_h, cfg.seq_len - 1), cfg.k, m["mean"], m["second"],
                         importance(cfg.features, cfg.decay), params.get("readout.bias"))


def geometry_row(params: dict, cfg: SuperConfig) -> dict:
    """Cheap numbers from the weights alone (one model): a (A_s for s = 0..k), kθ, ρ, and for the linear model the
    four-term analytic loss. The training trace."""
    W_x, W_h = params["weight_ih"], params["weight_hh"]
    W_y, _ = readout_weight(params, cfg.model_config())
    A = G.projections(W_y, W_x, W_h, cfg.k)
    theta = G.k_theta_deg(W_x, W_h, cfg.k)
    extra = {"analytic_loss": linear_analytic_loss(params, cfg)} if cfg.model == "linear" else {}
    return {**extra, "a": A[:, 0, 0].tolist() if cfg.features == 1 else [np.diag(a).tolist() for a in A],
            "k_theta_deg": None if theta is None else abs(theta),
            "spectral_radius": G.spectral_radius(W_h)}


def eval_loss(params: dict, cfg: SuperConfig) -> float:
    """The loss on the fixed evaluation batch of the seed (about cfg.eval_events active events)."""
    x = sample_inputs(cfg.seed, EVAL_STREAM, cfg.seq_len, cfg.eval_batch, cfg.features, cfg.p)
    loss, _, _ = loss_and_grads(params, cfg.model_config(), x, delayed_targets(x, cfg.k),
                                importance(cfg.features, cfg.decay), cfg.backend)
    return float(loss)


def measure(params: dict, cfg: SuperConfig) -> dict:
    """Every number the paper reports for one trained model. "a" holds a_s = W_yᵀ W_h^s W_x (the paper's linear
    directions) for every model; the ReLU RNN adds "a_impulse" = W_yᵀ R_s, its response to an isolated event."""
    W_x, W_h = params["weight_ih"], params["weight_hh"]
    W_y, _ = readout_weight(params, cfg.model_config())
    A = G.projections(W_y, W_x, W_h, cfg.k)
    theta = G.k_theta_deg(W_x, W_h, cfg.k)
    loss = eval_loss(params, cfg)
    out = {"model": cfg.model, "k": cfg.k, "p": cfg.p, "features": cfg.features, "hidden": cfg.hidden,
           "untied": cfg.untied, "bias": cfg.bias, "seed": cfg.seed,
           "loss": loss, "loss_normalised": loss / normaliser(cfg),
           "spectral_radius": G.spectral_radius(W_h), "eigenvalues": G.eigenvalues(W_h),
           "k_theta_deg": None if theta is None else abs(theta), "k_theta_signed_deg": theta,
           "a": A[:, 0, 0].tolist() if cfg.features == 1 else A.tolist(),
           "features_kept": G.features_kept(A[cfg.k]),
           "feature_dimensionality": G.feature_dimensionality(W_y).tolist()}
    if cfg.model == "relu":   # what the readout sees s steps after an isolated event: W_yᵀ R_s
        R = G.impulse_response(W_x, W_h, cfg.k, relu_h=True)
        A_imp = np.einsum("hi,shj->sij", W_y, R)
        out["a_impulse"] = A_imp[:, 0, 0].tolist() if cfg.features == 1 else A_imp.tolist()
    if cfg.features > 1:
        off = A[cfg.k][~np.eye(cfg.features, dtype=bool)]
        out["diag_WyT_Wk"] = np.diag(A[cfg.k]).tolist()
        out["offdiag_mean_WyT_Wk"] = float(off.mean())
    if cfg.model == "linear":
        out["analytic_loss"] = linear_analytic_loss(params, cfg)
    return out
