"""Protocol paths a real server does not take on demand, against a scripted fake server:
malformed handshakes, server PINGs, fatal errors, garbage, lame duck mode, cluster updates."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import nats
from noex_trio.nats import Connection
from tests.nats_support import (
    LIMIT,
    fake_servers,
    handshake,
    hold,
    info_line,
    next_event,
    read_until,
    wait_status,
)

FAST: dict[str, Any] = {"reconnect_delay": 0.01, "reconnect_max_delay": 0.05, "randomize": False}


async def connect_error(url: str, **kwargs: object) -> nats.ConnectError:
    with pytest.raises(nats.ConnectError) as info:
        async with nats.connect(url, **kwargs):  # type: ignore[arg-type]
            pass  # pragma: no cover
    return info.value


async def test_malformed_handshakes() -> None:
    async def not_info(stream: trio.SocketStream, buffer: bytearray) -> None:
        await stream.send_all(b"PING\r\n")
        await hold(stream, buffer)

    async def no_headers(stream: trio.SocketStream, buffer: bytearray) -> None:
        await stream.send_all(info_line(headers=False))
        await hold(stream, buffer)

    async def silent(stream: trio.SocketStream, buffer: bytearray) -> None:
        await hold(stream, buffer)

    async def hang_up(stream: trio.SocketStream, buffer: bytearray) -> None:
        await stream.send_all(info_line())
        await read_until(stream, b"PING\r\n", buffer)

    async def refuse(stream: trio.SocketStream, buffer: bytearray) -> None:
        await stream.send_all(info_line())
        await read_until(stream, b"PING\r\n", buffer)
        await stream.send_all(b"-ERR 'Maximum Connections Exceeded'\r\n")

    async def early_bytes(stream: trio.SocketStream, buffer: bytearray) -> None:
        await stream.send_all(info_line(tls_required=True) + b"PING\r\n")
        await hold(stream, buffer)

    with trio.fail_after(LIMIT):
        async with fake_servers() as serve_:
            error = await connect_error(await serve_(not_info))
            assert error.detail == "NATS protocol error: expected INFO first, got Ping()"
            error = await connect_error(await serve_(no_headers))
            assert error.detail == "the server does not support headers (nats-server < 2.2)"
            error = await connect_error(await serve_(silent), connect_timeout=0.1)
            assert error.detail == "timed out after 0.1 s"
            error = await connect_error(await serve_(hang_up))
            assert error.detail == (
                f"lost the connection to {error.servers[0]}: the server closed the connection"
            )
            error = await connect_error(await serve_(refuse))
            assert not isinstance(error, nats.AuthorizationError)
            assert error.detail == "NATS server error: Maximum Connections Exceeded"
            error = await connect_error(await serve_(early_bytes))
            assert error.detail == "NATS protocol error: data after INFO, before the TLS handshake"
            url = await serve_(silent)
            with trio.move_on_after(0.05) as scope:  # a cancelled connect leaves nothing open
                async with nats.connect(url):
                    pass  # pragma: no cover
            assert scope.cancelled_caught


async def test_handshake_details() -> None:
    """INFO split in two reads, a server PING and a second INFO before the PONG, an nkey
    without nonce, and a PING right after the PONG."""
    connects: list[dict[str, object]] = []
    answered = trio.Event()

    async def chatty(stream: trio.SocketStream, buffer: bytearray) -> None:
        line = info_line(connect_urls="not a list")
        await stream.send_all(line[:10])
        await trio.testing.wait_all_tasks_blocked()
        await stream.send_all(line[10:])
        connect = await read_until(stream, b"PING\r\n", buffer)
        connects.append(json.loads(connect[len(b"CONNECT ") : connect.index(b"\r\n")]))
        urls = ["127.0.0.1:1", "[bad", "x:notaport"]
        second = info_line(server_id="SECOND", connect_urls=urls)
        await stream.send_all(b"PING\r\n+OK\r\n" + second)
        await read_until(stream, b"PONG\r\n", buffer)
        await stream.send_all(b"PONG\r\nPING\r\n")
        await read_until(stream, b"PONG\r\n", buffer)
        answered.set()
        await hold(stream, buffer)

    seed = nats.create_user_seed()
    with trio.fail_after(LIMIT):
        async with fake_servers() as serve_:
            url = await serve_(chatty)
            async with nats.connect(url, nkey_seed=seed, name="n", **FAST) as nc:
                assert nc.server_info["server_id"] == "SECOND"
                await answered.wait()
                assert nc.statistics().servers == (url, "nats://127.0.0.1:1")
    (connect,) = connects
    assert connect["nkey"] == nats.nkey_public_key(seed)
    assert "sig" not in connect
    assert connect["name"] == "n"
    assert connect["headers"] is True
    assert connect["no_responders"] is True
    assert connect["verbose"] is False


async def test_fatal_errors_and_garbage_reconnect() -> None:
    async def fatal(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await stream.send_all(b"-ERR 'Stale Connection'\r\n-ERR 'Stale Connection'\r\n")
        await hold(stream, buffer)

    async def garbage(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await read_until(stream, b"PING\r\n", buffer)  # garbage only once connected
        await stream.send_all(b"NONSENSE\r\n")
        await hold(stream, buffer)

    async def fine(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await hold(stream, buffer)

    with trio.fail_after(LIMIT):
        async with fake_servers() as serve_:
            url = await serve_(fatal, garbage, fine)
            async with nats.connect(url, **FAST) as nc, nc.events() as events:
                first = await next_event(events, "disconnected")
                assert first.error == nats.ServerError("Stale Connection", True) or (
                    isinstance(first.error, nats.ServerError) and first.error.fatal
                )
                await next_event(events, "reconnected")
                await nc.flush()  # answered after the next reconnection
                second = await next_event(events, "disconnected")
                assert isinstance(second.error, nats.ProtocolError)
                await next_event(events, "reconnected")
                assert nc.statistics().reconnects == 2
                assert nc.statistics().server_errors == 2


async def test_lame_duck_moves_to_another_server() -> None:
    other_connected = trio.Event()

    async def other(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        other_connected.set()
        await hold(stream, buffer)

    with trio.fail_after(LIMIT):
        async with fake_servers() as serve_:
            other_url = await serve_(other)
            address = other_url.removeprefix("nats://")

            async def lame(stream: trio.SocketStream, buffer: bytearray) -> None:
                await handshake(stream, buffer)
                await stream.send_all(info_line(ldm=True, connect_urls=[address]))
                await hold(stream, buffer)

            url = await serve_(lame)
            async with nats.connect(url, **FAST) as nc, nc.events() as events:
                assert (await next_event(events, "lame_duck")).server == url
                disconnected = await next_event(events, "disconnected")
                assert isinstance(disconnected.error, nats.ConnectionLostError)
                assert disconnected.error.detail == "the server entered lame duck mode"
                assert (await next_event(events, "reconnected")).server == other_url
            assert other_connected.is_set()


async def test_lame_duck_alone_stays() -> None:
    async def lame(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await stream.send_all(info_line(ldm=True))
        await hold(stream, buffer)

    with trio.fail_after(LIMIT):
        async with (
            fake_servers() as serve_,
            nats.connect(await serve_(lame), **FAST) as nc,
            nc.events() as events,
        ):
            await next_event(events, "lame_duck")
            await nc.flush()
            assert nc.status == "connected"


async def test_stray_messages_and_pongs_are_ignored() -> None:
    async def stray(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await read_until(stream, b"PUB go 0\r\n\r\n", buffer)
        await read_until(stream, b"\r\n", buffer)  # SUB <inbox>.* 1
        reply = (await read_until(stream, b"\r\n", buffer)).split()[2]  # PUB ask <reply> 1
        await read_until(stream, b"\r\n", buffer)  # its payload
        await stream.send_all(
            b"+OK\r\n"
            b"PONG\r\n"  # nobody waits for it
            b"MSG nowhere 99 1\r\nx\r\n"  # unknown sid
            + b"MSG %s 1 3\r\nnot\r\n" % (reply[:-1] + b"9")  # unknown token
            + b"MSG %s 1 3\r\nyes\r\n" % reply
        )
        await hold(stream, buffer)

    with trio.fail_after(LIMIT):
        async with fake_servers() as serve_, nats.connect(await serve_(stray), **FAST) as nc:
            await nc.publish("go")
            assert (await nc.request("ask", b"?")).data == b"yes"
            assert nc.statistics().in_msgs == 3


async def test_keepalive_pongs_and_close_with_pings_outstanding() -> None:
    pinged = trio.Event()

    async def answers_once(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await read_until(stream, b"PING\r\n", buffer)  # a keepalive
        await stream.send_all(b"PONG\r\n")
        await read_until(stream, b"PING\r\n", buffer)  # the next one: never answered
        pinged.set()
        await hold(stream, bytearray())

    with trio.fail_after(LIMIT):
        async with fake_servers() as serve_:
            url = await serve_(answers_once)
            async with nats.connect(url, ping_interval=0.01, max_outstanding_pings=1000) as nc:
                await pinged.wait()
                assert nc.statistics().pings_outstanding >= 1


async def test_no_keepalive(nats_server: object) -> None:
    async def fine(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await hold(stream, buffer)

    with trio.fail_after(LIMIT):
        async with (
            fake_servers() as serve_,
            nats.connect(await serve_(fine), ping_interval=float("inf")) as nc,
        ):
            await nc.flush()


async def test_flush_fails_when_the_connection_gives_up() -> None:
    async def once(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await read_until(stream, b"PING\r\n", buffer)  # the flush: close instead of PONG

    async def refuse(stream: trio.SocketStream, buffer: bytearray) -> None:
        pass

    with trio.fail_after(LIMIT):
        async with fake_servers() as serve_:
            url = await serve_(once, refuse)
            async with nats.connect(url, max_reconnect_attempts=2, **FAST) as nc:
                with pytest.raises(nats.ConnectionClosedError, match="gave up reconnecting"):
                    await nc.flush()


async def test_an_internal_error_closes_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fine(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await stream.send_all(b"PING\r\n")
        await hold(stream, buffer)

    def broken(self: Connection, op: object) -> None:
        raise RuntimeError("bug")

    with trio.fail_after(LIMIT):
        async with fake_servers() as serve_:
            url = await serve_(fine)
            monkeypatch.setattr(Connection, "_handle", broken)
            async with nats.connect(url) as nc:
                await wait_status(nc, "closed")
                with pytest.raises(
                    nats.ConnectionClosedError, match=r"internal error: .*RuntimeError\('bug'\)"
                ) as info:
                    await nc.publish("x")
                assert info.value.__cause__ is not None


async def test_a_failed_write_is_a_lost_connection() -> None:
    async def fine(stream: trio.SocketStream, buffer: bytearray) -> None:
        await handshake(stream, buffer)
        await hold(stream, buffer)

    class Broken(trio.abc.SendStream):
        async def send_all(self, data: bytes | bytearray | memoryview) -> None:
            raise trio.BrokenResourceError("pipe")

        async def wait_send_all_might_not_block(self) -> None:
            raise NotImplementedError  # pragma: no cover

        async def aclose(self) -> None:
            raise NotImplementedError  # pragma: no cover

    with trio.fail_after(LIMIT):
        async with fake_servers() as serve_, nats.connect(await serve_(fine), **FAST) as nc:
            nc._outbound += b"PING\r\n"
            nc._serve_scope = trio.CancelScope()
            await nc._write_loop(Broken())  # type: ignore[arg-type]
            assert isinstance(nc._loss, nats.ConnectionLostError)
            assert nc._loss.detail == "write failed: pipe"
