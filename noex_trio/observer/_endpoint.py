"""Serving the observer over HTTP: `open_web_endpoint` and `web_child_spec`.

The app (`_asgi.ObserverApp`) runs on hypercorn's Trio worker inside the program's own Trio
run, next to the runtime it shows. Nothing listens unless the program opens an endpoint, and
the default address is the loopback interface. hypercorn is imported only here, when an
endpoint is opened: ``import noex_trio`` (and ``import noex_trio.observer``) never import it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Final, Never, final

import attrs
import trio

from .. import _checks as checks
from .._child_spec import ChildSpec
from .._gen_server import GenServer
from .._handles import NoPublicConstructor
from .._refs import GenServerRef
from .._runtime import Runtime, current_runtime
from ._alerts import AlertRules
from ._asgi import ObserverApp
from ._call_timings import CallTimings
from ._feed import Feed
from ._metrics import MessageTally
from ._nursery import open_nursery

logger: Final = logging.getLogger("noex_trio.observer")

#: Seconds the endpoint gives open requests to finish when it closes, before cutting them.
GRACE: Final = 1.0


@attrs.frozen(kw_only=True)
class WebEndpointStatistics:
    """What an endpoint did so far.

    Attributes:
        clients: live streams (``GET /events``) connected now.
        events: lifecycle events streamed (or kept for the timeline) so far.
        dropped: events a slow client missed (its queue was full).
        ticks: snapshots sent to the live streams.
        snapshot_seconds: how long the last snapshot for the streams took to build (None
            before the first).
    """

    clients: int
    events: int
    dropped: int
    ticks: int
    snapshot_seconds: float | None


@final
class WebEndpoint(metaclass=NoPublicConstructor):
    """An open web endpoint (`open_web_endpoint`): where it listens, what it did.

    Attributes:
        url: the dashboard's address, e.g. ``http://127.0.0.1:8321/``.
        host: the address it listens on.
        port: the port it listens on (the one the system chose, for ``port=0``).
    """

    def __init__(self, url: str, host: str, port: int, feed: Feed) -> None:
        self.url = url
        self.host = host
        self.port = port
        self._feed = feed

    def __repr__(self) -> str:
        return f"<WebEndpoint {self.url}>"

    def statistics(self) -> WebEndpointStatistics:
        """Clients connected now, events and snapshots streamed so far."""
        stats = self._feed.statistics()
        return WebEndpointStatistics(
            clients=stats.clients,
            events=stats.events,
            dropped=stats.dropped,
            ticks=stats.ticks,
            snapshot_seconds=stats.snapshot_seconds,
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@attrs.frozen
class _Options:
    """The serving options, checked."""

    host: str
    port: int
    interval: float
    alert_rules: AlertRules
    per_process_metrics: bool


def _check_options(
    host: object, port: object, interval: object, alert_rules: object, per_process_metrics: object
) -> _Options:
    host = checks.name(host, "host")
    port = checks.count(port, "port")
    if port > 65535:
        raise checks.value_error("port", "an int from 0 to 65535", port)
    if alert_rules is None:
        alert_rules = AlertRules()
    return _Options(
        host=host,
        port=port,
        interval=checks.seconds(interval, "interval", inf=False),
        alert_rules=checks.instance(
            alert_rules, "alert_rules", AlertRules, expected="an AlertRules or None"
        ),
        per_process_metrics=checks.boolean(per_process_metrics, "per_process_metrics"),
    )


def _import_hypercorn() -> Any:
    try:
        import hypercorn.config
        import hypercorn.trio
    except ImportError as exc:
        raise ImportError(
            "the observer's web endpoint needs hypercorn: pip install 'noex-trio[observer]'"
        ) from exc
    return hypercorn


@asynccontextmanager
async def open_web_endpoint(
    runtime: Runtime | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    interval: float = 1.0,
    alert_rules: AlertRules | None = None,
    per_process_metrics: bool = True,
) -> AsyncIterator[WebEndpoint]:
    """Serve `runtime`'s dashboard, JSON snapshot, live feed and metrics over HTTP.

    ``async with open_web_endpoint(rt) as endpoint:`` listens (on a loopback address by
    default) until the block ends; ``endpoint.url`` is the dashboard. Routes: ``/`` (the
    page), ``/snapshot.json``, ``/events`` (Server-Sent Events), ``/metrics`` (Prometheus).
    There is no authentication: keep it on a loopback address, or behind a proxy that
    authenticates.

    Args:
        runtime: the runtime to show; by default the current one.
        host: the address to listen on. A loopback address (the default) also makes the
            endpoint refuse requests whose ``Host`` header names another machine.
        port: the TCP port; 0 (the default) lets the system choose one (see
            `WebEndpoint.port`).
        interval: seconds between two snapshots sent to the live streams (while any is
            connected: with no client, no snapshot is built).
        alert_rules: the thresholds of the alerts (`AlertRules`); default thresholds if None.
        per_process_metrics: ``/metrics`` also gives series per process (mailbox length,
            messages, restarts), one set per live process; False keeps the runtime-wide ones.

    Raises:
        TypeError, ValueError: a bad argument (before anything listens).
        ImportError: hypercorn is missing (the ``observer`` extra).
        OSError: the address cannot be listened on (say, the port is taken).

    Leaving the block ends the live streams, gives requests under way `GRACE` seconds to
    finish and closes the port. Cancelling the block closes everything at once.
    """
    if runtime is None:
        runtime = current_runtime()
    rt = checks.instance(runtime, "runtime", Runtime, expected="a Runtime or None")
    options = _check_options(host, port, interval, alert_rules, per_process_metrics)
    hypercorn = _import_hypercorn()
    async with _serve(rt, options, hypercorn) as endpoint:
        yield endpoint


async def _bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host`:`port`, for hypercorn to listen on.

    Bound here rather than by hypercorn, so that a failure (a taken port, an unknown host)
    raises a plain `OSError` and leaves no socket behind.
    """
    infos = await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def _serve(rt: Runtime, options: _Options, hypercorn: Any) -> AsyncIterator[WebEndpoint]:
    host = options.host

    def snapshot() -> dict[str, Any]:
        return rt.snapshot().to_dict()

    sock = await _bind(host, options.port)
    port: int = sock.getsockname()[1]
    config = hypercorn.config.Config()
    # hypercorn takes the socket over (its listener closes it).
    config.bind = [f"fd://{sock.detach()}"]
    config.errorlog = logger
    config.accesslog = None
    config.graceful_timeout = GRACE
    config.include_server_header = False
    feed = Feed(rt, interval=options.interval, rules=options.alert_rules, snapshot=snapshot)
    tally = MessageTally(rt)
    timings = CallTimings()
    app = ObserverApp(
        feed,
        tally,
        timings if timings.attach(rt) else None,
        snapshot=snapshot,
        per_process_metrics=options.per_process_metrics,
    )
    if _is_loopback(host):
        app.allow_loopback(port)
    closing = trio.Event()
    try:
        async with open_nursery() as nursery:
            await nursery.start(
                partial(hypercorn.trio.serve, app, config, shutdown_trigger=closing.wait)
            )
            nursery.start_soon(feed.run)
            shown = f"[{host}]" if ":" in host else host
            endpoint = WebEndpoint._create(f"http://{shown}:{port}/", host, port, feed)
            try:
                yield endpoint
            finally:
                feed.close()
                closing.set()
    finally:
        feed.close()
        tally.close()
        timings.detach()


class _WebServer(GenServer[WebEndpoint, str, Never, WebEndpoint]):
    """The process of `web_child_spec`: serves in its own nursery, answers where."""

    owns_tasks = True

    async def init(self, options: _Options) -> WebEndpoint:
        endpoint: WebEndpoint = await GenServer.nursery().start(_serve_until_cancelled, options)
        logger.info("observer web endpoint at %s", endpoint.url)
        return endpoint

    def handle_call(self, msg: str, state: WebEndpoint) -> tuple[WebEndpoint, WebEndpoint]:
        return state, state


async def _serve_until_cancelled(
    options: _Options, *, task_status: trio.TaskStatus[WebEndpoint]
) -> None:
    async with _serve(current_runtime(), options, _import_hypercorn()) as endpoint:
        task_status.started(endpoint)
        await trio.sleep_forever()


def web_child_spec(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    interval: float = 1.0,
    alert_rules: AlertRules | None = None,
    per_process_metrics: bool = True,
    id: str = "observer-web",
    name: str | None = None,
) -> ChildSpec[GenServerRef[str, Never, WebEndpoint]]:
    """A `ChildSpec` of a process that serves the current runtime's web endpoint.

    ``children=[..., noex_trio.observer.web_child_spec(port=8321)]``: the child listens once
    it started (a taken port makes its start fail, as any ``init`` error), serves until its
    supervisor stops it, and is restarted like any child if serving fails. The options are
    `open_web_endpoint`'s; `id` and `name` are the child's. Its URL is logged at INFO on the
    ``noex_trio.observer`` logger, and `web_endpoint` asks it (useful with ``port=0``).

    Raises:
        TypeError, ValueError: a bad option (at once, not when the child starts).
    """
    options = _check_options(host, port, interval, alert_rules, per_process_metrics)
    return _WebServer.child_spec(options, id=id, name=name, restart="permanent")


async def web_endpoint(target: GenServerRef[str, Never, WebEndpoint] | str) -> WebEndpoint:
    """The endpoint served by a `web_child_spec` child (its ref, or its name).

    Raises:
        ServerNotRunningError: the child is not running.
    """
    return await GenServer.call(target, "endpoint")
