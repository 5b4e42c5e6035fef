"""`GlobalRegistry`: names across the cluster on JetStream KV — one owner at a time, released
when the process exits or its node dies, conflicts resolved by the documented rule."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from noex_trio import (
    AlreadyRegisteredError,
    Exit,
    GenServer,
    GlobalRegistry,
    NoexError,
    NotInProcessError,
    RemoteName,
    RemoteRef,
    nats,
    open_runtime,
)
from noex_trio.nats.testing import NatsServer
from tests.cluster_behaviours import Echo, Watcher
from tests.cluster_support import LIMIT, config, open_peer, wait_members
from tests.test_cluster_remote import next_info, open_node

BUCKET = "noex_default_names"


async def wait_for_key(server: NatsServer, name: str, operation: str) -> None:
    """Wait until the bucket's entry for `name` shows `operation` (``"PUT"`` / ``"DEL"``...),
    through a watch of our own (no polling)."""
    async with nats.connect(server.url) as nc:
        kv = await nats.key_value(nc, BUCKET)
        async with kv.watch(nats.encode_key(name)) as entries:
            for entry in await entries.initial():
                if entry.operation == operation or (
                    operation == "DEL" and entry.operation != "PUT"
                ):
                    return
            async for entry in entries:
                if entry.operation == operation or (
                    operation == "DEL" and entry.operation != "PUT"
                ):
                    return


async def register_in(ref: Any, name: str) -> Any:
    """Register `name` for the process `ref` from inside it (Watcher's ``("run", fn)``)."""

    async def register() -> Any:
        try:
            await GlobalRegistry.register(name)
        except AlreadyRegisteredError as error:
            return error
        return "ok"

    return await ref.call(("run", register))


async def test_one_owner_across_nodes(nats_jetstream_server: NatsServer) -> None:
    url = nats_jetstream_server.url
    with trio.fail_after(LIMIT):
        async with (
            open_node(url, "b") as b,
            open_node(url, "c") as c,
            open_runtime("a", cluster=config(url, "a")) as rt,
        ):
            assert rt.node is not None
            await wait_members(rt.node, "b", "c")
            watchers = [await GenServer.start(Watcher, [], [])]
            watchers.append(await b.run(lambda: GenServer.start(Watcher, [], [])))
            watchers.append(await c.run(lambda: GenServer.start(Watcher, [], [])))
            # three nodes register one name at once: exactly one wins
            results: list[Any] = []
            async with trio.open_nursery() as nursery:
                for node, watcher in zip((None, b, c), watchers, strict=True):

                    async def attempt(node: Any = node, watcher: Any = watcher) -> None:
                        if node is None:
                            results.append(await register_in(watcher, "leader"))
                        else:
                            results.append(await node.run(lambda: register_in(watcher, "leader")))

                    nursery.start_soon(attempt)
            assert results.count("ok") == 1
            assert all(isinstance(r, AlreadyRegisteredError) for r in results if r != "ok")
            # every node finds the same process, and calls it
            owner_index = [r == "ok" for r in results].index(True)
            found = await GlobalRegistry.whereis("leader")
            assert found is not None
            assert found.id == watchers[owner_index].id
            assert "leader" in await GlobalRegistry.registered()
            await wait_for_key(nats_jetstream_server, "leader", "PUT")


async def test_released_on_exit_and_on_unregister(nats_jetstream_server: NatsServer) -> None:
    url = nats_jetstream_server.url
    with trio.fail_after(LIMIT):
        async with open_node(url, "b") as b, open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            await wait_members(rt.node, "b")
            echo = await GenServer.start(Echo)
            await GlobalRegistry.register("svc", echo)
            assert await b.run(lambda: GlobalRegistry.whereis("svc")) == await _remote_of(b, echo)
            with pytest.raises(AlreadyRegisteredError):
                await GlobalRegistry.register("svc", await GenServer.start(Echo))
            await echo.stop()  # its exit releases the name
            await wait_for_key(nats_jetstream_server, "svc", "DEL")
            other = await GenServer.start(Echo)
            await GlobalRegistry.register("svc", other)
            assert await GlobalRegistry.unregister("svc")
            assert not await GlobalRegistry.unregister("svc")
            assert await GlobalRegistry.whereis("svc") is None


async def _remote_of(b: Any, ref: Any) -> Any:
    """`ref` as node b sees it (a RemoteRef), through a call from b to it."""
    found = await b.run(lambda: GlobalRegistry.whereis("svc"))
    assert isinstance(found, RemoteRef)
    assert found.id == ref.id
    return found


async def test_a_dead_nodes_names_are_released(nats_jetstream_server: NatsServer) -> None:
    """kill -9 of the owner's node: the others free its names when they see it down."""
    url = nats_jetstream_server.url
    with trio.fail_after(LIMIT * 2):
        async with open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            async with open_peer(url, "peer", runtime=True, global_name="peer-leader") as peer:
                await wait_members(rt.node, "peer")
                found = await GlobalRegistry.whereis("peer-leader")
                assert isinstance(found, RemoteRef)
                assert found.node.name == "peer"
                peer.kill()
                await wait_for_key(nats_jetstream_server, "peer-leader", "DEL")
            echo = await GenServer.start(Echo)
            await GlobalRegistry.register("peer-leader", echo)
            assert await GlobalRegistry.whereis("peer-leader") == echo


async def test_a_lost_lease_is_a_conflict_the_loser_is_told(
    nats_jetstream_server: NatsServer,
) -> None:
    """What a healed partition shows: the entry moved on (expired and taken) while the owner
    could not renew. At its next renewal the owner learns it lost: its process gets the exit
    signal ("global_name_conflict", name)."""
    url = nats_jetstream_server.url
    with trio.fail_after(LIMIT):
        async with open_runtime("a", cluster=config(url, "a")):
            seen: list[Any] = []
            arrived: list[trio.Event] = []
            holder = await GenServer.start(Watcher, seen, arrived, trap_exit=True)
            assert await register_in(holder, "contested") == "ok"
            async with nats.connect(url) as nc:  # someone else's write: the revision moves on
                kv = await nats.key_value(nc, BUCKET)
                entry = await kv.get(nats.encode_key("contested"))
                assert entry is not None
                await kv.update(nats.encode_key("contested"), b"elsewhere", revision=entry.revision)
            assert await next_info(seen, arrived, 1) == Exit(
                None, ("global_name_conflict", "contested")
            )


async def test_global_registry_errors(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with open_runtime() as rt:
            assert rt.node is None
            with pytest.raises(NoexError, match="cluster"):
                await GlobalRegistry.whereis("x")
        async with open_runtime("a", cluster=config(nats_server.url, "a")):
            with pytest.raises(nats.JetStreamError):  # (this server has no JetStream)
                await GlobalRegistry.whereis("x")
            with pytest.raises(NotInProcessError):
                await GlobalRegistry.register("x")
            with pytest.raises(TypeError):
                await GlobalRegistry.register(1)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="ref"):
                await GlobalRegistry.register("x", "echo")  # type: ignore[arg-type]


async def test_partition_and_heal_the_cut_off_holder_loses(
    nats_jetstream_server: NatsServer,
) -> None:
    """A partition, for real: the holder's node process is frozen (SIGSTOP) — the others see
    it down and free its name, another node takes it — then it comes back (SIGCONT). Its next
    renewal is refused: its process exits with ("global_name_conflict", name); the name stays
    with the node that took it."""
    import signal

    url = nats_jetstream_server.url
    with trio.fail_after(LIMIT * 2):
        async with open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            async with open_peer(url, "peer", runtime=True, global_name="contested") as peer:
                await wait_members(rt.node, "peer")
                peer.process.send_signal(signal.SIGSTOP)  # cut off: no heartbeat, no renewal
                try:
                    await wait_for_key(nats_jetstream_server, "contested", "DEL")
                    mine = await GenServer.start(Echo)
                    await GlobalRegistry.register("contested", mine)
                finally:
                    peer.process.send_signal(signal.SIGCONT)  # the partition heals
                assert await peer.read_line() == "exit ('global_name_conflict', 'contested')"
                assert await GlobalRegistry.whereis("contested") == mine


async def test_a_name_left_by_a_node_that_is_gone_is_taken_over(
    nats_jetstream_server: NatsServer,
) -> None:
    """An entry whose owner's node is not up (it died before anyone freed its names) does not
    block a registration: the registering node deletes it (compare-and-set) and registers."""
    from noex_trio._distribution import register_refs
    from noex_trio.cluster import Codec, NodeId

    codec = Codec()
    register_refs(codec)
    ghost = RemoteRef._create(NodeId("ghost", 1), 5, "Echo#5")
    url = nats_jetstream_server.url
    with trio.fail_after(LIMIT):
        async with open_runtime("a", cluster=config(url, "a")):
            await GlobalRegistry.whereis("anything")  # (the bucket exists, the watch runs)
            async with nats.connect(url) as nc:
                kv = await nats.key_value(nc, BUCKET)
                await kv.create(nats.encode_key("haunted"), codec.encode(ghost))
            await wait_for_key(nats_jetstream_server, "haunted", "PUT")
            echo = await GenServer.start(Echo)
            await GlobalRegistry.register("haunted", echo)
            assert await GlobalRegistry.whereis("haunted") == echo


async def test_concurrent_registration_from_node_processes(
    nats_jetstream_server: NatsServer,
) -> None:
    """Three OS processes register one name at the same moment: exactly one wins."""
    url = nats_jetstream_server.url
    with trio.fail_after(LIMIT * 2):
        async with (
            open_runtime("a", cluster=config(url, "a")) as rt,
            open_peer(url, "p1", runtime=True),
            open_peer(url, "p2", runtime=True),
        ):
            assert rt.node is not None
            await wait_members(rt.node, "p1", "p2")
            local = await GenServer.start(Echo, name="echo")
            results: list[str] = []
            async with trio.open_nursery() as nursery:
                for node in ("a", "p1", "p2"):

                    async def attempt(node: str = node) -> None:
                        results.append(
                            await GenServer.call(RemoteName("echo", node), ("register", "one"))
                        )

                    nursery.start_soon(attempt)
            assert sorted(results) == ["ok", "taken", "taken"]
            winner = await GlobalRegistry.whereis("one")
            assert winner is not None
            assert winner == local or (
                isinstance(winner, RemoteRef) and winner.node.name in ("p1", "p2")
            )
