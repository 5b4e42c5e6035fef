"""`EventBus`: runtime-scoped publish/subscribe with wildcard topics (noex's ``EventBus``).

A bus is a system process (an `EventBusRef`) whose state is a `TopicIndex` of subscriptions.
Publishing does not go through the bus's mailbox: ``publish`` matches the topic in the trie and
puts the event on each matching subscription's own queue with ``send_nowait``, so it is
synchronous, never blocks, and costs nothing for unrelated subscriptions.

Each handler subscription has an unbounded memory channel and one delivery task, living in a
nursery inside the bus's task (the ``_noex_wants_nursery`` hook). The task calls the handler for
one event at a time, in publish order, so a slow handler delays only its own subscription. A
handler that raises is logged and keeps its subscription. A listener (`EventBus.listen`) has a
bounded channel and no task: the consumer reads the channel itself.

When the bus stops, ``terminate`` closes every queue and waits (within the bus's shutdown budget)
for the delivery tasks to finish what was already queued; an exit hook on the bus then cancels
whatever is left, so the nursery closes even after a brutal kill.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Final

import trio

from ._context import current_process, reset_library_context
from ._exceptions import MailboxFullError, NoexError, ServerNotRunningError
from ._process import RUNNING, Process
from ._refs import EventBusRef, resolve, stop
from ._results import ExitReason
from ._spawn import start_process
from ._topics import TopicIndex, parse_pattern

logger: Final = logging.getLogger("noex_trio")

#: Seconds a stopping bus waits for its handlers to finish the events already queued.
SHUTDOWN_BUDGET: Final = 5.0

#: How many queued events a delivery task handles before it yields to the scheduler.
_YIELD_EVERY: Final = 64

#: The subscription whose handler is running in this task (to refuse a self-deadlocking
#: ``publish_sync``).
_delivering: ContextVar[_Subscription | None] = ContextVar("noex_trio_delivering", default=None)

Handler = Callable[[Any, str], object]


class _Latch:
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


class _Subscription:
    """One handler subscription: a queue and the delivery task that drains it."""

    __slots__ = ("active", "handler", "owner", "pattern", "recv", "scope", "send", "server")

    def __init__(
        self, server: _BusServer, pattern: str, handler: Handler, owner: Process | None
    ) -> None:
        self.server = server
        self.pattern = pattern
        self.handler = handler
        self.owner = owner
        self.send, self.recv = trio.open_memory_channel[tuple[str, Any, _Latch | None]](math.inf)
        # Shielded so that cancelling the bus's task lets the queue drain during terminate;
        # the bus cancels it explicitly when it is done with it.
        self.scope = trio.CancelScope(shield=True)
        self.active = True

    def _offer(self, topic: str, data: Any, latch: _Latch | None) -> None:
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
            self.server.index.remove(self.pattern, self)
            if self.owner is not None:
                self.owner.remove_exit_hook(self)
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

    def __repr__(self) -> str:
        return f"<subscription {self.pattern!r} -> {self.handler!r}>"


class EventListener:
    """The events of one pattern as an async iterator of ``(topic, data)``; see `EventBus.listen`.

    Use it only as ``async with EventBus.listen(bus, pattern, buffer=n) as events:``. The
    subscription exists from entering the block to leaving it.

    Overflow policy: events go into a buffer of `buffer` events. If the consumer falls behind and
    an event finds the buffer full, the listener is *overflowed*: it is unsubscribed at once, the
    consumer still receives every event buffered before, and then iteration raises
    `MailboxFullError` naming the listener. No event is skipped silently. When the bus stops,
    iteration ends (``async for`` finishes) after the buffered events.

    Entering the block raises `ServerNotRunningError` if the bus is not running; if entering is
    cancelled, no subscription was made. Leaving the block (also by cancellation) unsubscribes.
    """

    def __init__(self, bus: object, pattern: str, buffer: float) -> None:
        self._bus = bus
        self.pattern = pattern
        #: Capacity of the buffer (an int >= 1, or ``math.inf``).
        self.buffer = buffer
        #: True once an event found the buffer full (see the overflow policy).
        self.overflowed = False
        self._active = False
        self._server: _BusServer | None = None
        self._label = f"listener {pattern!r}"
        self._send, self._recv = trio.open_memory_channel[tuple[str, Any]](buffer)

    def __repr__(self) -> str:
        return f"<EventListener {self.pattern!r} buffer={self.buffer}>"

    async def __aenter__(self) -> EventListener:
        await trio.lowlevel.checkpoint()
        if self._server is not None:
            raise NoexError(f"{self!r} was already entered; call EventBus.listen again")
        server = _server_of(self._bus)
        self._label = f"listener {self.pattern!r} on {server.label}"
        server.index.add(self.pattern, self)
        server.listeners[self] = None
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

    def _offer(self, topic: str, data: Any, latch: _Latch | None) -> None:
        try:
            self._send.send_nowait((topic, data))
        except trio.WouldBlock:
            self.overflowed = True
            self._unsubscribe()
        if latch is not None:
            latch.done()  # a listener has handled an event once it is in its buffer

    def _unsubscribe(self) -> None:
        if not self._active:
            return
        self._active = False
        assert self._server is not None
        self._server.index.remove(self.pattern, self)
        del self._server.listeners[self]
        self._send.close()

    def __aiter__(self) -> EventListener:
        return self

    async def __anext__(self) -> tuple[str, Any]:
        """The next ``(topic, data)``.

        Raises:
            MailboxFullError: the buffer overflowed and every buffered event was consumed.
            StopAsyncIteration: the bus stopped and every buffered event was consumed.

        Cancelling it loses nothing: an event is taken from the buffer only when it is returned.
        """
        try:
            return await self._recv.receive()
        except trio.EndOfChannel:
            if self.overflowed:
                raise MailboxFullError(self, self.buffer) from None
            raise StopAsyncIteration from None
        except trio.ClosedResourceError:
            raise NoexError(f"{self!r} is used after its `async with` block ended") from None


class _BusServer:
    """The behaviour of a bus process: owns the index and the delivery tasks."""

    _noex_wants_nursery = True
    _noex_nursery: trio.Nursery

    def __init__(self) -> None:
        self.index: TopicIndex[_Subscription | EventListener] = TopicIndex()
        self.label = "EventBus"
        self.subscriptions: dict[_Subscription, None] = {}
        self.listeners: dict[EventListener, None] = {}
        self.tasks = 0
        self.idle = trio.Event()

    def init(self) -> None:
        proc = current_process()
        assert proc is not None
        self.label = proc.label
        proc.add_exit_hook(self, self._release)

    def handle_call(self, msg: object, state: None) -> tuple[None, None]:  # pragma: no cover
        raise NoexError(f"{self.label} takes no calls; use the EventBus functions")

    def handle_cast(self, msg: object, state: None) -> None:  # pragma: no cover
        raise NoexError(f"{self.label} takes no casts; use the EventBus functions")

    async def terminate(self, reason: ExitReason, state: None) -> None:
        """Let every subscription finish the events already queued (bounded by the budget)."""
        for listener in list(self.listeners):
            listener._unsubscribe()
        for sub in self.subscriptions:
            sub.send.close()
        self.idle = trio.Event()
        if self.tasks:
            await self.idle.wait()

    def _release(self, reason: ExitReason) -> None:
        # Bus exit hook (runs even after a brutal kill): end every delivery task, forget
        # everything, and detach from the processes that owned subscriptions.
        for listener in list(self.listeners):
            listener._unsubscribe()
        for sub in self.subscriptions:
            sub.end(bus_gone=True)
            sub.scope.cancel()
        # The nursery leads to the bus's task, whose context holds the ref: break the cycle.
        del self._noex_nursery

    def subscribe(self, pattern: str, handler: Handler, owner: Process | None) -> _Subscription:
        sub = _Subscription(self, pattern, handler, owner)
        self.index.add(pattern, sub)  # validates the pattern first
        self.subscriptions[sub] = None
        self.tasks += 1
        self._noex_nursery.start_soon(self._deliver, sub, name=f"{self.label} {pattern!r}")
        if owner is not None:
            owner.add_exit_hook(sub, lambda _reason: sub.unsubscribe())
        return sub

    async def _deliver(self, sub: _Subscription) -> None:
        reset_library_context()  # handlers run as plain Trio code, not in any process
        _delivering.set(sub)
        recv = sub.recv
        handler = sub.handler
        budget = _YIELD_EVERY
        latch: _Latch | None = None
        try:
            with sub.scope:
                while True:
                    if budget:
                        try:
                            topic, data, latch = recv.receive_nowait()
                            budget -= 1
                        except trio.WouldBlock:
                            topic, data, latch = await recv.receive()
                            budget = _YIELD_EVERY
                    else:
                        topic, data, latch = await recv.receive()
                        budget = _YIELD_EVERY
                    try:
                        result = handler(data, topic)
                        if inspect.isawaitable(result):
                            await result
                    except Exception as exc:
                        logger.error(
                            "%s: handler %r of %r raised on topic %r; it stays subscribed",
                            self.label,
                            handler,
                            sub.pattern,
                            topic,
                            exc_info=exc,
                        )
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
            sub.end(bus_gone=True)
            recv.close()
            del self.subscriptions[sub]
            self.tasks -= 1
            if not self.tasks:
                self.idle.set()


_BusServer.__name__ = _BusServer.__qualname__ = "EventBus"  # process labels read EventBus#3


def _server_of(bus: object) -> _BusServer:
    """The state of a running bus given by ref or name (raises if it is not running)."""
    proc = resolve(bus, system=True)
    if type(proc.ref) is not EventBusRef:
        raise TypeError(f"bus must be an EventBusRef or the name of one, got {bus!r}")
    if proc.status > RUNNING:
        raise proc.not_running(bus)
    server: _BusServer = proc.behaviour
    return server


def _check_buffer(buffer: object) -> float:
    if buffer == math.inf:
        return math.inf
    if isinstance(buffer, bool) or not isinstance(buffer, int):
        raise TypeError(f"buffer must be an int >= 1 or math.inf, got {buffer!r}")
    if buffer < 1:
        raise ValueError(f"buffer must be an int >= 1 or math.inf, got {buffer!r}")
    return buffer


class EventBus:
    """Publish/subscribe with wildcard topics, scoped to the current runtime (noex's ``EventBus``).

    ``rt.event_bus`` is started with the runtime and stopped after every other process; start
    more buses with `EventBus.start`. Wherever a function takes `bus`, give an `EventBusRef` or
    the name the bus was started with.

    Topics are dot-separated segments (``"user.created"``). In patterns, ``*`` is exactly one
    segment in any position, ``**`` is zero or more segments, and ``"*"`` alone matches every
    topic. See ``docs/guides/event-bus.md`` for the grammar table and delivery guarantees.
    """

    @staticmethod
    async def start(name: str | None = None) -> EventBusRef:
        """Start a bus; with `name`, it is registered under that name (atomically).

        Raises:
            AlreadyRegisteredError: `name` is taken.

        If ``start`` is cancelled, no bus is left running and its name is free.
        """
        ref = await start_process(
            _BusServer(),
            (),
            name=name,
            init_timeout=5.0,
            mailbox_size=math.inf,
            trap_exit=False,
            ref_class=EventBusRef,
            budget=SHUTDOWN_BUDGET,
        )
        assert isinstance(ref, EventBusRef)
        return ref

    @staticmethod
    async def subscribe(
        bus: EventBusRef | str, pattern: str, handler: Handler
    ) -> Callable[[], None]:
        """Call ``handler(data, topic)`` for every event whose topic `pattern` matches.

        `handler` may be ``def`` or ``async def``; it runs in a task of the bus, one event at a
        time, in publish order. If it raises an `Exception`, the error is logged (logger
        ``noex_trio``) with the topic, and the subscription stays. Subscribing twice makes two
        subscriptions. Called inside a process, the subscription belongs to that process and
        is removed when it exits.

        Returns:
            ``unsubscribe()``: sync and idempotent. Events queued for this subscription and not
            yet handled are dropped; a handler already running finishes.

        Raises:
            TypeError: `pattern` is not a str, or `handler` is not callable.
            ValueError: `pattern` is invalid (the message names the bad part).
            ServerNotRunningError: the bus is not running.

        If ``subscribe`` is cancelled, no subscription was made.
        """
        await trio.lowlevel.checkpoint()
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        server = _server_of(bus)
        return server.subscribe(pattern, handler, current_process()).unsubscribe

    @staticmethod
    def publish(bus: EventBusRef | str, topic: str, data: Any) -> None:
        """Deliver `data` to every subscription matching `topic`; sync, never blocks.

        Raises:
            TypeError: `topic` is not a str.
            ValueError: `topic` is empty, has an empty segment, or contains a wildcard.
            ServerNotRunningError: the bus is not running.
        """
        for item in _server_of(bus).index.match(topic):
            item._offer(topic, data, None)

    @staticmethod
    async def publish_sync(bus: EventBusRef | str, topic: str, data: Any) -> None:
        """Publish, then wait until every matching handler has finished with this event.

        Handler errors are logged, not raised. A listener counts as finished once the event is
        in its buffer. The event is ordered with ``publish`` as usual: each handler first
        finishes the events queued for it before.

        Raises:
            TypeError, ValueError: as for `publish`.
            ServerNotRunningError: the bus is not running, or stopped before every matching
                handler had handled the event.
            NoexError: called from a handler whose own subscription matches `topic` (it would
                wait for itself forever).

        If ``publish_sync`` is cancelled, the event is still delivered.
        """
        matches = _server_of(bus).index.match(topic)
        if not matches:
            await trio.lowlevel.checkpoint()
            return
        delivering = _delivering.get()
        if delivering is not None and delivering in matches:
            raise NoexError(
                f"publish_sync of {topic!r} from a handler of {delivering.pattern!r}, which "
                "matches it, would wait for itself; use publish"
            )
        latch = _Latch(len(matches))
        for item in matches:
            item._offer(topic, data, latch)
        await latch.event.wait()
        if latch.dropped:
            raise ServerNotRunningError(bus, resolve(bus, system=True).reason or "shutdown")

    @staticmethod
    def listen(bus: EventBusRef | str, pattern: str, buffer: float = 100) -> EventListener:
        """Receive the events of `pattern` as an async iterator of ``(topic, data)``.

        ::

            async with EventBus.listen(bus, "order.*", buffer=100) as events:
                async for topic, data in events:
                    ...

        The subscription starts when the block is entered and ends when it is left. If the
        consumer falls behind by more than `buffer` events, the listener overflows: the events
        already buffered are still received, then iteration raises `MailboxFullError` (see
        `EventListener`). When the bus stops, iteration ends after the buffered events.

        Raises:
            TypeError: `pattern` is not a str, `buffer` is not an int or ``math.inf``.
            ValueError: `pattern` is invalid or `buffer` < 1.
            ServerNotRunningError: (on entering the block) the bus is not running.
        """
        parse_pattern(pattern)
        return EventListener(bus, pattern, _check_buffer(buffer))

    @staticmethod
    async def subscription_count(bus: EventBusRef | str) -> int:
        """The number of subscriptions (handlers and listeners) on the bus.

        Raises:
            ServerNotRunningError: the bus is not running.

        Cancelling it leaves nothing behind (it only reads the bus's index).
        """
        await trio.lowlevel.checkpoint()
        return len(_server_of(bus).index)

    @staticmethod
    async def topics(bus: EventBusRef | str) -> list[str]:
        """The distinct patterns that have at least one subscription, oldest first.

        Raises:
            ServerNotRunningError: the bus is not running.

        Cancelling it leaves nothing behind (it only reads the bus's index).
        """
        await trio.lowlevel.checkpoint()
        return _server_of(bus).index.patterns()

    @staticmethod
    async def stop(bus: EventBusRef | str) -> None:
        """Stop the bus; return once it is gone. Idempotent.

        Publishing is refused from now on. Each handler subscription first finishes the events
        already queued for it, within the bus's shutdown budget (`SHUTDOWN_BUDGET`, 5 s);
        after that, handlers still running are cancelled and the rest is dropped. Listeners
        end their iteration after their buffered events. If ``stop`` is cancelled, the bus
        still stops.
        """
        try:
            proc = resolve(bus, system=True)
        except ServerNotRunningError:
            await trio.lowlevel.checkpoint()
            return  # an unknown name: nothing to stop
        if type(proc.ref) is not EventBusRef:
            raise TypeError(f"bus must be an EventBusRef or the name of one, got {bus!r}")
        await stop(proc.ref, system=True)


async def start_default_bus() -> EventBusRef:
    """Start ``rt.event_bus``; the runtime stops it after every other process."""
    return await EventBus.start()
