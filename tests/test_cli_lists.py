"""The one parser of comma-separated flag values (cli/lists.py)."""
import pytest

from onionref.cli import lists
from onionref.errors import UserError


def test_values_keep_order_and_drop_repeats():
    assert lists.ints(" 64, 48,64 ", "--hidden") == [64, 48]
    assert lists.floats("1,0.5,1", "--p") == [1.0, 0.5]
    assert lists.names("ssm, linear", "--models", ("linear", "ssm")) == ["ssm", "linear"]
    assert lists.ints("", "--hidden", allow_empty=True) == []


@pytest.mark.parametrize("call, needle", [
    (lambda: lists.ints("48,", "--hidden"), "--hidden takes comma-separated integers, got '48,'"),
    (lambda: lists.ints("", "--hidden"), "--hidden takes comma-separated integers"),
    (lambda: lists.ints("1.5", "--k"), "--k takes comma-separated integers"),
    (lambda: lists.ints("0,1", "--workers", lo=1, hi=8), "--workers takes comma-separated integers in 1..8"),
    (lambda: lists.ints("-1", "--P", lo=0), "--P takes comma-separated integers >= 0"),
    (lambda: lists.floats("a,b", "--p"), "--p takes comma-separated numbers"),
    (lambda: lists.names("linear,,ssm", "--models"), "--models takes comma-separated names"),
    (lambda: lists.names("gru", "--models", ("linear", "ssm")), "--models takes a comma-separated subset of linear,ssm"),
])
def test_bad_lists_are_one_user_error_naming_the_flag(call, needle):
    with pytest.raises(UserError, match=needle.replace(".", r"\.").replace("'", "'")):
        call()
