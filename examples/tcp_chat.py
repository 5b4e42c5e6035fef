"""A TCP chat server: processes that own Trio tasks (docs/guides/tasks-and-io.md).

- `ChatServer` owns ``trio.serve_tcp`` in its own nursery (``owns_tasks = True``): the listener
  lives exactly as long as the process, and stops with it.
- Each connection is a `Session` process that owns its stream: a reader task turns lines into
  calls to the session (back pressure: the next line is read once the last one was handled),
  the session writes to the stream from its handlers, and closes it in ``terminate``.
- Sessions talk through the EventBus: each subscribes *itself* to ``chat.**`` and gets the
  room's messages in ``handle_info``, in publish order.

Run it with ``python -m examples.tcp_chat`` and connect with ``nc 127.0.0.1 4040``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

import attrs
import trio

from noex_trio import (
    BusEvent,
    EventBus,
    GenServer,
    NoReply,
    Stop,
    current_runtime,
    open_runtime,
)


# --8<-- [start:server]
class ChatServer(GenServer[int, str, None, int]):
    """Listens on a TCP port; each connection becomes a `Session` process."""

    owns_tasks = True  # give each process a nursery of its own: GenServer.nursery()

    async def init(self, port: int) -> int:
        serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
        listeners = await GenServer.nursery().start(serve, self._serve_connection, port)
        return int(listeners[0].socket.getsockname()[1])  # the port (0 picks a free one)

    def handle_call(self, msg: str, port: int) -> tuple[int, int]:
        return port, port  # "port"

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        # serve_tcp closes the stream when this returns: wait for the session to end, and if
        # the server stops first (this task is cancelled), stop the session before that.
        session = await GenServer.start(Session, stream)
        try:
            await GenServer.wait_exit(session)
        finally:
            with trio.CancelScope(shield=True):
                await GenServer.stop(session, "shutdown")


# --8<-- [end:server]


# --8<-- [start:session]
@attrs.define
class Chatter:
    stream: trio.SocketStream
    nick: str | None = None


class Session(GenServer[Chatter, str, None, None]):
    """One connection: the first line is the nick, then every line goes to the room."""

    owns_tasks = True

    async def init(self, stream: trio.SocketStream) -> Chatter:
        GenServer.nursery().start_soon(self._read_lines, GenServer.self(), stream)
        await EventBus.subscribe_self(current_runtime().event_bus, "chat.**")
        await stream.send_all(b"welcome! your nick?\n")
        return Chatter(stream)

    async def _read_lines(self, me: Any, stream: trio.SocketStream) -> None:
        # A task of the process: it may call the process itself.
        buffer = b""
        async for chunk in stream:
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                await GenServer.call(me, line.decode(errors="replace").strip())
        await GenServer.call(me, "/quit")  # the client closed the connection

    async def handle_call(self, line: str, state: Chatter) -> Any:
        bus = current_runtime().event_bus
        if line == "/quit":
            return Stop("normal", state, reply=None)
        if state.nick is None:
            state.nick = line or "anonymous"
            GenServer.set_label(f"session:{state.nick}")  # logs and crash reports show it
            EventBus.publish(bus, "chat.joined", state.nick)
        elif line:
            EventBus.publish(bus, "chat.said", (state.nick, line))
        return None, state

    async def handle_info(self, event: BusEvent, state: Chatter) -> NoReply[Chatter]:
        if state.nick is not None:  # not in the room before it has a nick
            if event.topic == "chat.said":
                nick, text = event.data
                if nick != state.nick:
                    await state.stream.send_all(f"<{nick}> {text}\n".encode())
            elif event.data != state.nick:
                verb = "joined" if event.topic == "chat.joined" else "left"
                await state.stream.send_all(f"* {event.data} {verb}\n".encode())
        return NoReply(state)

    async def terminate(self, reason: object, state: Chatter) -> None:
        if state.nick is not None:
            EventBus.publish(current_runtime().event_bus, "chat.left", state.nick)
        with trio.move_on_after(1):  # a client that reads nothing must not hold us up
            await state.stream.send_all(b"bye\n")
        await state.stream.aclose()


# --8<-- [end:session]


async def main(port: int = 4040) -> None:
    # --8<-- [start:main]
    async with open_runtime():
        server = await GenServer.start(ChatServer, port, name="chat")
        print(f"chat server on 127.0.0.1:{await server.call('port')}")
        await trio.sleep_forever()  # Ctrl-C: sessions say bye, the listener closes
    # --8<-- [end:main]


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a clean stop, no traceback
        trio.run(main)
