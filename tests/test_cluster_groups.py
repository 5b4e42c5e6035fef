"""Process groups across nodes (``Groups``, OTP's ``pg``): members of every node, dispatch,
a node leaving or ``kill -9``-ed, a node joining late, hostile messages on the group subjects.

Nodes run in this process (``open_node``) and one in a child process; every wait is for a
`GroupChange` (no polling), bounded by `LIMIT`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from noex_trio import (
    GenServer,
    GroupChange,
    Groups,
    GroupsStatistics,
    RemoteName,
    RemoteRef,
    nats,
    open_runtime,
)
from noex_trio._groups import state_of
from noex_trio.cluster import Codec, NodeId
from noex_trio.cluster._identity import name_token
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT, config, open_peer
from tests.test_cluster_remote import Node, open_node
from tests.test_groups import Member, start_member

Until = Callable[[Callable[[], bool]], Awaitable[None]]


async def watch(group: Any) -> Until:
    """In the current runtime: a function that waits until a check of `group` holds,
    checking again at every change of the group."""
    changed: list[trio.Event] = []
    watcher = await GenServer.start(Member, [], changed)
    await watcher.call(("monitor", group))

    async def until(check: Callable[[], bool]) -> None:
        with trio.fail_after(LIMIT):
            while not check():
                event = trio.Event()
                changed.append(event)
                await event.wait()

    return until


async def statistics() -> GroupsStatistics:
    return Groups.statistics()


def nodes_of(group: Any) -> list[str]:
    """The node of every member of `group` ("" for this node's), sorted."""
    return sorted(ref.node.name if type(ref) is RemoteRef else "" for ref in Groups.members(group))


async def join_members(node: Node, seen: list[Any], *groups: Any) -> Any:
    async def start() -> Any:
        member = await start_member(seen)
        for group in groups:
            Groups.join(group, member)
        return member

    return await node.run(start)


async def test_members_of_every_node_dispatch_leave_and_a_late_node(
    nats_server: NatsServer,
) -> None:
    url = nats_server.url
    seen_a: list[Any] = []
    seen_b: list[Any] = []
    seen_c: list[Any] = []
    with trio.fail_after(LIMIT * 2):
        async with (
            open_node(url, "b") as b,
            open_runtime("a", cluster=config(url, "a")) as rt,
        ):
            assert rt.node is not None
            until = await watch("g")
            async with open_node(url, "c") as c:
                member_b = await join_members(b, seen_b, ("g", "b"), "g", "g")
                member_c = await join_members(c, seen_c, "g")
                member_a = await start_member(seen_a)
                Groups.join("g", member_a)
                await until(lambda: nodes_of("g") == ["", "b", "b", "c"])
                assert ("g", "b") in Groups.which_groups()
                assert Groups.local_members("g") == [member_a]
                remote = [ref for ref in Groups.members("g") if type(ref) is RemoteRef]
                assert {(ref.node.name, ref.id) for ref in remote} == {
                    ("b", member_b.id),
                    ("c", member_c.id),
                }
                # every node sees every member (b: a's, c's and its own)
                until_b = await b.run(lambda: watch("g"))
                await b.run(lambda: until_b(lambda: nodes_of("g") == ["", "", "a", "c"]))
                # dispatch reaches the members of every node, once per join
                assert Groups.dispatch("g", "hi") == 4
                for ref in remote:  # (a call after the cast: the cast is in)
                    assert await GenServer.call(ref, ("leave", "nothing")) is False
                assert (seen_a, seen_b, seen_c) == (["hi"], ["hi", "hi"], ["hi"])
                # a member of b leaves once, then exits: gone from a's view too
                assert await b.run(lambda: GenServer.call(member_b, ("leave", "g"))) is True
                await until(lambda: nodes_of("g") == ["", "b", "c"])
                await b.run(lambda: GenServer.stop(member_b))
                await until(lambda: nodes_of("g") == ["", "c"])
                assert ("g", "b") not in Groups.which_groups()  # (its leave came first)
            # c left the cluster: its members are gone at once
            await until(lambda: nodes_of("g") == [""])
            # a node that joins late gets the membership there is
            async with open_node(url, "d") as d:
                until_d = await d.run(lambda: watch("g"))
                await d.run(lambda: until_d(lambda: nodes_of("g") == ["a"]))
            stats = Groups.statistics()
            assert stats.syncs_received >= 3
            assert stats.deltas_sent >= 1
            assert stats.garbage_received == 0


async def test_members_of_a_killed_node_process_vanish(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = nats_server.url
    monkeypatch.setenv("NOEX_PEER_GROUP", "workers")
    with trio.fail_after(LIMIT * 2):
        async with open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            until = await watch("workers")
            async with open_peer(url, "peer", runtime=True) as peer:
                await until(lambda: nodes_of("workers") == ["peer", "peer"])
                assert Groups.dispatch("workers", ("add", 5)) == 2
                assert await GenServer.call(RemoteName("echo", "peer"), "count") == 5
                assert await GenServer.call(RemoteName("echo2", "peer"), "count") == 5
                peer.kill()  # SIGKILL: no goodbye
                await until(lambda: nodes_of("workers") == [])
                assert Groups.which_groups() == []


async def test_hostile_messages_on_the_group_subjects_are_ignored_and_counted(
    nats_server: NatsServer,
) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with (
            open_node(url, "b") as b,
            open_runtime("a", cluster=config(url, "a")) as rt,
            nats.connect(url) as hostile,
        ):
            assert rt.node is not None
            until = await watch("g")
            await join_members(b, [], "g")
            await until(lambda: nodes_of("g") == ["b"])
            b_id = b.rt.node.id if b.rt.node is not None else None
            assert isinstance(b_id, NodeId)
            prefix = rt.node._config.prefix
            subject = f"{prefix}.node.{name_token('b')}.pg"
            codec = Codec()
            bad = [
                b"\x00garbage",
                codec.encode("not a tuple"),
                codec.encode((2, b_id.incarnation, "at", 1)),
                codec.encode((1, b_id.incarnation, "what", 1)),
                codec.encode((1, b_id.incarnation, "delta", -1, "g", None, True)),
                codec.encode((1, b_id.incarnation, "delta", 9, "g", None, True)),
                codec.encode((1, b_id.incarnation, "delta", 9, 1.5, None, True)),
                codec.encode((1, b_id.incarnation, "sync", 9, "nope")),
                codec.encode((1, b_id.incarnation, "sync", 9, (("g", ()),))),
                codec.encode((1, b_id.incarnation, "want", "a")),
                codec.encode((1, "x", "at", 1)),
                codec.encode((1, b_id.incarnation, "at", 1, 2)),
                codec.encode((1, b_id.incarnation, "at", -1)),
                codec.encode((1, b_id.incarnation, "at")),
            ]
            for payload in bad:
                await hostile.publish(subject, payload)
            await hostile.publish(f"{prefix}.node.pg", b"")  # (not a node's subject: unheard)
            await hostile.publish(f"{prefix}.node.{name_token('a')}.pg", b"own")  # (ignored)
            # a delta with a ref of another node than its sender's: garbage too
            dist: Any = rt._kernel.distribution
            b_member = Groups.members("g")[0]
            inc = b_id.incarnation
            lying = dist.encode((1, inc, "delta", 9, "g", b_member, True))
            await hostile.publish(f"{prefix}.node.{name_token('c')}.pg", lying)
            await hostile.publish(subject, lying.replace(b"delta", b"delt4"))
            await hostile.publish(subject, dist.encode((1, inc, "delta", 9, "g", b_member, 1)))
            await hostile.publish(f"{prefix}.node.%%.pg", codec.encode((1, 1, "at", 1)))
            garbage = len(bad) + 4
            # valid, but old news: a delta and a sync already known
            await hostile.publish(subject, dist.encode((1, inc, "delta", 1, "g", b_member, True)))
            await hostile.publish(subject, dist.encode((1, inc, "sync", 0, ())))
            ghost_ref = RemoteRef._create(NodeId("b", inc + 1), 1, "x")
            await hostile.publish(
                subject, dist.encode((1, inc + 1, "delta", 1, "g", ghost_ref, True))
            )
            # messages from a node that is not up here (or an earlier incarnation): ignored
            ghost = (1, b_id.incarnation + 1, "sync", 0, ())
            await hostile.publish(subject, codec.encode(ghost))
            await hostile.publish(subject, codec.encode((1, b_id.incarnation, "want", "a", 1)))
            # last, a valid delta in b's name (NATS permissions keep a user from speaking
            # for a node): applied, after everything before it
            seq = state_of(rt._kernel).views[b_id].seq
            unknown = RemoteRef._create(b_id, 10**6, "x")
            for step, ref, joined in ((1, b_member, True), (2, unknown, False)):
                forged = dist.encode((1, inc, "delta", seq + step, "g", ref, joined))
                await hostile.publish(subject, forged)
            await until(lambda: nodes_of("g") == ["b", "b"])
            assert Groups.statistics().garbage_received == garbage
            # the group still works both ways
            member = await start_member()
            Groups.join("g", member)
            until_b = await b.run(lambda: watch("g"))
            await b.run(lambda: until_b(lambda: nodes_of("g") == ["", "a"]))
            assert rt.node.statistics().garbage_received >= garbage
            assert GroupChange("g") == GroupChange("g", (), ())


async def test_a_lost_message_is_noticed_and_the_view_resynced(nats_server: NatsServer) -> None:
    """A delta that could not be sent (too large for the server) leaves a gap in the
    sequence: the next delta makes the other node ask for a sync. A sync that never came is
    asked for again."""
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with open_node(url, "b") as b, open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            until = await watch("g")
            until_b = await b.run(lambda: watch("g"))
            member = await start_member()
            Groups.join("g", member)  # (b knows a's members from now on)
            await b.run(lambda: until_b(lambda: nodes_of("g") == ["a"]))
            huge = "x" * (2 * 1024 * 1024)
            Groups.join(huge, member)  # (not sent: larger than the server's max_payload)
            Groups.leave(huge, member)
            Groups.join("g", member)  # (the delta after the gap)
            await b.run(lambda: until_b(lambda: nodes_of("g") == ["a", "a"]))
            assert (await b.run(statistics)).resyncs >= 1
            assert Groups.statistics().deltas_sent == 2
            # a sync that did not come is asked for again
            assert b.rt.node is not None
            b_id = b.rt.node.id
            await join_members(b, [], "g")
            await until(lambda: nodes_of("g") == ["", "", "b"])
            state = state_of(rt._kernel)
            del state.views[b_id]  # (as if b's sync had been lost)
            state.wanted.clear()
            await until(lambda: nodes_of("g") == ["", "", "b"] and b_id in state.views)
