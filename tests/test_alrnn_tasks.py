"""The AL-RNN task generators (tasks/addition.py, context.py, copy.py, cognitive.py): exact properties.

- addition: two distinct marks in [0, T/2), target = Σ x m; the best affine predictor stays near the spec's
  0.153 (T = 50), far above the solved threshold (no affine solution, spec A5);
- context: the label is the evidence's sign, flipped in context 1;
- copy: layout (symbols, cue, delay, recall cue) and targets; scores;
- cognitive: 11 tasks with the task cue on every step, fixation off exactly in the response period, the target of
  each task from its stimulus; a perfect read-out scores 1 and a rotated one 0;
- every generator is a function of its rng: same seed, same trials.
"""
from __future__ import annotations

import numpy as np

from onionref.tasks import addition, cognitive, context, copy as copy_task


def test_addition_marks_and_target():
    tr = addition.make(3000, 50, np.random.default_rng(0))
    x, m = tr.s[:, :, 0], tr.s[:, :, 1]
    assert np.all(m.sum(0) == 2) and np.all(m[25:] == 0) and np.all((x >= 0) & (x <= 1))
    assert np.allclose(tr.y[0, :, 0], (x * m).sum(0), atol=1e-6)
    assert tr.t_out.shape == (1, 3000) and np.all(tr.t_out == 49)
    X = np.concatenate([x.T, m.T, np.ones((3000, 1))], 1)
    w = np.linalg.lstsq(X[:2000], tr.y[0, :2000, 0], rcond=None)[0]
    held_out = np.mean((X[2000:] @ w - tr.y[0, 2000:, 0]) ** 2)
    assert 0.14 < held_out < 0.2          # spec A5: 0.153 (on 40k trials)
    perfect = addition.score(tr.y, tr)
    assert perfect == {"mse": 0.0, "accuracy": 1.0}
    assert addition.score(tr.y + 0.05, tr)["accuracy"] == 0.0


def test_context_labels_flip_with_the_context():
    tr = context.make(500, 20, np.random.default_rng(1))
    ctx = tr.task
    assert np.all(tr.s[0, np.arange(500), ctx] == 1) and np.all(tr.s[-1, :, 3] == 1)
    total = tr.s[1:-1, :, 2].sum(0)
    assert np.array_equal(tr.y[0], ((np.where(ctx == 0, 1, -1) * total) > 0).astype(int))
    assert 0.3 < ctx.mean() < 0.7


def test_copy_layout_and_scores():
    tr = copy_task.make(50, 3, 5, 4, np.random.default_rng(2))
    T = copy_task.length(3, 5)
    assert tr.s.shape == (T, 50, 4) and T == 12
    assert np.all(tr.s[:3, :, 0] == 0) and np.all(tr.s[:3].sum(-1) == 1)
    assert np.all(tr.s[3, :, 0] == 1) and np.all(tr.s[4:9] == 0) and np.all(tr.s[9:, :, 0] == 1)
    assert np.array_equal(tr.y, tr.s[:3].argmax(-1) - 1) and np.array_equal(tr.t_out[:, 0], [9, 10, 11])
    onehot = np.eye(3)[tr.y]
    assert copy_task.score(onehot, tr) == {"accuracy": 1.0, "sequence_accuracy": 1.0}
    wrong = onehot.copy()
    wrong[0] = np.eye(3)[(tr.y[0] + 1) % 3]
    sc = copy_task.score(wrong, tr)
    assert np.isclose(sc["accuracy"], 2 / 3) and sc["sequence_accuracy"] == 0.0


def test_cognitive_suite():
    tr = cognitive.make(440, np.random.default_rng(3))
    assert tr.s.shape[2] == 18 and np.array_equal(np.bincount(tr.task), [40] * 11)
    for b in range(440):
        L = tr.length[b]
        assert np.all(tr.s[:L, b, 7 + tr.task[b]] == 1) and np.all(tr.s[L:, b] == 0)
        fix = tr.s[:L, b, 0]
        r = int(np.argmin(fix))               # the response period: fixation off to the end
        assert np.all(fix[:r] == 1) and np.all(fix[r:] == 0) and 5 <= L - r < 10
    y = tr.y[0]
    name = np.array(cognitive.TASKS)[tr.task]
    theta = np.arctan2(tr.s[:, :, 2].sum(0), tr.s[:, :, 1].sum(0))   # the first stimulus's angle (pro tasks)
    for pro in ("DelayPro", "ReactPro"):
        sel = name == pro
        assert np.allclose(np.cos(theta[sel]), y[sel, 1], atol=1e-5)
    sel = name == "DelayAnti"
    stim = tr.s[:, sel, 1:3].sum(0)
    assert np.allclose(stim / np.linalg.norm(stim, axis=1, keepdims=True), -y[sel, 1:], atol=1e-5)
    nogo = (name == "GoNogo") & (y[:, 0] == 1)
    assert 0 < nogo.sum() < 40
    assert cognitive.score(tr.y, tr)["accuracy"] == 1.0
    rotated = tr.y.copy()
    rotated[0, :, 1:] = -rotated[0, :, 1:]
    rotated[0, :, 0] = 1 - rotated[0, :, 0]
    assert cognitive.score(rotated, tr)["accuracy"] == 0.0


def test_generators_are_functions_of_their_rng():
    for make in (lambda r: addition.make(10, 8, r), lambda r: context.make(10, 8, r),
                 lambda r: copy_task.make(10, 2, 3, 5, r), lambda r: cognitive.make(12, r)):
        a, b = make(np.random.default_rng(7)), make(np.random.default_rng(7))
        assert all(np.array_equal(u, v) for u, v in zip(a, b))
