"""Processes of two nodes as one system (docs/guides/cluster.md): remote refs and names,
call/cast/stop/exit/send_after, monitors and links across nodes, a node going away.

Both nodes run in this process here (each a runtime in a task of its own, on a real
nats-server); ``test_cluster_processes.py`` does the same across OS processes."""

from __future__ import annotations

import math
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from noex_trio import (
    CallTimeoutError,
    Down,
    Exit,
    GenServer,
    LinkedExitError,
    NoexError,
    RemoteName,
    RemoteRef,
    Runtime,
    ServerNotRunningError,
    nats,
    open_runtime,
)
from noex_trio.cluster import Codec, CodecError, NodeNameTakenError, PickleCodec, RemoteError
from noex_trio.cluster._identity import name_token
from noex_trio.cluster._protocol import encode_control
from noex_trio.nats.testing import NatsServer, open_nats_server
from tests.cluster_behaviours import Echo, Watcher
from tests.cluster_support import LIMIT, Tally, config, wait_members


class Node:
    """A runtime joined to the cluster, run by a task of its own; `run` executes code there."""

    def __init__(self, rt: Runtime, requests: trio.MemorySendChannel[Any]) -> None:
        self.rt = rt
        self._requests = requests

    async def run(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        done: trio.MemorySendChannel[Any]
        done, result = trio.open_memory_channel[Any](1)
        await self._requests.send((fn, done))
        failed, outcome = await result.receive()
        if failed:
            raise outcome
        return outcome


@asynccontextmanager
async def open_node(url: str, name: str, **options: Any) -> AsyncIterator[Node]:
    requests_in, requests = trio.open_memory_channel[Any](0)

    async def serve(task_status: trio.TaskStatus[Node]) -> None:
        async with open_runtime(name, cluster=config(url, name, **options)) as rt:
            task_status.started(Node(rt, requests_in))
            async for fn, done in requests:
                try:
                    outcome = (False, await fn())
                except Exception as error:
                    outcome = (True, error)
                await done.send(outcome)

    async with trio.open_nursery() as nursery:
        node = await nursery.start(serve)
        try:
            yield node
        finally:
            await requests_in.aclose()


async def start_echo(name: str = "echo") -> Any:
    return await GenServer.start(Echo, name=name)


async def next_info(seen: list[Any], arrived: list[trio.Event], count: int) -> Any:
    while len(seen) < count:
        event = trio.Event()
        arrived.append(event)
        await event.wait()
    return seen[count - 1]


@asynccontextmanager
async def two_nodes(nats_server: NatsServer) -> AsyncIterator[tuple[Runtime, Node]]:
    """Node "a" (this task's runtime) and node "b" (with an Echo named "echo")."""
    with trio.fail_after(LIMIT):
        async with open_node(nats_server.url, "b") as b:
            await b.run(start_echo)
            async with open_runtime("a", cluster=config(nats_server.url, "a")) as rt:
                yield rt, b


async def test_calls_casts_and_refs_across_nodes(nats_server: NatsServer) -> None:
    async with two_nodes(nats_server) as (_rt, b):
        echo = RemoteName("echo", "b")
        assert await GenServer.call(echo, ("echo", [1, "two", (3.0, None)])) == [
            1,
            "two",
            (3.0, None),
        ]
        ref = await GenServer.call(echo, "self")
        assert type(ref) is RemoteRef
        assert ref.node.name == "b"
        assert b.rt.node is not None
        assert ref.node == b.rt.node.id
        assert repr(ref) == f"<RemoteRef echo#{ref.id}@b>"
        assert ref == pickle.loads(pickle.dumps(ref))
        assert ref.is_running()
        assert GenServer.is_running(ref)
        assert GenServer.is_running(echo)
        assert ref.exit_reason is None
        # casts and calls from one process arrive in the order sent
        for _ in range(50):
            GenServer.cast(ref, ("add", 1))
        ref.cast(("add", 1))
        assert await ref.call("count") == 51
        # a ref that comes back to its own node is the local ref again
        back = await b.run(lambda: GenServer.call(RemoteName("echo", "b"), "self"))
        assert back == await b.run(lambda: GenServer.call("echo", "self"))
        assert type(back).__name__ == "GenServerRef"
        # a local process's ref travels to b and b calls it back
        here = await start_echo("here")
        assert await ref.call(("call", here, ("echo", "from b"))) == "from b"
        assert await GenServer.call(RemoteName("here", "a"), ("echo", "own node")) == "own node"


async def test_errors_reach_the_caller(nats_server: NatsServer) -> None:
    async with two_nodes(nats_server) as (_rt, b):
        echo = RemoteName("echo", "b")
        with pytest.raises(ValueError, match=r"^bad$"):
            await GenServer.call(echo, ("crash", "bad"))
        # the process crashed on it (unsupervised: gone)
        with pytest.raises(ServerNotRunningError) as info:
            await GenServer.call(echo, ("echo", 1))
        assert info.value.target == echo
        assert info.value.reason == "noproc"
        ref = await b.run(lambda: start_echo("echo2"))
        remote = await GenServer.call(RemoteName("echo2", "b"), "self")
        with pytest.raises(RemoteError) as remote_error:
            await remote.call("unrebuildable")
        assert remote_error.value.type_name == "Unrebuildable"
        assert "1 and 2" in str(remote_error.value)
        assert ref.exit_reason is not None
        # timeouts hold
        other = await b.run(lambda: start_echo("slow"))
        assert other is not None
        slow = RemoteName("slow", "b")
        with pytest.raises(CallTimeoutError) as timeout:
            await GenServer.call(slow, ("sleep", 5), 0.2)
        assert timeout.value.target == slow
        assert await GenServer.call(slow, ("echo", "after")) == "after"  # still serving
        with pytest.raises(CallTimeoutError):
            await GenServer.call(slow, "never", 0.2)
        # unknown names and nodes
        with pytest.raises(ServerNotRunningError) as unknown:
            await GenServer.call(RemoteName("nobody", "b"), "x")
        assert unknown.value.reason == "noproc"
        with pytest.raises(ServerNotRunningError) as no_node:
            await GenServer.call(RemoteName("echo", "nowhere"), "x")
        assert no_node.value.reason == "noconnection"
        # a cast by name to a node not seen goes to whichever node has that name, if any:
        # none here, so it is dropped (as OTP's cast to {Name, Node})
        GenServer.cast(RemoteName("echo", "nowhere"), "x")
        assert not GenServer.is_running(RemoteName("echo", "nowhere"))
        # what the codec cannot carry is a clear error before anything is sent
        with pytest.raises(CodecError, match="object"):
            await GenServer.call(slow, ("echo", object()))
        with pytest.raises(TypeError, match="on another node"):
            await GenServer.get_state(slow)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout"):
            await GenServer.call(slow, "x", -1)


async def test_stop_and_exit_signals(nats_server: NatsServer) -> None:
    async with two_nodes(nats_server) as (_rt, b):
        ref = await GenServer.call(RemoteName("echo", "b"), "self")
        local = await b.run(lambda: GenServer.call("echo", "self"))
        await GenServer.stop(ref, "shutdown")
        assert local.exit_reason == "shutdown"
        assert not ref.is_running()
        await GenServer.stop(ref)  # already gone: nothing to do
        await b.run(lambda: start_echo("victim"))
        victim = await GenServer.call(RemoteName("victim", "b"), "self")
        GenServer.exit(victim, "normal")  # ignored by a process that does not trap exits
        assert await victim.call(("echo", 1)) == 1
        GenServer.exit(victim, "kill")
        local_victim = await b.run(lambda: GenServer.call("victim", "self"))
        await b.run(lambda: GenServer.wait_exit(local_victim))
        assert local_victim.exit_reason == "killed"
        seen: list[Any] = []
        arrived: list[trio.Event] = []
        await b.run(lambda: GenServer.start(Watcher, seen, arrived, name="later"))
        timer = GenServer.send_after(RemoteName("later", "b"), "tick", 0.05)
        assert timer.pending
        assert await next_info(seen, arrived, 1) == "tick"
        assert not timer.pending


async def test_monitors_across_nodes(nats_server: NatsServer) -> None:
    async with two_nodes(nats_server) as (_rt, b):
        seen: list[Any] = []
        arrived: list[trio.Event] = []
        watcher = await GenServer.start(Watcher, seen, arrived)
        echo = RemoteName("echo", "b")
        ref = await GenServer.call(echo, "self")
        mref = await watcher.call(("monitor", ref))
        name_mref = await watcher.call(("monitor", echo))
        assert mref.active
        assert repr(mref).startswith("<MonitorRef of echo#")
        with pytest.raises(ValueError, match="monitored"):
            await ref.call(("crash", "monitored"))
        first = await next_info(seen, arrived, 2)
        downs = {down.monitor: down for down in seen}
        assert set(downs) == {mref, name_mref}
        assert isinstance(first, Down)
        assert downs[mref].ref == ref
        assert isinstance(downs[mref].reason, ValueError)
        assert downs[name_mref].ref == echo
        assert not mref.active
        # a process that does not exist: Down("noproc") at once
        gone = await watcher.call(("monitor", ref))
        assert (await next_info(seen, arrived, 3)) == Down(gone, ref, "noproc")
        # demonitor: no Down
        await b.run(lambda: start_echo("quiet"))
        quiet = await GenServer.call(RemoteName("quiet", "b"), "self")
        off = await watcher.call(("monitor", quiet))
        await watcher.call(("demonitor", off))
        await quiet.stop()
        on = await watcher.call(("monitor", RemoteName("echo", "nowhere")))
        assert (await next_info(seen, arrived, 4)) == Down(
            on, RemoteName("echo", "nowhere"), "noconnection"
        )
        assert len(seen) == 4


async def test_links_across_nodes(nats_server: NatsServer) -> None:
    async with two_nodes(nats_server) as (rt, b):
        echo = await GenServer.call(RemoteName("echo", "b"), "self")
        seen: list[Any] = []
        arrived: list[trio.Event] = []
        trapper = await GenServer.start(Watcher, seen, arrived, trap_exit=True)
        await trapper.call(("link", echo))
        with pytest.raises(ValueError, match="linked"):
            await echo.call(("crash", "linked"))
        exit_msg = await next_info(seen, arrived, 1)
        assert isinstance(exit_msg, Exit)
        assert exit_msg.ref == echo
        assert isinstance(exit_msg.reason, ValueError)
        # a crash here kills the linked process there
        await b.run(lambda: start_echo("partner"))
        partner = await GenServer.call(RemoteName("partner", "b"), "self")
        local_partner = await b.run(lambda: GenServer.call("partner", "self"))
        linker = await GenServer.start(Watcher, [], [])
        await linker.call(("link", partner))
        GenServer.exit(linker, "boom")
        reason = await b.run(lambda: GenServer.wait_exit(local_partner))
        assert isinstance(reason, LinkedExitError)
        assert isinstance(reason.process, RemoteRef)  # a's process, as b sees it
        assert (reason.process.node, reason.process.id) == (rt.node.id, linker.id)  # type: ignore[union-attr]
        assert reason.reason == "boom"
        # unlink: no signal
        await b.run(lambda: start_echo("free"))
        free = await GenServer.call(RemoteName("free", "b"), "self")
        await trapper.call(("link", free))
        await trapper.call(("unlink", free))
        await free.stop()
        # linking to a process that is gone: exit signal noproc
        await trapper.call(("link", free))
        assert (await next_info(seen, arrived, 2)) == Exit(free, "noproc")
        with pytest.raises(TypeError, match="process ref"):
            await trapper.call(("link", RemoteName("echo", "b")))


async def test_a_node_that_leaves_tells_first_then_is_noconnection(
    nats_server: NatsServer,
) -> None:
    """A node that shuts down stops its processes first: monitors, links and waiting calls
    hear their real exit reasons; after it left, its processes are ``noconnection``."""
    with trio.fail_after(LIMIT):
        async with open_runtime("a", cluster=config(nats_server.url, "a")) as rt:
            assert rt.node is not None
            assert rt.node.name == "a"
            seen: list[Any] = []
            arrived: list[trio.Event] = []
            watcher = await GenServer.start(Watcher, seen, arrived, trap_exit=True)
            failures: list[ServerNotRunningError] = []
            async with trio.open_nursery() as nursery, open_node(nats_server.url, "b") as b:
                await b.run(start_echo)
                # by name at once (b may not be seen up here yet: its name is enough)...
                ref = await GenServer.call(RemoteName("echo", "b"), "self")
                await wait_members(rt.node, "b")  # ...a monitor needs its node seen up
                mref = await watcher.call(("monitor", ref))
                await watcher.call(("link", ref))

                async def call_and_fail(task_status: trio.TaskStatus[None]) -> None:
                    task_status.started()
                    try:  # (sent before this task first blocks: before the next call)
                        await ref.call(("sleep", 30), math.inf)
                    except ServerNotRunningError as error:
                        failures.append(error)

                await nursery.start(call_and_fail)
                # b handles what a sends in order: once this is answered, b has the call
                await b.run(lambda: start_echo("other"))
                assert await GenServer.call(RemoteName("other", "b"), ("echo", 1)) == 1
            assert [failure.reason for failure in failures] == ["shutdown"]
            assert failures[0].target == ref
            await next_info(seen, arrived, 2)
            assert Down(mref, ref, "shutdown") in seen
            assert Exit(ref, "shutdown") in seen
            assert not ref.is_running()
            with pytest.raises(ServerNotRunningError) as info:
                await ref.call("count")
            assert info.value.reason == "noconnection"
            late = await watcher.call(("monitor", ref))
            assert (await next_info(seen, arrived, 3)) == Down(late, ref, "noconnection")
            await watcher.call(("link", ref))
            assert (await next_info(seen, arrived, 4)) == Exit(ref, "noconnection")
            with pytest.raises(ServerNotRunningError, match="noconnection"):
                await GenServer.stop(ref)
            with pytest.raises(ServerNotRunningError, match="noconnection"):
                ref.cast(("add", 1))
            with pytest.raises(ServerNotRunningError, match="noconnection"):
                await GenServer.call(RemoteName("echo", "no\nsuch node"), "x")  # (no valid name)
            with pytest.raises(ServerNotRunningError):
                GenServer.send_after(ref, "x", 1)
            GenServer.exit(ref, "kill")  # to a node that is gone: nothing happens


async def test_remote_targets_outside_a_cluster() -> None:
    with trio.fail_after(LIMIT):
        async with open_runtime() as rt:
            assert rt.node is None
            with pytest.raises(NoexError, match="not in a cluster"):
                await GenServer.call(RemoteName("echo", "b"), "x")
            with pytest.raises(NoexError, match="not in a cluster"):
                GenServer.cast(RemoteName("echo", "b"), "x")
            assert not GenServer.is_running(RemoteName("echo", "b"))
    with pytest.raises(TypeError):
        RemoteName(1, "b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="node"):
        RemoteName("echo", "")
    with pytest.raises(TypeError, match="ClusterConfig"):
        open_runtime(cluster="nats://localhost")  # type: ignore[arg-type]


def test_refs_need_a_node_to_be_encoded() -> None:
    codec = Codec()
    from noex_trio._distribution import register_refs

    register_refs(codec)
    assert codec.decode(codec.encode(RemoteName("a", "b"))) == RemoteName("a", "b")


async def test_refs_travel_with_the_pickle_codec_too(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with open_node(url, "b", codec=PickleCodec()) as b:
            await b.run(start_echo)
            async with open_runtime("a", cluster=config(url, "a", codec=PickleCodec())):
                ref = await GenServer.call(RemoteName("echo", "b"), "self")
                assert type(ref) is RemoteRef
                assert ref.node.name == "b"
                here = await start_echo("here")
                assert await ref.call(("call", here, ("echo", "back"))) == "back"
                assert await ref.call(("echo", ref)) == ref
                assert await ref.call(("echo", here)) is here  # back home: the local ref


async def test_a_runtime_that_cannot_join_does_not_open() -> None:
    """Wrong credentials, or a name taken: ``open_runtime`` raises on entering, and nothing of
    the runtime is left running."""
    with trio.fail_after(LIMIT):
        async with open_nats_server("authorization { user: node, password: s3cret }") as server:
            with pytest.raises(nats.AuthorizationError):
                async with open_runtime(cluster=config(server.url, "a", password="x", user="node")):
                    raise AssertionError("opened")  # pragma: no cover
            good = config(server.url, "a", user="node", password="s3cret")
            async with open_runtime(cluster=good) as rt:
                assert rt.node is not None
                with pytest.raises(NodeNameTakenError):
                    async with open_runtime(cluster=good):
                        raise AssertionError("opened")  # pragma: no cover
                assert rt.node.status == "up"
                assert rt.processes() == [rt.event_bus]


async def test_calls_while_the_nats_server_restarts(nats_server: NatsServer) -> None:
    """The server goes away under load and comes back: calls in flight fail with
    `ServerNotRunningError` ``"noconnection"`` (none hangs), calls made meanwhile too; once
    the nodes see each other again, calls go through."""
    url = nats_server.url
    tally = Tally()

    async def keep_calling(target: RemoteName, stop: trio.Event) -> None:
        while not stop.is_set():
            try:
                await GenServer.call(target, ("echo", 1), 1.0)
                tally.add("ok")
            except ServerNotRunningError as error:
                tally.add(str(error.reason))  # (checked below: only "noconnection")
                with trio.move_on_after(0.01):  # (no busy loop while disconnected)
                    await stop.wait()

    with trio.fail_after(LIMIT * 2):
        async with open_node(url, "b") as b:
            await b.run(start_echo)
            async with open_runtime("a", cluster=config(url, "a")) as rt:
                assert rt.node is not None
                await wait_members(rt.node, "b")
                stop = trio.Event()
                async with trio.open_nursery() as nursery:
                    for _ in range(5):
                        nursery.start_soon(keep_calling, RemoteName("echo", "b"), stop)
                    await tally.reach("ok", 20)
                    await nats_server.kill()
                    await tally.reach("noconnection", 5)
                    await nats_server.start()
                    await wait_members(rt.node, "b")
                    await tally.reach("ok", tally.counts["ok"] + 20)
                    stop.set()
                assert set(tally.counts) == {"ok", "noconnection"}
                assert await GenServer.call(RemoteName("echo", "b"), ("echo", "after")) == "after"


async def test_a_node_that_fails_ends_its_runtime(nats_server: NatsServer) -> None:
    """The runtime's node fails (here: a newer node took its name, as after a partition
    healed): the runtime shuts down in order and raises the node's error."""
    url = nats_server.url
    terminated: list[object] = []

    class Recorder(Echo):
        def terminate(self, reason: object, state: int) -> None:
            terminated.append(reason)

    async def run_a(other: nats.Connection) -> None:
        async with open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            await GenServer.start(Recorder)
            subject = f"noex.default.node.{name_token('a')}.hb"
            await other.publish(subject, encode_control("hb", rt.node.id.incarnation + 1))
            await trio.sleep_forever()

    with trio.fail_after(LIMIT):
        async with nats.connect(url) as other:
            with pytest.raises(NodeNameTakenError):
                await run_a(other)
    assert terminated == ["shutdown"]


class Bomb:
    """Registered on node b with a `from_wire` that raises KeyboardInterrupt."""


def _explode(_value: object) -> Bomb:
    raise KeyboardInterrupt


async def test_a_fatal_error_while_receiving_ends_that_runtime(nats_server: NatsServer) -> None:
    """What arrives is decoded with the user's registered conversions: a ``KeyboardInterrupt``
    there ends that node's runtime (in order), as anywhere in a process."""
    url = nats_server.url
    bomb_b = Codec()
    bomb_b.register(Bomb, name="test.Bomb", to_wire=lambda _bomb: 0, from_wire=_explode)
    bomb_a = Codec()
    bomb_a.register(Bomb, name="test.Bomb", to_wire=lambda _bomb: 0, from_wire=lambda _v: Bomb())
    with trio.fail_after(LIMIT):
        async with open_runtime("a", cluster=config(url, "a", codec=bomb_a)):
            with pytest.raises(BaseExceptionGroup) as info:  # (the helper's nursery)
                await _cast_a_bomb(url, bomb_b)
            assert info.value.split(KeyboardInterrupt)[1] is None  # b's runtime raised it


async def _cast_a_bomb(url: str, codec: Codec) -> None:
    async with open_node(url, "b", codec=codec) as b:
        await b.run(start_echo)
        GenServer.cast(RemoteName("echo", "b"), Bomb())
        await trio.sleep_forever()
