"""`EventBus`: runtime-scoped publish/subscribe with wildcard topics (noex's ``EventBus``).

This module is the facade users call. The bus process and its index are in ``_bus_server``,
a handler subscription and its delivery task in ``_bus_subscription``, `EventListener` in
``_bus_listener``, a process's own subscription (`BusEvent` in its mailbox) in ``_bus_mailbox``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from . import _checks as checks
from ._bus_listener import EventListener, check_buffer
from ._bus_mailbox import BusEvent
from ._bus_server import BusServer, Link, bus_process, server_of, start_bus
from ._bus_subscription import Handler, Latch
from ._context import current_kernel, current_process
from ._exceptions import NoexError, NotInProcessError, ServerNotRunningError
from ._process import DEAD
from ._refs import EventBusRef, GenServerRef, resolve, stop
from ._statistics import EventBusStatistics
from ._topics import parse_pattern

__all__ = ["BusEvent", "EventBus", "EventBusRef", "EventListener", "Handler"]


class EventBus:
    """Publish/subscribe with wildcard topics, scoped to the current runtime (noex's ``EventBus``).

    ``rt.event_bus`` is started with the runtime and stopped after every other process; start
    more buses with `EventBus.start`. Wherever a function takes `bus`, give an `EventBusRef` or
    the name the bus was started with.

    Topics are dot-separated segments (``"user.created"``). In patterns, ``*`` is exactly one
    segment in any position, ``**`` is zero or more segments, and ``"*"`` alone matches every
    topic. See ``docs/guides/event-bus.md`` for the grammar table and delivery guarantees.

    Every async function here is a checkpoint (Trio's term) on every path, also when it
    returns early or raises.
    """

    @staticmethod
    async def start(name: str | None = None, *, cluster: bool = False) -> EventBusRef:
        """Start a bus; with `name`, it is registered under that name (atomically).

        Its shutdown budget is 5 s: stopping it waits that long at most for its handlers to
        finish the events already queued (see `stop`).

        With ``cluster=True`` (in a runtime opened with ``cluster=``), the bus is one bus on
        every node that starts a cluster bus of this `name`: what any of them publishes
        reaches the subscribers of all (see "A cluster-wide EventBus" in
        ``docs/guides/cluster.md``). It receives the events published from the moment
        ``start`` returns; earlier ones are not replayed.

        Raises:
            AlreadyRegisteredError: `name` is taken.
            TypeError: `cluster` is not a bool, or `name` is not a str with ``cluster=True``.
            NoexError: ``cluster=True`` in a runtime that is not in a cluster.

        If ``start`` is cancelled, no bus is left running and its name is free.
        """
        try:
            link = None
            if checks.boolean(cluster, "cluster"):
                link = _cluster_link(name)
            return await start_bus(name, link)
        except Exception:
            await trio.lowlevel.checkpoint()  # it may have failed before any checkpoint
            raise

    @staticmethod
    async def subscribe(
        bus: EventBusRef | str, pattern: str, handler: Handler
    ) -> Callable[[], None]:
        """Call ``handler(data, topic)`` for every event whose topic `pattern` matches.

        `handler` may be ``def`` or ``async def``; it runs in a task of the bus, one event at a
        time, in publish order. If it raises, the error is logged (logger ``noex_trio``) with
        the topic, and the subscription stays -- except for `KeyboardInterrupt` and
        `SystemExit`, which end the runtime: it shuts down in order, then raises the exception
        from its ``async with`` (this subscription ends at once). Subscribing twice makes two
        subscriptions. Called inside a process, the subscription belongs to that process and
        is removed when it exits. For a process, `subscribe_self` is usually better: the
        events arrive in its mailbox, in order with its other messages.

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
        checks.callable_(handler, "handler")
        server = server_of(bus)
        return server.subscribe(pattern, handler, current_process()).unsubscribe

    @staticmethod
    async def subscribe_self(bus: EventBusRef | str, pattern: str) -> Callable[[], None]:
        """Subscribe the calling process: matching events arrive in its ``handle_info``.

        Call it inside a GenServer (in ``init`` or any handler). Each event whose topic
        `pattern` matches is put in the process's mailbox as a `BusEvent` when it is
        published, so the process handles the events of all its subscriptions in publish
        order, and in order with the messages sent to it after the publish (Phoenix.PubSub).
        Subscribing twice, or under two patterns that both match a topic, makes two
        subscriptions: such a topic brings two events (``event.pattern`` tells them apart).
        The subscription ends with ``unsubscribe()``, when the process exits (a restarted
        process subscribes again in its ``init``), or when the bus stops.

        A bounded mailbox (``mailbox_size=``) that is full when an event is published drops
        the event for this process: the publisher is never blocked nor failed. Each dropped
        event counts as a dead letter (``Runtime.statistics().dead_letters``), and a run of
        drops is logged (logger ``noex_trio``, warning) when it starts and when it ends. A
        process that is stopping gets no new events.

        Returns:
            ``unsubscribe()``: sync and idempotent. Events already in the mailbox stay there
            and are handled (as in OTP: unsubscribing does not flush the mailbox).

        Raises:
            TypeError: `pattern` is not a str.
            ValueError: `pattern` is invalid (the message names the bad part).
            NotInProcessError: not called inside a GenServer process (from plain Trio code,
                use `listen`).
            ServerNotRunningError: the bus is not running.

        If ``subscribe_self`` is cancelled, no subscription was made.
        """
        await trio.lowlevel.checkpoint()
        parse_pattern(pattern)
        owner = current_process()
        if owner is None or not isinstance(owner.ref, GenServerRef):
            raise NotInProcessError(
                "EventBus.subscribe_self()",
                "a GenServer process",
                hint="; from plain Trio code use `async with EventBus.listen(bus, pattern)`",
            )
        proc = bus_process(bus)
        server: BusServer = proc.behaviour
        ref = proc.ref
        assert isinstance(ref, EventBusRef)  # (bus_process checks it)
        return server.subscribe_mailbox(ref, pattern, owner).unsubscribe

    @staticmethod
    def publish(bus: EventBusRef | str, topic: str, data: Any) -> None:
        """Deliver `data` to every subscription matching `topic`; sync, never blocks.

        On a cluster bus, the event is also sent to the other nodes of the bus (after the
        local delivery); if it cannot be sent now (the outbound buffer is full, the
        connection closed), it is dropped for them and counted (``cluster_dropped``), never
        raised.

        Raises:
            TypeError: `topic` is not a str.
            ValueError: `topic` is empty, has an empty segment, or contains a wildcard (on a
                cluster bus: or is too long for a NATS subject).
            CodecError: (a cluster bus) the node's codec cannot encode `data`; the event was
                delivered nowhere.
            ServerNotRunningError: the bus is not running.
        """
        server = server_of(bus)
        matches = server.index.match(topic)
        link = server.link
        if link is None:
            server.published += 1
            for item in matches:
                item._offer(topic, data, None)
            return
        outgoing = link.prepare(topic, data)  # (raises before anything is delivered)
        server.published += 1
        for item in matches:
            item._offer(topic, data, None)
        link.send(outgoing)

    @staticmethod
    async def publish_sync(bus: EventBusRef | str, topic: str, data: Any) -> None:
        """Publish, then wait until every matching handler has finished with this event.

        Handler errors are logged, not raised. A listener counts as finished once the event is
        in its buffer, a process subscribed with `subscribe_self` once the event is in its
        mailbox (or dropped, its mailbox being full). The event is ordered with ``publish`` as
        usual: each handler first finishes the events queued for it before. On a cluster bus,
        the event is sent to the other nodes as `publish` does; their handlers are not waited
        for (each node handles the event as it arrives).

        Raises:
            TypeError, ValueError, CodecError: as for `publish`.
            ServerNotRunningError: the bus is not running, or stopped before every matching
                handler had handled the event.
            NoexError: called from a handler (its own task) whose subscription matches `topic`:
                it would wait for itself forever. Tasks and processes the handler starts are
                not concerned: they may wait for it.

        If ``publish_sync`` is cancelled, the event is still delivered.
        """
        try:
            server = server_of(bus)
            matches = server.index.match(topic)
            me = trio.lowlevel.current_task()
            for item in matches:
                if item._task is me:
                    raise NoexError(
                        f"publish_sync of {topic!r} from a handler of {item.pattern!r}, which "
                        "matches it, would wait for itself; use publish"
                    )
            link = server.link
            outgoing = None if link is None else link.prepare(topic, data)
        except Exception:
            await trio.lowlevel.checkpoint()
            raise
        server.published += 1
        if not matches:
            if link is not None:
                link.send(outgoing)
            await trio.lowlevel.checkpoint()
            return
        latch = Latch(len(matches))
        for item in matches:
            item._offer(topic, data, latch)
        if link is not None:
            link.send(outgoing)
        await latch.event.wait()
        if latch.dropped:
            proc = resolve(bus, system=True)
            raise ServerNotRunningError(bus, proc.reason if proc.status == DEAD else "shutdown")

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
            NoexError: (on iterating) the listener is iterated without ``async with``.
        """
        parse_pattern(pattern)
        listener: EventListener = EventListener._create(bus, pattern, check_buffer(buffer))
        return listener

    @staticmethod
    def is_running(bus: EventBusRef | str) -> bool:
        """True if `bus` (a ref or name) is a bus accepting events (not once it is stopping).

        An unknown name is not running.

        Raises:
            TypeError: `bus` is neither an `EventBusRef` nor the name of one.
        """
        if isinstance(bus, str):
            try:
                ref = resolve(bus, system=True).ref
            except ServerNotRunningError:
                return False
        else:
            ref = bus
        if not isinstance(ref, EventBusRef):
            raise checks.type_error("bus", "an EventBusRef or the name of one", bus)
        return ref.is_running()

    @staticmethod
    def statistics(bus: EventBusRef | str) -> EventBusStatistics:
        """A snapshot of the bus: its process's figures and its own (subscriptions, events
        published, delivered, failed handler calls; a cluster bus's events sent to and
        received from other nodes); see `EventBusStatistics`. Same as
        ``bus.statistics()``; a ref works after the bus stopped.

        Raises:
            TypeError: `bus` is neither an `EventBusRef` nor the name of one.
            ServerNotRunningError: a name that names no process.
        """
        found = resolve(bus, system=True).ref if isinstance(bus, str) else bus
        if not isinstance(found, EventBusRef):
            raise checks.type_error("bus", "an EventBusRef or the name of one", bus)
        return found.statistics()

    @staticmethod
    async def subscription_count(bus: EventBusRef | str) -> int:
        """The number of subscriptions on the bus (handlers, listeners and processes).

        Raises:
            ServerNotRunningError: the bus is not running.

        Cancelling it leaves nothing behind (it only reads the bus's index).
        """
        await trio.lowlevel.checkpoint()
        return len(server_of(bus).index)

    @staticmethod
    async def topics(bus: EventBusRef | str) -> list[str]:
        """The distinct patterns that have at least one subscription, oldest first.

        Raises:
            ServerNotRunningError: the bus is not running.

        Cancelling it leaves nothing behind (it only reads the bus's index).
        """
        await trio.lowlevel.checkpoint()
        return server_of(bus).index.patterns()

    @staticmethod
    async def stop(bus: EventBusRef | str) -> None:
        """Stop the bus; return once it is gone. Idempotent; an unknown name is a no-op.

        Publishing is refused from now on. Each handler subscription first finishes the events
        already queued for it, within the bus's shutdown budget of 5 s (for every bus,
        ``rt.event_bus`` included); after that, handlers still running are cancelled and the
        rest is dropped. Listeners end their iteration after their buffered events. If
        ``stop`` is cancelled, the bus still stops.

        Raises:
            TypeError: `bus` is neither an `EventBusRef` nor the name of one.
        """
        try:
            ref = resolve(bus, system=True).ref
            if not isinstance(ref, EventBusRef):
                raise checks.type_error("bus", "an EventBusRef or the name of one", bus)
        except ServerNotRunningError:
            await trio.lowlevel.checkpoint()
            return  # an unknown name: nothing to stop
        except Exception:
            await trio.lowlevel.checkpoint()
            raise
        await stop(ref, system=True)


def _cluster_link(name: object) -> Link:
    """The cluster link of a bus `name` of the current runtime (see ``_cluster_bus``).

    Raises:
        TypeError: `name` is not a str.
        NoRuntimeError: no runtime runs here.
        NoexError: the runtime is not in a cluster.
    """
    if not isinstance(name, str):
        raise checks.type_error("name", "a str (a cluster bus is known by its name)", name)
    distribution = current_kernel().distribution
    if distribution is None:
        raise NoexError(
            "EventBus.start(cluster=True) needs a runtime in a cluster "
            "(open it with open_runtime(cluster=noex_trio.cluster.ClusterConfig(...)))"
        )
    from ._cluster_bus import ClusterLink  # (only a runtime in a cluster imports it)
    from ._distribution import Distribution

    assert isinstance(distribution, Distribution)
    return ClusterLink(distribution, str.__str__(name))
