"""The web endpoint's ASGI application: the dashboard page, JSON, the live feed, metrics.

A plain ASGI callable (no framework: five routes need none), served by hypercorn's Trio
worker (`_endpoint`):

=====================  ===============================================================
``GET /``              the dashboard (``web/index.html`` with its script and style sheet)
``GET /snapshot.json`` ``rt.snapshot().to_dict()``
``GET /events``        Server-Sent Events: lifecycle events and periodic ticks (`_feed`)
``GET /metrics``       Prometheus text format (`_metrics`)
=====================  ===============================================================

``HEAD`` works wherever ``GET`` does. The endpoint has no authentication: when it listens on
a loopback address it answers only requests whose ``Host`` header names a loopback address
(a web page the user visits cannot reach it through DNS rebinding).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Final

import trio

from ._call_timings import CallTimings
from ._feed import Feed, encode
from ._metrics import CONTENT_TYPE, MessageTally, prometheus_text
from ._nursery import open_nursery

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: The page and its files, shipped as package data (no build step, nothing from a CDN).
STATIC: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}

#: Host names that mean this machine, when the endpoint listens on a loopback address.
LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")

_SECURITY_HEADERS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    ),
]


def _load(name: str) -> bytes:
    return resources.files(__package__).joinpath("web", name).read_bytes()


class ObserverApp:
    """The ASGI app of one endpoint (see the module docstring)."""

    def __init__(
        self,
        feed: Feed,
        tally: MessageTally,
        timings: CallTimings | None,
        *,
        snapshot: Callable[[], dict[str, Any]],
        per_process_metrics: bool,
    ) -> None:
        self.feed = feed
        self.tally = tally
        self.timings = timings
        self._snapshot = snapshot
        self.per_process_metrics = per_process_metrics
        self._static = {path: (_load(name), kind) for path, (name, kind) in STATIC.items()}
        #: Accepted ``Host`` headers, lower case; None accepts any (not on a loopback address).
        self.allowed_hosts: frozenset[str] | None = None

    def allow_loopback(self, port: int) -> None:
        """Accept only the ``Host`` headers that name this machine on `port`."""
        self.allowed_hosts = frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # (a WebSocket: refused by the server when the app does not accept it)
        method = scope["method"]
        path = scope["path"]
        if not self._host_allowed(scope):
            await _respond(send, 403, b"forbidden: unexpected Host header\n")
            return
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n", extra=[(b"allow", b"GET, HEAD")])
            return
        head = method == "HEAD"
        static = self._static.get(path)
        if static is not None:
            await _respond(send, 200, static[0], static[1], head=head)
        elif path == "/snapshot.json":
            data = await trio.to_thread.run_sync(encode, self._snapshot())
            await _respond(send, 200, data.encode(), "application/json", head=head)
        elif path == "/metrics":
            await _respond(send, 200, await self._metrics(), CONTENT_TYPE, head=head)
        elif path == "/events":
            await self._events(scope, receive, send, head=head)
        else:
            await _respond(send, 404, b"not found\n")

    def _host_allowed(self, scope: Scope) -> bool:
        allowed = self.allowed_hosts
        if allowed is None:
            return True
        for key, value in scope["headers"]:
            if key == b"host":
                return bytes(value).decode("latin-1").lower() in allowed
        return False

    async def _metrics(self) -> bytes:
        started = time.perf_counter()
        snapshot = self._snapshot()
        seconds = time.perf_counter() - started
        totals = self.tally.totals(snapshot)
        latency = self.timings.figures() if self.timings is not None else None

        def render() -> bytes:
            return prometheus_text(
                snapshot,
                totals,
                latency=latency,
                per_process=self.per_process_metrics,
                snapshot_seconds=seconds,
            ).encode()

        return await trio.to_thread.run_sync(render)

    async def _events(self, scope: Scope, receive: Receive, send: Send, *, head: bool) -> None:
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"x-accel-buffering", b"no"),
            *_SECURITY_HEADERS,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        feed = self.feed
        if head or feed.closed:
            await send({"type": "http.response.body", "body": b""})
            return
        client = feed.connect(_last_event_id(scope))
        try:
            await send({"type": "http.response.body", "body": feed.hello(), "more_body": True})
            async with open_nursery() as nursery:
                nursery.start_soon(_cancel_on_disconnect, receive, nursery.cancel_scope)
                while (chunk := await client.next()) is not None:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                nursery.cancel_scope.cancel()
            await send({"type": "http.response.body", "body": b""})
        finally:
            feed.disconnect(client)


async def _cancel_on_disconnect(receive: Receive, scope: trio.CancelScope) -> None:
    """End the stream when the client goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def _last_event_id(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"last-event-id":
            try:
                return int(bytes(value).decode("latin-1"))
            except ValueError:
                return None
    return None


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    *,
    head: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *_SECURITY_HEADERS,
        *(extra or ()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
