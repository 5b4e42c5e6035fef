"""The EventBus process: its behaviour, its index of subscriptions, and how it is started.

A bus is a system process (an `EventBusRef`) whose behaviour, `BusServer`, owns a `TopicIndex`
of subscriptions. Publishing does not go through the bus's mailbox: the facade matches the
topic in the index and puts the event on each matching subscription's own queue, so it is
synchronous, never blocks, and costs nothing for unrelated subscriptions.

Handler subscriptions (`Subscription`) each have a delivery task, living in a nursery inside
the bus's task (the ``_noex_wants_nursery`` hook). Listeners (``EventBus.listen``) have no task:
the consumer reads their buffer itself; the bus only knows them as a `Listener`. Mailbox
subscriptions (``EventBus.subscribe_self``, `MailboxSubscription`) have no task either: an event
goes straight into the subscribed process's mailbox.

When the bus stops, ``terminate`` closes every queue and waits (within the bus's shutdown
budget, `SHUTDOWN_BUDGET`) for the delivery tasks to finish what was already queued; an exit
hook on the bus then cancels whatever is left, so the nursery closes even after a brutal kill,
and ends the mailbox subscriptions (events already in a mailbox stay there).

A cluster bus (``EventBus.start(name, cluster=True)``) also has a `Link` (``_cluster_bus``):
``publish`` gives it each event after the local delivery, and its reader task, in the bus's
nursery, delivers the events of other nodes here as ``publish`` would. The link is started by
``init`` (subscribed before ``start`` returns) and closed first thing when the bus stops.

The runtime starts its default bus with `start_default_bus`, from this module: it never needs
the facade.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

import trio

from . import _checks as checks
from ._bus_mailbox import MailboxSubscription
from ._bus_subscription import Handler, Latch, Subscription
from ._context import current_process
from ._exceptions import NoexError
from ._process import RUNNING, Process
from ._refs import EventBusRef, resolve
from ._results import ExitReason
from ._spawn import start_process
from ._statistics import EventBusStatistics
from ._topics import TopicIndex

#: Seconds a stopping bus waits for its handlers to finish the events already queued.
SHUTDOWN_BUDGET: Final = 5.0


class Listener(Protocol):
    """What the bus needs from a listener (an ``EventListener``)."""

    #: Always None: a listener has no delivery task.
    _task: None

    def __hash__(self) -> int: ...

    def _offer(self, topic: str, data: Any, latch: Latch | None) -> None:
        """Buffer the event (a full buffer overflows the listener)."""

    def _unsubscribe(self) -> None:
        """Leave the bus; the consumer's iteration ends after the buffered events."""


class Link(Protocol):
    """What the bus needs from its cluster link (a ``_cluster_bus.ClusterLink``)."""

    def start(self, server: BusServer) -> Awaitable[None]:
        """Subscribe to the other nodes' events and start reading them (in the bus's
        nursery); returns once subscribed."""

    def close(self) -> None:
        """Stop reading (sync, idempotent): nothing more is delivered from other nodes."""

    def prepare(self, topic: str, data: Any) -> Any:
        """What `send` sends for this event; raises if it cannot travel (nothing is sent)."""

    def send(self, outgoing: Any) -> None:
        """Send a prepared event to the other nodes now; never raises (a failure is counted)."""

    def counts(self) -> tuple[int, int, int, int]:
        """The link's figures for ``statistics()``: events sent, received, dropped, and
        garbage received."""


class BusServer:
    """The behaviour of a bus process: owns the index and the delivery tasks."""

    _noex_wants_nursery: Final = True
    _noex_nursery: trio.Nursery
    #: How statistics show it (`ProcessStatistics.kind` and ``.behaviour``).
    _noex_kind: Final = "bus"
    _noex_name: Final = "EventBus"

    def __init__(self, link: Link | None = None) -> None:
        #: A cluster bus's link to the other nodes, or None (a bus of this runtime only).
        self.link = link
        self.index: TopicIndex[Subscription | Listener | MailboxSubscription] = TopicIndex()
        self.label = "EventBus"
        #: For ``statistics()``: publishes; events handed to subscribers; handler calls that
        #: raised (see `EventBusStatistics`).
        self.published = 0
        self.delivered = 0
        self.failed = 0
        self.subscriptions: dict[Subscription, None] = {}
        self.listeners: dict[Listener, None] = {}
        self.mailboxes: dict[MailboxSubscription, None] = {}
        self.idle = trio.Event()
        self._escalate: Callable[[BaseException], None] | None = None

    def init(self) -> Awaitable[None] | None:
        proc = current_process()
        assert proc is not None
        self.label = proc.label
        self._escalate = proc.kernel.escalate
        proc.add_exit_hook(self, self._release)
        # (a local bus's init stays sync; a cluster bus subscribes before `start` returns)
        return None if self.link is None else self.link.start(self)

    def handle_call(self, msg: object, state: None) -> tuple[None, None]:  # pragma: no cover
        raise NoexError(f"{self.label} takes no calls; use the EventBus functions")

    def handle_cast(self, msg: object, state: None) -> None:  # pragma: no cover
        raise NoexError(f"{self.label} takes no casts; use the EventBus functions")

    async def terminate(self, reason: ExitReason, state: None) -> None:
        """Let every subscription finish the events already queued (bounded by the budget)."""
        if self.link is not None:
            self.link.close()
        for listener in list(self.listeners):
            listener._unsubscribe()
        for sub in self.subscriptions:
            sub.send.close()
        self.idle = trio.Event()
        if self.subscriptions:
            await self.idle.wait()

    def _release(self, reason: ExitReason) -> None:
        # Bus exit hook (runs even after a brutal kill): end every delivery task, forget
        # everything, and detach from the processes that owned subscriptions.
        if self.link is not None:
            self.link.close()
        for listener in list(self.listeners):
            listener._unsubscribe()
        for mailbox in list(self.mailboxes):
            mailbox.unsubscribe()
        for sub in self.subscriptions:
            sub.end(bus_gone=True)
            sub.scope.cancel()
        # The nursery leads to the bus's task, whose context holds the ref: break the cycle.
        del self._noex_nursery

    def _noex_statistics(self, fields: dict[str, Any], now: float) -> EventBusStatistics:
        """``bus.statistics()``: the process's `fields` and the bus's own figures."""
        sent, received, dropped, garbage = (0, 0, 0, 0) if self.link is None else self.link.counts()
        return EventBusStatistics(
            **fields,
            subscriptions=len(self.index),
            published=self.published,
            delivered=self.delivered,
            failed=self.failed,
            cluster_sent=sent,
            cluster_received=received,
            cluster_dropped=dropped,
            cluster_garbage=garbage,
        )

    # -- what subscriptions and listeners call --

    def subscribe(self, pattern: str, handler: Handler, owner: Process | None) -> Subscription:
        sub = Subscription(self, pattern, handler, owner)
        self.index.add(pattern, sub)  # validates the pattern first
        self.subscriptions[sub] = None
        self._noex_nursery.start_soon(sub.deliver, name=f"{self.label} {pattern!r}")
        if owner is not None:
            owner.add_exit_hook(sub, lambda _reason: sub.unsubscribe())
        return sub

    def subscribe_mailbox(
        self, ref: EventBusRef, pattern: str, owner: Process
    ) -> MailboxSubscription:
        sub = MailboxSubscription(self, ref, pattern, owner)
        self.index.add(pattern, sub)  # validates the pattern first
        self.mailboxes[sub] = None
        owner.add_exit_hook(sub, lambda _reason: sub.unsubscribe())
        return sub

    def mailbox_ended(self, sub: MailboxSubscription) -> None:
        del self.mailboxes[sub]

    def delivery_ended(self, sub: Subscription) -> None:
        del self.subscriptions[sub]
        if not self.subscriptions:
            self.idle.set()

    def escalate(self, error: BaseException) -> None:
        # (Also after the bus is released: a cancelled handler may still raise KeyboardInterrupt.)
        assert self._escalate is not None  # set by init, before anyone can subscribe
        self._escalate(error)

    def add_listener(self, listener: Listener, pattern: str) -> None:
        self.index.add(pattern, listener)
        self.listeners[listener] = None

    def remove_listener(self, listener: Listener, pattern: str) -> None:
        self.index.remove(pattern, listener)
        del self.listeners[listener]


def server_of(bus: object) -> BusServer:
    """The state of a running bus given by ref or name (raises if it is not running)."""
    server: BusServer = bus_process(bus).behaviour
    return server


def bus_process(bus: object) -> Process:
    """The record of a running bus given by ref or name (raises if it is not running)."""
    proc = resolve(bus, system=True)
    if type(proc.ref) is not EventBusRef:
        raise checks.type_error("bus", "an EventBusRef or the name of one", bus)
    if proc.status > RUNNING:
        raise proc.not_running(bus)
    return proc


async def start_bus(name: str | None, link: Link | None = None) -> EventBusRef:
    """Start a bus process (see ``EventBus.start``); with `link`, a cluster bus."""
    ref = await start_process(
        BusServer(link),
        (),
        name=name,
        init_timeout=5.0,
        mailbox_size=math.inf,
        trap_exit=False,
        ref_class=EventBusRef,
        budget=SHUTDOWN_BUDGET,
        label="EventBus",
    )
    assert isinstance(ref, EventBusRef)
    return ref


async def start_default_bus() -> EventBusRef:
    """Start ``rt.event_bus``; the runtime stops it after every other process."""
    return await start_bus(None)
