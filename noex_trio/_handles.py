"""Handles users hold but never build: refs, callers, timer and monitor refs, listeners.

As Trio does for its channels and tasks (``NoPublicConstructor``), calling such a class raises
`TypeError`; the library makes instances with ``Class._create(...)``. A user therefore never
holds a ref that no process stands behind.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


class NoPublicConstructor(type):
    """Metaclass: ``Class(...)`` raises `TypeError`; ``Class._create(...)`` builds one."""

    def __call__(cls, *args: object, **kwargs: object) -> Any:
        made_by = getattr(cls, "_noex_made_by", "the library hands these out")
        raise TypeError(f"{cls.__module__}.{cls.__qualname__} has no public constructor; {made_by}")

    def _create(cls: type[T], *args: Any, **kwargs: Any) -> T:
        return super().__call__(*args, **kwargs)  # type: ignore[misc, no-any-return]
