"""The geometry measures on hand-built weights whose answers are known in closed form."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from onionref.superposition import geometry as G


def rotation(theta_deg: float, r: float = 1.0) -> np.ndarray:
    t = np.radians(theta_deg)
    return r * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


@settings(max_examples=20)
@given(theta=st.floats(-170, 170), k=st.integers(0, 6), r=st.floats(0.2, 1.5))
def test_k_theta_of_a_scaled_rotation(theta, k, r):
    W_x = np.array([[0.3], [-0.7]])
    np.testing.assert_allclose(G.k_theta_deg(W_x, rotation(theta, r), k), k * theta, atol=1e-8)
    np.testing.assert_allclose(G.spectral_radius(rotation(theta, r)), r, rtol=1e-10)


def test_projections_of_the_270_degree_geometry():
    """θ = 90° per step, k = 3, readout w_y = w_3: a = (0, −r, 0, r³·…) up to the norms; w_1 lies behind w_y."""
    W_x, W_h = np.array([[1.0], [0.0]]), rotation(90, 0.5)
    W_y = np.linalg.matrix_power(W_h, 3) @ W_x
    a = G.projections(W_y, W_x, W_h, 3)[:, 0, 0]
    np.testing.assert_allclose(a, [0, -0.5 * 0.125, 0, 0.125 ** 2], atol=1e-12)
    assert abs(G.k_theta_deg(W_x, W_h, 3) - 270) < 1e-9
    lam = G.eigenvalues(W_h)
    np.testing.assert_allclose(sorted(z[1] for z in lam), [-0.5, 0.5], atol=1e-12)


def test_feature_dimensionality_pentagon_and_orthogonal():
    ang = 2 * np.pi * np.arange(5) / 5
    pentagon = np.stack([np.cos(ang), np.sin(ang)])          # [2, 5]
    np.testing.assert_allclose(G.feature_dimensionality(pentagon), 0.4, atol=1e-12)
    ortho = np.array([[1.0, 0, 0], [0, 2.0, 0]])              # two orthogonal features, one dropped
    np.testing.assert_allclose(G.feature_dimensionality(ortho), [1, 1, 0], atol=1e-12)
    assert G.features_kept(pentagon.T @ pentagon) == [0, 1, 2, 3, 4]
    assert G.features_kept(ortho.T @ ortho) == [0, 1]


def test_impulse_response_is_exact_for_one_event_and_forgets_sharply():
    """The ReLU RNN's states after one event of size u are u·R_s (positive homogeneity); a state with no positive
    entry is forgotten at the next step."""
    from onionref.cells.linear_rnn import rnn_forward

    W_x, W_h = np.array([[0.8], [-0.3]]), np.array([[-1.2, 0.4], [-0.5, 0.9]])
    x = np.zeros((5, 1, 1))
    x[0, 0, 0] = 0.7
    h, _ = rnn_forward(x, W_x, W_h, relu_h=True)
    R = G.impulse_response(W_x, W_h, 4, relu_h=True)
    np.testing.assert_allclose(h[:, 0, :], 0.7 * R[:, :, 0], atol=1e-14)
    assert (R[1, :, 0] < 0).all() and np.all(R[2:] == 0)      # a negative state at s = 1, forgotten after
    assert not np.allclose(R, G.directions(W_x, W_h, 4))
    np.testing.assert_allclose(G.impulse_response(W_x, W_h, 4, relu_h=False), G.directions(W_x, W_h, 4))
