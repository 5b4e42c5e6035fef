"""The member table and the node's own status, without NATS: what arrives is fed in by
hand, with the time it arrived."""

from __future__ import annotations

import math

import pytest

from noex_trio.cluster import NodeDown, NodeEvents, NodeId, NodeUp
from noex_trio.cluster._membership import Membership

ME = NodeId("me", 100)
TIMEOUT = 1.0
INTERVAL = 0.25


class Table:
    """A `Membership` with its callbacks recorded and a feed of its events."""

    def __init__(self) -> None:
        self.downs: list[tuple[str, str]] = []
        self.deadlines: list[float] = []
        self.m = Membership(ME, TIMEOUT, INTERVAL, self._down, self.deadlines.append)
        self.feed = NodeEvents._create(self.m.remove_feed, 100)
        self.m.add_feed(self.feed)

    def _down(self, name: str, detail: str) -> None:
        self.downs.append((name, detail))

    def events(self) -> list[NodeUp | NodeDown]:
        events = list(self.feed._events)
        self.feed._events.clear()
        return events


def status(m: Membership) -> str:
    """(Read through a function: mypy would narrow the attribute after an assert.)"""
    return m.status


def lost(m: Membership) -> int | None:
    return m.claim_lost


def conflict(m: Membership) -> int | None:
    return m.conflict


def joined(now: float = 0.0) -> Table:
    table = Table()
    table.m.joined(now)
    return table


def test_joining_records_silently() -> None:
    table = Table()
    m = table.m
    assert m.status == "joining"
    assert m.heard("b", "hb", 1, 0.0) is None
    assert m.heard("c", "hello", 1, 0.0) == "answer"
    assert m.heard("c", "hb", 2, 0.0) is None  # restarted while we join: replaced silently
    assert m.heard("b", "bye", 1, 0.0) is None
    assert m.members() == {NodeId("c", 2)}
    m.expire(5.0)  # nothing expires while joining
    assert m.members() == {NodeId("c", 2)}
    assert table.events() == []
    assert table.downs == []
    assert m.next_deadline() == TIMEOUT
    m.joined(0.5)
    m.expire(1.0)  # c's deadline came (heard at 0.0); own heartbeats not late yet
    assert table.events() == [NodeDown(NodeId("c", 2), "timeout")]
    assert table.downs == [("c", "timeout")]


def test_up_down_and_replacement() -> None:
    table = joined()
    m = table.m
    b1, b2 = NodeId("b", 1), NodeId("b", 2)
    assert m.heard("b", "hb", 1, 0.1) is None
    assert m.member("b") == b1
    assert m.member("x") is None
    assert m.heard("b", "hb", 1, 0.2) is None  # a refresh
    assert m.heard("b", "probe", 1, 0.3) is None  # probes are not liveness
    assert m.heard("b", "hb", 0, 0.3) is None  # an older incarnation: ignored
    assert m.heard("b", "hello", 1, 0.4) == "answer"  # a new session of the same node
    assert m.heard("b", "hb", 2, 0.5) is None  # a new incarnation
    assert m.heard("b", "bye", 1, 0.6) is None  # the old one's goodbye: ignored
    assert m.heard("b", "bye", 2, 0.7) is None
    assert m.heard("z", "bye", 1, 0.8) is None  # a goodbye from a node never seen
    assert table.events() == [
        NodeUp(b1),
        NodeDown(b1, "reconnected"),
        NodeUp(b1),
        NodeDown(b1, "restarted"),
        NodeUp(b2),
        NodeDown(b2, "left"),
    ]
    assert m.heartbeats_received == 8  # everything from others but the probe
    assert m.members() == frozenset()


def test_timeouts_and_deadlines() -> None:
    table = joined()
    m = table.m
    m.heard("b", "hb", 1, 0.0)
    m.heard("c", "hb", 1, 0.5)
    m.heard("me", "hb", ME.incarnation, 0.9)  # own echo
    assert m.next_deadline() == 1.0
    m.expire(0.99)
    assert m.members() == {NodeId("b", 1), NodeId("c", 1)}
    m.expire(1.0)
    assert table.events() == [
        NodeUp(NodeId("b", 1)),
        NodeUp(NodeId("c", 1)),
        NodeDown(NodeId("b", 1), "timeout"),
    ]
    assert m.next_deadline() == 1.5
    assert table.deadlines == [1.0, 1.0, 1.5]


def test_own_heartbeats_late_means_this_node_is_cut_off() -> None:
    table = joined()
    m = table.m
    m.heard("b", "hb", 1, 0.0)
    m.heard("me", "hb", ME.incarnation, 0.2)
    m.expire(1.0)  # b's deadline; own echo 0.8 s old > 2 intervals: our side is at fault
    assert m.status == "disconnected"
    assert table.events() == [NodeUp(NodeId("b", 1)), NodeDown(NodeId("b", 1), "disconnected")]
    assert table.downs == [("me", "disconnected"), ("b", "disconnected")]
    assert m.next_deadline() == math.inf
    # Nothing from others counts while disconnected, and nothing expires.
    assert m.heard("b", "hb", 1, 1.1) is None
    m.expire(10.0)
    m.disconnect()  # again: nothing more
    assert m.members() == frozenset()
    # Its own heartbeat comes back: up again, announce.
    assert m.heard("me", "probe", ME.incarnation, 1.2) == "announce"
    assert status(m) == "up"
    assert m.next_deadline() == 2.2


def test_own_deadline_alone() -> None:
    table = joined()
    table.m.expire(1.0)
    assert table.m.status == "disconnected"
    assert table.events() == []
    assert table.downs == [("me", "disconnected")]


def test_own_name_from_another_incarnation() -> None:
    table = Table()
    m = table.m
    assert m.heard("me", "bye", 5, 0.0) is None
    assert m.heard("me", "probe", 5, 0.0) is None
    assert m.claim_lost is None
    assert m.heard("me", "hb", 5, 0.0) is None  # a holder heartbeats with the name
    assert lost(m) == 5
    m.claim_lost = None
    m.joined(0.0)
    assert m.heard("me", "hb", 5, 0.0) is None  # older: it is the one that must go
    assert m.conflict is None
    assert m.heard("me", "hb", 500, 0.0) is None
    assert m.heard("me", "hb", 600, 0.0) is None
    assert conflict(m) == 500
    assert m.heard("me", "hb", ME.incarnation, 0.5) is None  # own echo while up: refresh


def test_claims() -> None:
    table = Table()
    m = table.m
    assert m.claimed("other", 1) is None
    assert m.claimed("me", ME.incarnation) is None  # its own claim
    assert m.claimed("me", 200) == "claiming"  # a younger rival: it loses
    assert m.claim_lost is None
    assert m.claimed("me", 50) == "claiming"  # an older rival: this node loses
    assert lost(m) == 50
    m.joined(0.0)
    assert m.claimed("me", 300) == "taken"
    m.close()
    assert m.claimed("me", 300) is None


def test_close_ends_the_feeds() -> None:
    table = joined()
    m = table.m
    m.heard("b", "hb", 1, 0.0)
    m.close()
    m.close()
    assert m.status == "closed"
    assert m.members() == frozenset()
    assert table.feed._ended
    assert m.heard("b", "hb", 1, 0.1) is None
    m.remove_feed(table.feed)


@pytest.mark.parametrize("kind", ["hb", "hello"])
def test_disconnected_node_hears_nobody(kind: str) -> None:
    table = joined()
    table.m.disconnect()
    assert table.m.heard("b", kind, 1, 0.0) is None
    assert table.m.members() == frozenset()
