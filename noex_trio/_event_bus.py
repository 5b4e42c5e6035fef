"""EventBus (being written)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._process import GenServerRef

if TYPE_CHECKING:
    from ._runtime import Runtime


class EventBusRef(GenServerRef[Any, Any, Any]):
    """A ref to an EventBus process."""

    __slots__ = ()


async def start_default_bus(runtime: Runtime) -> EventBusRef | None:
    return None
