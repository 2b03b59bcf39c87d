"""The multi-task cognitive suite (spec A3), SIMPLE or HARD durations: 11 tasks, one network, a task cue on every step.

Inputs (K = 18): 7 base channels [fixation, s1 cos, s1 sin, s2 cos, s2 sin, 0, 0] + the task's one-hot (11).
(The spec's two "rule" channels stay zero here: the one-hot cue carries the rule.)
Outputs (N = 3): (fixation, cos φ, sin φ), read at each trial's own last step (the authors read the padded last
step; spec A3 calls that a quirk). Loss MSE(fixation) + MSE(cos, sin), i.e. weights (1, ½, ½) on the 3 outputs.
Periods (np.randint, upper end exclusive): SIMPLE context 5–10, stimulus 10–15, delay 10–15, response 5–10 (the
default); HARD (the authors' launcher) 10–20, 10–40, 20–50, 10–20. Fixation input is 1 until the response period.
θ ~ U[0, 2π).
    DelayPro/Anti   stimulus θ, delay, respond θ / θ + π          ReactPro/Anti  stimulus stays on, respond at once
    CatPro/Anti     respond 0 if θ < π else π (anti: swapped)
    Match2Sample / NonMatch2Sample   θ1, delay, θ2 (match |Δθ| < π/8 with p ½, else Δθ ∈ [π/4, 2π − π/4]);
                    respond 0 on a match (DMS) / non-match (DNMS), else π
    CtxIntMod1/2    modality 1 on s1, modality 2 on s2, coherence 0.8 on the relevant one and 0.3 on the other
                    (each at its own θ); delay; respond the relevant θ
    GoNogo          amplitude a ~ U[0.2, 1] at angle 0 on s1; go (a > 0.5): respond 0; no-go: keep fixating (1, 0, 0)
Accuracy: a go trial is right if the angular error of atan2(sin, cos) < π/6 and fixation output < 0.5; a no-go trial
if fixation output > 0.5.
"""
from __future__ import annotations

import numpy as np

from .trials import Trials

TASKS = ("DelayPro", "DelayAnti", "ReactPro", "ReactAnti", "CatPro", "CatAnti", "Match2Sample", "NonMatch2Sample",
         "CtxIntMod1", "CtxIntMod2", "GoNogo")
K, N = 7 + len(TASKS), 3
CONTEXT, STIM, DELAY, RESPONSE = (5, 10), (10, 15), (10, 15), (5, 10)
DURATIONS = {"simple": (CONTEXT, STIM, DELAY, RESPONSE),
             "hard": ((10, 20), (10, 40), (20, 50), (10, 20))}      # (context, stimulus, delay, response)
WEIGHTS = (1.0, 0.5, 0.5)


def max_length(durations: str = "simple") -> int:
    """The longest trial (Match2Sample at its longest: context, stimulus, delay, second stimulus, response)."""
    c, st, d, r = DURATIONS[durations]
    return sum(hi - 1 for _, hi in (c, st, d, st, r))


def _trial(task: int, rng, periods=DURATIONS["simple"]) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [L, K], target [3]) of one trial of task `task`; periods = (context, stimulus, delay, response) ranges."""
    name = TASKS[task]
    c, st, d, r = (int(rng.integers(*p)) for p in periods)
    theta = rng.uniform(0, 2 * np.pi)
    seg = []                                   # (length, s1 (cos, sin) or None, s2 or None)
    go, phi = True, theta
    if name.startswith(("Delay", "Cat")):
        seg = [(c, None, None), (st, theta, None), (d, None, None)]
        if name.startswith("Cat"):
            phi = (0.0 if theta < np.pi else np.pi) + (np.pi if name == "CatAnti" else 0.0)
        elif name == "DelayAnti":
            phi = theta + np.pi
    elif name.startswith("React"):
        seg = [(c, None, None), (st, theta, None)]
        phi = theta + (np.pi if name == "ReactAnti" else 0.0)
    elif name in ("Match2Sample", "NonMatch2Sample"):
        match = rng.random() < 0.5
        dt = rng.uniform(-np.pi / 8, np.pi / 8) if match else rng.uniform(np.pi / 4, 2 * np.pi - np.pi / 4)
        seg = [(c, None, None), (st, theta, None), (d, None, None), (int(rng.integers(*periods[1])), theta + dt, None)]
        phi = 0.0 if match == (name == "Match2Sample") else np.pi
    elif name.startswith("CtxInt"):
        other = rng.uniform(0, 2 * np.pi)
        th1, th2 = (theta, other) if name == "CtxIntMod1" else (other, theta)
        a1, a2 = (0.8, 0.3) if name == "CtxIntMod1" else (0.3, 0.8)
        seg = [(c, None, None), (st, (th1, a1), (th2, a2)), (d, None, None)]
    else:                                      # GoNogo
        amp = rng.uniform(0.2, 1.0)
        go, phi = amp > 0.5, 0.0
        seg = [(c, None, None), (st, (0.0, amp), None), (d, None, None)]
    L = sum(s[0] for s in seg) + r
    x = np.zeros((L, K))
    x[:, 7 + task] = 1
    t = 0
    for n, s1, s2 in seg:
        for ch, s in ((1, s1), (3, s2)):
            if s is not None:
                ang, amp = s if isinstance(s, tuple) else (s, 1.0)
                x[t:t + n, ch], x[t:t + n, ch + 1] = amp * np.cos(ang), amp * np.sin(ang)
        t += n
    x[:t, 0] = 1
    if name.startswith("React"):               # the stimulus stays on through the response
        x[t:, 1], x[t:, 2] = np.cos(theta), np.sin(theta)
    y = np.array([0.0, np.cos(phi), np.sin(phi)]) if go else np.array([1.0, 0.0, 0.0])
    return x, y


def make(n: int, rng: np.random.Generator, durations: str = "simple") -> Trials:
    """n trials, tasks cycling 0..10 (n // 11 or one more of each), zero-padded to the longest: s [T, n, 18]."""
    if durations not in DURATIONS:
        raise ValueError(f"durations must be one of {', '.join(DURATIONS)}, got {durations!r}")
    xs, ys = zip(*(_trial(i % len(TASKS), rng, DURATIONS[durations]) for i in range(n)))
    lengths = np.array([len(x) for x in xs])
    s = np.zeros((lengths.max(), n, K), np.float32)
    for i, x in enumerate(xs):
        s[:len(x), i] = x
    return Trials(s, (lengths - 1)[None, :].astype(np.int64), np.array(ys, np.float32)[None],
                  np.array(WEIGHTS, np.float32), np.arange(n) % len(TASKS), lengths.astype(np.int64))


def correct(y_pred, trials: Trials) -> np.ndarray:
    """[B] bool: the trial's response is right (see the module docstring)."""
    out, tgt = y_pred[0], trials.y[0]
    nogo = tgt[:, 0] > 0.5
    err = np.angle(np.exp(1j * (np.arctan2(out[:, 2], out[:, 1]) - np.arctan2(tgt[:, 2], tgt[:, 1]))))
    return np.where(nogo, out[:, 0] > 0.5, (np.abs(err) < np.pi / 6) & (out[:, 0] < 0.5))


def score(y_pred, trials: Trials) -> dict:
    ok = correct(y_pred, trials)
    per = {name: float(ok[trials.task == i].mean()) for i, name in enumerate(TASKS) if np.any(trials.task == i)}
    return {"accuracy": float(ok.mean()), "per_task": per}
