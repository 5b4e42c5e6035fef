"""`examples/tcp_chat.py` over real loopback sockets: processes that own their Trio tasks.

Real I/O, so real time: every wait is bounded by `trio.fail_after` (nothing sleeps to
synchronise; each step waits for the bytes it expects).
"""

from __future__ import annotations

import functools
import signal
import subprocess
import sys

import trio

from examples.tcp_chat import ChatServer
from noex_trio import GenServer, Runtime


class Client:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def line(self) -> str:
        with trio.fail_after(10):
            while b"\n" not in self.buffer:
                chunk = await self.stream.receive_some()
                if not chunk:
                    return "<eof>"
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    async def say(self, text: str) -> None:
        await self.stream.send_all(text.encode() + b"\n")


async def connect(port: int) -> Client:
    client = Client(await trio.open_tcp_stream("127.0.0.1", port))
    assert await client.line() == "welcome! your nick?"
    return client


async def test_a_chat_over_tcp(rt: Runtime) -> None:
    server = await GenServer.start(ChatServer, 0, name="chat")
    port = await server.call("port")
    ann = await connect(port)
    await ann.say("ann")
    bob = await connect(port)
    await bob.say("bob")
    assert await ann.line() == "* bob joined"
    await ann.say("hello")
    assert await bob.line() == "<ann> hello"
    await bob.say("hi ann")
    assert await ann.line() == "<bob> hi ann"
    labels = sorted(repr(p).split()[1].split("#")[0] for p in rt.processes())
    assert labels == ["EventBus", "chat", "session:ann", "session:bob"]
    # bob leaves: his session ends, ann hears it
    await bob.say("/quit")
    assert await bob.line() == "bye"
    assert await bob.line() == "<eof>"
    assert await ann.line() == "* bob left"
    await bob.stream.aclose()
    # the server stops: the remaining session says bye and closes its stream first
    await server.stop()
    assert await ann.line() == "bye"
    assert await ann.line() == "<eof>"
    await ann.stream.aclose()


async def test_a_client_that_hangs_up(rt: Runtime) -> None:
    server = await GenServer.start(ChatServer, 0)
    port = await server.call("port")
    ann = await connect(port)
    await ann.say("ann")
    bob = await connect(port)
    await bob.say("bob")
    assert await ann.line() == "* bob joined"
    await bob.stream.aclose()  # no /quit: the reader sees the end of the stream
    assert await ann.line() == "* bob left"
    await server.stop()
    await ann.stream.aclose()


# Ctrl-C on the real program: a subprocess gets SIGINT while a client is connected and named.
# The child restores Python's SIGINT handler first: a program started in the background by a
# non-interactive shell inherits SIGINT *ignored* (POSIX), and then Ctrl-C would do nothing.
CHILD = """
import contextlib, signal, sys, trio
signal.signal(signal.SIGINT, signal.default_int_handler)
from examples.tcp_chat import main
with contextlib.suppress(KeyboardInterrupt):
    trio.run(main, 0)
print("exited", flush=True)
"""


async def test_ctrl_c_with_a_client_connected_says_bye_and_exits() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            proc = await nursery.start(
                functools.partial(
                    trio.run_process,
                    [sys.executable, "-c", CHILD],
                    stdout=subprocess.PIPE,
                    check=False,
                )
            )
            assert proc.stdout is not None
            out = Client(proc.stdout)
            banner = await out.line()  # "chat server on 127.0.0.1:PORT"
            port = int(banner.rsplit(":", 1)[1])
            ann = await connect(port)
            await ann.say("ann")
            bob = await connect(port)
            await bob.say("bob")
            assert await ann.line() == "* bob joined"
            proc.send_signal(signal.SIGINT)
            for client in (ann, bob):  # every session says bye and closes its stream
                line = await client.line()
                while line.endswith(" left"):  # the other session may leave first
                    line = await client.line()
                assert line == "bye"
                assert await client.line() == "<eof>"
                await client.stream.aclose()
            assert await out.line() == "exited"
            assert await proc.wait() == 0
