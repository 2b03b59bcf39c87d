"""Per-call ms of the matrix_exp rotation's expm forward and backward (expm.py, scaling and squaring Padé, its degree
and squarings from the 2-norm bound as rotation.py calls it) against the Hermitian eigendecomposition
(Daleckii–Krein) it replaced, on one BLAS thread, float64, for skew A with given ‖A‖₁.

    python examples/time_expm.py [H,... [norm,...]]        (default 48,128,512 and 0.01,7,14,30)
"""
import sys
import time

import numpy as np
from scipy.linalg import eigh
from threadpoolctl import threadpool_limits

from onionref.onion.interventions import expm, rotation


def eigh_forward(A):
    mu, Q = eigh(1j * A)
    return ((Q * np.exp(-1j * mu)) @ Q.conj().T).real, (mu, Q)


def eigh_backward(G, cache):
    mu, Q = cache
    phi_t = np.exp(0.5j * (mu[:, None] + mu[None, :])) * np.sinc((mu[:, None] - mu[None, :]) / (2 * np.pi))
    return (Q @ ((Q.conj().T @ G @ Q) * phi_t) @ Q.conj().T).real


def per_call_ms(f, seconds=1.0):
    f()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        f()
        n += 1
    return 1e3 * (time.perf_counter() - t0) / n


def main(hiddens, norms):
    print(f"{'H':>4} {'|A|_1':>6} {'m,s':>5}  {'eigh fwd':>9} {'eigh bwd':>9}  {'pade fwd':>9} {'pade bwd':>9}  (ms)")
    for H in hiddens:
        rng = np.random.default_rng(0)
        A0, G = rotation.skew(rng.standard_normal((H, H))), rng.standard_normal((H, H))
        for norm1 in norms:
            A = A0 * (norm1 / np.abs(A0).sum(axis=0).max())
            ce, cp = eigh_forward(A)[1], expm.forward(A, skew=True)[1]
            row = [per_call_ms(lambda: eigh_forward(A)), per_call_ms(lambda: eigh_backward(G, ce)),
                   per_call_ms(lambda: expm.forward(A, skew=True)), per_call_ms(lambda: expm.backward(G, cp))]
            s, m = cp[1], cp[2]
            print(f"{H:>4} {norm1:>6g} {f'{m},{s}':>5}  " + "  ".join(f"{a:>9.3f} {b:>9.3f}" for a, b in
                                                                     (row[:2], row[2:])), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    with threadpool_limits(1):
        main([int(x) for x in (args[0] if args else "48,128,512").split(",")],
             [float(x) for x in (args[1] if len(args) > 1 else "0.01,7,14,30").split(",")])
