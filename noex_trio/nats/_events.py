"""What a connection reports: its status changes and problems (`ConnectionEvent`), through a
bounded feed (`ConnectionEvents`), and its counters (`ConnectionStatistics`)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Literal, final

import attrs
import trio

from .._handles import NoPublicConstructor

if TYPE_CHECKING:
    from types import TracebackType

    from ._connection import Connection

#: ``"connected"``; ``"reconnecting"`` (publishes are buffered); ``"draining"``; ``"closed"``.
Status = Literal["connected", "reconnecting", "draining", "closed"]

EventKind = Literal[
    "disconnected", "reconnected", "lame_duck", "server_error", "slow_consumer", "closed"
]


@attrs.frozen
class ConnectionEvent:
    """Something that happened to a connection.

    Attributes:
        kind: ``"disconnected"`` (`error` says why; the client reconnects),
            ``"reconnected"`` (subscriptions restored, buffered publishes sent),
            ``"lame_duck"`` (the server is shutting down; the client moves to another server
            if it knows one), ``"server_error"`` (a ``-ERR`` that keeps the connection, such as
            a permissions violation: `error` is the `ServerError`), ``"slow_consumer"`` (a
            subscription started dropping messages: `error` is the `SlowConsumerError`),
            ``"closed"`` (the last event; `error` is None after a close by the user, else the
            `ConnectionClosedError`).
        server: the URL of the server concerned (``""`` if none).
        error: the error that goes with it, or None.
    """

    kind: EventKind
    server: str
    error: BaseException | None = None


@attrs.frozen(kw_only=True)
class ConnectionStatistics:
    """A snapshot of a connection's counters.

    Attributes:
        status: see `Status`.
        server: the URL of the server connected to, or None.
        servers: the URLs of every server known (given, and learnt from the cluster).
        in_msgs / in_bytes: messages and payload bytes received.
        out_msgs / out_bytes: messages and payload bytes published.
        reconnects: successful reconnections.
        subscriptions: active subscriptions.
        pending_bytes: bytes queued for the server and not written yet.
        pending_requests: requests waiting for their reply.
        pings_outstanding: keepalive PINGs not answered yet.
        dropped_msgs: messages every subscription dropped as a slow consumer.
        server_errors: ``-ERR`` answers received.
    """

    status: Status
    server: str | None
    servers: tuple[str, ...]
    in_msgs: int
    in_bytes: int
    out_msgs: int
    out_bytes: int
    reconnects: int
    subscriptions: int
    pending_bytes: int
    pending_requests: int
    pings_outstanding: int
    dropped_msgs: int
    server_errors: int


@final
class ConnectionEvents(metaclass=NoPublicConstructor):
    """A feed of `ConnectionEvent`: ``async with nc.events() as events: async for e in events:``.

    It holds at most `max_pending` events: when full, the oldest is dropped (and counted in
    `dropped`), so a feed nobody reads never holds the connection up. Iteration ends after the
    ``"closed"`` event.
    """

    _noex_made_by = "use Connection.events()"

    def __init__(self, connection: Connection, max_pending: int) -> None:
        self._connection = connection
        self._max_pending = max_pending
        self._events: deque[ConnectionEvent] = deque()
        self._changed = trio.Event()
        self._ended = False
        #: Events dropped because the feed was full.
        self.dropped = 0

    async def __aenter__(self) -> ConnectionEvents:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._connection._add_feed(self)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._connection._remove_feed(self)
        self._end()

    def __aiter__(self) -> ConnectionEvents:
        return self

    async def __anext__(self) -> ConnectionEvent:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def receive(self) -> ConnectionEvent:
        """The next event, waiting for one.

        Raises:
            trio.EndOfChannel: the feed ended (after ``"closed"``, or it was exited).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._events:
            if self._ended:
                raise trio.EndOfChannel
            await self._changed.wait()
        event = self._events.popleft()
        await trio.lowlevel.cancel_shielded_checkpoint()
        return event

    def _push(self, event: ConnectionEvent) -> None:
        """Queue `event` (the connection only pushes to feeds that have not ended)."""
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
