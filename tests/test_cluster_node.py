"""Nodes against a real nats-server: joining, names, failure detection (in-process and a
``kill -9``-ed OS process), requests, a hostile publisher, server restarts and freezes."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import trio

from noex_trio import cluster, nats
from noex_trio.cluster import (
    CodecError,
    NoConnectionError,
    NodeDown,
    NodeNameTakenError,
    NodeUp,
    PayloadTooLargeError,
    RemoteError,
    Request,
)
from noex_trio.cluster._identity import name_token
from noex_trio.cluster._protocol import encode_control
from noex_trio.nats.testing import NatsServer, open_nats_server
from tests.cluster_support import LIMIT, config, next_event, open_peer, wait_members

# --------------------------------------------------------------------------- membership


async def test_join_members_and_leave(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with cluster.join(config(url, "a")) as a, a.watch() as events:
            assert a.status == "up"
            assert a.name == "a"
            assert a.members() == frozenset()
            assert repr(a) == f"<noex_trio.cluster.Node {a.id} up>"
            async with cluster.join(config(url, "b")) as b:
                # The members that answered the claim are known when join returns.
                assert b.members() == {a.id}
                assert await next_event(events, NodeUp) == NodeUp(b.id)
                assert a.members() == {b.id}
            down = await next_event(events, NodeDown)
            assert down == NodeDown(b.id, "left")
            assert down.reason == "noconnection"
            assert b.statistics().status == "closed"
            assert a.members() == frozenset()
            stats = a.statistics()
            assert (stats.node, stats.status, stats.members) == (a.id, "up", 0)
            assert stats.heartbeats_received >= 1
            assert stats.garbage_received == 0
    assert a.statistics().status == "closed"


async def test_node_names_are_not_subject_tokens(nats_server: NatsServer) -> None:
    """Any printable name works: it is base64url-encoded into one subject token."""
    url = nats_server.url
    names = ["api@host.example.com", "ordres é", "a.b*>c"]
    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, names[0])) as first,
            cluster.join(config(url, names[1])),
            cluster.join(config(url, names[2])) as third,
        ):
            await wait_members(first, names[1], names[2])
            third.serve("who", lambda request: request.sender.name)
            assert await first.request(names[2], "who") == names[0]


async def test_duplicate_name_is_refused(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with cluster.join(config(url, "a")) as a, a.watch() as events:
            with pytest.raises(NodeNameTakenError) as info:
                async with cluster.join(config(url, "a")):
                    raise AssertionError("joined twice")  # pragma: no cover
            assert info.value.holder == a.id.incarnation
            assert info.value.name == "a"
            assert str(info.value) == (
                f"node name 'a' is taken in cluster 'noex.default' "
                f"(incarnation {a.id.incarnation:#x})"
            )
            # The holder is undisturbed and saw nothing (the rival never announced itself).
            async with cluster.join(config(url, "b")) as b:
                assert await next_event(events, NodeUp) == NodeUp(b.id)
            assert a.status == "up"


async def test_simultaneous_claims_one_wins(nats_server: NatsServer) -> None:
    url = nats_server.url
    outcomes: list[str] = []
    both_tried = trio.Event()

    def record(outcome: str) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 2:
            both_tried.set()

    async def claim() -> None:
        try:
            async with cluster.join(config(url, "twin", claim_timeout=0.3)):
                record("joined")
                await both_tried.wait()  # (stay until the rival knows its fate)
        except NodeNameTakenError:
            record("refused")

    with trio.fail_after(LIMIT):
        for _ in range(3):
            outcomes.clear()
            both_tried = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(claim)
                nursery.start_soon(claim)
            assert sorted(outcomes) == ["joined", "refused"]


async def test_clusters_share_a_server_without_seeing_each_other(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, "a", cluster="blue")) as blue,
            cluster.join(config(url, "a", cluster="green")) as green,
            cluster.join(config(url, "b", cluster="green", subject_prefix="other.app")) as other,
        ):
            await trio.sleep(0.3)  # a few heartbeats: none may cross
            assert blue.members() == green.members() == other.members() == frozenset()


async def test_wrong_credentials_are_refused() -> None:
    with trio.fail_after(LIMIT):
        async with open_nats_server("authorization { user: node, password: s3cret }") as server:
            with pytest.raises(nats.AuthorizationError):
                async with cluster.join(config(server.url, "a", user="node", password="wrong")):
                    raise AssertionError("joined")  # pragma: no cover
            with pytest.raises(nats.AuthorizationError):
                async with cluster.join(config(server.url, "a")):
                    raise AssertionError("joined")  # pragma: no cover
            async with cluster.join(config(server.url, "a", user="node", password="s3cret")) as a:
                assert a.status == "up"


async def test_watch_feeds(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with cluster.join(config(url, "a")) as a:
            feed = a.watch(max_pending=1)
            async with feed:
                async with cluster.join(config(url, "b")):
                    await wait_members(a, "b")
                await wait_members(a)
                assert feed.dropped == 1  # NodeUp was dropped for NodeDown
                assert isinstance(await feed.receive(), NodeDown)
            with pytest.raises(trio.EndOfChannel):
                await feed.receive()
        late = a.watch()  # the node left: the feed has ended
        async with late:
            assert [event async for event in late] == []
        with pytest.raises(ValueError, match=r"^expected max_pending to be an int >= 1, got 0$"):
            a.watch(max_pending=0)


# --------------------------------------------------------------------------- requests


class AppError(Exception):
    pass


async def hang(request: Request) -> None:
    await trio.sleep_forever()


async def test_requests(nats_server: NatsServer) -> None:
    url = nats_server.url
    seen: list[Request] = []

    async def echo(request: Request) -> object:
        seen.append(request)
        await trio.lowlevel.checkpoint()
        return ("echo", request.payload)

    def boom(request: Request) -> object:
        raise ValueError("bad input", request.payload)

    def app_error(request: Request) -> object:
        raise AppError("not registered on the caller's side")

    with trio.fail_after(LIMIT):
        async with cluster.join(config(url, "a")) as a, cluster.join(config(url, "b")) as b:
            await wait_members(a, "b")
            unserve = b.serve("echo", echo)
            b.serve("boom", boom)
            b.serve("app.error", app_error)
            b.serve("unencodable", lambda request: object())
            assert await a.request("b", "echo", {"n": [1, 2]}) == ("echo", {"n": [1, 2]})
            assert seen[0].sender == a.id
            assert seen[0].suffix == "echo"
            assert await a.request(b.id, "echo") == ("echo", None)
            async with trio.open_nursery() as nursery:  # several at once
                for n in range(3):
                    nursery.start_soon(a.request, "b", "echo", n)
            assert await b.request("b", "echo", 1) == ("echo", 1)  # to itself
            with pytest.raises(ValueError, match=r"^\('bad input', 7\)\n") as info:
                await a.request("b", "boom", 7)
            assert info.value.__notes__ == ["(raised by the handler of 'boom' on node 'b')"]
            with pytest.raises(RemoteError) as remote:
                await a.request("b", "app.error")
            assert remote.value.type_name == "AppError"
            assert remote.value.message == "not registered on the caller's side"
            with pytest.raises(CodecError, match=r"^cannot encode a object"):
                await a.request("b", "unencodable")
            with pytest.raises(CodecError, match=r"^cannot encode a object"):
                await a.request("b", "echo", object())
            with pytest.raises(cluster.NoHandlerError, match=r"^node 'b' serves no handler for"):
                await a.request("b", "nothing.here")
            unserve()
            unserve()
            with pytest.raises(cluster.NoHandlerError):
                await a.request("b", "echo")
            with pytest.raises(NoConnectionError, match=r"^no connection to node 'c' \(not a m"):
                await a.request("c", "echo")
            stale = cluster.NodeId("b", b.id.incarnation + 1)
            with pytest.raises(NoConnectionError, match=r"\(not a member\)$"):
                await a.request(stale, "echo")
            stats = b.statistics()
            assert stats.requests_served >= 6
            assert stats.handlers == 3
            assert a.statistics().pending_requests == 0


async def test_request_timeout_and_codec_mismatch(nats_server: NatsServer) -> None:
    url = nats_server.url
    codec = cluster.Codec()
    codec.register(Request, name="req")  # any registered type: `b` does not know it
    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, "a", codec=codec)) as a,
            cluster.join(config(url, "b")) as b,
        ):
            await wait_members(a, "b")
            b.serve("slow", hang)
            b.serve("echo", lambda request: request.payload)
            with pytest.raises(cluster.RemoteTimeoutError) as info:
                await a.request("b", "slow", timeout=0.2)
            assert isinstance(info.value, trio.TooSlowError)
            assert str(info.value) == "request 'slow' to node 'b' timed out after 0.2 s"
            payload = Request(a.id, "x", None)
            with pytest.raises(CodecError, match=r"^node 'b' could not decode the request: unk"):
                await a.request("b", "echo", payload)


async def test_size_limits_follow_the_server() -> None:
    with trio.fail_after(LIMIT):
        async with open_nats_server("max_payload: 4096") as server:
            url = server.url
            async with cluster.join(config(url, "a")) as a, cluster.join(config(url, "b")) as b:
                await wait_members(a, "b")
                b.serve("big", lambda request: b"x" * 10_000)
                b.serve("echo", lambda request: request.payload)
                with pytest.raises(PayloadTooLargeError):
                    await a.request("b", "echo", b"x" * 10_000)
                with pytest.raises(PayloadTooLargeError):
                    await a.request("b", "big")
                assert await a.request("b", "echo", b"x" * 3000) == b"x" * 3000


async def test_request_argument_checks(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with cluster.join(config(nats_server.url, "a")) as a:
            with pytest.raises(ValueError, match=r"^expected suffix to be dot-separated tokens"):
                await a.request("a", "bad suffix")
            with pytest.raises(TypeError, match=r"^expected node to be a non-empty printable"):
                await a.request(3, "x")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match=r"^expected timeout to be a number of seconds"):
                await a.request("a", "x", timeout=0)
            with pytest.raises(ValueError, match=r"^expected suffix to be dot-separated tokens"):
                a.serve("a.*", lambda request: None)
            with pytest.raises(TypeError, match=r"^expected handler to be callable, got 1$"):
                a.serve("x", 1)  # type: ignore[arg-type]
            a.serve("x", lambda request: None)
            with pytest.raises(ValueError, match=r"^expected suffix to be a suffix this node d"):
                a.serve("x", lambda request: None)


def pickled_error(request: Request) -> object:
    raise AppError("pickled")


def unpicklable_error(request: Request) -> object:
    raise ValueError(lambda: None)


async def test_pickle_codec_cluster(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, "a", codec=cluster.PickleCodec())) as a,
            cluster.join(config(url, "b", codec=cluster.PickleCodec())) as b,
        ):
            await wait_members(a, "b")
            b.serve("boom", pickled_error)
            b.serve("echo", lambda request: request.payload)
            assert await a.request("b", "echo", AppError) is AppError  # any picklable value
            b.serve("unpicklable", unpicklable_error)
            with pytest.raises(RemoteError, match=r"^remote ValueError: <function"):
                await a.request("b", "unpicklable")
            with pytest.raises(AppError, match=r"^pickled\n\(raised by the handler of 'boom'"):
                await a.request("b", "boom")


async def test_fatal_error_in_a_handler_ends_the_node(nats_server: NatsServer) -> None:
    url = nats_server.url

    def interrupt(request: Request) -> object:
        raise KeyboardInterrupt

    async def node_b(task_status: trio.TaskStatus[None]) -> None:
        async with cluster.join(config(url, "b")) as b:
            b.serve("interrupt", interrupt)
            task_status.started()
            await trio.sleep_forever()  # the node's failure cancels the body

    async def run_b(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with pytest.raises(KeyboardInterrupt):
            await node_b(task_status)

    with trio.fail_after(LIMIT):
        async with cluster.join(config(url, "a")) as a, trio.open_nursery() as nursery:
            await nursery.start(run_b)
            await wait_members(a, "b")
            with pytest.raises(RemoteError, match=r"^remote KeyboardInterrupt\n"):
                await a.request("b", "interrupt")
            await wait_members(a)  # b left


# --------------------------------------------------------------------------- failures


async def test_kill_9_of_a_node_process(nats_server: NatsServer) -> None:
    """A node in its own OS process, killed with SIGKILL: NodeDown "noconnection" within the
    failure-detection bound, and the request waiting for it fails instead of hanging."""
    url = nats_server.url
    failures: list[BaseException] = []

    async def wait_for_answer(a: cluster.Node) -> None:
        try:
            await a.request("peer", "hang", timeout=LIMIT)
        except NoConnectionError as exc:
            failures.append(exc)

    with trio.fail_after(LIMIT * 2):
        async with cluster.join(config(url, "a")) as a, a.watch() as events:
            async with open_peer(url, "peer", 0.1, 0.5, 0.1) as peer, trio.open_nursery() as n:
                up = await next_event(events, NodeUp, "peer")
                assert up.node.incarnation == peer.incarnation
                assert await a.request("peer", "pid") == peer.process.pid
                n.start_soon(wait_for_answer, a)
                assert await peer.read_line() == "hanging"  # the request is being handled
                peer.kill()
                down = await next_event(events, NodeDown, "peer")
            assert down == NodeDown(up.node, "timeout")
            assert [str(exc) for exc in failures] == ["no connection to node 'peer' (timeout)"]
            # A restart under the same name is a new incarnation.
            async with open_peer(url, "peer", 0.1, 0.5, 0.1) as again:
                up_again = await next_event(events, NodeUp, "peer")
                assert up_again.node.incarnation == again.incarnation != peer.incarnation
                with pytest.raises(NoConnectionError):
                    await a.request(up.node, "pid")


async def test_hostile_publisher_cannot_crash_a_node(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = nats_server.url
    pwned = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(pwned), "w"))

    evil = pickle.dumps(Evil())
    token = name_token("a")
    prefix = "noex.default.node"
    valid_hb = encode_control("hb", 5)
    garbage = [
        (f"{prefix}.{token}.hb", b"garbage"),
        (f"{prefix}.{token}.hb", evil),
        (f"{prefix}.{token}.hb", b"\xa1t\x03i\x02s\x02hbs\x01x"),  # (1, "hb", "x")
        (f"{prefix}.{token}.hb", b"\xa1t\x03T" + valid_hb[5:]),  # version True
        (f"{prefix}.{token}.hb", encode_control("nonsense", 5)),
        (f"{prefix}.!!!.hb", valid_hb),
        (f"{prefix}.YQ.x.hb", valid_hb),
        (f"{prefix}.{token}.claim", valid_hb),  # no reply subject
        (f"{prefix}.{token}.claim", b"\x00" * 1000),
        (f"{prefix}.{token}.rpc.echo", evil),  # no reply subject
    ]
    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, "a")) as a,
            cluster.join(config(url, "b")) as b,
            nats.connect(url) as hostile,
        ):
            await wait_members(a, "b")
            a.serve("echo", lambda request: request.payload)
            async with a.watch() as events:
                for subject, payload in garbage:
                    await hostile.publish(subject, payload)
                for payload in [evil, b"", b"\xa1N"]:
                    # Requests without the node's headers, or with bad ones.
                    for headers in [None, {"Noex-From": "!!", "Noex-To-Inc": "x"}]:
                        reply = await hostile.request(
                            f"{prefix}.{token}.rpc.echo", payload, headers=headers, timeout=2
                        )
                        assert reply.headers is not None
                        assert reply.headers["Noex-Status"] == "bad-request"
                good = {
                    "Noex-From": name_token("b"),
                    "Noex-From-Inc": str(b.id.incarnation),
                    "Noex-To-Inc": str(a.id.incarnation),
                }
                reply = await hostile.request(f"{prefix}.{token}.rpc.echo", evil, headers=good)
                assert reply.headers is not None
                assert reply.headers["Noex-Status"] == "bad-request"
                assert reply.data.startswith(b"not a message of the noex codec")
                reply = await hostile.request(
                    f"{prefix}.{token}.rpc.echo", evil, headers={**good, "Noex-To-Inc": "1"}
                )
                assert reply.headers is not None
                assert reply.headers["Noex-Status"] == "wrong-node"
                await hostile.flush()  # everything reached the server before the next request
                assert await b.request("a", "echo", [1]) == [1]
                await trio.testing.wait_all_tasks_blocked()  # `a` went through what it got
            assert [event async for event in events] == []
            assert a.status == "up"
            assert a.members() == {b.id}
            # 9 bad messages on the node's subjects, 6 requests with bad headers, 1 payload
            assert a.statistics().garbage_received == 16
    assert not pwned.exists()


async def test_a_newer_node_with_the_same_name_takes_over(nats_server: NatsServer) -> None:
    """What a healed partition can show: two nodes with one name. The newer one keeps it;
    the older leaves with NodeNameTakenError; the others see a restart."""
    url = nats_server.url
    ids: list[cluster.NodeId] = []

    async def node_b(a: cluster.Node, other: nats.Connection) -> None:
        async with cluster.join(config(url, "b")) as b:
            ids.append(b.id)
            await wait_members(a, "b")
            b.serve("echo", lambda request: request.payload)
            subject = f"noex.default.node.{name_token('b')}.hb"
            await other.publish(subject, encode_control("hb", b.id.incarnation - 1))
            await other.flush()
            await b.request("b", "echo")  # (arrives after the heartbeat above)
            await trio.testing.wait_all_tasks_blocked()
            assert b.status == "up"  # an older incarnation is ignored
            await other.publish(subject, encode_control("hb", b.id.incarnation + 1))
            await trio.sleep_forever()

    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, "a")) as a,
            a.watch() as events,
            nats.connect(url) as other,
        ):
            with pytest.raises(NodeNameTakenError) as info:
                await node_b(a, other)
            [b_id] = ids
            assert info.value.holder == b_id.incarnation + 1
            assert await next_event(events, NodeUp) == NodeUp(b_id)
            down = await next_event(events, NodeDown)
            assert down == NodeDown(b_id, "restarted")
            assert a.members() == {cluster.NodeId("b", b_id.incarnation + 1)}


async def test_server_restart(nats_server: NatsServer) -> None:
    """The NATS server goes away and comes back: every node sees the others down
    ("disconnected"), reconnects, announces itself again, and sees them up again."""
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, "a")) as a,
            cluster.join(config(url, "b")) as b,
            a.watch() as events,
        ):
            await wait_members(a, "b")
            b.serve("hang", hang)
            b.serve("echo", lambda request: request.payload)
            async with trio.open_nursery() as nursery:

                async def waiting() -> None:
                    with pytest.raises(NoConnectionError, match=r"\(disconnected\)$"):
                        await a.request("b", "hang", timeout=LIMIT)

                nursery.start_soon(waiting)
                await trio.testing.wait_all_tasks_blocked()
                await nats_server.kill()
            assert await next_event(events, NodeDown) == NodeDown(b.id, "disconnected")
            assert a.status == "disconnected"
            assert a.members() == frozenset()
            with pytest.raises(NoConnectionError, match=r"\(this node is disconnected\)$"):
                await a.request("b", "echo")
            await nats_server.start()
            assert await next_event(events, NodeUp) == NodeUp(b.id)
            await wait_members(b, "a")
            assert a.statistics().status == b.statistics().status == "up"
            assert await a.request("b", "echo", "again") == "again"


async def test_frozen_server_is_a_partition(nats_server: NatsServer) -> None:
    """Nothing arrives but the TCP connection stays up: the node notices that its own
    heartbeats do not come back, and sees every other node down."""
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, "a")) as a,
            cluster.join(config(url, "b")),
            a.watch() as events,
        ):
            await wait_members(a, "b")
            await nats_server.freeze()
            try:
                down = await next_event(events, NodeDown)
                assert down.detail == "disconnected"
                assert a.status == "disconnected"
            finally:
                nats_server.thaw()
            await next_event(events, NodeUp, "b")
            assert a.statistics().status == "up"


async def test_node_that_cannot_reconnect_gives_up(nats_server: NatsServer) -> None:
    url = nats_server.url

    async def node() -> None:
        async with cluster.join(config(url, "a", max_reconnect_attempts=1)):
            await nats_server.kill()
            await trio.sleep_forever()  # the node's failure cancels the body

    with trio.fail_after(LIMIT), pytest.raises(nats.ConnectionClosedError):
        await node()


async def test_leaving_while_disconnected(nats_server: NatsServer) -> None:
    url = nats_server.url
    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, "a")) as a,
            cluster.join(config(url, "b")),
            a.watch() as events,
        ):
            await next_event(events, NodeUp)
            await nats_server.kill()
            await next_event(events, NodeDown)
            assert a.status == "disconnected"
    assert a.statistics().status == "closed"


# --------------------------------------------------------------------------- hostile peers


async def test_forged_member_and_hostile_replies(nats_server: NatsServer) -> None:
    """A publisher forges a node ("ghost") and answers requests to it with nonsense: the
    requester gets errors, never a hang or a crash."""
    url = nats_server.url
    ghost = name_token("ghost")
    answers = [
        ({"Noex-Status": "error"}, cluster.Codec().encode(42)),
        ({"Noex-Status": "wrong-node"}, b""),
        ({"Noex-Status": "nonsense"}, b""),
        (None, b""),
        ({"Noex-Status": "ok"}, b"garbage"),
    ]

    async def answer(sub: nats.Subscription) -> None:
        for headers, data in answers:
            msg = await sub.receive()
            await msg.respond(data, headers=headers)

    with trio.fail_after(LIMIT):
        async with (
            cluster.join(config(url, "a")) as a,
            nats.connect(url) as hostile,
            trio.open_nursery() as nursery,
        ):
            await hostile.publish(f"noex.default.node.{ghost}.hb", encode_control("hello", 1))
            await wait_members(a, "ghost")
            with pytest.raises(NoConnectionError, match=r"\(no responders\)$"):
                await a.request("ghost", "x")
            async with hostile.subscribe(f"noex.default.node.{ghost}.rpc.>") as sub:
                await hostile.flush()
                nursery.start_soon(answer, sub)
                with pytest.raises(CodecError, match=r"answered an error that is not an exc"):
                    await a.request("ghost", "x")
                with pytest.raises(NoConnectionError, match=r"\(restarted\)$"):
                    await a.request("ghost", "x")
                with pytest.raises(CodecError, match=r"without a valid status \('nonsense'\)$"):
                    await a.request("ghost", "x")
                with pytest.raises(CodecError, match=r"without a valid status \(None\)$"):
                    await a.request("ghost", "x")
                with pytest.raises(CodecError, match=r"^not a message of the noex codec"):
                    await a.request("ghost", "x")
            down = await next_event_of(a, NodeDown)
            assert down == NodeDown(cluster.NodeId("ghost", 1), "timeout")


async def next_event_of(node: cluster.Node, kind: type[NodeDown]) -> NodeDown:
    async with node.watch() as events:
        return await next_event(events, kind)


async def test_claims_answered_with_garbage(nats_server: NatsServer) -> None:
    url = nats_server.url

    async def answer_garbage(sub: nats.Subscription) -> None:
        async for msg in sub:
            await msg.respond(b"garbage")

    with trio.fail_after(LIMIT):
        async with (
            nats.connect(url) as hostile,
            hostile.subscribe("noex.default.node.*.claim") as sub,
            trio.open_nursery() as nursery,
        ):
            await hostile.flush()
            nursery.start_soon(answer_garbage, sub)
            async with cluster.join(config(url, "a")) as a:
                assert a.statistics().garbage_received == 1
            nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------- failure and the body


async def test_failure_wins_over_what_the_body_raised(nats_server: NatsServer) -> None:
    """When the node fails, its block raises the failure, with what the body raised while
    it was cancelled as the context."""
    url = nats_server.url

    async def take_over(node: cluster.Node, other: nats.Connection) -> None:
        subject = f"noex.default.node.{name_token(node.name)}.hb"
        await other.publish(subject, encode_control("hb", node.id.incarnation + 1))

    async def raises_when_cancelled() -> None:
        try:
            await trio.sleep_forever()
        finally:
            raise ValueError("while cancelled")

    async def body_with_a_nursery(other: nats.Connection) -> None:
        async with cluster.join(config(url, "a")) as a, trio.open_nursery() as nursery:
            nursery.start_soon(raises_when_cancelled)
            await take_over(a, other)
            await trio.sleep_forever()

    async def body_raising(other: nats.Connection) -> None:
        async with cluster.join(config(url, "b")) as b:
            await take_over(b, other)
            await raises_when_cancelled()

    with trio.fail_after(LIMIT):
        async with nats.connect(url) as other:
            with pytest.raises(NodeNameTakenError) as info:
                await body_with_a_nursery(other)
            context = info.value.__context__
            assert isinstance(context, ExceptionGroup)
            assert [str(exc) for exc in context.exceptions] == ["while cancelled"]
            with pytest.raises(NodeNameTakenError) as info:
                await body_raising(other)
            assert repr(info.value.__context__) == "ValueError('while cancelled')"


async def test_request_is_a_checkpoint_on_every_path(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with cluster.join(config(nats_server.url, "a")) as a:
            a.serve("echo", lambda request: request.payload)
            with trio.testing.assert_checkpoints():
                assert await a.request("a", "echo", 1) == 1
            with trio.testing.assert_checkpoints(), pytest.raises(NoConnectionError):
                await a.request("nobody", "echo")
            with trio.testing.assert_checkpoints(), pytest.raises(ValueError, match="suffix"):
                await a.request("a", "bad suffix")
            with trio.CancelScope() as scope:
                scope.cancel()
                await a.request("a", "echo")
            assert scope.cancelled_caught


async def test_nats_permissions_keep_a_node_from_speaking_for_another() -> None:
    """The per-node permissions of the guide: each node works, and a node's user cannot
    forge another node's heartbeats (the server refuses the publish)."""

    def user(name: str) -> str:
        token = name_token(name)
        publish = [f"noex.default.node.{token}.>", "noex.default.node.*.rpc.>", "_INBOX.>"]
        subscribe = [
            "noex.default.node.*.hb",
            "noex.default.node.*.claim",
            f"noex.default.node.{token}.rpc.>",
            "_INBOX.>",
        ]
        return (
            f"{{ user: {name}, password: pw, permissions: "
            f"{{ publish: {publish!r}, subscribe: {subscribe!r} }} }}"
        ).replace("'", '"')

    server_config = f"authorization {{ users: [ {user('a')}, {user('b')} ] }}"
    with trio.fail_after(LIMIT):
        async with open_nats_server(server_config) as server:
            url = server.url
            async with (
                cluster.join(config(url, "a", user="a", password="pw")) as a,
                cluster.join(config(url, "b", user="b", password="pw")) as b,
                nats.connect(url, user="a", password="pw") as as_a,
                as_a.events() as a_events,
            ):
                await wait_members(a, "b")
                a.serve("echo", lambda request: request.payload)
                b.serve("echo", lambda request: request.payload)
                assert await a.request("b", "echo", "hi") == "hi"
                forged = f"noex.default.node.{name_token('b')}.hb"
                await as_a.publish(forged, encode_control("hb", b.id.incarnation + 1))
                async for event in a_events:
                    if event.kind == "server_error":
                        assert "Permissions Violation" in str(event.error)
                        break
                assert await b.request("a", "echo", "still") == "still"
                assert b.status == "up"
                assert a.members() == {b.id}  # no "newer b" reached a
