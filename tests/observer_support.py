"""Helpers for the observer's tests: snapshot data in the contract's JSON shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import trio


def node(
    pid: int,
    label: str | None = None,
    *,
    length: int = 0,
    capacity: int | None = None,
    kind: str = "worker",
    behaviour: str = "Worker",
    messages: tuple[int, int, int] = (0, 0, 0),
    restarts: int = 0,
    serving: str | None = None,
    serving_since: float | None = None,
    supervisor: dict[str, Any] | None = None,
    children: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One NODE of ``rt.snapshot().to_dict()``'s tree."""
    calls, casts, infos = messages
    return {
        "id": pid,
        "label": label if label is not None else f"{behaviour.lower()}#{pid}",
        "kind": "supervisor" if supervisor is not None else kind,
        "behaviour": "Supervisor" if supervisor is not None else behaviour,
        "status": "running",
        "mailbox": {"length": length, "capacity": capacity},
        "messages": {"calls": calls, "casts": casts, "infos": infos},
        "started_at": 0.0,
        "uptime": 1.0,
        "restarts": restarts,
        "serving": serving,
        "serving_since": serving_since,
        "tasks": 0,
        "names": [],
        "supervisor": supervisor,
        "children": children or [],
    }


def supervisor(
    *,
    restarts_total: int = 0,
    restarts_in_window: int = 0,
    max_restarts: int = 3,
    max_seconds: float = 5.0,
) -> dict[str, Any]:
    """The ``supervisor`` part of a supervisor's NODE."""
    return {
        "strategy": "one_for_one",
        "children_running": 0,
        "children_not_running": 0,
        "restarts_in_window": restarts_in_window,
        "restarts_total": restarts_total,
        "max_restarts": max_restarts,
        "max_seconds": max_seconds,
    }


def snapshot(
    time: float,
    tree: list[dict[str, Any]],
    *,
    waits: list[dict[str, Any]] | None = None,
    cycles: list[list[int]] | None = None,
    crashes: int = 0,
    restarts: int = 0,
) -> dict[str, Any]:
    """A whole ``rt.snapshot().to_dict()``."""
    return {
        "runtime": {
            "name": "test",
            "time": time,
            "statistics": {
                "processes": 0,
                "registered_names": 0,
                "dead_letters": 0,
                "crashes": crashes,
                "restarts": restarts,
            },
        },
        "tree": tree,
        "waits": waits or [],
        "cycles": cycles or [],
    }


def wait(caller: int, target: int, since: float, waited: float) -> dict[str, Any]:
    """One entry of a snapshot's ``waits``."""
    return {
        "caller": caller,
        "target": target,
        "message": "'get'",
        "since": since,
        "waited": waited,
    }


class Frame(NamedTuple):
    """One Server-Sent Events frame."""

    event: str
    data: Any
    id: int | None


class EventStream:
    """The frames of a ``GET /events`` response (see `open_events`).

    A plain HTTP/1.0 client on a Trio socket: the server answers without chunked encoding and
    the body is the event stream itself, until the server closes.
    """

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = b""
        self.status = 0
        self.headers: dict[str, str] = {}

    async def _line(self) -> str | None:
        while b"\n" not in self._buffer:
            data = await self._stream.receive_some()
            if not data:
                return None
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode()

    async def read_head(self) -> None:
        status = await self._line()
        assert status is not None
        self.status = int(status.split()[1])
        while line := await self._line():
            key, _, value = line.partition(":")
            self.headers[key.lower()] = value.strip()

    async def next(self) -> Frame | None:
        """The next frame; None once the stream ended."""
        fields: dict[str, str] = {}
        while (line := await self._line()) is not None:
            if line:
                key, _, value = line.partition(": ")
                fields[key] = value
            elif "event" in fields:
                seq = fields.get("id")
                return Frame(fields["event"], json.loads(fields["data"]), int(seq) if seq else None)
            else:
                fields = {}
        return None

    async def next_of(self, event: str) -> Frame:
        """The next frame of type `event` (the others are skipped)."""
        while (frame := await self.next()) is not None:
            if frame.event == event:
                return frame
        raise AssertionError(f"the stream ended before a {event!r} frame")

    async def rest(self) -> list[Frame]:
        """Every frame until the stream ends."""
        frames = []
        while (frame := await self.next()) is not None:
            frames.append(frame)
        return frames


@asynccontextmanager
async def open_events(url: str, **headers: str) -> AsyncIterator[EventStream]:
    """``GET /events`` of the endpoint at `url` (``http://host:port/``), as frames."""
    address = url.removeprefix("http://").rstrip("/")
    host, _, port = address.rpartition(":")
    lines = ["GET /events HTTP/1.0", f"Host: {address}"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    async with await trio.open_tcp_stream(host.strip("[]"), int(port)) as stream:
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        events = EventStream(stream)
        await events.read_head()
        yield events


def labels(tree: list[dict[str, Any]]) -> list[str]:
    """Every label of a snapshot tree, parents first."""
    return [label for node in tree for label in [node["label"], *labels(node["children"])]]
