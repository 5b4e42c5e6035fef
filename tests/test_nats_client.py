"""The NATS client against a real nats-server: publish/subscribe, wildcards, queue groups,
headers, request/reply, limits, slow consumers, drain and close."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import nats
from noex_trio.nats import Headers, Msg
from noex_trio.nats.testing import NatsServer, open_nats_server
from tests.nats_support import LIMIT, next_event


async def test_publish_subscribe(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url, name="t") as nc:
            assert nc.status == "connected"
            assert nc.max_payload == 1024 * 1024
            assert nc.server_info["max_payload"] == 1024 * 1024
            assert repr(nc) == f"<noex_trio.nats.Connection {nats_server.url} connected>"
            async with nc.subscribe("greet.joe") as sub:
                assert repr(sub) == "<Subscription 'greet.joe' sid=1 active>"
                await nc.publish("greet.joe", b"hello")
                await nc.publish("greet.joe", bytearray(b"again"), reply="answer.here")
                await nc.publish("greet.joe", memoryview(b"third"))
                first, second, third = [await sub.receive() for _ in range(3)]
                assert first == Msg("greet.joe", b"hello")
                assert second == Msg("greet.joe", b"again", reply="answer.here")
                assert third.data == b"third"
                stats = sub.statistics()
                assert (stats.delivered, stats.pending_msgs, stats.dropped) == (3, 0, 0)
                assert (stats.subject, stats.queue, stats.sid, stats.state) == (
                    "greet.joe",
                    None,
                    1,
                    "active",
                )
            assert sub.statistics().state == "ended"
            counts = nc.statistics()
            assert (counts.in_msgs, counts.out_msgs, counts.in_bytes, counts.out_bytes) == (
                3,
                3,
                15,
                15,
            )
            assert counts.server == nats_server.url
            assert counts.servers == (nats_server.url,)
            assert (counts.status, counts.subscriptions, counts.reconnects) == ("connected", 0, 0)
        assert nc.statistics().status == "closed"
        assert nc.statistics().server is None


async def test_wildcards_and_overlapping_subscriptions(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with (
            nats.connect(nats_server.url) as nc,
            nc.subscribe("orders.*") as one,
            nc.subscribe("orders.>") as many,
            nc.subscribe("*") as top,
        ):
            for subject in ("orders.new", "orders.eu.new", "orders", "other.new"):
                await nc.publish(subject, subject.encode())
            await nc.flush()
            assert [m.subject for m in _drain(one)] == ["orders.new"]
            assert [m.subject for m in _drain(many)] == ["orders.new", "orders.eu.new"]
            assert [m.subject for m in _drain(top)] == ["orders"]


def _drain(sub: nats.Subscription) -> list[Msg]:
    """What a subscription holds now (after a flush, everything sent before has arrived)."""
    messages = []
    while sub.statistics().pending_msgs:
        messages.append(sub._messages.popleft())
    return messages


async def test_queue_groups_share_the_messages(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with (
            nats.connect(nats_server.url) as nc,
            nc.subscribe("work", queue="workers") as first,
            nc.subscribe("work", queue="workers") as second,
            nc.subscribe("work") as watcher,
        ):
            for n in range(40):
                await nc.publish("work", b"%d" % n)
            await nc.flush()
            shared = _drain(first) + _drain(second)
            assert sorted(int(m.data) for m in shared) == list(range(40))
            assert len(_drain(watcher)) == 40
            assert first.queue == "workers"


async def test_headers_round_trip(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc, nc.subscribe("h") as sub:
            await nc.publish(
                "h", b"body", headers={"Trace-Id": "abc", "Tag": ["a", "b"], "X-Empty": ""}
            )
            await nc.publish("h", headers=[("Only", "headers")])
            await nc.publish("h", b"no headers", headers=Headers())
            msg = await sub.receive()
            assert msg.data == b"body"
            assert msg.headers == Headers(
                [("Trace-Id", "abc"), ("Tag", "a"), ("Tag", "b"), ("X-Empty", "")]
            )
            assert msg.headers.get_all("Tag") == ["a", "b"]
            only = await sub.receive()
            assert (only.data, only.headers) == (b"", Headers({"Only": "headers"}))
            empty = await sub.receive()
            assert (empty.data, empty.headers) == (b"no headers", Headers())


async def _echo(sub: nats.Subscription) -> None:
    async for msg in sub:
        if msg.data == b"silence":
            continue
        await msg.respond(b"echo:" + msg.data, headers={"Answered-By": "echo"})


async def test_request_reply(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with (
            nats.connect(nats_server.url) as nc,
            trio.open_nursery() as nursery,
            nc.subscribe("svc.echo") as sub,
        ):
            nursery.start_soon(_echo, sub)
            await nc.flush()
            reply = await nc.request("svc.echo", b"hi", timeout=5)
            assert reply.data == b"echo:hi"
            assert reply.headers == Headers({"Answered-By": "echo"})
            assert reply.subject.startswith("_INBOX.")
            results: dict[int, bytes] = {}

            async def ask(n: int) -> None:
                results[n] = (await nc.request("svc.echo", b"%d" % n, headers={"N": str(n)})).data

            async with trio.open_nursery() as askers:
                for n in range(25):
                    askers.start_soon(ask, n)
            assert results == {n: b"echo:%d" % n for n in range(25)}
            assert nc.statistics().pending_requests == 0
            with pytest.raises(
                nats.RequestTimeoutError, match=r"^request to 'svc.echo' timed out after 0.2 s$"
            ):
                await nc.request("svc.echo", b"silence", timeout=0.2)
            assert nc.statistics().pending_requests == 0


async def test_no_responders(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc:
            with pytest.raises(
                nats.NoRespondersError, match=r"^no responders for request to 'nobody.home'$"
            ) as info:
                await nc.request("nobody.home", b"?")
            assert info.value.subject == "nobody.home"
            assert nc.statistics().pending_requests == 0


async def test_cancelled_request_leaves_nothing(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc, nc.subscribe("slow") as sub:
            with trio.move_on_after(0.05):
                await nc.request("slow", b"", timeout=math.inf)
            assert nc.statistics().pending_requests == 0
            assert (await sub.receive()).reply is not None


async def test_max_payload_is_checked_before_sending() -> None:
    with trio.fail_after(LIMIT):
        async with open_nats_server("max_payload: 1024") as server, nats.connect(server.url) as nc:
            assert nc.max_payload == 1024
            async with nc.subscribe("big") as sub:
                await nc.publish("big", b"x" * 1024)
                with pytest.raises(
                    nats.MaxPayloadError,
                    match=r"^message of 1025 bytes exceeds the server's max_payload of 1024 bytes$",
                ):
                    await nc.publish("big", b"x" * 1025)
                block = len(b"NATS/1.0\r\nK: v\r\n\r\n")
                with pytest.raises(nats.MaxPayloadError):
                    await nc.publish("big", b"x" * (1025 - block), headers={"K": "v"})
                with pytest.raises(nats.MaxPayloadError):
                    await nc.request("big", b"x" * 2000)
                await nc.publish("big", b"x" * (1024 - block), headers={"K": "v"})
                assert len((await sub.receive()).data) == 1024
                assert len((await sub.receive()).data) == 1024 - block
            assert nc.status == "connected"
            assert nc.statistics().reconnects == 0


async def test_unsubscribe_after_max_msgs(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc:
            async with nc.subscribe("count", max_msgs=2) as sub:
                for n in range(5):
                    await nc.publish("count", b"%d" % n)
                assert [m.data async for m in sub] == [b"0", b"1"]
                assert sub.statistics().max_msgs == 2
            async with nc.subscribe("later") as sub:
                await nc.publish("later", b"a")
                assert (await sub.receive()).data == b"a"
                sub.unsubscribe(max_msgs=3)  # three in all: two more
                for n in range(5):
                    await nc.publish("later", b"%d" % n)
                assert [m.data async for m in sub] == [b"0", b"1"]
                with pytest.raises(trio.EndOfChannel):
                    await sub.receive()
            async with nc.subscribe("done") as sub:
                await nc.publish("done", b"a")
                await nc.flush()
                sub.unsubscribe(max_msgs=1)  # already reached: now
                sub.unsubscribe()  # idempotent
                assert [m.data async for m in sub] == [b"a"]
            await nc.flush()
            assert nc.statistics().subscriptions == 0


async def test_slow_consumer_drops_and_counts(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc, nc.events() as events:
            async with nc.subscribe("fast", max_pending=3) as slow, nc.subscribe("fast") as other:
                for n in range(10):
                    await nc.publish("fast", b"%d" % n)
                await nc.flush()
                stats = slow.statistics()
                assert (stats.pending_msgs, stats.dropped, stats.delivered) == (3, 7, 10)
                assert len(_drain(other)) == 10  # the connection was not held up
                event = await next_event(events, "slow_consumer")
                assert isinstance(event.error, nats.SlowConsumerError)
                assert event.error.subject == "fast"
                assert event.server == nats_server.url
                assert nc.statistics().dropped_msgs == 7
                assert [m.data async for m in _until_empty(slow)] == [b"0", b"1", b"2"]
            async with nc.subscribe("bytes", max_pending_bytes=10) as small:
                for _ in range(3):
                    await nc.publish("bytes", b"12345")
                await nc.flush()
                assert (small.statistics().pending_bytes, small.statistics().dropped) == (10, 1)


async def _until_empty(sub: nats.Subscription) -> Any:
    while sub.statistics().pending_msgs:
        yield await sub.receive()


async def test_drain_delivers_what_is_queued_then_closes(nats_server: NatsServer) -> None:
    received: list[bytes] = []
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc, trio.open_nursery() as nursery:
            sub = nc.subscribe("drain.me")
            await sub.__aenter__()
            for n in range(5):
                await nc.publish("drain.me", b"%d" % n)
            await nc.flush()

            async def reader() -> None:
                received.extend([msg.data async for msg in sub])

            nursery.start_soon(reader)
            await nc.drain()
            assert nc.status == "closed"
            with pytest.raises(
                nats.ConnectionClosedError, match=r"^the NATS connection is closed$"
            ):
                await nc.publish("drain.me", b"late")
            with pytest.raises(nats.ConnectionClosedError):
                async with nc.subscribe("x"):
                    pass  # pragma: no cover
            await nc.drain()  # idempotent
    assert received == [b"0", b"1", b"2", b"3", b"4"]


async def test_drain_refuses_new_subscriptions_and_times_out(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc, nc.subscribe("held") as sub:
            await nc.publish("held", b"never read")
            await nc.flush()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(nc.drain, 0.5)
                await trio.testing.wait_all_tasks_blocked()
                assert nc.status == "draining"
                with pytest.raises(nats.ConnectionClosedError, match=r"draining"):
                    async with nc.subscribe("new"):
                        pass
                await nc.publish("held", b"still allowed")
            assert nc.statistics().status == "closed"
            assert sub.statistics().state == "ending"
            assert (await sub.receive()).data == b"never read"
            assert sub.statistics().state == "ended"


async def test_close_answers_every_waiter(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc, nc.events() as events:
            errors: list[BaseException] = []

            async def waiting_request() -> None:
                try:
                    await nc.request("silent", b"", timeout=math.inf)
                except nats.ConnectionClosedError as exc:
                    errors.append(exc)

            async with nc.subscribe("silent") as sub, trio.open_nursery() as nursery:
                nursery.start_soon(waiting_request)
                await sub.receive()
                await nc.close()
            assert len(errors) == 1
            assert [m async for m in sub] == []
            assert await next_event(events, "closed") == nats.ConnectionEvent(
                "closed", nats_server.url
            )
            with pytest.raises(trio.EndOfChannel):
                await events.receive()
            with pytest.raises(nats.ConnectionClosedError):
                await nc.flush()
            with pytest.raises(nats.ConnectionClosedError):
                await nc.request("x")
            await nc.close()  # idempotent
            async with nc.events() as late:
                assert [event async for event in late] == []


async def test_error_in_the_block_closes_at_once(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        with pytest.raises(KeyError, match="boom"):
            async with nats.connect(nats_server.url) as nc:
                raise KeyError("boom")
        assert nc.status == "closed"


async def test_operations_are_checkpoints(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc, nc.subscribe("cp") as sub:
            with trio.testing.assert_checkpoints():
                await nc.publish("cp", b"x")
            with trio.testing.assert_checkpoints():
                await nc.flush()
            with trio.testing.assert_checkpoints():
                await sub.receive()
            with trio.testing.assert_checkpoints():
                async with nc.subscribe("other"):
                    pass
        with trio.testing.assert_checkpoints():
            await nc.close()


async def test_echo_off(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with (
            nats.connect(nats_server.url, echo=False) as quiet,
            nats.connect(nats_server.url) as other,
            quiet.subscribe("e") as sub,
        ):
            await quiet.flush()
            await quiet.publish("e", b"own")
            await other.publish("e", b"other")
            assert (await sub.receive()).data == b"other"


async def test_permissions_violation_keeps_the_connection() -> None:
    config = """authorization { users = [
        {user: limited, password: pw, permissions: {publish: "ok.>", subscribe: "ok.>"}}
    ] }"""
    with trio.fail_after(LIMIT):
        async with (
            open_nats_server(config) as server,
            nats.connect(server.url, user="limited", password="pw") as nc,
            nc.events() as events,
        ):
            await nc.publish("forbidden", b"x")
            event = await next_event(events, "server_error")
            assert isinstance(event.error, nats.ServerError)
            assert not event.error.fatal
            assert "Permissions Violation" in event.error.text
            async with nc.subscribe("ok.fine") as sub:
                await nc.publish("ok.fine", b"y")
                assert (await sub.receive()).data == b"y"
            assert nc.statistics().server_errors == 1


async def test_connect_failures() -> None:
    with trio.fail_after(LIMIT):
        with pytest.raises(
            nats.ConnectError,
            match=r"^could not connect to any NATS server \(nats://127.0.0.1:1\): ",
        ) as info:
            async with nats.connect("nats://127.0.0.1:1"):
                pass  # pragma: no cover
        assert info.value.servers == ("nats://127.0.0.1:1",)
        manager = nats.connect("nats://127.0.0.1:1")
        with pytest.raises(nats.ConnectError):
            await manager.__aenter__()
        with pytest.raises(RuntimeError, match=r"already entered"):
            await manager.__aenter__()


async def test_events_feed_is_bounded(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc, nc.events(max_pending=1) as events:
            async with (
                nc.subscribe("a", max_pending=1) as a,
                nc.subscribe("b", max_pending=1) as b,
            ):
                for subject in ("a", "a", "b", "b"):
                    await nc.publish(subject)
                await nc.flush()
                assert (a.statistics().dropped, b.statistics().dropped) == (1, 1)
            assert events.dropped == 1
            event = await events.receive()
            assert isinstance(event.error, nats.SlowConsumerError)
            assert event.error.subject == "b"


async def test_bad_arguments(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc:
            with pytest.raises(ValueError, match=r"^expected subject to be a subject of non-empty"):
                await nc.publish("a.*", b"")
            with pytest.raises(
                TypeError,
                match=r"^expected payload to be bytes, a bytearray or a memoryview, got 'text'$",
            ):
                await nc.publish("a", "text")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match=r"^expected reply to be a subject"):
                await nc.publish("a", b"", reply="a b")
            with pytest.raises(TypeError, match=r"^expected headers to be a mapping"):
                await nc.publish("a", b"", headers=3)  # type: ignore[arg-type]
            with pytest.raises(
                ValueError, match=r"^expected the subjects to fit in a 4096-byte control line"
            ):
                await nc.publish("a" * 5000, b"")
            with pytest.raises(ValueError, match=r"^expected subject to be a subject"):
                nc.subscribe("a..b")
            with pytest.raises(ValueError, match=r"^expected queue to be a non-empty queue group"):
                nc.subscribe("a", queue="")
            with pytest.raises(
                ValueError, match=r"^expected max_pending to be an int >= 1, got 0$"
            ):
                nc.subscribe("a", max_pending=0)
            with pytest.raises(TypeError, match=r"^expected max_pending_bytes to be an int >= 1"):
                nc.subscribe("a", max_pending_bytes=1.5)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match=r"^expected max_msgs to be an int >= 1, got 0$"):
                nc.subscribe("a", max_msgs=0)
            with pytest.raises(ValueError, match=r"^expected the subjects to fit"):
                nc.subscribe("a" * 5000)
            with pytest.raises(
                ValueError, match=r"^expected timeout to be a number of seconds > 0"
            ):
                await nc.request("a", timeout=0)
            with pytest.raises(
                ValueError, match=r"^expected timeout to be a number of seconds > 0"
            ):
                await nc.flush(timeout=-1)
            with pytest.raises(
                ValueError, match=r"^expected timeout to be a number of seconds > 0"
            ):
                await nc.drain(timeout=-1)
            with pytest.raises(ValueError, match=r"^expected max_pending to be an int >= 1"):
                nc.events(max_pending=0)
            with pytest.raises(ValueError, match=r"^expected a message with a reply subject"):
                await Msg("a", b"").respond(b"x")
            sub = nc.subscribe("a")
            with pytest.raises(RuntimeError, match=r"is not active"):
                await sub.receive()
            async with sub:
                with pytest.raises(ValueError, match=r"^expected max_msgs to be an int >= 1"):
                    sub.unsubscribe(max_msgs=0)
            with pytest.raises(RuntimeError, match=r"already entered"):
                await sub.__aenter__()
            with pytest.raises(TypeError, match=r"has no public constructor"):
                nats.Subscription()  # type: ignore[call-arg]
            with pytest.raises(TypeError, match=r"has no public constructor"):
                nats.Connection()  # type: ignore[call-arg]
            assert nc.new_inbox().startswith("_INBOX.")
            assert nc.new_inbox() != nc.new_inbox()
            assert nc.status == "connected"


async def test_drain_with_a_subscription_that_ends_meanwhile(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc:
            sub = nc.subscribe("once", max_msgs=1)
            await sub.__aenter__()
            await nc.publish("once", b"last")
            received: list[bytes] = []

            async def reader() -> None:
                received.extend([m.data async for m in sub])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                await nc.drain()  # the message arrives during the drain's flush: the sub ends
            assert received == [b"last"]


async def test_publish_nowait_keeps_the_order_of_calls_and_refuses_without_room(
    nats_server: NatsServer,
) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url, pending_size=200) as nc:
            async with nc.subscribe("seq") as sub:
                for number in range(3):  # no await between them: still sent, in order
                    nc.publish_nowait("seq", str(number).encode(), headers={"N": "1"})
                assert [(await sub.receive()).data for _ in range(3)] == [b"0", b"1", b"2"]
                nc.publish_nowait("seq", b"x" * 300)  # a first message always fits
                with pytest.raises(nats.OutboundBufferFullError):
                    nc.publish_nowait("seq", b"y")  # the writer has not run yet
                assert (await sub.receive()).data == b"x" * 300
            assert nc.statistics().out_msgs == 4
            with pytest.raises(ValueError, match="subject"):
                nc.publish_nowait("bad subject", b"")
        with pytest.raises(nats.ConnectionClosedError):
            nc.publish_nowait("seq", b"late")
