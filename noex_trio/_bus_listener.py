"""`EventListener`: the events of one pattern as a Trio async iterator (``EventBus.listen``).

A listener has a bounded buffer (a memory channel) and no task of its own: the bus puts events
in the buffer when they are published, and the consumer reads it in its own task.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, final

import trio

from . import _checks as checks
from ._bus_server import BusServer, server_of
from ._bus_subscription import Latch
from ._exceptions import MailboxFullError, NoexError
from ._handles import NoPublicConstructor


@final
class EventListener(metaclass=NoPublicConstructor):
    """The events of one pattern as an async iterator of ``(topic, data)``; see `EventBus.listen`.

    Use it only as ``async with EventBus.listen(bus, pattern, buffer=n) as events:``. The
    subscription exists from entering the block to leaving it. It cannot be built directly
    (``EventListener(...)`` raises `TypeError`) nor subclassed.

    Overflow policy: events go into a buffer of `buffer` events. If the consumer falls behind and
    an event finds the buffer full, the listener is *overflowed*: it is unsubscribed at once, the
    consumer still receives every event buffered before, and then iteration raises
    `MailboxFullError` naming the listener. No event is skipped silently. When the bus stops,
    iteration ends (``async for`` finishes) after the buffered events.

    Entering the block raises `ServerNotRunningError` if the bus is not running; if entering is
    cancelled, no subscription was made. Leaving the block (also by cancellation) unsubscribes;
    like releasing a `trio.Lock`, leaving is not a checkpoint. Iterating without entering the
    block raises `NoexError`.
    """

    _noex_made_by = "use EventBus.listen(bus, pattern, buffer=...)"

    #: A listener has no delivery task (the bus checks this in ``publish_sync``).
    _task: None = None

    def __init__(self, bus: object, pattern: str, buffer: float) -> None:
        self._bus = bus
        self.pattern = pattern
        #: Capacity of the buffer (an int >= 1, or ``math.inf``).
        self.buffer = buffer
        #: True once an event found the buffer full (see the overflow policy).
        self.overflowed = False
        self._active = False
        self._server: BusServer | None = None
        #: How errors name it (`MailboxFullError`): "listener 'a' on EventBus#1".
        self._label = f"listener {pattern!r}"
        self._send, self._recv = trio.open_memory_channel[tuple[str, Any]](buffer)

    def __repr__(self) -> str:
        return f"<EventListener {self.pattern!r} buffer={self.buffer}>"

    async def __aenter__(self) -> EventListener:
        await trio.lowlevel.checkpoint()
        if self._server is not None:
            raise NoexError(f"{self!r} was already entered; call EventBus.listen again")
        server = server_of(self._bus)
        self._label = f"listener {self.pattern!r} on {server.label}"
        server.add_listener(self, self.pattern)
        self._server = server
        self._active = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._unsubscribe()
        self._recv.close()

    def _offer(self, topic: str, data: Any, latch: Latch | None) -> None:
        try:
            self._send.send_nowait((topic, data))
        except trio.WouldBlock:
            self.overflowed = True
            self._unsubscribe()
        else:
            assert self._server is not None  # (offered only while subscribed)
            self._server.delivered += 1
        if latch is not None:
            latch.done()  # a listener has handled an event once it is in its buffer

    def _unsubscribe(self) -> None:
        if not self._active:
            return
        self._active = False
        assert self._server is not None
        self._server.remove_listener(self, self.pattern)
        self._send.close()

    def _not_entered(self) -> NoexError:
        return NoexError(
            f"{self!r} is iterated outside its block; "
            "use `async with EventBus.listen(...) as events:`, then `async for` over `events`"
        )

    def __aiter__(self) -> EventListener:
        if self._server is None:
            raise self._not_entered()
        return self

    async def __anext__(self) -> tuple[str, Any]:
        """The next ``(topic, data)``.

        Raises:
            MailboxFullError: the buffer overflowed and every buffered event was consumed.
            StopAsyncIteration: the bus stopped and every buffered event was consumed.
            NoexError: the listener is used outside its ``async with`` block.

        Cancelling it loses nothing: an event is taken from the buffer only when it is returned.
        """
        if self._server is None:
            await trio.lowlevel.checkpoint()
            raise self._not_entered()
        try:
            return await self._recv.receive()
        except trio.EndOfChannel:
            error: BaseException = (
                MailboxFullError(self, self.buffer) if self.overflowed else StopAsyncIteration()
            )
        except trio.ClosedResourceError:
            error = NoexError(f"{self!r} is used after its `async with` block ended")
        # `receive` raised at once, after a cancellation check only: make it a schedule point.
        await trio.lowlevel.cancel_shielded_checkpoint()
        raise error


def check_buffer(buffer: object) -> float:
    """Accept an int >= 1 or ``math.inf`` as a listener's buffer size."""
    return checks.count(buffer, "buffer", minimum=1, inf=True)
