"""The errors of the cluster layer.

Every error the cluster raises on purpose derives from `ClusterError`, itself a
`noex_trio.NoexError`::

    ClusterError
    ├── CodecError                a value cannot be encoded, or bytes cannot be decoded
    │   └── PayloadTooLargeError  an encoded message would exceed the size limit
    ├── NodeNameTakenError        another node holds (or took) this node's name
    ├── NoConnectionError         the target node is not connected (``reason == "noconnection"``)
    ├── NoHandlerError            the target node serves nothing under that subject suffix
    ├── RemoteTimeoutError        a request got no reply in time (also a `trio.TooSlowError`)
    └── RemoteError               a remote exception whose class cannot be rebuilt here

As every error of the library, they are values: the constructor's arguments are the
exception's ``args`` and its attributes, so they copy, pickle and cross the wire (through the
cluster's own codec) with their fields; the message is formatted from the fields.
"""

from __future__ import annotations

import trio

from .._exceptions import NoexError
from .._safe_format import safe_repr, safe_str


def _text(value: object) -> str:
    return str.__str__(value) if isinstance(value, str) else safe_str(value)


class ClusterError(NoexError):
    """Root of every error the cluster layer raises on purpose."""


class CodecError(ClusterError, ValueError):
    """A value cannot be encoded for the wire (a type nobody registered, nesting too deep), or
    bytes from the wire are not a valid message (anything a peer may send: the decoder raises
    nothing else).

    Attributes:
        detail: what went wrong.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def _format(self) -> str:
        return _text(self.detail)


class PayloadTooLargeError(CodecError):
    """An encoded message would be larger than the limit (the NATS server's ``max_payload``);
    encoding stops as soon as it is known, without building the whole message.

    Attributes:
        size: the size reached (bytes); at least `limit` + 1.
        limit: the limit (bytes).
    """

    def __init__(self, size: int, limit: int) -> None:
        ClusterError.__init__(self, size, limit)
        self.size = size
        self.limit = limit
        self.detail = "payload too large"

    def _format(self) -> str:
        return (
            f"message too large: more than {safe_str(self.limit)} bytes "
            f"(reached {safe_str(self.size)})"
        )


class NodeNameTakenError(ClusterError):
    """The node's name is held by another node of the cluster: `join` was refused, or (after
    a partition healed or a reconnection) a newer node took the name and this node left.

    Attributes:
        name: the node name.
        cluster: the cluster's subject prefix (``noex.default``).
        holder: the incarnation of the node holding it, if known.
    """

    def __init__(self, name: str, cluster: str, holder: int | None = None) -> None:
        super().__init__(name, cluster, holder)
        self.name = name
        self.cluster = cluster
        self.holder = holder

    def _format(self) -> str:
        holder = self.holder
        by = f" (incarnation {holder:#x})" if isinstance(holder, int) else ""
        return f"node name {safe_repr(self.name)} is taken in cluster {safe_repr(self.cluster)}{by}"


class NoConnectionError(ClusterError):
    """The target node is not connected: it is not a member (never joined, left, was detected
    down), went down while a request waited, or this node lost its own connection to NATS.
    OTP's ``noconnection``: the node may still be alive on the far side of a partition.

    Attributes:
        node: the node's name.
        detail: why, when known (``"not a member"``, ``"timeout"``, ``"left"``,
            ``"disconnected"``, ``"restarted"``, ``"reconnected"``, ``"no responders"``, ...).
        reason: always ``"noconnection"`` (what a monitor of a process there will get).
    """

    reason = "noconnection"

    def __init__(self, node: str, detail: str = "") -> None:
        super().__init__(node, detail)
        self.node = node
        self.detail = detail

    def _format(self) -> str:
        text = _text(self.detail)
        detail = f" ({text})" if text else ""
        return f"no connection to node {safe_repr(self.node)}{detail}"


class NoHandlerError(ClusterError, LookupError):
    """The target node is up but serves nothing under that subject suffix.

    Attributes:
        node: the node's name.
        suffix: the subject suffix requested.
    """

    def __init__(self, node: str, suffix: str) -> None:
        super().__init__(node, suffix)
        self.node = node
        self.suffix = suffix

    def _format(self) -> str:
        return f"node {safe_repr(self.node)} serves no handler for {safe_repr(self.suffix)}"


class RemoteTimeoutError(ClusterError, trio.TooSlowError):
    """A request got no reply within its timeout (the node is up, the handler was slow, or
    the request or reply was lost). The handler may still run.

    Attributes:
        node: the node's name.
        suffix: the subject suffix requested.
        timeout: the timeout, in seconds.
    """

    def __init__(self, node: str, suffix: str, timeout: float) -> None:
        super().__init__(node, suffix, timeout)
        self.node = node
        self.suffix = suffix
        self.timeout = timeout

    def _format(self) -> str:
        return (
            f"request {safe_repr(self.suffix)} to node {safe_repr(self.node)} timed out "
            f"after {safe_str(self.timeout)} s"
        )


class RemoteError(ClusterError):
    """An exception raised on another node whose class cannot be rebuilt here (not registered
    with the codec, a `BaseException` such as ``KeyboardInterrupt``, or its constructor does
    not accept its own ``args``): its type and message, as text.

    Attributes:
        type_name: the qualified name of its class (``"MyError"``, ``"Outer.Inner"``).
        module: the module of its class.
        message: ``str()`` of the exception.
        args_repr: ``repr()`` of its ``args``.
    """

    def __init__(self, type_name: str, module: str, message: str, args_repr: str = "()") -> None:
        super().__init__(type_name, module, message, args_repr)
        self.type_name = type_name
        self.module = module
        self.message = message
        self.args_repr = args_repr

    def _format(self) -> str:
        module = _text(self.module)
        where = f"{module}." if module and module != "builtins" else ""
        message = _text(self.message)
        return f"remote {where}{_text(self.type_name)}" + (f": {message}" if message else "")
