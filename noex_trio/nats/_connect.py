"""`connect`: the entry point. ``async with connect(...) as nc`` connects, runs the
connection's tasks in a nursery of its own, and closes the connection at the end."""

from __future__ import annotations

import math
import ssl
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import trio

from ._connection import Connection
from ._options import DEFAULT_SERVER, Options, make_options


class _Connect:
    """What `connect` returns: ``async with`` connects, runs the connection's tasks, and
    closes it at the end (sending what is buffered when the block ends normally)."""

    def __init__(self, options: Options) -> None:
        self._options = options
        self._connection: Connection | None = None
        self._nursery_manager: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> Connection:
        if self._connection is not None:
            raise RuntimeError("this connect(...) was already entered; call connect() again")
        connection = self._connection = Connection._create(self._options)
        await connection._connect_first()
        manager = self._nursery_manager = trio.open_nursery()
        nursery = self._nursery = await manager.__aenter__()
        nursery.start_soon(connection._run)
        return connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, manager, nursery = self._connection, self._nursery_manager, self._nursery
        assert connection is not None
        assert manager is not None
        assert nursery is not None
        try:
            if exc is None:
                await connection.close()
        finally:
            connection._closing = True
            nursery.cancel_scope.cancel()
            await manager.__aexit__(None, None, None)


def connect(
    servers: str | Sequence[str] = DEFAULT_SERVER,
    *,
    name: str | None = None,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    nkey_seed: str | None = None,
    tls: ssl.SSLContext | None = None,
    tls_hostname: str | None = None,
    tls_first: bool = False,
    connect_timeout: float = 2.0,
    ping_interval: float = 120.0,
    max_outstanding_pings: int = 2,
    allow_reconnect: bool = True,
    max_reconnect_attempts: float = math.inf,
    reconnect_delay: float = 0.1,
    reconnect_max_delay: float = 2.0,
    reconnect_jitter: float = 0.2,
    randomize: bool = True,
    pending_size: int = 8 * 1024 * 1024,
    echo: bool = True,
    inbox_prefix: str = "_INBOX",
    close_timeout: float = 5.0,
) -> AbstractAsyncContextManager[Connection]:
    """Connect to NATS: ``async with noex_trio.nats.connect("nats://127.0.0.1:4222") as nc:``.

    Entering connects (one pass over `servers`, each within `connect_timeout`) and returns the
    `Connection`; its tasks run until the block ends. Leaving the block normally sends what is
    buffered (within `close_timeout`) and closes; leaving with an exception closes at once.

    Args:
        servers: a URL or a list (``nats://[user:password@|token@]host[:port]``, ``tls://...``,
            ``host:port``). Servers the cluster announces (INFO ``connect_urls``) are added.
        name: the connection's name, shown by the server's monitoring.
        user, password: user/password authentication (credentials in a URL take precedence).
        token: token authentication.
        nkey_seed: nkey authentication: the user seed (``SU...``); needs ``cryptography``
            (``pip install 'noex-trio[cluster]'``).
        tls: the `ssl.SSLContext` for TLS. Without it, TLS is used (with the default context)
            when the URL is ``tls://`` or the server requires it.
        tls_hostname: the name to verify the server's certificate against (default: the
            URL's host).
        tls_first: start TLS before the server's INFO (servers with ``handshake_first``).
        connect_timeout: seconds for one connection attempt (TCP, TLS and handshake).
        ping_interval: seconds between keepalive PINGs (``math.inf``: none).
        max_outstanding_pings: unanswered PINGs after which the connection is considered
            stale and dropped: a frozen server is detected within about
            ``ping_interval * (max_outstanding_pings + 1)``.
        allow_reconnect: reconnect when the connection breaks (else it closes).
        max_reconnect_attempts: passes over the server list before giving up (``math.inf``:
            never give up).
        reconnect_delay, reconnect_max_delay, reconnect_jitter: the backoff between passes:
            the first pass is immediate, then ``reconnect_delay * 2**n`` capped at
            ``reconnect_max_delay``, shortened by a random fraction up to `reconnect_jitter`.
        randomize: shuffle the servers (spreads clients over a cluster).
        pending_size: bytes of the outbound buffer. Connected, a publish waits while it is
            full; reconnecting, publishes are buffered up to it and then refused with
            `OutboundBufferFullError` (0: refuse every publish while reconnecting).
        echo: receive the messages this connection publishes, if it subscribes to them.
        inbox_prefix: the prefix of reply subjects (``_INBOX``).
        close_timeout: seconds `close` waits to send what is buffered.

    Raises:
        TypeError / ValueError: a bad argument (raised by this call, before connecting).
        ImportError: `nkey_seed` without the ``cryptography`` package.
        ConnectError: (on entering) no server accepted a connection.
        AuthorizationError: (on entering) a server refused the credentials.
    """
    options = make_options(
        servers,
        name=name,
        user=user,
        password=password,
        token=token,
        nkey_seed=nkey_seed,
        tls=tls,
        tls_hostname=tls_hostname,
        tls_first=tls_first,
        connect_timeout=connect_timeout,
        ping_interval=ping_interval,
        max_outstanding_pings=max_outstanding_pings,
        allow_reconnect=allow_reconnect,
        max_reconnect_attempts=max_reconnect_attempts,
        reconnect_delay=reconnect_delay,
        reconnect_max_delay=reconnect_max_delay,
        reconnect_jitter=reconnect_jitter,
        randomize=randomize,
        pending_size=pending_size,
        echo=echo,
        inbox_prefix=inbox_prefix,
        close_timeout=close_timeout,
    )
    return _Connect(options)
