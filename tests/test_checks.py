"""Tests for `noex_trio._checks`: one vocabulary of argument checks, one message style."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noex_trio import InvalidChildSpecError
from noex_trio._checks import (
    boolean,
    callable_,
    count,
    exception_types,
    instance,
    message,
    name,
    number,
    one_of,
    seconds,
    type_error,
    value_error,
)
from noex_trio._safe_format import safe_repr


class Seconds(float):
    """A float subclass, as NumPy's ``float64`` is."""


class Whole(int):
    """An int subclass (not bool)."""


class LoudStr(str):
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = str.__hash__


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BrokenEq:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "BrokenEq()"


SECONDS = "a number of seconds > 0 or math.inf"


def raises(error: type[Exception], text: str) -> pytest.RaisesExc[Exception]:
    """Expect `error` with exactly the message `text`."""
    return pytest.raises(error, match=f"^{re.escape(text)}$")


# --------------------------------------------------------------------------- message style


def test_message_style() -> None:
    assert message("delay", "a number", -1) == "expected delay to be a number, got -1"
    assert str(type_error("x", "a str", 3)) == "expected x to be a str, got 3"
    assert type(type_error("x", "a str", 3)) is TypeError
    assert type(value_error("x", "a str", "")) is ValueError
    error = value_error("x", "a str", "", InvalidChildSpecError)
    assert type(error) is InvalidChildSpecError
    assert str(error) == "expected x to be a str, got ''"


def test_values_are_shown_safely() -> None:
    assert re.fullmatch(
        r"expected x to be a str, got <BrokenRepr object at 0x[0-9a-f]+; "
        r"repr\(\) raised RuntimeError>",
        message("x", "a str", BrokenRepr()),
    )
    huge = message("x", "a str", ["y" * 10_000])
    assert len(huge) < 400
    assert huge.endswith("...")


# --------------------------------------------------------------------------- seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1.0), (0.5, 0.5), (Seconds(2.5), 2.5), (Whole(3), 3.0), (math.inf, math.inf)],
)
def test_seconds_accepts_numbers_and_returns_a_float(value: object, expected: float) -> None:
    result = seconds(value, "timeout")
    assert type(result) is float
    assert result == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (True, TypeError),
        (False, TypeError),
        ("5", TypeError),
        (None, TypeError),
        (1j, TypeError),
        (math.nan, ValueError),
        (Seconds(math.nan), ValueError),
        (0, ValueError),
        (0.0, ValueError),
        (-1, ValueError),
        (-math.inf, ValueError),
        (10**400, ValueError),  # too large for a float
    ],
)
def test_seconds_refuses(value: object, error: type[Exception]) -> None:
    with raises(error, f"expected timeout to be {SECONDS}, got {safe_repr(value)}"):
        seconds(value, "timeout")


def test_seconds_options() -> None:
    assert seconds(0, "delay", zero=True) == 0.0
    assert seconds(-0.0, "delay", zero=True) == 0.0
    with raises(ValueError, "expected delay to be a number of seconds >= 0 or math.inf, got -1"):
        seconds(-1, "delay", zero=True)
    with raises(ValueError, "expected base to be a finite number of seconds >= 0, got inf"):
        seconds(math.inf, "base", inf=False, zero=True)
    with raises(ValueError, "expected base to be a finite number of seconds > 0, got 0"):
        seconds(0, "base", inf=False)
    with raises(
        InvalidChildSpecError,
        "expected shutdown to be a number of seconds >= 0, math.inf or 'brutal_kill', got 'x'",
    ):
        seconds("x", "shutdown", zero=True, also="'brutal_kill'", error=InvalidChildSpecError)
    with raises(InvalidChildSpecError, f"expected max_seconds to be {SECONDS}, got nan"):
        seconds(math.nan, "max_seconds", error=InvalidChildSpecError)


@settings(deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_seconds_agrees_with_a_comparison(value: float) -> None:
    if value >= 0:  # False for NaN
        assert seconds(value, "delay", zero=True) == value
    else:
        with pytest.raises(ValueError, match=r"^expected delay to be"):
            seconds(value, "delay", zero=True)


# --------------------------------------------------------------------------- number


def test_number() -> None:
    assert number(1, "factor", minimum=1) == 1.0
    assert type(number(Whole(2), "factor", minimum=1)) is float
    with raises(ValueError, "expected factor to be a finite number >= 1, got 0.5"):
        number(0.5, "factor", minimum=1)
    with raises(ValueError, "expected factor to be a finite number >= 1, got inf"):
        number(math.inf, "factor", minimum=1)
    with raises(TypeError, "expected factor to be a finite number >= 1, got True"):
        number(True, "factor", minimum=1)
    assert number(math.inf, "cap", minimum=0, inf=True) == math.inf
    with raises(ValueError, "expected cap to be a number >= 0.5 or math.inf, got nan"):
        number(math.nan, "cap", minimum=0.5, inf=True)


# --------------------------------------------------------------------------- count


def test_count_accepts_ints_and_returns_an_int() -> None:
    assert count(0, "n") == 0
    result = count(Whole(3), "n")
    assert type(result) is int
    assert result == 3
    assert count(10**400, "n") == 10**400


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (True, TypeError),
        (1.0, TypeError),
        (math.inf, TypeError),
        (math.nan, TypeError),
        ("1", TypeError),
        (None, TypeError),
        (0, ValueError),
        (-1, ValueError),
    ],
)
def test_count_refuses(value: object, error: type[Exception]) -> None:
    with raises(error, f"expected attempts to be an int >= 1, got {value!r}"):
        count(value, "attempts", minimum=1)


def test_count_with_infinity() -> None:
    assert count(math.inf, "size", minimum=1, inf=True) == math.inf
    assert count(Seconds(math.inf), "size", minimum=1, inf=True) == math.inf
    assert count(5, "size", minimum=1, inf=True) == 5
    for value, error in [(1.5, TypeError), (math.nan, TypeError), (0, ValueError)]:
        with raises(error, f"expected size to be an int >= 1 or math.inf, got {value!r}"):
            count(value, "size", minimum=1, inf=True)
    with raises(
        InvalidChildSpecError, "expected max_children to be an int >= 0 or math.inf, got -1"
    ):
        count(-1, "max_children", inf=True, error=InvalidChildSpecError)


# --------------------------------------------------------------------------- other checks


def test_name() -> None:
    assert name("svc", "name") == "svc"
    result = name(LoudStr("svc"), "name")
    assert type(result) is str
    assert result == "svc"
    with raises(ValueError, "expected name to be a non-empty str, got ''"):
        name("", "name")
    for value in (3, None, b"x"):
        with raises(TypeError, f"expected name to be a non-empty str, got {value!r}"):
            name(value, "name")
    with raises(InvalidChildSpecError, "expected child id to be a non-empty str, got ''"):
        name("", "child id", error=InvalidChildSpecError)


def test_boolean() -> None:
    assert boolean(True, "trap_exit") is True
    assert boolean(False, "trap_exit") is False
    for value in (1, 0, "yes", None):
        with raises(TypeError, f"expected trap_exit to be a bool, got {value!r}"):
            boolean(value, "trap_exit")


def test_callable() -> None:
    assert callable_(print, "handler") is print
    with raises(TypeError, "expected handler to be callable, got 3"):
        callable_(3, "handler")
    with raises(InvalidChildSpecError, "expected child start to be an async callable, got 3"):
        callable_(3, "child start", expected="an async callable", error=InvalidChildSpecError)


def test_instance() -> None:
    value = Whole(1)
    assert instance(value, "n", int) is value
    with raises(TypeError, "expected timer to be a float, got 'x'"):
        instance("x", "timer", float)
    with raises(TypeError, "expected spec to be ChildSpec objects, got 3"):
        instance(3, "spec", str, expected="ChildSpec objects")


def test_one_of() -> None:
    choices = ("one_for_one", "one_for_all", "rest_for_one")
    chosen = one_of(LoudStr("one_for_all"), "strategy", choices)
    assert type(chosen) is str
    assert chosen == "one_for_all"
    expected = "'one_for_one', 'one_for_all' or 'rest_for_one'"
    for value in ("x", 3, None, BrokenEq()):
        with raises(ValueError, f"expected strategy to be {expected}, got {value!r}"):
            one_of(value, "strategy", choices)
    with raises(ValueError, "expected keys to be 'unique' or 'duplicate', got 'many'"):
        one_of("many", "keys", ["unique", "duplicate"])
    with raises(InvalidChildSpecError, "expected mode to be 'on', got 'off'"):
        one_of("off", "mode", ("on",), error=InvalidChildSpecError)


class Boom(Exception):
    pass


def test_exception_types() -> None:
    assert exception_types(Boom, "retry_on") == (Boom,)
    assert exception_types((Boom, KeyError), "retry_on") == (Boom, KeyError)
    expected = "an Exception subclass or a non-empty tuple of them"
    cases: list[tuple[object, type[Exception]]] = [
        ((), ValueError),
        ("Boom", TypeError),
        (Boom(), TypeError),
        ([Boom], TypeError),
        ((Boom, int), TypeError),
    ]
    for value, error in cases:
        with raises(error, f"expected retry_on to be {expected}, got {value!r}"):
            exception_types(value, "retry_on")
    with raises(
        ValueError,
        "expected retry_on to hold only Exception subclasses, got <class 'KeyboardInterrupt'> "
        "(catching it would swallow cancellation or interrupts)",
    ):
        exception_types((Boom, KeyboardInterrupt), "retry_on")


# --------------------------------------------------------------------------- one style


CHECKS: list[Callable[[object], Any]] = [
    lambda v: seconds(v, "x"),
    lambda v: number(v, "x", minimum=0),
    lambda v: count(v, "x"),
    lambda v: count(v, "x", inf=True),
    lambda v: name(v, "x"),
    lambda v: boolean(v, "x"),
    lambda v: callable_(v, "x"),
    lambda v: instance(v, "x", int),
    lambda v: one_of(v, "x", ("a", "b")),
    lambda v: exception_types(v, "x"),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("value", [BrokenRepr(), -1.5, "", object()])
def test_every_check_says_expected_and_got(check: Callable[[object], Any], value: object) -> None:
    with pytest.raises((TypeError, ValueError), match=r"^expected x to (be|hold) .+, got .+"):
        check(value)
