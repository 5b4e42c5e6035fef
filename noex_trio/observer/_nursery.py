"""A nursery for the observer's context managers, whose single error comes out unwrapped.

Trio wraps whatever leaves a nursery in an `ExceptionGroup`, even one error from its body. The
observer's ``async with`` blocks own a nursery only as a detail: the error a user sees (their
own exception, a taken port's `OSError`) is the plain one, as from any ``async with``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio


@asynccontextmanager
async def open_nursery() -> AsyncIterator[trio.Nursery]:
    """`trio.open_nursery`, except that a group of one error (or of a group of one error,
    ...) is raised as that error."""
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        error: BaseException = group
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]  # (hypercorn's own nurseries wrap a start error too)
        try:
            raise error
        finally:
            del error, group
