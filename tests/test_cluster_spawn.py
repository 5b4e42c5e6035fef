"""Starting processes on other nodes (``GenServer.start_on``): behaviours offered by name in
``ClusterConfig.behaviours``, never code over the wire."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from noex_trio import (
    AlreadyRegisteredError,
    Exit,
    GenServer,
    InitializationError,
    NoexError,
    NotInProcessError,
    RemoteName,
    RemoteRef,
    UnknownBehaviourError,
    open_runtime,
)
from noex_trio.cluster import ClusterConfig, NoConnectionError
from noex_trio.nats.testing import NatsServer
from tests.cluster_behaviours import BEHAVIOURS, Echo, Watcher
from tests.cluster_support import LIMIT, config, open_peer, wait_members
from tests.test_cluster_remote import next_info, open_node


async def test_start_on_another_node(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with (
            open_node(url, "b", behaviours=BEHAVIOURS) as b,
            open_runtime("a", cluster=config(url, "a", behaviours={"echo": Echo})) as rt,
        ):
            assert rt.node is not None
            ref = await GenServer.start_on("b", "echo", 5, name="spawned")
            assert type(ref) is RemoteRef
            assert ref.node.name == "b"
            assert await ref.call("count") == 5
            assert await GenServer.call(RemoteName("spawned", "b"), "count") == 5
            local = await b.run(lambda: GenServer.call("spawned", "self"))
            assert local.id == ref.id
            # errors, as the caller would get them from a local start
            with pytest.raises(UnknownBehaviourError) as unknown:
                await GenServer.start_on("b", "nothing")
            assert (unknown.value.node, unknown.value.behaviour) == ("b", "nothing")
            with pytest.raises(InitializationError, match="failed to start"):
                await GenServer.start_on("b", "failing", "no")
            with pytest.raises(AlreadyRegisteredError):
                await GenServer.start_on("b", "echo", name="spawned")
            with pytest.raises(NoConnectionError):
                await GenServer.start_on("nowhere", "echo")
            # this node itself: a local process
            here = await GenServer.start_on("a", "echo", 1)
            assert type(here).__name__ == "GenServerRef"
            with pytest.raises(UnknownBehaviourError):
                await GenServer.start_on("a", "failing", "x")
            # linked to the calling process
            seen: list[Any] = []
            arrived: list[trio.Event] = []
            trapper = await GenServer.start(Watcher, seen, arrived, trap_exit=True)

            async def start_linked() -> Any:
                return await GenServer.start_on("b", "echo", link=True)

            assert trapper is not None
            with pytest.raises(NotInProcessError):
                await start_linked()
            linked = await _in_process(trapper, start_linked)
            with pytest.raises(ValueError, match="boom"):
                await linked.call(("crash", "boom"))
            exit_msg = await next_info(seen, arrived, 1)
            assert isinstance(exit_msg, Exit)
            assert exit_msg.ref == linked
            # bad arguments: nothing sent
            with pytest.raises(TypeError):
                await GenServer.start_on(1, "echo")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="init_timeout"):
                await GenServer.start_on("b", "echo", init_timeout=-1)


async def _in_process(ref: Any, fn: Any) -> Any:
    """Run `fn` inside the process `ref` (Watcher's ``("run", fn)`` call)."""
    return await ref.call(("run", fn))


async def test_start_on_outside_a_cluster_and_bad_config() -> None:
    with trio.fail_after(LIMIT):
        async with open_runtime():
            with pytest.raises(NoexError, match="not in a cluster"):
                await GenServer.start_on("b", "echo")
    with pytest.raises(TypeError, match="behaviour"):
        ClusterConfig(name="a", behaviours={"echo": Echo()})
    with pytest.raises(TypeError, match="behaviours"):
        ClusterConfig(name="a", behaviours=[Echo])


async def test_start_on_a_node_process(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT * 2):
        async with open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            async with open_peer(url, "peer", runtime=True):
                await wait_members(rt.node, "peer")
                ref = await GenServer.start_on("peer", "echo", 7)
                assert await ref.call("count") == 7  # type: ignore[union-attr]
