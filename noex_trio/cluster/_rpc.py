"""Requests between nodes: the caller's bookkeeping (`Pending`), what a handler gets
(`Request`), and both ends of the wire format.

A request is a NATS request to ``P.node.<target>.rpc.<suffix>`` whose payload is the codec's
encoding of the user's payload, with headers naming the sender (token and incarnation) and the
target incarnation it was meant for. The answer carries a ``Noex-Status`` header:

- ``ok``: the payload is the handler's result;
- ``error``: the payload is the exception the handler raised (rebuilt as its class when the
  codec allows it, else a `RemoteError`);
- ``no-handler``: nothing is served under that suffix;
- ``bad-request``: the target could not decode the request (the payload is the reason, a str);
- ``wrong-node``: the request was meant for another incarnation of that name.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeAlias

import attrs
import trio

from .. import nats
from .._outcome import crash_reason, find_fatal, is_cancellation
from .._safe_format import safe_repr, safe_str
from . import _protocol as protocol
from ._codec import BaseCodec, remote_error
from ._errors import (
    CodecError,
    NoConnectionError,
    NoHandlerError,
    RemoteTimeoutError,
)
from ._events import DownDetail
from ._identity import NodeId, check_incarnation, token_name


@attrs.frozen
class Request:
    """A request a handler serves (`Node.serve`).

    Attributes:
        sender: the node that sent it.
        suffix: the subject suffix it was sent to.
        payload: what the sender passed, decoded.
    """

    sender: NodeId
    suffix: str
    payload: Any


#: A handler: called with the `Request`; returns the reply (or an awaitable of it). What it
#: raises reaches the caller.
Handler: TypeAlias = Callable[[Request], Awaitable[object] | object]

OK: Final = "ok"
ERROR: Final = "error"
NO_HANDLER: Final = "no-handler"
BAD_REQUEST: Final = "bad-request"
WRONG_NODE: Final = "wrong-node"


class Pending:
    """A request waiting for its reply: cancelled (with a detail) when its node goes down."""

    __slots__ = ("detail", "scope")

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.detail: DownDetail | str = ""

    def fail(self, detail: DownDetail | str) -> None:
        if not self.detail:
            self.detail = detail
        self.scope.cancel()


class PendingRequests:
    """The requests waiting, by target node name."""

    def __init__(self, me: str) -> None:
        self._me = me
        self._by_node: dict[str, set[Pending]] = {}

    def __len__(self) -> int:
        return sum(map(len, self._by_node.values()))

    def add(self, node: str) -> Pending:
        pending = Pending()
        self._by_node.setdefault(node, set()).add(pending)
        return pending

    def remove(self, node: str, pending: Pending) -> None:
        waiting = self._by_node[node]
        waiting.discard(pending)
        if not waiting:
            del self._by_node[node]

    def node_down(self, node: str, detail: DownDetail | str) -> None:
        """Fail the requests to `node` (to every node, if it is this one: it lost its
        connection or is leaving)."""
        targets = list(self._by_node) if node == self._me else [node]
        for target in targets:
            for pending in self._by_node.get(target, ()):
                pending.fail(detail)


# --------------------------------------------------------------------------- caller side


def request_headers(me: NodeId, token: str, target: int) -> dict[str, str]:
    return {
        protocol.FROM: token,
        protocol.FROM_INCARNATION: str(me.incarnation),
        protocol.TO_INCARNATION: str(target),
    }


def nats_failure(node: str, suffix: str, timeout: float, error: nats.NatsError) -> Exception:
    """The cluster error for what the NATS client raised during a request."""
    if isinstance(error, nats.RequestTimeoutError):
        return RemoteTimeoutError(node, suffix, timeout)
    if isinstance(error, nats.NoRespondersError):
        return NoConnectionError(node, "no responders")
    # The connection closed or could not take the message (its payload was checked before).
    return NoConnectionError(node, "disconnected")


def read_reply(codec: BaseCodec, node: str, suffix: str, msg: nats.Msg) -> object:
    """The result a reply carries; raises what it says went wrong."""
    status = msg.headers.get(protocol.STATUS) if msg.headers is not None else None
    if status == OK:
        return codec.decode(msg.data)
    if status == ERROR:
        error = codec.decode(msg.data)
        if not isinstance(error, BaseException):
            raise CodecError(f"node {node!r} answered an error that is not an exception")
        error.add_note(f"(raised by the handler of {suffix!r} on node {node!r})")
        raise error
    if status == NO_HANDLER:
        raise NoHandlerError(node, suffix)
    if status == WRONG_NODE:
        raise NoConnectionError(node, "restarted")
    if status == BAD_REQUEST:
        raise CodecError(
            f"node {node!r} could not decode the request: {msg.data.decode(errors='replace')}"
        )
    raise CodecError(f"node {node!r} sent a reply without a valid status ({safe_repr(status)})")


# --------------------------------------------------------------------------- serving side


def sender_of(msg: nats.Msg) -> NodeId | None:
    """The node a request says it comes from, or None if the headers are not valid."""
    headers = msg.headers
    if headers is None:
        return None
    name = token_name(headers.get(protocol.FROM) or "")
    try:
        incarnation = check_incarnation(int(headers.get(protocol.FROM_INCARNATION) or ""))
    except ValueError:
        return None
    return None if name is None else NodeId(name, incarnation)


def target_incarnation(msg: nats.Msg) -> int | None:
    headers = msg.headers
    try:
        return int((headers.get(protocol.TO_INCARNATION) if headers else None) or "")
    except ValueError:
        return None


async def call_handler(handler: Handler, request: Request) -> object:
    result = handler(request)
    if inspect.isawaitable(result):
        result = await result
    return result


def encode_error(codec: BaseCodec, exc: BaseException, limit: int) -> bytes:
    """`exc` for the wire: as itself if the codec can, else as a `RemoteError`."""
    try:
        return codec.encode(exc, max_size=limit)
    except CodecError:
        return codec.encode(remote_error(exc), max_size=limit)


async def serve(
    codec: BaseCodec,
    handler: Handler,
    request: Request,
    msg: nats.Msg,
    limit: int,
) -> BaseException | None:
    """Run `handler` and answer `msg` with its result or error. Returns a fatal exception
    the handler raised (``KeyboardInterrupt``...), answered to the caller as a `RemoteError`
    and to be raised by the node; a cancellation propagates (no answer)."""
    fatal: BaseException | None = None
    try:
        result = await call_handler(handler, request)
    except BaseException as exc:
        if is_cancellation(exc):
            raise
        fatal = find_fatal(exc)
        if fatal is None:
            status, data = ERROR, encode_error(codec, crash_reason(exc), limit)
        else:  # never rebuilt on the other side: it arrives as a RemoteError
            status, data = ERROR, codec.encode(remote_error(fatal), max_size=limit)
    else:
        try:
            status, data = OK, codec.encode(result, max_size=limit)
        except CodecError as exc:
            status, data = ERROR, encode_error(codec, exc, limit)
    await respond(msg, status, data)
    return fatal


@trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
async def respond(msg: nats.Msg, status: str, data: bytes) -> None:
    """Answer a request; a reply that cannot be sent is dropped (the caller times out, or
    sees the node down)."""
    with contextlib.suppress(nats.NatsError, ValueError):
        await msg.respond(data, headers={protocol.STATUS: status})


def bad_request(reason: BaseException | str) -> bytes:
    return safe_str(reason).encode()
