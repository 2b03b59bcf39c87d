"""The "still rising" rule (onion/convergence.py): a rise of more than 0.01 over the last 20 % of the steps."""
from __future__ import annotations

from hypothesis import given, strategies as st

from onionref.onion.convergence import RISE, WINDOW, rise_over_window, still_rising


def rows(scores, every=1000):
    return [{"step": every * (i + 1), "valid": {"iia": s}} for i, s in enumerate(scores)]


def test_a_curve_rising_in_its_last_fifth_is_marked_and_a_flat_one_is_not():
    # 10 evaluations: T = 10,000, T0 = 8,000 (the last at or before 0.8 T)
    assert still_rising(rows([0.1] * 7 + [0.50, 0.505, 0.52]), "iia")          # 0.52 - 0.50 = 0.02
    assert not still_rising(rows([0.1] * 7 + [0.50, 0.505, 0.509]), "iia")     # 0.009
    assert not still_rising(rows([0.1] * 7 + [0.50, 0.6, 0.4]), "iia")         # fell
    assert rise_over_window(rows([0.3]), "iia") is None and not still_rising(rows([0.3]), "iia")   # T0 missing


def test_only_rows_up_to_the_budget_are_read():
    r = rows([0.1] * 8 + [0.2, 0.3] + [0.9] * 20)                 # rising at 10,000, flat at 30,000
    assert still_rising(r, "iia", steps=10_000) and not still_rising(r, "iia")


@given(st.lists(st.floats(0, 1), min_size=2, max_size=60), st.integers(1, 5000))
def test_the_rule_is_the_difference_from_the_last_evaluation_at_or_before_the_window(scores, every):
    r = rows(scores, every)
    T = r[-1]["step"]
    start = max(x["step"] for x in r if x["step"] <= (1 - WINDOW) * T)
    want = scores[-1] - scores[start // every - 1]
    assert rise_over_window(r, "iia") == want and still_rising(r, "iia") == (want > RISE)
