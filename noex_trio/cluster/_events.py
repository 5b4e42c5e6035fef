"""What a node tells its watchers: `NodeUp` and `NodeDown`, through a bounded feed
(`NodeEvents`), and what it counts (`NodeStatistics`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeAlias, final

import attrs
import trio

from ..nats._feed import DropOldestFeed
from ._identity import NodeId

if TYPE_CHECKING:
    from types import TracebackType

#: Why a node is seen down:
#: ``"timeout"`` (no heartbeat within ``failure_timeout``: dead, frozen or cut off),
#: ``"left"`` (it said goodbye), ``"restarted"`` (a new incarnation of its name appeared),
#: ``"reconnected"`` (it lost its connection to NATS and announced itself again),
#: ``"disconnected"`` (this node lost its own connection: every other node is down for it).
DownDetail: TypeAlias = Literal["timeout", "left", "restarted", "reconnected", "disconnected"]

#: ``"joining"`` (claiming its name), ``"up"``, ``"disconnected"`` (no connection to NATS, or
#: its own heartbeats stopped coming back: it sees no other node), ``"closed"``.
NodeStatus: TypeAlias = Literal["joining", "up", "disconnected", "closed"]


@attrs.frozen
class NodeUp:
    """A node is connected: it joined, came back after a failure, or this node reconnected."""

    node: NodeId


@attrs.frozen
class NodeDown:
    """A node is no longer connected (OTP's ``nodedown``).

    Attributes:
        node: the node.
        detail: why (see `DownDetail`).
        reason: always ``"noconnection"``: what monitors of its processes will get, whatever
            the detail (a node that is cut off may still be running).
    """

    node: NodeId
    detail: DownDetail
    reason: Literal["noconnection"] = "noconnection"


NodeEvent: TypeAlias = NodeUp | NodeDown


@attrs.frozen(kw_only=True)
class NodeStatistics:
    """A snapshot of a node's counters.

    Attributes:
        node: the node itself. status: see `NodeStatus`.
        members: how many other nodes it sees up.
        heartbeats_sent / heartbeats_received: heartbeats (of other nodes) published / heard.
        garbage_received: messages on the cluster's subjects that were not valid (ignored).
        requests_sent / requests_served: requests made / answered by a handler here.
        pending_requests: requests waiting for their reply.
        handlers: subject suffixes served.
    """

    node: NodeId
    status: NodeStatus
    members: int
    heartbeats_sent: int
    heartbeats_received: int
    garbage_received: int
    requests_sent: int
    requests_served: int
    pending_requests: int
    handlers: int


@final
class NodeEvents(DropOldestFeed[NodeEvent]):
    """A feed of `NodeUp`/`NodeDown`: ``async with node.watch() as events: async for e in
    events:``.

    It receives every event from the moment `Node.watch` was called (so ``node.members()``
    followed by ``node.watch()``, with no ``await`` between them, misses nothing). It holds at
    most `max_pending` events: when full, the oldest is dropped and counted in `dropped`, so a
    feed nobody reads costs nothing. Iteration ends when the node leaves or the block ends.
    """

    _noex_made_by = "use Node.watch()"

    def __init__(self, remove: Callable[[NodeEvents], None], max_pending: int) -> None:
        self._remove = remove
        super().__init__(max_pending)

    async def __aenter__(self) -> NodeEvents:
        await trio.lowlevel.checkpoint()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._remove(self)
        self._end()
