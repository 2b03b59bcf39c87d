"""AdamW (adamw.py) against its definition and against torch.optim.AdamW.

- zero gradient, wd > 0: each step only shrinks the parameters by (1 − lr·wd);
- wd = 0: the first step moves every coordinate by lr·g/(|g| + ε) ≈ lr·sign(g) (bias correction at t = 1);
- several steps equal a scalar, line-by-line transcription of torch's single-tensor AdamW;
- several steps equal torch.optim.AdamW itself in float64 (parameters and both moments);
- parameters without a gradient are left alone (as torch skips p.grad is None).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from onionref import adamw

configs = st.builds(adamw.AdamWConfig,
                    lr=st.floats(1e-4, 1e-1), betas=st.tuples(st.floats(0.5, 0.99), st.floats(0.9, 0.9999)),
                    eps=st.sampled_from([1e-8, 1e-6, 1e-3]), weight_decay=st.floats(0.0, 1.0))


@st.composite
def param_dicts(draw, max_size=4):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    shapes = draw(st.lists(st.lists(st.integers(1, max_size), min_size=0, max_size=2), min_size=1, max_size=3))
    return {f"p{i}": rng.standard_normal(s) for i, s in enumerate(shapes)}, rng


def random_grads(params, rng, scale=1.0):
    return {k: scale * rng.standard_normal(np.shape(v)) * rng.choice([1e-3, 1.0, 10.0]) for k, v in params.items()}


@given(param_dicts(), configs, st.integers(1, 10))
def test_zero_gradient_only_decays(pr, cfg, steps):
    params, _ = pr
    p0 = {k: v.copy() for k, v in params.items()}
    state = adamw.init_state(params)
    for t in range(1, steps + 1):
        adamw.step(params, {k: np.zeros_like(v) for k, v in params.items()}, state, cfg)
        assert state["step"] == t
        for k in params:
            np.testing.assert_allclose(params[k], p0[k] * (1 - cfg.lr * cfg.weight_decay) ** t, rtol=1e-13, atol=0)


@given(param_dicts(), configs)
def test_first_step_without_decay_moves_by_lr_times_sign(pr, cfg):
    params, rng = pr
    cfg = adamw.AdamWConfig(cfg.lr, cfg.betas, cfg.eps, weight_decay=0.0)
    grads = random_grads(params, rng)
    p0 = {k: v.copy() for k, v in params.items()}
    adamw.step(params, grads, adamw.init_state(params), cfg)
    for k, g in grads.items():
        step = params[k] - p0[k]
        np.testing.assert_allclose(step, -cfg.lr * g / (np.abs(g) + cfg.eps), rtol=1e-9, atol=1e-16)
        big = np.abs(g) > 1e4 * cfg.eps
        np.testing.assert_allclose(step[big], -cfg.lr * np.sign(g[big]), rtol=1e-4)


def torch_formula(p: float, grads: list, cfg: adamw.AdamWConfig) -> float:
    """torch/optim/adamw.py (_single_tensor_adamw, non-amsgrad, non-capturable), one scalar, line by line."""
    b1, b2 = cfg.betas
    m = v = 0.0
    for step, g in enumerate(grads, start=1):
        p = p * (1 - cfg.lr * cfg.weight_decay)          # param.mul_(1 - lr * weight_decay)
        m = m + (g - m) * (1 - b1)                       # exp_avg.lerp_(grad, 1 - beta1)
        v = v * b2 + (1 - b2) * g * g                    # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
        bias_correction1 = 1 - b1 ** step
        bias_correction2 = 1 - b2 ** step
        step_size = cfg.lr / bias_correction1
        denom = math.sqrt(v) / math.sqrt(bias_correction2) + cfg.eps
        p = p - step_size * m / denom                    # param.addcdiv_(exp_avg, denom, value=-step_size)
    return p


@given(param_dicts(max_size=3), configs, st.integers(1, 8))
def test_matches_scalar_transcription_of_torch(pr, cfg, steps):
    params, rng = pr
    p0 = {k: v.copy() for k, v in params.items()}
    history = [random_grads(params, rng) for _ in range(steps)]
    state = adamw.init_state(params)
    for g in history:
        adamw.step(params, g, state, cfg)
    for k in params:
        expected = np.array([torch_formula(float(p0[k].flat[i]), [float(g[k].flat[i]) for g in history], cfg)
                             for i in range(p0[k].size)]).reshape(p0[k].shape)
        np.testing.assert_allclose(params[k], expected, rtol=1e-12, atol=1e-15, err_msg=k)


@settings(max_examples=15)
@given(param_dicts(), configs, st.integers(1, 8))
def test_matches_torch_adamw(pr, cfg, steps):
    torch = pytest.importorskip("torch")
    params, rng = pr
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    opt = torch.optim.AdamW(list(tp.values()), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                            weight_decay=cfg.weight_decay)
    state = adamw.init_state(params)
    for _ in range(steps):
        g = random_grads(params, rng)
        for k in tp:
            tp[k].grad = torch.tensor(g[k], dtype=torch.float64)
        opt.step()
        adamw.step(params, g, state, cfg)
    for k, t in tp.items():
        np.testing.assert_allclose(params[k], t.detach().numpy(), rtol=1e-12, atol=1e-15, err_msg=k)
        np.testing.assert_allclose(state["m." + k], opt.state[t]["exp_avg"].numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(state["v." + k], opt.state[t]["exp_avg_sq"].numpy(), rtol=1e-12, atol=1e-15)
    assert state["step"] == steps


@given(param_dicts(), configs)
def test_parameters_without_gradient_are_untouched(pr, cfg):
    params, rng = pr
    params["frozen"] = rng.standard_normal(3)
    before = params["frozen"].copy()
    state = adamw.init_state(params)
    adamw.step(params, random_grads({k: v for k, v in params.items() if k != "frozen"}, rng), state, cfg)
    np.testing.assert_array_equal(params["frozen"], before)
    assert not state["m.frozen"].any() and not state["v.frozen"].any()
