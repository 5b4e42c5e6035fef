"""Formatting user objects for messages and logs without ever raising.

A user's exception may have a ``__str__`` that raises, a state a ``__repr__`` that loops or
explodes: the runtime formats such objects in error messages and logs, and must not be broken
by them.
"""

from __future__ import annotations

from typing import Final

_MAX: Final = 300


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX else text[: _MAX - 3] + "..."


def _fallback(obj: object, what: str, error: BaseException) -> str:
    return f"<{type(obj).__name__} object at {id(obj):#x}; {what}() raised {type(error).__name__}>"


def safe_repr(obj: object) -> str:
    """``repr(obj)``, shortened to 300 characters; a placeholder if ``__repr__`` raises."""
    try:
        return _shorten(repr(obj))
    except Exception as error:
        return _fallback(obj, "repr", error)


def safe_str(obj: object) -> str:
    """``str(obj)``, shortened to 300 characters; a placeholder if ``__str__`` raises."""
    try:
        return _shorten(str(obj))
    except Exception as error:
        return _fallback(obj, "str", error)
