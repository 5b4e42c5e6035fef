"""What a connection reports: its status changes and problems (`ConnectionEvent`), through a
bounded feed (`ConnectionEvents`), and its counters (`ConnectionStatistics`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, final

import attrs
import trio

from ._feed import DropOldestFeed

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
class ConnectionEvents(DropOldestFeed[ConnectionEvent]):
    """A feed of `ConnectionEvent`: ``async with nc.events() as events: async for e in events:``.

    It holds at most `max_pending` events: when full, the oldest is dropped (and counted in
    `dropped`), so a feed nobody reads never holds the connection up. Iteration ends after the
    ``"closed"`` event.
    """

    _noex_made_by = "use Connection.events()"

    def __init__(self, connection: Connection, max_pending: int) -> None:
        self._connection = connection
        super().__init__(max_pending)

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
