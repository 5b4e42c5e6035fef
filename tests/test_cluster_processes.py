"""Distribution across OS processes: a node in a child process (``tests.cluster_runtime_peer``)
called, monitored and linked from this one, then ``kill -9``-ed."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio

from noex_trio import (
    Down,
    Exit,
    GenServer,
    RemoteName,
    RemoteRef,
    ServerNotRunningError,
    open_runtime,
)
from noex_trio.nats.testing import NatsServer
from tests.cluster_behaviours import Echo, Watcher
from tests.cluster_support import LIMIT, Tally, config, open_peer, wait_members
from tests.test_cluster_remote import next_info


async def test_a_node_process_called_monitored_linked_then_killed(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT * 2):
        async with open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            seen: list[Any] = []
            arrived: list[trio.Event] = []
            watcher = await GenServer.start(Watcher, seen, arrived, trap_exit=True)
            failures: list[ServerNotRunningError] = []
            async with open_peer(url, "peer", runtime=True) as peer, trio.open_nursery() as nursery:
                echo = RemoteName("echo", "peer")
                await wait_members(rt.node, "peer")
                ref = await GenServer.call(echo, "self")
                assert type(ref) is RemoteRef
                assert ref.node.incarnation == peer.incarnation
                # call, cast in order, errors, a ref of this node travelling there and back
                for _ in range(20):
                    ref.cast(("add", 1))
                assert await ref.call("count") == 20
                with pytest.raises(ValueError, match=r"^bad$"):
                    await GenServer.call(RemoteName("echo2", "peer"), ("crash", "bad"))
                with pytest.raises(ServerNotRunningError, match="echo2@peer is not running"):
                    await GenServer.call(RemoteName("echo2", "peer"), "count")
                mref = await watcher.call(("monitor", ref))
                await watcher.call(("link", ref))
                linked_caller = await GenServer.start(Echo)

                async def call_and_fail(task_status: trio.TaskStatus[None]) -> None:
                    task_status.started()
                    try:
                        await linked_caller.call(("call", ref, ("sleep", 60)), math.inf)
                    except ServerNotRunningError as error:
                        failures.append(error)

                await nursery.start(call_and_fail)
                # the peer handles what this node sends in order: now it has the call
                assert await GenServer.call(RemoteName("other", "peer"), ("echo", 1)) == 1
                await GenServer.stop(RemoteName("other", "peer"), "shutdown")
                with pytest.raises(ServerNotRunningError, match="other@peer is not running"):
                    await GenServer.call(RemoteName("other", "peer"), ("echo", 1))
                peer.kill()  # SIGKILL: no goodbye, no exit signals
            # the waiting call, the monitor and the link all say "noconnection"
            assert await next_info(seen, arrived, 2)
            assert Down(mref, ref, "noconnection") in seen
            assert Exit(ref, "noconnection") in seen
            assert [failure.reason for failure in failures] == ["noconnection"]
            assert not ref.is_running()
            assert not GenServer.is_running(echo)


async def test_calls_to_a_node_process_while_the_nats_server_restarts(
    nats_server: NatsServer,
) -> None:
    """The server restarts under load: both processes' nodes reconnect by themselves; calls
    in flight or made meanwhile fail with "noconnection" (none hangs), then go through."""
    url = nats_server.url
    tally = Tally()

    async def keep_calling(stop: trio.Event) -> None:
        while not stop.is_set():
            try:
                await GenServer.call(RemoteName("echo", "peer"), ("echo", 1), 1.0)
                tally.add("ok")
            except ServerNotRunningError as error:
                tally.add(str(error.reason))
                with trio.move_on_after(0.01):  # (no busy loop while disconnected)
                    await stop.wait()

    with trio.fail_after(LIMIT * 2):
        async with open_runtime("a", cluster=config(url, "a")) as rt:
            assert rt.node is not None
            async with open_peer(url, "peer", runtime=True), trio.open_nursery() as nursery:
                await wait_members(rt.node, "peer")
                stop = trio.Event()
                for _ in range(5):
                    nursery.start_soon(keep_calling, stop)
                await tally.reach("ok", 20)
                await nats_server.kill()
                await tally.reach("noconnection", 5)
                await nats_server.start()
                await wait_members(rt.node, "peer")
                await tally.reach("ok", tally.counts["ok"] + 20)
                stop.set()
            assert set(tally.counts) == {"ok", "noconnection"}
