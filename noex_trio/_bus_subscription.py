"""A handler subscription of an EventBus: its queue and the delivery task that drains it.

Each `Subscription` has an unbounded memory channel and one delivery task (started by the bus
in its nursery). The task calls the handler for one event at a time, in publish order, so a
slow handler delays only its own subscription.

What a handler raises:

- an `Exception` (or a group of them): logged on the ``noex_trio`` logger, the subscription
  stays;
- `KeyboardInterrupt`, `SystemExit` or another non-`Exception` (a user's ``BaseException``
  subclass), alone or inside an exception group: handed to the runtime, which shuts down in
  order and then raises it as is; this subscription ends;
- `trio.Cancelled` (or a group of nothing else): the bus is cancelling the task; it ends.

A `Latch` counts the subscriptions that still have to handle one ``publish_sync`` event.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

import trio

from ._context import reset_library_context
from ._outcome import crash_reason, find_fatal, is_cancellation
from ._process import Process
from ._safe_format import safe_repr

if TYPE_CHECKING:
    from ._topics import TopicIndex

logger: Final = logging.getLogger("noex_trio")

#: How many queued events a delivery task handles before it yields to the scheduler.
_YIELD_EVERY: Final = 64

#: An event handler: ``handler(data, topic)``, a ``def`` or an ``async def``.
Handler = Callable[[Any, str], object]


class Latch:
    """Counts the handlers of one ``publish_sync`` event still to finish."""

    __slots__ = ("dropped", "event", "pending")

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.dropped = False
        self.event = trio.Event()

    def done(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.event.set()

    def drop(self) -> None:
        """The event will never be handled (the bus stopped first)."""
        self.dropped = True
        self.done()


class Bus(Protocol):
    """What a subscription needs from its bus (the bus server implements it)."""

    #: Counts for ``statistics()``: handler calls made, and those that raised.
    delivered: int
    failed: int

    @property
    def index(self) -> TopicIndex[Any]: ...

    @property
    def label(self) -> str: ...

    def escalate(self, error: BaseException) -> None:
        """End the runtime with `error` (raised as is after the ordered shutdown)."""

    def delivery_ended(self, sub: Subscription) -> None:
        """The delivery task of `sub` is about to return."""


class Subscription:
    """One handler subscription: a queue and the delivery task that drains it."""

    __slots__ = ("_task", "active", "bus", "handler", "owner", "pattern", "recv", "scope", "send")

    def __init__(self, bus: Bus, pattern: str, handler: Handler, owner: Process | None) -> None:
        self.bus = bus
        self.pattern = pattern
        self.handler = handler
        self.owner = owner
        self.send, self.recv = trio.open_memory_channel[tuple[str, Any, Latch | None]](math.inf)
        # Shielded so that cancelling the bus's task lets the queue drain during terminate;
        # the bus cancels it explicitly when it is done with it.
        self.scope = trio.CancelScope(shield=True)
        self.active = True
        #: The delivery task, once it runs (a ``publish_sync`` from it must not wait for it).
        self._task: trio.lowlevel.Task | None = None

    def _offer(self, topic: str, data: Any, latch: Latch | None) -> None:
        self.send.send_nowait((topic, data, latch))

    def unsubscribe(self) -> None:
        """Stop delivering: events queued and not yet handled are dropped (sync, idempotent)."""
        self.end(bus_gone=False)

    def end(self, *, bus_gone: bool) -> None:
        """Leave the index and the owner, and drop the queued events.

        A ``publish_sync`` waiting on a dropped event counts it as handled after an
        unsubscribe, and raises `ServerNotRunningError` if the bus is gone.
        """
        if self.active:
            self.active = False
            self.bus.index.remove(self.pattern, self)
            if self.owner is not None:
                self.owner.remove_exit_hook(self)
                # A process that keeps its ``unsubscribe`` would otherwise be in a cycle.
                self.owner = None
            self.send.close()
        while True:
            try:
                _, _, latch = self.recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            if latch is None:
                continue
            if bus_gone:
                latch.drop()
            else:
                latch.done()

    async def deliver(self) -> None:
        """The delivery task: call the handler for each queued event until the queue ends."""
        # Handlers run as plain Trio code, in no process and under no supervisor.
        reset_library_context()
        self._task = trio.lowlevel.current_task()
        recv = self.recv
        handler = self.handler
        budget = _YIELD_EVERY
        latch: Latch | None = None
        try:
            with self.scope:
                while True:
                    # Never await inside an `except` block: the suspended coroutine would keep
                    # the WouldBlock (and its traceback) alive for as long as it is idle.
                    waiting = True
                    if budget:
                        try:
                            topic, data, latch = recv.receive_nowait()
                            budget -= 1
                            waiting = False
                        except trio.WouldBlock:
                            pass
                    if waiting:
                        topic, data, latch = await recv.receive()
                        budget = _YIELD_EVERY
                    self.bus.delivered += 1
                    try:
                        result = handler(data, topic)
                        if inspect.isawaitable(result):
                            await result
                    except Exception as exc:
                        self._log_failure(topic, exc)
                    except BaseException as exc:
                        if self._is_fatal(topic, exc):
                            # The runtime is going down: this subscription ends now, and
                            # the event counts as handled (as after a logged error).
                            self.unsubscribe()
                            if latch is not None:
                                latch.done()
                                latch = None
                            return
                    if latch is not None:
                        latch.done()
                        latch = None
        except (trio.EndOfChannel, trio.ClosedResourceError):
            pass
        finally:
            # The queue is closed and empty, or the bus cancelled this task: the waiters of
            # whatever was not handled are told the bus is gone.
            if latch is not None:
                latch.drop()
            self.end(bus_gone=True)
            recv.close()
            self._task = None  # `unsubscribe` may outlive the task: do not keep it
            self.bus.delivery_ended(self)

    def _is_fatal(self, topic: str, exc: BaseException) -> bool:
        """Sort a non-`Exception` from the handler (see `_outcome`): escalate, re-raise a
        cancellation, or log a group of errors. True if the runtime was told to end."""
        fatal = find_fatal(exc)
        if fatal is not None:
            self.bus.escalate(fatal)
            return True
        if is_cancellation(exc):
            raise exc  # the bus is cancelling this task
        self._log_failure(topic, crash_reason(exc))
        return False

    def _log_failure(self, topic: str, exc: BaseException) -> None:
        # Every part is formatted here, defensively: a handler or an error with a broken
        # __repr__/__str__ must not make the logging raise (the traceback module formats a
        # broken __str__ itself).
        self.bus.failed += 1
        logger.error(
            "%s: handler %s of %r raised on topic %r; it stays subscribed",
            self.bus.label,
            safe_repr(self.handler),
            self.pattern,
            topic,
            exc_info=exc,
        )

    def __repr__(self) -> str:
        return f"<subscription {self.pattern!r} -> {safe_repr(self.handler)}>"
