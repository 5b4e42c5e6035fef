"""Distribution edge cases (``_distribution.py``): remote targets that point at this very
node, bounded mailboxes on the other node, processes that are stopping or crash in
``terminate``, answers the codec cannot carry, and hostile publishers on a node's ``proc``
subject (they are counted as garbage, answered with an error when they wait for an answer,
and the node keeps working)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from noex_trio import (
    Down,
    Exit,
    GenServer,
    NoexError,
    ProcessRef,
    RemoteName,
    RemoteRef,
    ServerNotRunningError,
    cluster,
    open_runtime,
)
from noex_trio import nats as nats_client
from noex_trio._distribution import register_refs
from noex_trio.cluster import Codec, CodecError, PickleCodec
from noex_trio.cluster._identity import name_token
from noex_trio.cluster._protocol import encode_control
from noex_trio.nats.testing import NatsServer
from tests.cluster_behaviours import Echo, Watcher
from tests.cluster_support import LIMIT, config, wait_members
from tests.test_cluster_remote import next_info, start_echo, two_nodes

PREFIX = "noex.default.node"


class Gate(GenServer[int, Any, Any, Any]):
    """Blocks in a call until released; can crash in ``terminate`` or wait there."""

    def init(self, entered: trio.Event, release: trio.Event, terminate: str = "ok") -> int:
        self.entered = entered
        self.release = release
        self.terminate_mode = terminate
        return 0

    async def handle_call(self, msg: Any, state: int) -> Any:
        match msg:
            case "block":
                self.entered.set()
                await self.release.wait()
                return "released", state
            case "count":
                return state, state
            case "unencodable":
                return object(), state
            case "huge":
                raise ValueError("x" * 2_000_000)
            case "unpicklable":
                error = ValueError("unpicklable")
                error.hook = lambda: None  # type: ignore[attr-defined]
                raise error
        raise AssertionError(f"unexpected call {msg!r}")

    def handle_cast(self, msg: Any, state: int) -> int:
        return state + int(msg)

    async def terminate(self, reason: Any, state: int) -> None:
        if self.terminate_mode == "crash":
            raise RuntimeError("terminate crashed")
        if self.terminate_mode == "wait":
            self.entered.set()
            await self.release.wait()


class WireRef:
    """What a hostile node puts on the wire as a ref (any tuple it likes)."""

    def __init__(self, value: object) -> None:
        self.value = value


class WireDown(WireRef):
    """What a hostile node puts on the wire as a `Down`."""


def hostile_codec() -> Codec:
    """A codec that speaks the noex wire names with values of its own choosing."""
    codec = Codec()
    codec.register(
        WireRef, name="noex.GenServerRef", to_wire=lambda ref: ref.value, from_wire=WireRef
    )
    codec.register(WireDown, name="noex.Down", to_wire=lambda d: d.value, from_wire=WireDown)
    return codec


def remote_ref(node: Any, pid: int, label: str = "x") -> RemoteRef:
    ref: RemoteRef = RemoteRef._create(node, pid, label)
    return ref


# --------------------------------------------------------------------------- this very node


async def test_remote_targets_of_this_very_node(nats_server: NatsServer) -> None:
    """A `RemoteName` naming this node, or a `RemoteRef` of one of its processes, works as
    the local target: call, cast, stop, exit, monitor, link, unlink, is_running."""
    async with two_nodes(nats_server) as (_rt, b):
        ref = await GenServer.call(RemoteName("echo", "b"), "self")
        assert type(ref) is RemoteRef
        seen: list[Any] = []
        arrived: list[trio.Event] = []

        async def on_b() -> None:
            name = RemoteName("echo", "b")
            assert GenServer.is_running(ref)
            assert GenServer.is_running(name)
            assert not GenServer.is_running(RemoteName("nobody", "b"))
            assert await GenServer.call(ref, ("echo", 1)) == (1)
            assert await GenServer.call(name, ("echo", 2), math.inf) == 2
            GenServer.cast(ref, ("add", 2))
            GenServer.cast(name, ("add", 3))
            assert await ref.call("count") == 5
            watcher = await GenServer.start(Watcher, seen, arrived, trap_exit=True)
            mref = await watcher.call(("monitor", name))
            await watcher.call(("link", ref))
            await watcher.call(("unlink", ref))
            await watcher.call(("unlink", name))  # a name is never linked: nothing to do
            await watcher.call(("link", ref))
            GenServer.exit(ref, "normal")  # ignored: echo does not trap exits
            assert await ref.call(("echo", 3)) == 3
            await GenServer.stop(name, "shutdown")
            assert not GenServer.is_running(ref)
            await next_info(seen, arrived, 2)
            assert Down(mref, "echo", "shutdown") in seen or mref in [
                d.monitor for d in seen if isinstance(d, Down)
            ]
            assert any(isinstance(m, Exit) and m.reason == "shutdown" for m in seen)
            # a ref of this node's process that is gone
            with pytest.raises(ServerNotRunningError):
                await ref.call("count")
            GenServer.exit(ref, "kill")  # gone: nothing happens
            await GenServer.start(Echo, name="victim")
            GenServer.exit(RemoteName("victim", "b"), "kill")
            assert not GenServer.is_running(RemoteName("victim", "b"))

        await b.run(on_b)


async def test_refs_and_downs_on_the_wire(nats_server: NatsServer) -> None:
    """A ref sent back to its own node is the local ref; a `Down` and an `Exit` travel in
    messages (a `Down` from another node carries an inactive stand-in monitor)."""
    async with two_nodes(nats_server) as (_rt, _b):
        ref = await GenServer.call(RemoteName("echo", "b"), "self")
        assert await ref.call(("echo", ref)) == ref  # b saw its own local ref
        stale = remote_ref(ref.node, 999_999)
        assert await ref.call(("echo", stale)) == stale  # (b: a detached ref)
        seen: list[Any] = []
        arrived: list[trio.Event] = []
        watcher = await GenServer.start(Watcher, seen, arrived, trap_exit=True)
        other = await start_echo("other")
        mref = await watcher.call(("monitor", other))
        await other.stop()
        down = await next_info(seen, arrived, 1)
        assert isinstance(down, Down)
        sent, back = await ref.call(("echo", (down, Exit(other, "x"))))
        assert isinstance(sent, Down)
        # (a local ref of a process that is gone comes back as a detached ref: equal id)
        assert isinstance(sent.ref, ProcessRef)
        assert sent.ref.id == other.id
        assert not sent.ref.is_running()
        assert sent.reason == "normal"
        assert sent.monitor != mref
        assert not sent.monitor.active
        assert "MonitorRef" in repr(sent.monitor)
        GenServer.demonitor(sent.monitor)  # (inactive: nothing to do)
        GenServer.demonitor(mref)  # after the Down: nothing to do
        assert back.ref.id == other.id
        assert back.reason == "x"
        with pytest.raises(NoexError, match="only available on its own node"):
            ref.statistics()
        assert ref != other
        assert str(RemoteName("echo", "b")) == "echo@b"


async def test_refs_need_a_runtime_in_a_cluster() -> None:
    codec = Codec()
    register_refs(codec)
    register_refs(PickleCodec())  # (refs pickle: nothing to register)
    with trio.fail_after(LIMIT):
        async with open_runtime():
            local = await start_echo()
            with pytest.raises(CodecError, match="only by a runtime in a cluster"):
                codec.encode(local)
            with pytest.raises(NoexError, match="not in a cluster"):
                await GenServer.stop(RemoteName("echo", "b"))


# --------------------------------------------------------------------------- the other node


async def test_bounded_mailboxes_on_the_other_node(nats_server: NatsServer) -> None:
    """Casts and calls to a full bounded mailbox there wait for room (nothing lost); a
    process killed meanwhile fails the call and drops the cast."""
    async with two_nodes(nats_server) as (_rt, b):
        entered, release = trio.Event(), trio.Event()
        await b.run(lambda: GenServer.start(Gate, entered, release, name="gate", mailbox_size=1))
        gate = RemoteName("gate", "b")
        echo = RemoteName("echo", "b")
        answers: list[Any] = []
        async with trio.open_nursery() as nursery:

            async def call(msg: Any, task_status: trio.TaskStatus[None]) -> None:
                task_status.started()
                answers.append(await GenServer.call(gate, msg, 5))

            await nursery.start(call, "block")
            await entered.wait()  # gate is busy, its mailbox empty
            GenServer.cast(gate, 1)  # fills the mailbox
            GenServer.cast(gate, 1)  # waits for room
            await nursery.start(call, "count")  # waits for room
            assert await GenServer.call(echo, "count") == 0  # b has all of the above
            release.set()
        assert "released" in answers
        answers.remove("released")
        assert answers in ([1], [2])  # (the cast waiting for room may come after the call)
        assert await GenServer.call(gate, "count") == 2

        # killed while messages wait for room
        entered2, release2 = trio.Event(), trio.Event()
        await b.run(lambda: GenServer.start(Gate, entered2, release2, name="gate2", mailbox_size=1))
        gate2 = RemoteName("gate2", "b")
        failures: list[BaseException] = []
        async with trio.open_nursery() as nursery:

            async def call2(msg: Any, task_status: trio.TaskStatus[None]) -> None:
                task_status.started()
                try:
                    await GenServer.call(gate2, msg, 5)
                except ServerNotRunningError as error:
                    failures.append(error)

            await nursery.start(call2, "block")
            await entered2.wait()
            GenServer.cast(gate2, 1)
            GenServer.cast(gate2, 1)
            await nursery.start(call2, "count")
            assert await GenServer.call(echo, "count") == 0
            GenServer.exit(gate2, "kill")
        assert len(failures) == 2


async def test_stopping_and_failing_processes_there(nats_server: NatsServer) -> None:
    async with two_nodes(nats_server) as (_rt, b):
        echo = RemoteName("echo", "b")
        # a process that is stopping takes no call; a cast to it is a dead letter
        entered, release = trio.Event(), trio.Event()
        await b.run(lambda: GenServer.start(Gate, entered, release, "wait", name="slow"))
        slow = RemoteName("slow", "b")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(GenServer.stop, slow)
            await entered.wait()  # in terminate
            with pytest.raises(ServerNotRunningError) as info:
                await GenServer.call(slow, "count")
            assert info.value.reason == "stopping"
            GenServer.cast(slow, 1)
            assert await GenServer.call(echo, "count") == 0
            release.set()
        # a stop whose terminate crashes returns once the process is gone (as a local stop)
        bad = await b.run(
            lambda: GenServer.start(Gate, trio.Event(), trio.Event(), "crash", name="bad")
        )
        await GenServer.stop(RemoteName("bad", "b"))
        assert isinstance(bad.exit_reason, RuntimeError)
        # a reply the codec cannot carry: the caller gets a codec error, not a hang
        await b.run(lambda: GenServer.start(Gate, trio.Event(), trio.Event(), name="odd"))
        with pytest.raises(CodecError):
            await GenServer.call(RemoteName("odd", "b"), "unencodable")
        # an exit reason the codec cannot carry is not sent (a notice, lost)
        GenServer.exit(RemoteName("odd", "b"), object())
        assert await GenServer.call(RemoteName("odd", "b"), "count") == 0


# --------------------------------------------------------------------------- hostile peers


@asynccontextmanager
async def hostile_connection(url: str) -> AsyncIterator[nats_client.Connection]:
    async with nats_client.connect(url) as hostile:
        yield hostile


async def test_hostile_publisher_on_the_proc_subject(nats_server: NatsServer) -> None:
    url = nats_server.url
    codec = Codec()
    register_refs(codec)
    forged = hostile_codec()
    with trio.fail_after(LIMIT):
        async with (
            open_runtime("a", cluster=config(url, "a")) as rt,
            nats_client.connect(url) as hostile,
        ):
            node = rt.node
            assert node is not None
            echo = await start_echo()
            subject = f"{PREFIX}.{name_token('a')}.proc"
            me = node.id
            h = {
                "Noex-From": name_token("h"),
                "Noex-From-Inc": "7",
                "Noex-To-Inc": str(me.incarnation),
            }

            def headers(kind: str, **changes: str) -> dict[str, str]:
                return {**h, "Noex-Kind": kind, **changes}

            async def request(kind: str, data: bytes, **changes: str) -> tuple[str, Any]:
                reply = await hostile.request(
                    subject, data, headers=headers(kind, **changes), timeout=LIMIT
                )
                assert reply.headers is not None
                status = reply.headers["Noex-Status"]
                return status, (codec.decode(reply.data) if reply.data else None)

            garbage = node.statistics().garbage_received
            h_ref = remote_ref(type(me)("h", 7), 3, "h")
            b_ref = remote_ref(type(me)("b", 9), 3, "b")
            messages: list[tuple[dict[str, str] | None, bytes, int]] = [
                (None, b"x", 1),  # no headers
                ({"Noex-From": "!!", "Noex-Kind": "cast"}, b"x", 1),  # bad headers
                (headers("cast", **{"Noex-To-Inc": "1"}), b"x", 0),  # another incarnation
                (headers("cast"), b"garbage", 1),
                (headers("nonsense"), codec.encode((1,)), 1),
                (headers("cast"), codec.encode(42), 1),  # not a tuple
                (headers("cast"), codec.encode((1, 2, 3)), 1),  # wrong arity
                (headers("link"), codec.encode((b_ref, echo.id)), 1),  # not h's process
                (headers("link"), codec.encode(("x", echo.id)), 1),
                (headers("monitor"), codec.encode(("x", echo.id)), 1),
                (headers("exit"), codec.encode((42, echo.id, "x", False)), 1),
                (headers("cast"), forged.encode((WireRef((1, 2)), "x")), 1),
                (headers("cast"), forged.encode((WireRef(("h", 7, -1, "x")), "x")), 1),
                # valid, but about nothing: ignored
                (headers("cast"), codec.encode((1.5, "x")), 0),
                (headers("cast"), codec.encode(("", "x")), 0),
                (headers("cast"), codec.encode(("nobody", "x")), 0),
                (headers("demonitor"), codec.encode((12345,)), 0),
                (headers("down"), codec.encode((12345, "normal")), 0),
                (headers("down"), codec.encode(("x", "normal")), 0),
                (headers("unlink"), codec.encode((h_ref, echo.id)), 0),
                (headers("unlink"), codec.encode(("x", echo.id)), 0),
                (headers("exit"), codec.encode((h_ref, 999_999, "kill", False)), 0),
                (headers("exit"), codec.encode((h_ref, echo.id, "kill", True)), 0),  # unlinked
                (headers("exit"), codec.encode((None, echo.id, "normal", False)), 0),
                (headers("call"), codec.encode((echo.id, ("echo", 1), 5)), 0),  # no reply
                (headers("stop"), codec.encode((999_999, "normal")), 0),  # no reply
            ]
            expected = garbage
            for hdrs, data, counted in messages:
                await hostile.publish(subject, data, headers=hdrs)
                expected += counted
            # answers: a request of another incarnation, garbage, unknown targets
            status, _ = await request("call", b"", **{"Noex-To-Inc": "1"})
            assert status == "wrong-node"
            status, error = await request("call", b"garbage")
            assert status == "error"
            assert isinstance(error, CodecError)
            expected += 1
            status, reason = await request("call", codec.encode((1.5, "x", 5)))
            assert (status, reason) == ("not-running", "noproc")
            status, value = await request("call", codec.encode((echo.id, ("echo", 7), -1)))
            assert (status, value) == ("ok", 7)
            status, value = await request("call", codec.encode((echo.id, ("echo", 8), math.inf)))
            assert (status, value) == ("ok", 8)
            assert node.statistics().garbage_received == expected
            assert echo.is_running()
            assert await GenServer.call(echo, ("echo", "still")) == "still"


async def test_more_edges_towards_a_live_node(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large errors, unencodable stop reasons, full outbound buffers, many distinct call
    timeouts, links and monitors done twice or undone after the fact."""
    monkeypatch.setattr("noex_trio._distribution._GONE_LIMIT", 2)
    async with two_nodes(nats_server) as (_rt, b):
        echo = RemoteName("echo", "b")
        ref = await GenServer.call(echo, "self")
        # an error too large for the wire arrives as a RemoteError
        await b.run(lambda: GenServer.start(Gate, trio.Event(), trio.Event(), name="big"))
        with pytest.raises(Exception, match="x") as big_error:
            await GenServer.call(RemoteName("big", "b"), "huge")
        assert type(big_error.value).__name__ == "RemoteError"
        # stops that cannot be sent
        with pytest.raises(ServerNotRunningError, match="noconnection"):
            await GenServer.stop(RemoteName("echo", "nowhere"))
        with pytest.raises(CodecError):
            await GenServer.stop(echo, object())
        GenServer.exit(RemoteName("echo", "nowhere"), "kill")  # nothing to do
        # the outbound buffer full: a cast there is refused as to a full mailbox
        await b.run(lambda: GenServer.start(Watcher, [], [], name="sink"))
        sink = RemoteName("sink", "b")

        def flood() -> None:
            for _ in range(20):  # (no await: the buffer has no time to drain)
                GenServer.cast(sink, "x" * 900_000)

        with pytest.raises(Exception, match="full") as full:
            flood()
        assert type(full.value).__name__ == "MailboxFullError"
        assert await GenServer.call(echo, ("echo", 1)) == 1
        # more distinct call timeouts than the watchdog keeps lists for
        entered, release = trio.Event(), trio.Event()
        await b.run(lambda: GenServer.start(Gate, entered, release, name="gate"))
        gate = RemoteName("gate", "b")
        answers: list[Any] = []
        async with trio.open_nursery() as nursery:

            async def call(msg: Any, seconds: float, task_status: trio.TaskStatus[None]) -> None:
                task_status.started()
                answers.append(await GenServer.call(gate, msg, seconds))

            await nursery.start(call, "block", 5.0)
            await entered.wait()
            for i in range(20):
                await nursery.start(call, "count", 5.0 + i / 100)
            assert await GenServer.call(echo, ("echo", 2)) == 2  # b has them all
            release.set()
        assert sorted(answers, key=str) == [0] * 20 + ["released"]
        # monitors and links: twice, undone, after the Down
        seen: list[Any] = []
        arrived: list[trio.Event] = []
        watcher = await GenServer.start(Watcher, seen, arrived, trap_exit=True)
        await watcher.call(("link", ref))
        await watcher.call(("link", ref))  # already linked
        await b.run(lambda: start_echo("free"))
        free = await GenServer.call(RemoteName("free", "b"), "self")
        await watcher.call(("unlink", free))  # never linked
        mref = await watcher.call(("monitor", free))
        await free.stop()
        down = await next_info(seen, arrived, 1)
        assert down == Down(mref, free, "normal")
        await watcher.call(("demonitor", mref))  # after the Down: nothing to do
        # processes known to be gone (only the latest are remembered)
        for name in ("g1", "g2", "g3"):
            await b.run(lambda name=name: start_echo(name))  # type: ignore[misc]
            gone = await GenServer.call(RemoteName(name, "b"), "self")
            await gone.stop()
            assert not gone.is_running()
        assert not free.is_running() or free.is_running()  # (forgotten: as far as known)
        assert ref.is_running()


async def test_forged_nodes_answer_nonsense_then_go_down(nats_server: NatsServer) -> None:
    """Two nodes forged by a publisher ("g1", "g2"): nonsense answers are errors, a stop
    waiting on g1 fails with noconnection when g1 goes down, and only g1's monitors, links
    and watchers are affected."""
    url = nats_server.url
    codec = Codec()
    register_refs(codec)
    forged = hostile_codec()
    ok = {"Noex-Status": "ok"}
    answers: list[tuple[dict[str, str] | None, bytes]] = [
        ({"Noex-Status": "error"}, codec.encode(42)),  # an error that is no exception
        ({"Noex-Status": "wrong-node"}, b""),
        ({"Noex-Status": "nonsense"}, b""),
        (None, b""),
        (ok, forged.encode(WireRef(("g1", 1, 6, "q")))),
        (ok, forged.encode(WireRef(("g2", 2, 5, "p")))),
        ({"Noex-Status": "wrong-node"}, b""),  # to a stop
        ({"Noex-Status": "error"}, codec.encode(ValueError("no"))),  # to a stop
    ]
    got_stop = trio.Event()

    async def serve_g1(sub: nats_client.Subscription) -> None:
        for headers, data in answers:
            msg = await sub.receive()
            await msg.respond(data, headers=headers)
        async for msg in sub:  # the last stop: never answered
            if msg.headers is not None and msg.headers.get("Noex-Kind") == "stop":
                got_stop.set()

    async def beat(name: str, incarnation: int, scope: trio.CancelScope) -> None:
        with scope:
            kind = "hello"
            while True:
                await hostile.publish(
                    f"{PREFIX}.{name_token(name)}.hb", encode_control(kind, incarnation)
                )
                kind = "hb"
                await trio.sleep(0.05)  # (a heartbeat, not a synchronisation)

    with trio.fail_after(LIMIT):
        async with (
            open_runtime("a", cluster=config(url, "a")) as rt,
            nats_client.connect(url) as hostile,
            trio.open_nursery() as nursery,
            hostile.subscribe(f"{PREFIX}.{name_token('g1')}.proc") as g1_messages,
        ):
            node = rt.node
            assert node is not None
            await hostile.flush()
            g1_beats, g2_beats = trio.CancelScope(), trio.CancelScope()
            nursery.start_soon(beat, "g1", 1, g1_beats)
            nursery.start_soon(beat, "g2", 2, g2_beats)
            nursery.start_soon(serve_g1, g1_messages)
            await wait_members(node, "g1", "g2")
            x = RemoteName("x", "g1")
            with pytest.raises(CodecError, match=r"without a valid status \('error'\)"):
                await GenServer.call(x, "a")
            with pytest.raises(ServerNotRunningError, match="noconnection"):
                await GenServer.call(x, "b")
            with pytest.raises(CodecError, match=r"without a valid status \('nonsense'\)"):
                await GenServer.call(x, "c")
            with pytest.raises(CodecError, match=r"x@g1 sent|'g1' sent"):
                await GenServer.call(x, "d")
            g1_ref = await GenServer.call(x, "e")
            g2_ref = await GenServer.call(x, "f")
            assert type(g1_ref) is RemoteRef
            assert (g2_ref.node.name, g2_ref.id) == ("g2", 5)
            with pytest.raises(ServerNotRunningError, match="noconnection"):
                await GenServer.stop(x)
            with pytest.raises(ValueError, match="no"):
                await GenServer.stop(x)
            # g1 watches a process here (a monitor and a link, as g1 would send them)
            echo = await GenServer.start(Echo)
            as_g1 = {
                "Noex-From": name_token("g1"),
                "Noex-From-Inc": "1",
                "Noex-To-Inc": str(node.id.incarnation),
            }
            a_proc = f"{PREFIX}.{name_token('a')}.proc"
            await hostile.publish(
                a_proc, codec.encode((1, echo.id)), headers={**as_g1, "Noex-Kind": "monitor"}
            )
            as_g2 = {**as_g1, "Noex-From": name_token("g2"), "Noex-From-Inc": "2"}
            await hostile.publish(
                a_proc, codec.encode((1, echo.id)), headers={**as_g2, "Noex-Kind": "monitor"}
            )
            partner = await GenServer.start(Echo)
            g1_linker = forged.encode((WireRef(("g1", 1, 9, "l")), partner.id))
            for _ in range(2):  # (the second: already linked)
                await hostile.publish(a_proc, g1_linker, headers={**as_g1, "Noex-Kind": "link"})
            bad_down = WireDown((1, 2, 3))
            await hostile.publish(
                a_proc,
                forged.encode((echo.id, bad_down)),
                headers={**as_g1, "Noex-Kind": "cast"},
            )
            # (a answers this after it handled the above: messages from g1 are in order)
            reply = await hostile.request(
                a_proc, b"", headers={**as_g1, "Noex-Kind": "call"}, timeout=LIMIT
            )
            assert reply.headers is not None
            assert reply.headers["Noex-Status"] == "error"
            # a watcher here with monitors and links on both
            seen: list[Any] = []
            arrived: list[trio.Event] = []
            watcher = await GenServer.start(Watcher, seen, arrived, trap_exit=True)
            on_g1 = await watcher.call(("monitor", g1_ref))
            on_g2 = await watcher.call(("monitor", g2_ref))
            await watcher.call(("link", g1_ref))
            await watcher.call(("link", g2_ref))
            failures: list[ServerNotRunningError] = []

            async def stop_and_fail() -> None:
                try:
                    await GenServer.stop(x)
                except ServerNotRunningError as error:
                    failures.append(error)

            nursery.start_soon(stop_and_fail)
            await got_stop.wait()
            g1_beats.cancel()
            await next_info(seen, arrived, 2)
            assert Down(on_g1, g1_ref, "noconnection") in seen
            assert Exit(g1_ref, "noconnection") in seen
            assert [f.reason for f in failures] == ["noconnection"]
            assert on_g2.active
            assert isinstance(await GenServer.wait_exit(partner), Exception)  # linked to g1
            await echo.stop()  # g1 is gone: no down is sent to it
            g2_beats.cancel()
            await next_info(seen, arrived, 4)
            assert Down(on_g2, g2_ref, "noconnection") in seen
            nursery.cancel_scope.cancel()


async def test_an_error_the_pickle_codec_cannot_carry(nats_server: NatsServer) -> None:
    """With `PickleCodec`, an error that does not pickle is answered as a `RemoteError`."""
    url = nats_server.url
    codec = PickleCodec()
    with trio.fail_after(LIMIT):
        async with (
            open_runtime("a", cluster=config(url, "a", codec=codec)) as rt,
            nats_client.connect(url) as other,
        ):
            assert rt.node is not None
            gate = await GenServer.start(Gate, trio.Event(), trio.Event())
            headers = {
                "Noex-From": name_token("b"),
                "Noex-From-Inc": "7",
                "Noex-To-Inc": str(rt.node.id.incarnation),
                "Noex-Kind": "call",
            }
            reply = await other.request(
                f"{PREFIX}.{name_token('a')}.proc",
                codec.encode((gate.id, "unpicklable", 5)),
                headers=headers,
                timeout=LIMIT,
            )
            assert reply.headers is not None
            assert reply.headers["Noex-Status"] == "error"
            error = codec.decode(reply.data)
            assert type(error).__name__ == "RemoteError"
            assert "unpicklable" in str(error)


async def test_a_node_listens_for_process_messages_before_it_announces_itself(
    nats_server: NatsServer,
) -> None:
    """Others may send to a node's processes as soon as they see it up: its process channel
    is subscribed before its hello (messages wait there until its runtime reads them)."""
    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(nats_server.url, "b")),
            nats_client.connect(nats_server.url) as nc,
        ):
            subject = f"noex.default.node.{name_token('b')}.proc"
            with pytest.raises(nats_client.RequestTimeoutError):  # subscribed: no 503
                await nc.request(subject, b"", timeout=0.2)
