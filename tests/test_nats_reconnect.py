"""Reconnection against real nats-servers: a killed and restarted server, a frozen one (stale
connection), failover in a cluster of two, giving up, and what publishes do meanwhile."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import nats
from noex_trio.nats.testing import NatsServer, open_nats_server
from tests.nats_support import LIMIT, next_event, wait_status

FAST: dict[str, Any] = {
    "reconnect_delay": 0.01,
    "reconnect_max_delay": 0.05,
    "connect_timeout": 1.0,
}


async def test_restart_restores_subscriptions_and_sends_buffered_publishes(
    nats_server: NatsServer,
) -> None:
    with trio.fail_after(LIMIT):
        async with (
            nats.connect(nats_server.url, **FAST) as nc,
            nc.events() as events,
            nc.subscribe("keep.*") as sub,
            nc.subscribe("queued", queue="q") as queued,
        ):
            await nc.publish("keep.before", b"1")
            assert (await sub.receive()).data == b"1"
            await nats_server.kill()
            disconnected = await next_event(events, "disconnected")
            assert isinstance(disconnected.error, nats.ConnectionLostError)
            assert disconnected.server == nats_server.url
            assert nc.status == "reconnecting"
            assert nc.statistics().server is None
            await nc.publish("keep.during", b"2")  # buffered
            assert nc.statistics().pending_bytes > 0
            await nats_server.start()
            assert (await next_event(events, "reconnected")).server == nats_server.url
            assert nc.statistics().status == "connected"
            assert (await sub.receive()).data == b"2"
            await nc.publish("keep.after", b"3")
            await nc.publish("queued", b"4")
            assert (await sub.receive()).data == b"3"
            assert (await queued.receive()).data == b"4"
            assert nc.statistics().reconnects == 1


async def test_flush_and_requests_wait_for_the_reconnection(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url, **FAST) as nc, nc.subscribe("svc") as sub:
            await nats_server.kill()
            await wait_status(nc, "reconnecting")
            done = trio.Event()

            async def flush() -> None:
                await nc.flush()
                done.set()

            async def answer() -> None:
                msg = await sub.receive()
                await msg.respond(b"late but fine")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(flush)
                nursery.start_soon(answer)
                await trio.testing.wait_all_tasks_blocked()
                assert not done.is_set()
                await nats_server.start()
                reply = await nc.request("svc", b"?", timeout=5)
                assert reply.data == b"late but fine"
            assert done.is_set()


async def test_resubscribe_keeps_the_max_msgs_count(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with (
            nats.connect(nats_server.url, **FAST) as nc,
            nc.subscribe("n", max_msgs=3) as sub,
        ):
            await nc.publish("n", b"1")
            assert (await sub.receive()).data == b"1"
            await nats_server.restart()
            await wait_status(nc, "connected")
            for n in range(2, 6):
                await nc.publish("n", b"%d" % n)
            assert [m.data async for m in sub] == [b"2", b"3"]


async def test_pending_buffer_is_bounded_while_reconnecting(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url, pending_size=100, **FAST) as nc:
            await nats_server.kill()
            await wait_status(nc, "reconnecting")
            await nc.publish("a", b"x" * 50)
            with pytest.raises(
                nats.OutboundBufferFullError,
                match=r"^the outbound buffer is full "
                r"\(62 bytes queued, limit 100\)$",
            ):
                await nc.publish("a", b"x" * 50)
        await nats_server.start()
        async with nats.connect(nats_server.url, pending_size=0, **FAST) as nc:
            await nc.publish("a", b"connected: fine")
            await nats_server.kill()
            await wait_status(nc, "reconnecting")
            with pytest.raises(nats.OutboundBufferFullError):
                await nc.publish("a", b"")
            await nats_server.start()  # for the fixture's own teardown


async def test_publish_waits_for_room_while_connected(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url, pending_size=10) as nc, nc.subscribe("p") as sub:
            async with trio.open_nursery() as nursery:
                for n in range(20):
                    nursery.start_soon(nc.publish, "p", b"%02d" % n)
            received = sorted([(await sub.receive()).data for _ in range(20)])
            assert received == [b"%02d" % n for n in range(20)]


async def test_frozen_server_is_detected_by_pings(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with (
            nats.connect(
                nats_server.url, ping_interval=0.05, max_outstanding_pings=2, **FAST
            ) as nc,
            nc.events() as events,
            nc.subscribe("alive") as sub,
        ):
            await nats_server.freeze()
            event = await next_event(events, "disconnected")
            assert isinstance(event.error, nats.StaleConnectionError)
            assert event.error.pings == 2
            nats_server.thaw()
            await next_event(events, "reconnected")
            await nc.publish("alive", b"yes")
            assert (await sub.receive()).data == b"yes"
            assert nc.statistics().pings_outstanding <= 2


async def test_flush_timeout_on_a_frozen_server(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url) as nc:
            await nats_server.freeze()
            try:
                with pytest.raises(nats.FlushTimeoutError, match=r"^flush timed out after 0.1 s$"):
                    await nc.flush(timeout=0.1)
            finally:
                nats_server.thaw()
            await nc.flush()  # the late PONG went to the timed-out flush: this one has its own


async def test_cluster_failover_uses_connect_urls() -> None:
    with trio.fail_after(LIMIT):
        async with (
            open_nats_server(cluster="c") as first,
            open_nats_server(cluster="c", routes=[first.route_url]) as second,
        ):
            await first.wait_for_log("Route connection created")
            await second.wait_for_log("Route connection created")
            async with (
                nats.connect(first.url, **FAST) as nc,
                nc.events() as events,
                nc.subscribe("fail.over") as sub,
            ):
                await nc.flush()
                assert second.url in nc.statistics().servers
                await first.kill()
                assert (await next_event(events, "reconnected")).server == second.url
                await nc.flush()  # the subscription is back, on the second server
                async with nats.connect(second.url) as other:
                    await other.publish("fail.over", b"hi")
                    assert (await sub.receive()).data == b"hi"


async def test_giving_up_closes_with_an_error(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with (
            nats.connect(nats_server.url, max_reconnect_attempts=2, **FAST) as nc,
            nc.events() as events,
            nc.subscribe("x") as sub,
        ):
            await nats_server.kill()
            closed = await next_event(events, "closed")
            assert isinstance(closed.error, nats.ConnectionClosedError)
            assert closed.error.detail.startswith("gave up reconnecting: could not connect")
            assert isinstance(closed.error.__cause__, nats.ConnectError)
            with pytest.raises(nats.ConnectionClosedError, match=r"gave up reconnecting") as info:
                await sub.receive()
            assert isinstance(info.value.__cause__, nats.ConnectError)
            with pytest.raises(nats.ConnectionClosedError, match=r"gave up reconnecting"):
                await nc.publish("x", b"")
            assert nc.status == "closed"
        await nats_server.start()


async def test_no_reconnect(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url, allow_reconnect=False) as nc:
            await nats_server.kill()
            await wait_status(nc, "closed")
            with pytest.raises(
                nats.ConnectionClosedError,
                match=r"^the NATS connection is closed: connection lost \(lost the connection to",
            ):
                await nc.flush()
        await nats_server.start()


async def test_zero_reconnect_attempts(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url, max_reconnect_attempts=0) as nc:
            await nats_server.kill()
            await wait_status(nc, "closed")
            with pytest.raises(nats.ConnectionClosedError, match=r"no reconnect attempt allowed"):
                await nc.publish("x")
        await nats_server.start()


async def test_close_while_reconnecting(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        async with nats.connect(nats_server.url, reconnect_delay=1.0) as nc:
            await nats_server.kill()
            await wait_status(nc, "reconnecting")
            await nc.close()
            assert nc.status == "closed"
        await nats_server.start()
