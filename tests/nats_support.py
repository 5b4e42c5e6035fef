"""Helpers for the NATS client tests: bounded waits and a scripted fake server for protocol
paths a real server does not take on demand."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any

import trio

from noex_trio.nats import Connection, ConnectionEvent, ConnectionEvents

#: Every test against a real server runs within this (real time): nothing hangs.
LIMIT = 10.0

INFO: dict[str, Any] = {
    "server_id": "FAKE",
    "version": "2.15.1",
    "proto": 1,
    "headers": True,
    "max_payload": 1048576,
}


def info_line(**fields: Any) -> bytes:
    return b"INFO " + json.dumps({**INFO, **fields}).encode() + b" \r\n"


async def next_event(events: ConnectionEvents, kind: str) -> ConnectionEvent:
    """The next event of `kind` (others are skipped)."""
    async for event in events:
        if event.kind == kind:
            return event
    raise AssertionError(f"no {kind!r} event before the feed ended")


async def read_until(stream: trio.SocketStream, marker: bytes, buffer: bytearray) -> bytes:
    """Read from a client until `marker` was seen; return everything up to and including it."""
    while marker not in buffer:
        data = await stream.receive_some(65536)
        if not data:
            raise EOFError
        buffer += data
    end = buffer.index(marker) + len(marker)
    head = bytes(buffer[:end])
    del buffer[:end]
    return head


Script = Callable[[trio.SocketStream, bytearray], Awaitable[None]]


async def handshake(stream: trio.SocketStream, buffer: bytearray, **info: Any) -> bytes:
    """The server side of a plain handshake; returns the CONNECT line."""
    await stream.send_all(info_line(**info))
    connect = await read_until(stream, b"PING\r\n", buffer)
    await stream.send_all(b"PONG\r\n")
    return connect


async def serve(nursery: trio.Nursery, *scripts: Script) -> str:
    """A fake server on a free loopback port: the n-th connection runs the n-th script (the
    last one for any further); returns its URL."""
    count = 0

    async def handler(stream: trio.SocketStream) -> None:
        nonlocal count
        script = scripts[min(count, len(scripts) - 1)]
        count += 1
        with suppress(EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
            await script(stream, bytearray())

    listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    return f"nats://127.0.0.1:{port}"


async def hold(stream: trio.SocketStream, buffer: bytearray) -> None:
    """Keep a client connection open, reading and ignoring it, answering PINGs."""
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        buffer += data
        while b"PING\r\n" in buffer:
            del buffer[: buffer.index(b"PING\r\n") + 6]
            await stream.send_all(b"PONG\r\n")


async def wait_status(connection: Connection, status: str) -> None:
    """Wait (through the event feed's wake-ups) until the connection's status is `status`."""
    async with connection.events() as events:
        while connection.status != status:
            await events.receive()


@asynccontextmanager
async def fake_servers() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """``async with fake_servers() as serve_: url = await serve_(script, ...)``: fake servers
    that stop when the block ends, however it ends."""
    async with trio.open_nursery() as nursery:
        try:
            yield partial(serve, nursery)
        finally:
            nursery.cancel_scope.cancel()
