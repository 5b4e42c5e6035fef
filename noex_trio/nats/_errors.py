"""The errors of the NATS client.

Every error the client raises on purpose derives from `NatsError`, itself a
`noex_trio.NoexError`::

    NatsError
    ├── ConnectError              no server of the list could be connected to
    │   └── AuthorizationError    a server refused the credentials
    ├── ConnectionClosedError     the connection is closed (by the user, or it gave up)
    ├── ConnectionLostError       the connection to a server broke (why the client reconnects)
    ├── ProtocolError             the server sent something the protocol does not allow
    ├── ServerError               the server answered ``-ERR`` (`fatal`: it closes the connection)
    ├── StaleConnectionError      the server stopped answering PINGs (why a connection was dropped)
    ├── SlowConsumerError         a subscription's queue was full: messages were dropped
    ├── NoRespondersError         a request found no subscriber (status 503)
    ├── MaxPayloadError           a message is larger than the server's ``max_payload``
    ├── OutboundBufferFullError   a publish while reconnecting found the pending buffer full
    ├── JetStreamError            JetStream refused a request, or cannot serve a key-value bucket
    ├── KeyExistsError            a key-value create found the key holding a value
    ├── WrongRevisionError        a key-value update/delete expected another revision
    └── NatsTimeoutError          also a `trio.TooSlowError`
        ├── RequestTimeoutError   `request` got no reply in time
        └── FlushTimeoutError     `flush` got no PONG in time

As every error of the library, they are values: the constructor's arguments are the
exception's ``args`` and its attributes, so they copy and pickle with their fields, and the
message is formatted from the fields (lower case, no trailing period).
"""

from __future__ import annotations

import trio

from .._exceptions import NoexError
from .._safe_format import safe_repr, safe_str


def _text(value: object) -> str:
    return str.__str__(value) if isinstance(value, str) else safe_str(value)


def _servers(value: object) -> str:
    """A tuple of URLs as ``a, b`` (anything else as `safe_str` shows it)."""
    if isinstance(value, tuple | list):
        return ", ".join(map(_text, value))
    return safe_str(value)


class NatsError(NoexError):
    """Root of every error the NATS client raises on purpose."""


class ConnectError(NatsError):
    """No server could be connected to (the initial connect, or reconnecting gave up).

    Attributes:
        servers: the URLs that were tried.
        detail: why the last attempt failed.
    """

    def __init__(self, servers: tuple[str, ...], detail: str) -> None:
        super().__init__(servers, detail)
        self.servers = servers
        self.detail = detail

    def _format(self) -> str:
        servers = _servers(self.servers) or "(none)"
        return f"could not connect to any NATS server ({servers}): {_text(self.detail)}"


class AuthorizationError(ConnectError):
    """A server refused the connection's credentials (``Authorization Violation``,
    ``Authentication Timeout``)."""

    def _format(self) -> str:
        servers = _servers(self.servers)
        return f"NATS server {servers} refused the credentials: {_text(self.detail)}"


class ConnectionClosedError(NatsError):
    """The connection is closed: by `close`/`drain`/the end of its ``async with`` block, or
    because it gave up reconnecting (then `detail` says why and the error is chained).

    Attributes:
        detail: ``""`` after a close by the user, else why the connection ended.
    """

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail

    def _format(self) -> str:
        detail = _text(self.detail)
        return (
            f"the NATS connection is closed: {detail}"
            if detail
            else "the NATS connection is closed"
        )


class ConnectionLostError(NatsError):
    """The connection to a server broke (end of stream, a network error, lame duck mode); the
    client reconnects. Seen in `ConnectionEvent`s, not raised to callers.

    Attributes:
        server: the server's URL.
        detail: what happened.
    """

    def __init__(self, server: str, detail: str) -> None:
        super().__init__(server, detail)
        self.server = server
        self.detail = detail

    def _format(self) -> str:
        return f"lost the connection to {_text(self.server)}: {_text(self.detail)}"


class ProtocolError(NatsError):
    """The server sent bytes the protocol does not allow; the connection is dropped."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def _format(self) -> str:
        return f"NATS protocol error: {_text(self.detail)}"


class ServerError(NatsError):
    """The server answered ``-ERR``.

    Attributes:
        text: the error text, without quotes (``"Permissions Violation for Publish to 'x'"``).
        fatal: the server closes the connection after it (the client then reconnects).
    """

    def __init__(self, text: str, fatal: bool) -> None:
        super().__init__(text, fatal)
        self.text = text
        self.fatal = fatal

    def _format(self) -> str:
        return f"NATS server error: {_text(self.text)}"


class StaleConnectionError(NatsError):
    """The server left `pings` PINGs in a row unanswered; the connection was dropped."""

    def __init__(self, pings: int) -> None:
        super().__init__(pings)
        self.pings = pings

    def _format(self) -> str:
        return f"stale connection: {safe_str(self.pings)} PINGs left unanswered"


class SlowConsumerError(NatsError):
    """A subscription's queue was full and messages were dropped (the reader of the
    subscription is slower than its publishers).

    Attributes:
        subject: the subscription's subject.
        dropped: how many messages this subscription has dropped so far.
    """

    def __init__(self, subject: str, dropped: int) -> None:
        super().__init__(subject, dropped)
        self.subject = subject
        self.dropped = dropped

    def _format(self) -> str:
        return (
            f"slow consumer on {safe_repr(self.subject)}: "
            f"{safe_str(self.dropped)} messages dropped so far"
        )


class NoRespondersError(NatsError):
    """A request was published to a subject nobody subscribes to (the server's 503)."""

    def __init__(self, subject: str) -> None:
        super().__init__(subject)
        self.subject = subject

    def _format(self) -> str:
        return f"no responders for request to {safe_repr(self.subject)}"


class MaxPayloadError(NatsError, ValueError):
    """A message (header block and payload) is larger than the server accepts; nothing was
    sent (the server would close the connection)."""

    def __init__(self, size: int, max_payload: int) -> None:
        super().__init__(size, max_payload)
        self.size = size
        self.max_payload = max_payload

    def _format(self) -> str:
        return (
            f"message of {safe_str(self.size)} bytes exceeds the server's max_payload of "
            f"{safe_str(self.max_payload)} bytes"
        )


class OutboundBufferFullError(NatsError):
    """A publish did not fit in the outbound buffer (``pending_size``): made while the
    connection is reconnecting, or by `Connection.publish_nowait`. The message was not
    queued."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(size, limit)
        self.size = size
        self.limit = limit

    def _format(self) -> str:
        return (
            f"the outbound buffer is full ({safe_str(self.size)} bytes queued, limit "
            f"{safe_str(self.limit)})"
        )


class NatsTimeoutError(NatsError, trio.TooSlowError):
    """A request or a flush did not complete in time."""


class RequestTimeoutError(NatsTimeoutError):
    """`request` got no reply within its timeout (the responder may still answer later; the
    reply is then dropped)."""

    def __init__(self, subject: str, timeout: float) -> None:
        super().__init__(subject, timeout)
        self.subject = subject
        self.timeout = timeout

    def _format(self) -> str:
        return f"request to {safe_repr(self.subject)} timed out after {safe_str(self.timeout)} s"


class FlushTimeoutError(NatsTimeoutError):
    """`flush` got no PONG within its timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout)
        self.timeout = timeout

    def _format(self) -> str:
        return f"flush timed out after {safe_str(self.timeout)} s"


class JetStreamError(NatsError):
    """JetStream refused a request (its API answered an ``error``), or it cannot serve a
    key-value bucket: JetStream is not enabled (nobody answers its API), the server is too
    old for per-key TTLs, or the bucket exists with another configuration.

    Attributes:
        code: the HTTP-like status of the answer (400, 404, 503, ...); 503 when nobody
            answered (JetStream not enabled, the stream missing, or the server starting up);
            0 for a problem the client found in an answer.
        err_code: JetStream's own error code (``10058``, ``10071``, ...), or 0.
        description: what JetStream (or the client) said.
    """

    def __init__(self, code: int, err_code: int, description: str) -> None:
        super().__init__(code, err_code, description)
        self.code = code
        self.err_code = err_code
        self.description = description

    def _format(self) -> str:
        return (
            f"JetStream error {safe_str(self.code)} ({safe_str(self.err_code)}): "
            f"{_text(self.description)}"
        )


class KeyExistsError(NatsError):
    """`KeyValue.create` found the key holding a value (deleted, purged and expired keys can
    be created again).

    Attributes:
        key: the key.
        revision: the revision of the value found.
    """

    def __init__(self, key: str, revision: int) -> None:
        super().__init__(key, revision)
        self.key = key
        self.revision = revision

    def _format(self) -> str:
        return f"key {safe_repr(self.key)} exists (revision {safe_str(self.revision)})"


class WrongRevisionError(NatsError):
    """A compare-and-set write (`KeyValue.update`, `KeyValue.delete` with a revision) found
    the key at another revision: someone else wrote it since (or it expired).

    Attributes:
        key: the key.
        expected: the revision the write expected.
        current: the key's latest revision as the server reported it (0: the key has no
            message), or None if it did not say.
    """

    def __init__(self, key: str, expected: int, current: int | None) -> None:
        super().__init__(key, expected, current)
        self.key = key
        self.expected = expected
        self.current = current

    def _format(self) -> str:
        current = "unknown" if self.current is None else safe_str(self.current)
        return (
            f"key {safe_repr(self.key)} is not at revision {safe_str(self.expected)} "
            f"(current: {current})"
        )
