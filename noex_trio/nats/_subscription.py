"""Messages and subscriptions.

A subscription owns a bounded queue the connection's reader fills without ever waiting: when
the queue is full (`max_pending` messages or `max_pending_bytes` bytes), the message is
dropped and counted (a slow consumer), so one slow reader never stalls the connection nor the
other subscriptions (the server would otherwise cut the whole connection as a slow consumer).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Literal, final

import attrs
import trio

from .. import _checks as checks
from .._handles import NoPublicConstructor
from ._headers import Headers, HeadersLike

if TYPE_CHECKING:
    from types import TracebackType

    from ._connection import Connection


@attrs.frozen
class Msg:
    """A message received on a subscription (or as a reply to a request).

    Attributes:
        subject: the subject it was published to.
        data: the payload.
        reply: the subject to answer to (a request's inbox), or None.
        headers: the headers, or None if it was published without.
    """

    subject: str
    data: bytes
    reply: str | None = None
    headers: Headers | None = None
    _connection: Connection | None = attrs.field(default=None, eq=False, repr=False)

    async def respond(
        self, data: bytes | bytearray | memoryview = b"", *, headers: HeadersLike | None = None
    ) -> None:
        """Publish `data` to this message's reply subject (answer a request).

        Raises:
            ValueError: the message has no reply subject.
            ConnectionClosedError: the connection it came from is closed.
        """
        if self.reply is None or self._connection is None:
            raise ValueError(
                f"expected a message with a reply subject and a connection, got {self!r}"
            )
        await self._connection.publish(self.reply, data, headers=headers)


@attrs.frozen(kw_only=True)
class SubscriptionStatistics:
    """What a subscription has seen.

    Attributes:
        subject: its subject. queue: its queue group, or None. sid: its id on the connection.
        pending_msgs / pending_bytes: queued, not received yet.
        max_pending / max_pending_bytes: the queue's bounds.
        delivered: messages that arrived (queued or dropped).
        dropped: messages dropped because the queue was full.
        max_msgs: the automatic unsubscribe limit, or None.
        state: ``"active"``; ``"ending"`` (unsubscribed, the queue still holds messages);
            ``"ended"``.
    """

    subject: str
    queue: str | None
    sid: int
    pending_msgs: int
    pending_bytes: int
    max_pending: int
    max_pending_bytes: int
    delivered: int
    dropped: int
    max_msgs: int | None
    state: Literal["new", "active", "ending", "ended"]


@final
class Subscription(metaclass=NoPublicConstructor):
    """A subscription: ``async with nc.subscribe("orders.>") as sub: async for msg in sub:``.

    Entering subscribes; leaving unsubscribes and drops what is still queued. Iteration ends
    once the subscription was unsubscribed (by `unsubscribe`, after ``max_msgs`` messages, or
    by the connection's `drain`/`close`) and the queue is empty; if the connection gave up
    reconnecting, it raises `ConnectionClosedError` instead.
    """

    _noex_made_by = "use Connection.subscribe()"

    def __init__(
        self,
        connection: Connection,
        subject: str,
        queue: str | None,
        max_pending: int,
        max_pending_bytes: int,
        max_msgs: int | None,
    ) -> None:
        self.subject = subject
        self.queue = queue
        self._connection = connection
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._max_msgs = max_msgs
        self._sid = 0
        self._state: Literal["new", "active", "ending", "ended"] = "new"
        self._messages: deque[Msg] = deque()
        self._bytes = 0
        self._changed = trio.Event()
        self._error: BaseException | None = None
        self._delivered = 0
        self._dropped = 0
        self._slow = False
        # Messages delivered before the SUB on the current connection: the server counts an
        # UNSUB limit from there.
        self._base = 0

    def __repr__(self) -> str:
        queue = f" queue={self.queue!r}" if self.queue is not None else ""
        return f"<Subscription {self.subject!r}{queue} sid={self._sid} {self._state}>"

    # ----------------------------------------------------------------- user side

    async def __aenter__(self) -> Subscription:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._state != "new":
            raise RuntimeError(f"{self!r} was already entered; subscribe again instead")
        self._connection._add_subscription(self)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unsubscribe()
        self._messages.clear()
        self._bytes = 0
        if self._state == "ending":
            self._end(self._error)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Msg:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def receive(self) -> Msg:
        """The next message, waiting for one.

        Raises:
            trio.EndOfChannel: the subscription ended and its queue is empty.
            ConnectionClosedError: the connection gave up reconnecting (queue empty).
            RuntimeError: the subscription was never entered.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._state == "new":
            raise RuntimeError(f"{self!r} is not active; use `async with nc.subscribe(...)`")
        while not self._messages:
            if self._state == "ended":
                if self._error is not None:
                    raise self._error
                raise trio.EndOfChannel
            await self._changed.wait()
        msg = self._messages.popleft()
        self._bytes -= len(msg.data)
        if not self._messages and self._state == "ending":
            self._end(self._error)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return msg

    def unsubscribe(self, max_msgs: int | None = None) -> None:
        """Stop the subscription now, or once it has delivered `max_msgs` messages in all
        (counted from its start, as NATS does). Messages already queued can still be received;
        then iteration ends. Idempotent; a no-op on a subscription that ended.

        Raises:
            TypeError / ValueError: `max_msgs` is not an int >= 1 or None.
        """
        if max_msgs is not None:
            max_msgs = checks.count(max_msgs, "max_msgs", minimum=1)
        if self._state != "active":
            return
        if max_msgs is None or self._delivered >= max_msgs:
            self._connection._remove_subscription(self, send=True)
            self._finish_delivery(None)
        else:
            self._max_msgs = max_msgs
            self._connection._limit_subscription(self)

    def statistics(self) -> SubscriptionStatistics:
        """A snapshot of the queue and counters."""
        return SubscriptionStatistics(
            subject=self.subject,
            queue=self.queue,
            sid=self._sid,
            pending_msgs=len(self._messages),
            pending_bytes=self._bytes,
            max_pending=self._max_pending,
            max_pending_bytes=self._max_pending_bytes,
            delivered=self._delivered,
            dropped=self._dropped,
            max_msgs=self._max_msgs,
            state=self._state,
        )

    # ----------------------------------------------------------------- connection side

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _deliver(self, msg: Msg) -> bool:
        """Queue `msg` (from the reader; never waits). Returns True if this drop starts a
        slow-consumer episode (the connection reports it). Only active subscriptions are in
        the connection's tables, so only they get messages."""
        self._delivered += 1
        started = False
        size = len(msg.data)
        if len(self._messages) >= self._max_pending or self._bytes + size > self._max_pending_bytes:
            self._dropped += 1
            started = not self._slow
            self._slow = True
        else:
            self._slow = False
            self._messages.append(msg)
            self._bytes += size
            self._wake()
        if self._max_msgs is not None and self._delivered >= self._max_msgs:
            self._connection._remove_subscription(self, send=False)
            self._finish_delivery(None)
        return started

    def _finish_delivery(self, error: BaseException | None) -> None:
        """No more messages will arrive: end once the queue is empty (with `error`, if any).
        Called once, by whoever removed the subscription from the connection's tables."""
        self._error = error
        if self._messages:
            self._state = "ending"
        else:
            self._end(error)

    def _end(self, error: BaseException | None) -> None:
        self._error = error
        self._state = "ended"
        self._wake()
        self._connection._subscription_ended(self)

    def _remaining(self) -> int | None:
        """The UNSUB limit to send on the current connection (None: no limit)."""
        if self._max_msgs is None:
            return None
        return self._max_msgs - self._base
