"""Opening a connection to one server: TCP, INFO, TLS if wanted or required, CONNECT, PING,
and the PONG that says the server accepted (credentials included) [ADR-40].

1. TCP connect (with ``tls_first``: TLS at once), read ``INFO``.
2. If the server requires TLS, or the client asked for it: the TLS handshake now.
3. ``CONNECT {...}`` (with the credentials; for an nkey, the signature of INFO's nonce) and
   ``PING``; wait for ``PONG``. A ``-ERR`` instead says why the server refused.
"""

from __future__ import annotations

import ssl
from typing import Any, Final

import attrs
import trio

from . import _nkeys
from . import _protocol as protocol
from ._errors import (
    AuthorizationError,
    ConnectError,
    ConnectionLostError,
    ProtocolError,
    ServerError,
)
from ._options import Options, ServerAddress

CLIENT_VERSION: Final = "0.1.0"
READ_SIZE: Final = 64 * 1024
#: ``-ERR`` texts after which the server closes the connection (lower case, prefixes).
_FATAL_ERRORS: Final = (
    "unknown protocol operation",
    "authorization violation",
    "authentication",
    "user authentication",
    "account authentication",
    "maximum payload violation",
    "maximum control line exceeded",
    "stale connection",
    "secure connection",
    "slow consumer",
    "maximum connections exceeded",
    "maximum subscriptions exceeded",
    "no responders requires headers support",
)
_AUTH_ERRORS: Final = (
    "authorization violation",
    "authentication",
    "user authentication",
    "account authentication",
)


def server_error(text: str) -> ServerError:
    """The `ServerError` for a ``-ERR`` text, `fatal` when the server closes after it."""
    return ServerError(text, text.lower().startswith(_FATAL_ERRORS))


def describe(exc: BaseException) -> str:
    """What broke, for messages: with the underlying error of a trio wrapper, if any."""
    inner = exc.__cause__ or exc.__context__
    while isinstance(inner, BaseExceptionGroup) and inner.exceptions:
        inner = inner.exceptions[-1]  # open_tcp_stream: one error per address tried
    text = str(exc) or type(exc).__name__
    if inner is not None and not isinstance(inner, trio.Cancelled):
        return f"{text} ({type(inner).__name__}: {inner})"
    return text


@attrs.frozen
class Opened:
    """A stream past the handshake."""

    stream: trio.abc.Stream
    parser: protocol.Parser
    info: dict[str, Any]
    early_ops: list[protocol.Op]  # parsed after the PONG: the reader handles them first


async def open_connection(server: ServerAddress, options: Options) -> Opened:
    """Connect to `server` and handshake, within ``connect_timeout``.

    Raises:
        ConnectError: any failure (`AuthorizationError` for refused credentials); the stream
            is closed.
    """
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(options.connect_timeout):
            stream = await trio.open_tcp_stream(server.host, server.port)
            context = options.tls
            if context is None and (server.tls or options.tls_first):
                context = ssl.create_default_context()
            if options.tls_first:
                assert context is not None
                stream = await _start_tls(stream, context, server, options)
            parser = protocol.Parser()
            ops = await read_ops(stream, parser, server)
            first = ops.pop(0)
            if not isinstance(first, protocol.Info):
                raise ProtocolError(f"expected INFO first, got {first!r}")
            info = first.info
            tls = options.tls_first
            if not tls and (context is not None or info.get("tls_required")):
                if not (info.get("tls_required") or info.get("tls_available")):
                    raise ConnectError((server.url,), "the server does not offer TLS")
                if ops or parser.buffered:
                    raise ProtocolError("data after INFO, before the TLS handshake")
                context = context or ssl.create_default_context()
                stream = await _start_tls(stream, context, server, options)
                tls = True
            if not info.get("headers"):
                raise ConnectError(
                    (server.url,), "the server does not support headers (nats-server < 2.2)"
                )
            connect = protocol.connect(_connect_options(server, options, info, tls))
            await stream.send_all(connect + protocol.PING)
            return await _await_pong(stream, parser, server, ops, info)
    except ConnectError:
        await _close(stream)
        raise
    except trio.TooSlowError:
        await _close(stream)
        detail = f"timed out after {options.connect_timeout} s"
        raise ConnectError((server.url,), detail) from None
    except (OSError, trio.BrokenResourceError, ProtocolError, ConnectionLostError) as exc:
        await _close(stream)
        raise ConnectError((server.url,), describe(exc)) from exc
    except BaseException:
        await _close(stream)
        raise


async def _await_pong(
    stream: trio.abc.Stream,
    parser: protocol.Parser,
    server: ServerAddress,
    ops: list[protocol.Op],
    info: dict[str, Any],
) -> Opened:
    """Read until the PONG that confirms CONNECT (keeping the latest INFO)."""
    while True:
        while ops:
            op = ops.pop(0)
            if isinstance(op, protocol.Pong):
                return Opened(stream, parser, info, ops)
            if isinstance(op, protocol.Info):
                info = op.info
            elif isinstance(op, protocol.Err):
                if op.text.lower().startswith(_AUTH_ERRORS):
                    raise AuthorizationError((server.url,), op.text)
                raise ConnectError((server.url,), str(server_error(op.text)))
            elif isinstance(op, protocol.Ping):
                await stream.send_all(protocol.PONG)
        ops = await read_ops(stream, parser, server)


async def _start_tls(
    stream: trio.abc.Stream, context: ssl.SSLContext, server: ServerAddress, options: Options
) -> trio.SSLStream[trio.abc.Stream]:
    hostname = options.tls_hostname or server.host
    tls = trio.SSLStream(stream, context, server_hostname=hostname)
    try:
        await tls.do_handshake()
    except trio.BrokenResourceError as exc:
        await _close(tls)
        raise ConnectError((server.url,), f"TLS handshake failed: {describe(exc)}") from exc
    return tls


def _connect_options(
    server: ServerAddress, options: Options, info: dict[str, Any], tls: bool
) -> dict[str, Any]:
    """CONNECT's JSON: no verbose/pedantic; headers and no-responders; the credentials."""
    connect: dict[str, Any] = {
        "verbose": False,
        "pedantic": False,
        "tls_required": tls,
        "headers": True,
        "no_responders": True,
        "protocol": 1,
        "lang": "python-noex_trio",
        "version": CLIENT_VERSION,
        "echo": options.echo,
    }
    if options.name is not None:
        connect["name"] = options.name
    if server.user is not None or server.token is not None:
        user, password, token = server.user, server.password, server.token
    else:
        user, password, token = options.user, options.password, options.token
    if user is not None:
        connect["user"] = user
        connect["pass"] = password
    if token is not None:
        connect["auth_token"] = token
    seed = options.nkey_seed
    if seed is not None:
        connect["nkey"] = _nkeys.public_key(seed)
        nonce = info.get("nonce")
        if isinstance(nonce, str):
            connect["sig"] = _nkeys.sign(seed, nonce)
    return connect


async def _close(stream: trio.abc.Stream | None) -> None:
    if stream is not None:
        await trio.aclose_forcefully(stream)


async def read_ops(
    stream: trio.abc.Stream, parser: protocol.Parser, server: ServerAddress
) -> list[protocol.Op]:
    """Read until at least one operation is complete.

    Raises:
        ConnectionLostError: the server closed the stream.
        ProtocolError: it sent something else than the protocol.
    """
    while True:
        data = await stream.receive_some(READ_SIZE)
        if not data:
            raise ConnectionLostError(server.url, "the server closed the connection")
        ops = parser.feed(data)
        if ops:
            return ops
