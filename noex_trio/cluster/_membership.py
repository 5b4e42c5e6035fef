"""The other nodes as this node sees them, and the state of its own connection.

`Membership` knows nothing of NATS: the node feeds it what arrives (`heard`, `claimed`) and
what happens to its connection (`disconnect`, own echoes through `heard`), asks it when the
next failure deadline is (`next_deadline`) and tells it when that time came (`expire`). It
keeps the member table, decides `NodeUp`/`NodeDown`, and pushes them to the watchers.

Invariants:
- `status` moves joining → up ⇄ disconnected → closed (and joining → closed); only the
  methods here change it.
- While joining, members are recorded silently (they are what ``members()`` holds when
  ``join`` returns); from then on every change is an event.
- While disconnected (or closed) the table is empty and nothing from other nodes is taken in:
  the node first needs its own heartbeats back (proof that its connection works again).
- A member's deadline is the last time it was heard plus ``failure_timeout``.
- Of two incarnations of one name, the newer (larger) wins: an older one heard after a newer
  one is ignored, a newer one replaces the older (``NodeDown(..., "restarted")``), and a
  node that hears a newer incarnation of its own name has lost it (`conflict`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Literal, TypeAlias

from ._events import DownDetail, NodeDown, NodeEvent, NodeEvents, NodeStatus, NodeUp
from ._identity import NodeId

logger = logging.getLogger("noex_trio.cluster")

#: What a node publishes in answer to a heartbeat-subject message (see `Membership.heard`).
Action: TypeAlias = Literal["answer", "announce"] | None


class _Member:
    __slots__ = ("deadline", "id")

    def __init__(self, node: NodeId, deadline: float) -> None:
        self.id = node
        self.deadline = deadline


class Membership:
    """The member table and the node's own status.

    Args:
        me: this node.
        failure_timeout: seconds without news after which a node is down.
        heartbeat_interval: seconds between heartbeats: a node whose own heartbeats are
            more than two intervals late when another node's deadline comes blames its
            own connection (every node is down: ``"disconnected"``), not that node.
        on_down: called with the name and the detail of every node that goes down (the
            request layer fails the requests waiting for it), and with this node's own name
            when it loses its connection.
        on_deadline: called with a new, earlier deadline (the detector's alarm moves).
    """

    def __init__(
        self,
        me: NodeId,
        failure_timeout: float,
        heartbeat_interval: float,
        on_down: Callable[[str, DownDetail], None],
        on_deadline: Callable[[float], None],
    ) -> None:
        self.me = me
        self.status: NodeStatus = "joining"
        self._timeout = failure_timeout
        self._suspect = min(2 * heartbeat_interval, failure_timeout)
        self._on_down = on_down
        self._on_deadline = on_deadline
        self._members: dict[str, _Member] = {}
        self._feeds: set[NodeEvents] = set()
        self._self_deadline = math.inf  # the last echo of its own heartbeat + failure_timeout
        #: While joining: the incarnation of a node that holds (or won) the name.
        self.claim_lost: int | None = None
        #: Once joined: the incarnation of a newer node that took the name.
        self.conflict: int | None = None
        self.heartbeats_received = 0

    # ----------------------------------------------------------------- queries

    def members(self) -> frozenset[NodeId]:
        return frozenset(member.id for member in self._members.values())

    def member(self, name: str) -> NodeId | None:
        member = self._members.get(name)
        return None if member is None else member.id

    def next_deadline(self) -> float:
        """When the next node (or this node's own connection) fails if nothing is heard."""
        deadlines = [member.deadline for member in self._members.values()]
        if self.status == "up":
            deadlines.append(self._self_deadline)
        return min(deadlines, default=math.inf)

    # ----------------------------------------------------------------- watchers

    def add_feed(self, feed: NodeEvents) -> None:
        self._feeds.add(feed)

    def remove_feed(self, feed: NodeEvents) -> None:
        self._feeds.discard(feed)

    def _emit(self, event: NodeEvent) -> None:
        logger.debug("node %s: %r", self.me, event)
        for feed in list(self._feeds):
            feed._push(event)

    # ----------------------------------------------------------------- transitions

    def joined(self, now: float) -> None:
        """The claim succeeded: the node is up (its own heartbeats are expected from now)."""
        self.status = "up"
        self._self_deadline = now + self._timeout
        self._on_deadline(self._self_deadline)

    def disconnect(self) -> None:
        """The node lost its connection (or its own heartbeats stopped coming back): every
        other node is down for it."""
        if self.status != "up":
            return
        self.status = "disconnected"
        logger.info("node %s is disconnected from the cluster", self.me)
        self._on_down(self.me.name, "disconnected")
        for name in list(self._members):
            self._down(name, "disconnected")

    def close(self) -> None:
        """The node leaves: no more events; the feeds end."""
        if self.status == "closed":
            return
        self.status = "closed"
        self._members.clear()
        for feed in list(self._feeds):
            feed._end()
        self._feeds.clear()

    def expire(self, now: float) -> None:
        """Take down every node whose deadline has come (and this node itself if its own
        heartbeats stopped coming back)."""
        if self.status != "up":
            return  # joining: recorded silently, checked once joined; else: no members
        expired = [name for name, member in self._members.items() if member.deadline <= now]
        own_silence = now - (self._self_deadline - self._timeout)
        if self._self_deadline <= now or (expired and own_silence > self._suspect):
            self.disconnect()  # its own heartbeats are late too: the fault is on this side
            return
        for name in expired:
            self._down(name, "timeout")

    def _down(self, name: str, detail: DownDetail) -> None:
        member = self._members.pop(name)
        if self.status == "joining":
            return
        self._on_down(name, detail)
        self._emit(NodeDown(member.id, detail))

    def _up(self, node: NodeId, now: float) -> None:
        deadline = now + self._timeout
        self._members[node.name] = _Member(node, deadline)
        self._on_deadline(deadline)
        if self.status != "joining":
            self._emit(NodeUp(node))

    # ----------------------------------------------------------------- what arrives

    def heard(self, name: str, kind: str, incarnation: int, now: float) -> Action:
        """A heartbeat-subject message from `name`: update the table. Returns what the node
        should publish in answer: ``"answer"`` (a heartbeat: another node said hello),
        ``"announce"`` (a hello: its own heartbeats came back after a disconnection), or
        None."""
        if name == self.me.name:
            return self._heard_self(kind, incarnation, now)
        if self.status in ("disconnected", "closed") or kind == "probe":
            return None
        self.heartbeats_received += 1
        node = NodeId(name, incarnation)
        member = self._members.get(name)
        if member is not None and incarnation < member.id.incarnation:
            return None  # an older incarnation: the newer one holds the name
        if kind == "bye":
            if member is not None and member.id == node:
                self._down(name, "left")
            return None
        if member is None:
            self._up(node, now)
        elif member.id != node:
            self._down(name, "restarted")
            self._up(node, now)
        elif kind == "hello":  # it lost its connection and started a new session
            self._down(name, "reconnected")
            self._up(node, now)
        else:
            member.deadline = now + self._timeout
        return "answer" if kind == "hello" else None

    def _heard_self(self, kind: str, incarnation: int, now: float) -> Action:
        mine = self.me.incarnation
        if incarnation == mine:
            if self.status == "up":
                self._self_deadline = now + self._timeout
            elif self.status == "disconnected":
                # Its own heartbeat came back: the connection works again.
                self.status = "up"
                self._self_deadline = now + self._timeout
                self._on_deadline(self._self_deadline)
                logger.info("node %s is connected to the cluster again", self.me)
                return "announce"
            return None
        if kind in ("bye", "probe"):
            return None
        if self.status == "joining":
            self.claim_lost = incarnation  # a node holds the name (and heartbeats with it)
        elif incarnation > mine and self.conflict is None:
            self.conflict = incarnation  # a newer node took it: this one must go
        return None

    def claimed(self, name: str, incarnation: int) -> str | None:
        """A claim for `name`: the answer to send (``"taken"``, ``"claiming"``) or None."""
        if name != self.me.name or incarnation == self.me.incarnation:
            return None
        if self.status == "joining":
            if incarnation <= self.me.incarnation:
                self.claim_lost = incarnation  # an older (or equal) rival wins
            return "claiming"
        if self.status == "closed":
            return None
        return "taken"
