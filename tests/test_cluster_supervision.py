"""Supervision across nodes: `RemoteChild.child_spec` places a child on a node; its node's
death (or departure) is the child's exit, and the supervisor restarts it on a node that is up."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from noex_trio import (
    GenServer,
    NoexError,
    Placement,
    RemoteChild,
    RemoteRef,
    Restarted,
    Runtime,
    Supervisor,
    open_runtime,
)
from noex_trio.nats.testing import NatsServer
from tests.cluster_behaviours import BEHAVIOURS, Echo
from tests.cluster_support import LIMIT, config, open_peer, wait_members
from tests.test_cluster_remote import open_node


class Restarts:
    """The runtime's Restarted events, awaited without polling."""

    def __init__(self, rt: Runtime) -> None:
        self.seen: list[Restarted] = []
        self._changed = trio.Event()
        rt.on_lifecycle_event(self._on_event)

    def _on_event(self, event: object) -> None:
        if isinstance(event, Restarted):
            self.seen.append(event)
            self._changed.set()
            self._changed = trio.Event()

    async def reach(self, count: int) -> None:
        while len(self.seen) < count:
            await self._changed.wait()


async def child_of(sup: Any, child_id: str = "worker") -> Any:
    await trio.lowlevel.checkpoint()
    return Supervisor.get_child(sup, child_id).ref


async def test_a_child_on_another_node_moves_when_its_node_leaves(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with (
            open_node(url, "c", behaviours=BEHAVIOURS) as c,
            open_runtime("a", cluster=config(url, "a")) as rt,
        ):
            assert rt.node is not None
            restarts = Restarts(rt)
            spec = RemoteChild.child_spec(
                "echo", 3, id="worker", name="w", placement=Placement(["b", "c"])
            )
            async with open_node(url, "b", behaviours=BEHAVIOURS):
                await wait_members(rt.node, "b", "c")
                sup = await Supervisor.start([spec])
                stand_in = await child_of(sup)
                ref, node = await RemoteChild.which(stand_in)
                assert node == "b"
                assert type(ref) is RemoteRef
                # calls and casts through the stand-in reach the child
                GenServer.cast(stand_in, ("add", 1))
                assert await GenServer.call(stand_in, "count") == 4
            # b left: its processes stopped ("shutdown"), the supervisor restarts on c
            await restarts.reach(1)
            stand_in = await child_of(sup)
            ref, node = await RemoteChild.which(stand_in)
            assert node == "c"
            assert await GenServer.call(stand_in, "count") == 3  # a fresh child
            assert await c.run(lambda: GenServer.call("w", "count")) == 3
            # stopping the supervisor stops the remote child
            await Supervisor.stop(sup)
            assert not await c.run(lambda: _is_running("w"))


async def _is_running(name: str) -> bool:
    await trio.lowlevel.checkpoint()
    return GenServer.is_running(name)


async def test_placement_strategies(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with (
            open_node(url, "b", behaviours=BEHAVIOURS) as b,
            open_node(url, "c", behaviours=BEHAVIOURS),
            open_runtime("a", cluster=config(url, "a")) as rt,
        ):
            assert rt.node is not None
            await wait_members(rt.node, "b", "c")
            turns = Placement(["b", "c"], "round_robin")
            nodes = []
            for index in range(4):
                sup = await Supervisor.start(
                    [RemoteChild.child_spec("echo", id="worker", placement=turns)]
                )
                nodes.append((await RemoteChild.which(await child_of(sup)))[1])
                await Supervisor.stop(sup)
                assert index < 4
            assert nodes == ["b", "c", "b", "c"]
            for _ in range(5):  # b gets busier than c
                await b.run(lambda: GenServer.start(Echo))
            sup = await Supervisor.start(
                [
                    RemoteChild.child_spec(
                        "echo", id="worker", placement=Placement(None, "least_loaded")
                    )
                ]
            )
            assert (await RemoteChild.which(await child_of(sup)))[1] in ("a", "c")
            # a behaviour nobody offers, or nodes that are not up: the start fails clearly
            with pytest.raises(NoexError, match="no node could start"):
                await Supervisor.start(
                    [RemoteChild.child_spec("nothing", id="x", placement=Placement(["b"]))]
                )
            with pytest.raises(NoexError, match="no candidate is up"):
                await Supervisor.start(
                    [RemoteChild.child_spec("echo", id="x", placement=Placement(["nowhere"]))]
                )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="strategy"):
        Placement(["b"], "random")
    with pytest.raises(TypeError, match="nodes"):
        Placement("b")
    with pytest.raises(ValueError, match="nodes"):
        Placement([])
    with pytest.raises(TypeError, match="placement"):
        RemoteChild.child_spec("echo", id="x", placement=["b"])  # type: ignore[arg-type]


async def test_failover_when_a_node_process_is_killed(nats_server: NatsServer) -> None:
    """The child's node is kill -9-ed: the stand-in exits "noconnection" within the detection
    bound and the supervisor starts the child on the other node."""
    url = nats_server.url
    with trio.fail_after(LIMIT * 2):
        async with open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            restarts = Restarts(rt)
            async with open_peer(url, "p1", runtime=True) as p1, open_peer(url, "p2", runtime=True):
                await wait_members(rt.node, "p1", "p2")
                placement = Placement(["p1", "p2"])
                sup = await Supervisor.start(
                    [RemoteChild.child_spec("echo", 9, id="worker", placement=placement)]
                )
                assert (await RemoteChild.which(await child_of(sup)))[1] == "p1"
                p1.kill()
                await restarts.reach(1)
                stand_in = await child_of(sup)
                assert (await RemoteChild.which(stand_in))[1] == "p2"
                assert await GenServer.call(stand_in, "count") == 9
                assert Supervisor.get_child(sup, "worker").restart_count == 1


async def test_a_remote_child_on_this_node_and_its_errors(nats_server: NatsServer) -> None:
    """Placement on this very node (it offers the behaviour too): the child is local, calls
    through the stand-in carry the child's errors, and a crash restarts it."""
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with open_runtime("a", cluster=config(url, "a", behaviours=BEHAVIOURS)) as rt:
            restarts = Restarts(rt)
            sup = await Supervisor.start(
                [RemoteChild.child_spec("echo", 1, id="worker", placement=Placement(["a"]))]
            )
            stand_in = await child_of(sup)
            assert (await RemoteChild.which(stand_in))[1] == "a"
            with pytest.raises(ValueError, match="boom"):
                await GenServer.call(stand_in, ("crash", "boom"))
            await restarts.reach(1)
            assert await GenServer.call(await child_of(sup), "count") == 1
            with pytest.raises(TypeError, match="remote child"):
                await RemoteChild.which(await GenServer.start(Echo))
    with trio.fail_after(LIMIT):
        async with open_runtime():  # not in a cluster: the child cannot start
            with pytest.raises(Exception, match="needs a runtime in a cluster"):
                await Supervisor.start([RemoteChild.child_spec("echo", id="worker")])
