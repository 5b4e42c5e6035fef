"""Argument checks: one vocabulary, one message style, for every public function.

Each check takes the value and `what` (the argument's name as the message shows it), returns
the value normalised (an exact `int`/`float`/`str`, so a subclass behaves like the builtin
afterwards) and raises otherwise, with one message style::

    expected timeout to be a number of seconds > 0 or math.inf, got -1

`TypeError` when the type is wrong, `ValueError` when the value is; ``error=`` raises another
class instead (``error=InvalidChildSpecError`` for child specs and supervisor options). The
value is shown with `safe_repr`, so a value whose ``__repr__`` raises still gets its message.

Numbers: ``int`` and ``float`` and their subclasses (a NumPy-style float subclass is a float),
never ``bool`` (``True`` is an int to Python, never a duration or a count to a user); NaN is
refused wherever a number is.

This module imports only `_safe_format`: every layer may use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Literal, TypeVar, overload

from ._safe_format import safe_repr

T = TypeVar("T")
C = TypeVar("C", bound=str)

#: Builds the error to raise from its message (an exception class taking one str).
ErrorFactory = Callable[[str], Exception]


# --------------------------------------------------------------------------- messages


def message(what: str, expected: str, value: object) -> str:
    """The one message style: ``expected <what> to be <expected>, got <value>``."""
    return f"expected {what} to be {expected}, got {safe_repr(value)}"


def type_error(
    what: str, expected: str, value: object, error: ErrorFactory | None = None
) -> Exception:
    """A `TypeError` (or `error`) saying what `what` should have been."""
    return (error or TypeError)(message(what, expected, value))


def value_error(
    what: str, expected: str, value: object, error: ErrorFactory | None = None
) -> Exception:
    """A `ValueError` (or `error`) saying what `what` should have been."""
    return (error or ValueError)(message(what, expected, value))


def _either(first: str, *others: str) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    if not others:
        return first
    return f"{', '.join((first, *others[:-1]))} or {others[-1]}"


# --------------------------------------------------------------------------- numbers


def _real(
    value: object,
    what: str,
    expected: str,
    *,
    low: float,
    strict: bool,
    inf: bool,
    error: ErrorFactory | None,
) -> float:
    """An int or float (not bool, not NaN) above `low` (or at it unless `strict`) as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise type_error(what, expected, value, error)
    try:
        result = float.__float__(value) if isinstance(value, float) else int.__float__(value)
    except OverflowError:  # an int too large for a float
        raise value_error(what, expected, value, error) from None
    if math.isnan(result) or (result == math.inf and not inf):
        raise value_error(what, expected, value, error)
    if result < low or (strict and result == low):
        raise value_error(what, expected, value, error)
    return result


def seconds(
    value: object,
    what: str,
    *,
    inf: bool = True,
    zero: bool = False,
    also: str = "",
    error: ErrorFactory | None = None,
) -> float:
    """A duration in seconds, as a float.

    Args:
        value: the argument.
        what: its name in the message.
        inf: accept ``math.inf`` ("no limit").
        zero: accept 0 (otherwise only durations > 0).
        also: another accepted form the caller handles itself, named in the message (e.g.
            ``"'brutal_kill'"``).
        error: the class to raise instead of `TypeError`/`ValueError`.

    Raises:
        TypeError: not an int or float, or a bool.
        ValueError: NaN, negative, zero unless `zero`, infinite unless `inf`, or an int too
            large for a float.
    """
    expected = f"{'a' if inf else 'a finite'} number of seconds {'>=' if zero else '>'} 0"
    alternatives = []
    if inf:
        alternatives.append("math.inf")
    if also:
        alternatives.append(also)
    expected = _either(expected, *alternatives)
    return _real(value, what, expected, low=0.0, strict=not zero, inf=inf, error=error)


def number(
    value: object,
    what: str,
    *,
    minimum: float,
    inf: bool = False,
    error: ErrorFactory | None = None,
) -> float:
    """A number >= `minimum` (finite unless `inf`), as a float.

    Raises:
        TypeError: not an int or float, or a bool.
        ValueError: NaN, below `minimum`, or infinite unless `inf`.
    """
    expected = f"{'a' if inf else 'a finite'} number >= {minimum:g}"
    if inf:
        expected = _either(expected, "math.inf")
    return _real(value, what, expected, low=minimum, strict=False, inf=inf, error=error)


@overload
def count(
    value: object,
    what: str,
    *,
    minimum: int = 0,
    inf: Literal[False] = False,
    error: ErrorFactory | None = None,
) -> int: ...
@overload
def count(
    value: object,
    what: str,
    *,
    minimum: int = 0,
    inf: bool,
    error: ErrorFactory | None = None,
) -> int | float: ...
def count(
    value: object,
    what: str,
    *,
    minimum: int = 0,
    inf: bool = False,
    error: ErrorFactory | None = None,
) -> int | float:
    """A whole number >= `minimum` as an int, or ``math.inf`` (only with `inf`).

    Raises:
        TypeError: not an int (a float other than ``math.inf``, a bool, anything else).
        ValueError: below `minimum`.
    """
    expected = f"an int >= {minimum}"
    if inf:
        expected = _either(expected, "math.inf")
        if isinstance(value, float) and float.__float__(value) == math.inf:
            return math.inf
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(what, expected, value, error)
    whole = int.__int__(value)
    if whole < minimum:
        raise value_error(what, expected, value, error)
    return whole


# --------------------------------------------------------------------------- other values


def name(value: object, what: str, *, error: ErrorFactory | None = None) -> str:
    """A non-empty str, as an exact str.

    Raises:
        TypeError: not a str.
        ValueError: the empty string.
    """
    if not isinstance(value, str):
        raise type_error(what, "a non-empty str", value, error)
    text = str.__str__(value)
    if not text:
        raise value_error(what, "a non-empty str", value, error)
    return text


def boolean(value: object, what: str, *, error: ErrorFactory | None = None) -> bool:
    """``True`` or ``False`` (not merely truthy: ``1`` is refused).

    Raises:
        TypeError: not a bool.
    """
    if not isinstance(value, bool):
        raise type_error(what, "a bool", value, error)
    return value


def callable_(
    value: T,
    what: str,
    *,
    expected: str = "callable",
    error: ErrorFactory | None = None,
) -> T:
    """Something that can be called (`expected` says more, e.g. ``"an async callable"``).

    Raises:
        TypeError: not callable.
    """
    if not callable(value):
        raise type_error(what, expected, value, error)
    return value


def instance(
    value: object,
    what: str,
    cls: type[T],
    *,
    expected: str | None = None,
    error: ErrorFactory | None = None,
) -> T:
    """An instance of `cls`; `expected` names it in the message (default ``a <cls>``).

    Raises:
        TypeError: not an instance of `cls`.
    """
    if not isinstance(value, cls):
        raise type_error(what, expected or f"a {cls.__name__}", value, error)
    return value


def one_of(
    value: object, what: str, choices: Iterable[C], *, error: ErrorFactory | None = None
) -> C:
    """One of the strings `choices`; returns the matching choice itself.

    Only a str can match (a value whose ``==`` misbehaves is never asked).

    Raises:
        ValueError: anything else.
    """
    options = tuple(choices)
    if isinstance(value, str):
        for choice in options:
            if str.__eq__(value, choice):
                return choice
    raise value_error(what, _either(*map(repr, options)), value, error)


def exception_types(value: object, what: str) -> tuple[type[Exception], ...]:
    """An `Exception` subclass or a non-empty tuple of them (as in ``except``), as a tuple.

    Raises:
        TypeError: something other than exception classes.
        ValueError: an empty tuple, or a `BaseException` that is not an `Exception` (catching
            ``trio.Cancelled`` or ``KeyboardInterrupt`` would swallow cancellation).
    """
    expected = "an Exception subclass or a non-empty tuple of them"
    candidates: tuple[object, ...] = value if isinstance(value, tuple) else (value,)
    if not candidates:
        raise value_error(what, expected, value)
    types: list[type[Exception]] = []
    for cls in candidates:
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise type_error(what, expected, value)
        if not issubclass(cls, Exception):
            raise ValueError(
                f"expected {what} to hold only Exception subclasses, got {safe_repr(cls)} "
                "(catching it would swallow cancellation or interrupts)"
            )
        types.append(cls)
    return tuple(types)
