"""Text for error messages that never raises, whatever the user's objects do.

An error message names user objects: a target, an exit reason, a bad argument. Those objects
can misbehave: an exception whose ``__str__`` raises, a value whose ``__repr__`` raises, returns
a non-string or a megabyte of text. Formatting a message must survive all of it, or the error
being reported turns into a different one (or breaks the runtime that was reporting it).

`safe_repr` and `safe_str` never raise an `Exception` (a `KeyboardInterrupt` raised inside
a ``__repr__`` still propagates) and cap their result at `LIMIT` characters. `describe` and
`describe_reason` render a process and an exit reason the way every message prints them.

This module imports nothing from the package: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

#: The longest text `safe_repr`/`safe_str` return; longer text is cut and ends with `ELLIPSIS`.
LIMIT: Final = 300
ELLIPSIS: Final = "..."


def _type_name(obj: object, attribute: str = "__qualname__") -> str:
    """The name of `obj`'s type; a metaclass cannot make this raise."""
    try:
        name = getattr(type(obj), attribute)
    except Exception:
        return "object"
    return str.__str__(name) if isinstance(name, str) else "object"


def _cut(text: str, limit: int) -> str:
    """`text` as an exact str of at most `limit` characters."""
    text = str.__str__(text)  # a str subclass could override slicing, len or repr
    if len(text) > limit:
        return text[: max(limit - len(ELLIPSIS), 0)] + ELLIPSIS
    return text


def _render(render: Callable[[object], str], name: str, obj: object, limit: int) -> str:
    """``render(obj)`` cut to `limit` characters, or a placeholder if it raised."""
    try:
        text = render(obj)
    except Exception as exc:
        return f"<{_type_name(obj)} object at {id(obj):#x}; {name}() raised {_type_name(exc)}>"
    return _cut(text, limit)


def safe_repr(obj: object, *, limit: int = LIMIT) -> str:
    """``repr(obj)``, at most `limit` characters; never raises an `Exception`.

    When ``repr`` raises, a placeholder names the type, the address and the error:
    ``<Broken object at 0x7f...; repr() raised RuntimeError>``.
    """
    return _render(repr, "repr", obj, limit)


def safe_str(obj: object, *, limit: int = LIMIT) -> str:
    """``str(obj)``, at most `limit` characters; never raises an `Exception`.

    When ``str`` raises, a placeholder names the type, the address and the error:
    ``<ValueError object at 0x7f...; str() raised RuntimeError>``.
    """
    return _render(str, "str", obj, limit)


def describe(target: object) -> str:
    """Name a process (or a target given by name) the way messages print it.

    A name prints as its ``repr`` (``'user-service'``), a ref as its label
    (``user-service#12``), anything else as its ``repr``.
    """
    if isinstance(target, str):
        return safe_repr(str.__str__(target))
    try:
        label = getattr(target, "_label", None)
    except Exception:
        label = None
    if label is not None:
        return safe_str(label)
    return safe_repr(target)


def describe_reason(reason: object) -> str:
    """Render an exit reason for a message: ``'normal'``, ``'shutdown'`` or ``ValueError('boom')``.

    An exception whose ``str`` raises renders as ``ValueError(<str() raised RuntimeError>)``.
    """
    if isinstance(reason, BaseException):
        try:
            shown = repr(_cut(str(reason), LIMIT))
        except Exception as exc:
            shown = f"<str() raised {_type_name(exc)}>"
        return f"{_type_name(reason, '__name__')}({shown})"
    return safe_repr(reason)
