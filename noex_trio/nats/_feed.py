"""A bounded feed of events that drops the oldest when full: what `Connection.events()` and the
cluster's `Node.watch()` hand out, so that a feed nobody reads never holds its producer up."""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import trio

from .._handles import NoPublicConstructor

E = TypeVar("E")


class DropOldestFeed(Generic[E], metaclass=NoPublicConstructor):
    """Events pushed by a producer (sync, never blocking), received by one consumer.

    ``async for`` ends once the feed has ended and is empty; `dropped` counts the events lost
    because `max_pending` were already waiting.
    """

    def __init__(self, max_pending: int) -> None:
        self._max_pending = max_pending
        self._events: deque[E] = deque()
        self._changed = trio.Event()
        self._ended = False
        #: Events dropped because the feed was full.
        self.dropped = 0

    def __aiter__(self) -> DropOldestFeed[E]:
        return self

    async def __anext__(self) -> E:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def receive(self) -> E:
        """The next event, waiting for one.

        Raises:
            trio.EndOfChannel: the feed ended and every event was received.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._events:
            if self._ended:
                raise trio.EndOfChannel
            await self._changed.wait()
        event = self._events.popleft()
        await trio.lowlevel.cancel_shielded_checkpoint()
        return event

    def _push(self, event: E) -> None:
        """Queue `event`, dropping the oldest one if the feed is full."""
        if len(self._events) >= self._max_pending:
            self._events.popleft()
            self.dropped += 1
        self._events.append(event)
        self._wake()

    def _end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
