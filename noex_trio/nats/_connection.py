"""The connection: one TCP (or TLS) stream to a NATS server, its tasks, and reconnection.

Tasks (in the nursery `connect` opens): `_run` owns the stream's lifecycle. While connected
it runs a reader (parses, answers PINGs, fills subscription queues without ever waiting), a
writer (the only task that writes: it sends the outbound buffer, so small writes coalesce and
two sends never overlap), and a pinger (client keepalive: a PING every ``ping_interval``; more
than ``max_outstanding_pings`` unanswered means the server is gone, even without an EOF).
When the stream breaks, `_run` reconnects with backoff, then re-sends every live
subscription, the publishes buffered meanwhile and the PINGs of waiting flushes, in that order.

Invariants:
- Only the writer writes to an established stream; everything else appends to `_outbound`.
- `_outbound` holds publishes (and, while connected, control lines) in order; it is kept
  across a reconnect (publishes made while reconnecting wait there, up to ``pending_size``).
- `_pongs` has one entry per PING sent on the current stream: a flush's waiter or None (a
  keepalive). On reconnect the keepalives are dropped and one PING is sent per waiter.
- `_finish` runs exactly once, when `_run` ends: every waiter is answered, every
  subscription and event feed ends.
"""

from __future__ import annotations

import math
import random
import secrets
from collections import deque
from contextlib import suppress
from typing import Any, Final, final

import trio

from .. import _checks as checks
from .._handles import NoPublicConstructor
from . import _handshake as handshake
from . import _protocol as protocol
from ._errors import (
    AuthorizationError,
    ConnectError,
    ConnectionClosedError,
    ConnectionLostError,
    FlushTimeoutError,
    MaxPayloadError,
    NatsError,
    NoRespondersError,
    OutboundBufferFullError,
    ProtocolError,
    RequestTimeoutError,
    SlowConsumerError,
    StaleConnectionError,
)
from ._events import (
    ConnectionEvent,
    ConnectionEvents,
    ConnectionStatistics,
    EventKind,
    Status,
)
from ._headers import HeadersLike, as_headers
from ._headers import encode as encode_headers
from ._options import Options, ServerAddress, parse_server
from ._subjects import publish_subject, queue_group, subscribe_subject
from ._subscription import Msg, Subscription

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _nuid() -> str:
    """22 random base62 characters: unique enough for an inbox."""
    return "".join(secrets.choice(_BASE62) for _ in range(22))


def _payload(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise checks.type_error("payload", "bytes, a bytearray or a memoryview", value)


class _Waiter:
    """A request's or flush's slot: set once, with a message or an error."""

    __slots__ = ("error", "event", "msg")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.msg: Msg | None = None
        self.error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.event.set()


@final
class Connection(metaclass=NoPublicConstructor):
    """A connection to a NATS server (or a cluster of them), from `connect`.

    All methods are safe to call from any task of the program. Publishing never waits for the
    server (only for room in the outbound buffer); `flush` is the round trip.
    """

    _noex_made_by = "use `async with noex_trio.nats.connect(...) as nc`"

    def __init__(self, options: Options) -> None:
        self._options = options
        pool = list(options.servers)
        if options.randomize:
            random.shuffle(pool)
        self._pool = pool
        self._server: ServerAddress | None = None
        self._info: dict[str, Any] = {}
        self._stream: trio.abc.Stream | None = None
        self._parser = protocol.Parser()
        self._early_ops: list[protocol.Op] = []
        self._connected = False
        self._draining = False
        self._closing = False
        self._finished = False
        self._close_detail = ""
        self._close_cause: BaseException | None = None
        self._outbound = bytearray()
        self._writer_wakeup = trio.Event()
        self._space = trio.Event()
        self._pongs: deque[_Waiter | None] = deque()
        self._pings_outstanding = 0
        self._subs: dict[int, Subscription] = {}
        self._draining_subs: dict[int, Subscription] = {}
        self._sub_ended = trio.Event()
        self._next_sid = 1
        self._inbox = f"{options.inbox_prefix}.{_nuid()}"
        self._inbox_sid = 0
        self._requests: dict[str, _Waiter] = {}
        self._next_token = 0
        self._feeds: set[ConnectionEvents] = set()
        self._run_scope = trio.CancelScope()
        self._serve_scope = trio.CancelScope()
        self._loss: NatsError | None = None
        self._closed = trio.Event()
        self._in_msgs = self._in_bytes = self._out_msgs = self._out_bytes = 0
        self._reconnects = self._dropped = self._server_errors = 0

    def __repr__(self) -> str:
        server = self._server.url if self._server is not None else "-"
        return f"<noex_trio.nats.Connection {server} {self.status}>"

    # ================================================================= public API

    @property
    def status(self) -> Status:
        """``"connected"``, ``"reconnecting"``, ``"draining"`` or ``"closed"``."""
        if self._finished or self._closing:
            return "closed"
        if self._draining:
            return "draining"
        return "connected" if self._connected else "reconnecting"

    @property
    def server_info(self) -> dict[str, Any]:
        """A copy of the last ``INFO`` the server sent (``server_id``, ``max_payload``, ...)."""
        return dict(self._info)

    @property
    def max_payload(self) -> int:
        """The largest message (header block and payload) the server accepts."""
        value = self._info.get("max_payload")
        return value if isinstance(value, int) and value > 0 else 1024 * 1024

    def new_inbox(self) -> str:
        """A fresh unique subject to receive replies on (``_INBOX.<random>``)."""
        return f"{self._options.inbox_prefix}.{_nuid()}"

    async def publish(
        self,
        subject: str,
        payload: bytes | bytearray | memoryview = b"",
        *,
        headers: HeadersLike | None = None,
        reply: str | None = None,
    ) -> None:
        """Publish `payload` to `subject`.

        The message is queued for the writer and this returns; it waits only while the
        outbound buffer is over ``pending_size`` (back-pressure). While reconnecting, the
        message is buffered and sent after the reconnection (at most once: a message in flight
        when the connection broke may be lost, as always in core NATS). If cancelled, the
        message was not queued.

        Args:
            subject: where to publish (no wildcards).
            payload: the bytes to send.
            headers: message headers (a mapping, (name, value) pairs, or `Headers`).
            reply: the subject a receiver should answer to.

        Raises:
            TypeError / ValueError: a bad subject, payload, header or reply subject.
            MaxPayloadError: the message is larger than the server's ``max_payload``.
            OutboundBufferFullError: reconnecting, and the buffer has no room for it.
            ConnectionClosedError: the connection is closed.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        data, size = self._encode_publish(subject, payload, headers, reply)
        await self._enqueue(data)
        self._out_msgs += 1
        self._out_bytes += size
        await trio.lowlevel.cancel_shielded_checkpoint()

    def publish_nowait(
        self,
        subject: str,
        payload: bytes | bytearray | memoryview = b"",
        *,
        headers: HeadersLike | None = None,
        reply: str | None = None,
    ) -> None:
        """`publish` without waiting: the message is queued for the writer now, or refused.

        For code that must not yield between messages (their order is the order of the
        calls) or cannot await. Where `publish` waits for room, this raises instead.

        Raises:
            OutboundBufferFullError: the outbound buffer has no room for it.
            TypeError / ValueError / MaxPayloadError / ConnectionClosedError: as `publish`.
        """
        data, size = self._encode_publish(subject, payload, headers, reply)
        self._check_open()
        outbound = self._outbound
        limit = self._options.pending_size
        if outbound and len(outbound) + len(data) > limit:
            raise OutboundBufferFullError(len(outbound), limit)
        outbound += data
        if self._connected:
            self._wake_writer()
        self._out_msgs += 1
        self._out_bytes += size

    def subscribe(
        self,
        subject: str,
        queue: str | None = None,
        *,
        max_pending: int = 65536,
        max_pending_bytes: int = 64 * 1024 * 1024,
        max_msgs: int | None = None,
    ) -> Subscription:
        """A subscription to `subject` (wildcards allowed), active inside ``async with``.

        Args:
            subject: the subject or pattern (``orders.*``, ``orders.>``).
            queue: a queue group: each message goes to one member of the group.
            max_pending: the most messages queued before new ones are dropped.
            max_pending_bytes: the most payload bytes queued before new ones are dropped.
            max_msgs: unsubscribe automatically after this many messages.

        Raises:
            TypeError / ValueError: a bad argument.
        """
        subject = subscribe_subject(subject)
        queue = None if queue is None else queue_group(queue)
        pending = checks.count(max_pending, "max_pending", minimum=1)
        pending_bytes = checks.count(max_pending_bytes, "max_pending_bytes", minimum=1)
        limit = None if max_msgs is None else checks.count(max_msgs, "max_msgs", minimum=1)
        protocol.subscribe(protocol.encode_text(subject), _encoded(queue), 1)  # fits a line
        return Subscription._create(self, subject, queue, pending, pending_bytes, limit)

    async def request(
        self,
        subject: str,
        payload: bytes | bytearray | memoryview = b"",
        *,
        headers: HeadersLike | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - NATS clients take a request timeout
    ) -> Msg:
        """Publish a request and wait for the first reply.

        Replies come through one wildcard subscription per connection (``_INBOX.<id>.*``).
        If cancelled or timed out, a late reply is dropped.

        Raises:
            NoRespondersError: nobody subscribes to `subject` (the server answered 503).
            RequestTimeoutError: no reply within `timeout` seconds.
            ConnectionClosedError: the connection is closed (or closed meanwhile).
            TypeError / ValueError / MaxPayloadError / OutboundBufferFullError: as `publish`.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        timeout = checks.seconds(timeout, "timeout")
        token = str(self._next_token)
        self._next_token += 1
        data, size = self._encode_publish(subject, payload, headers, f"{self._inbox}.{token}")
        self._check_open()
        if not self._inbox_sid:
            self._inbox_sid = self._new_sid()
            self._send(self._inbox_subscription())
        waiter = self._requests[token] = _Waiter()
        try:
            with trio.move_on_after(timeout):
                await self._enqueue(data)
                self._out_msgs += 1
                self._out_bytes += size
                await waiter.event.wait()
        finally:
            self._requests.pop(token, None)
        if waiter.error is not None:
            raise waiter.error
        msg = waiter.msg
        if msg is None:
            raise RequestTimeoutError(subject, timeout)
        if msg.headers is not None and msg.headers.status == 503 and not msg.data:
            raise NoRespondersError(subject)
        return msg

    async def flush(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - as request
        """Wait until the server has processed everything sent before (a PING/PONG round
        trip). While reconnecting it waits for the reconnection (within `timeout`).

        Raises:
            FlushTimeoutError: no PONG within `timeout` seconds.
            ConnectionClosedError: the connection is closed (or closed meanwhile).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        timeout = checks.seconds(timeout, "timeout")
        self._check_open()
        waiter = _Waiter()
        self._pongs.append(waiter)
        self._send(protocol.PING)
        with trio.move_on_after(timeout):
            await waiter.event.wait()
        if waiter.error is not None:
            raise waiter.error
        if not waiter.event.is_set():
            waiter.fail(FlushTimeoutError(timeout))  # its PONG, if it comes, is ignored
            raise FlushTimeoutError(timeout)

    def events(self, max_pending: int = 256) -> ConnectionEvents:
        """A feed of this connection's `ConnectionEvent`s, active inside ``async with``."""
        return ConnectionEvents._create(self, checks.count(max_pending, "max_pending", minimum=1))

    async def drain(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - as request
        """Unsubscribe everything, let the subscriptions' readers finish what is queued, send
        what is buffered, then close.

        Every subscription is unsubscribed and, once the server confirmed it (a flush), ends:
        its iteration stops after the messages already queued. `drain` waits for that (at
        most `timeout` seconds in all; then it closes anyway). Publishing still works while
        draining, so handlers can answer; new subscriptions are refused.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        timeout = checks.seconds(timeout, "timeout")
        if not (self._finished or self._closing or self._draining):
            self._draining = True
            subs = list(self._subs.values())
            for sub in subs:
                del self._subs[sub._sid]
                self._draining_subs[sub._sid] = sub
                self._send(protocol.unsubscribe(sub._sid))
            with trio.move_on_after(timeout):
                with suppress(ConnectionClosedError):
                    await self.flush(math.inf)
                for sub in subs:
                    if self._draining_subs.pop(sub._sid, None) is not None:
                        sub._finish_delivery(None)
                while any(sub._state != "ended" for sub in subs):
                    await self._sub_ended.wait()
        await self.close()

    async def close(self) -> None:
        """Send what is buffered (within ``close_timeout``) and close. Subscriptions end,
        waiting requests and flushes fail with `ConnectionClosedError`. Idempotent."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._finished:
            self._closing = True
            self._wake_writer()
            if not self._connected:
                self._run_scope.cancel()
            with trio.move_on_after(self._options.close_timeout):
                await self._closed.wait()
            self._run_scope.cancel()
            with trio.CancelScope(shield=True):
                await self._closed.wait()
        await trio.lowlevel.cancel_shielded_checkpoint()

    def statistics(self) -> ConnectionStatistics:
        """A snapshot of the connection's counters."""
        return ConnectionStatistics(
            status=self.status,
            server=self._server.url if self._server is not None and self._connected else None,
            servers=tuple(server.url for server in self._pool),
            in_msgs=self._in_msgs,
            in_bytes=self._in_bytes,
            out_msgs=self._out_msgs,
            out_bytes=self._out_bytes,
            reconnects=self._reconnects,
            subscriptions=len(self._subs),
            pending_bytes=len(self._outbound),
            pending_requests=len(self._requests),
            pings_outstanding=self._pings_outstanding,
            dropped_msgs=self._dropped,
            server_errors=self._server_errors,
        )

    # ================================================================= publishing

    def _encode_publish(
        self, subject: object, payload: object, headers: object, reply: object
    ) -> tuple[bytes, int]:
        """The PUB/HPUB bytes and the payload size; raises for bad arguments and an oversized
        message."""
        subject_ = publish_subject(subject)
        data = _payload(payload)
        block = None if headers is None else encode_headers(as_headers(headers))
        size = len(data) + (len(block) if block is not None else 0)
        if size > self.max_payload:
            raise MaxPayloadError(size, self.max_payload)
        reply_ = None if reply is None else protocol.encode_text(publish_subject(reply, "reply"))
        return protocol.publish(protocol.encode_text(subject_), reply_, block, data), len(data)

    async def _enqueue(self, data: bytes) -> None:
        """Append a publish to the outbound buffer: wait for room while connected, raise when
        reconnecting and it does not fit."""
        limit = self._options.pending_size
        while True:
            self._check_open()
            outbound = self._outbound
            if not self._connected:
                if len(outbound) + len(data) > limit:
                    raise OutboundBufferFullError(len(outbound), limit)
                outbound += data
                return
            if not outbound or len(outbound) + len(data) <= limit:
                outbound += data
                self._wake_writer()
                return
            await self._space.wait()

    def _check_open(self) -> None:
        if self._finished or self._closing:
            raise self._closed_error()

    def _closed_error(self) -> ConnectionClosedError:
        error = ConnectionClosedError(self._close_detail)
        if self._close_cause is not None:
            error.__cause__ = self._close_cause
        return error

    def _send(self, data: bytes) -> None:
        """Queue a control line for the current stream (dropped while reconnecting: the
        reconnection re-sends what matters)."""
        if self._connected:
            self._outbound += data
            self._wake_writer()

    def _wake_writer(self) -> None:
        self._writer_wakeup.set()

    def _space_freed(self) -> None:
        self._space.set()
        self._space = trio.Event()

    # ================================================================= subscriptions

    def _inbox_subscription(self) -> bytes:
        """The SUB of the wildcard subscription every reply comes through."""
        return protocol.subscribe(protocol.encode_text(f"{self._inbox}.*"), None, self._inbox_sid)

    def _new_sid(self) -> int:
        sid = self._next_sid
        self._next_sid += 1
        return sid

    def _add_subscription(self, sub: Subscription) -> None:
        self._check_open()
        if self._draining:
            raise ConnectionClosedError("draining: no new subscriptions")
        sid = sub._sid = self._new_sid()
        sub._state = "active"
        self._subs[sid] = sub
        subject = protocol.encode_text(sub.subject)
        self._send(protocol.subscribe(subject, _encoded(sub.queue), sid))
        self._limit_subscription(sub)

    def _limit_subscription(self, sub: Subscription) -> None:
        remaining = sub._remaining()
        if remaining is not None:
            self._send(protocol.unsubscribe(sub._sid, remaining))

    def _remove_subscription(self, sub: Subscription, *, send: bool) -> None:
        if self._subs.pop(sub._sid, None) is not None and send:
            self._send(protocol.unsubscribe(sub._sid))
        self._draining_subs.pop(sub._sid, None)

    def _subscription_ended(self, sub: Subscription) -> None:
        self._sub_ended.set()
        self._sub_ended = trio.Event()

    def _add_feed(self, feed: ConnectionEvents) -> None:
        if self._finished:
            feed._end()
        else:
            self._feeds.add(feed)

    def _remove_feed(self, feed: ConnectionEvents) -> None:
        self._feeds.discard(feed)

    def _emit(self, kind: EventKind, error: BaseException | None = None) -> None:
        event = ConnectionEvent(kind, self._server.url if self._server is not None else "", error)
        for feed in list(self._feeds):
            feed._push(event)

    # ================================================================= incoming

    def _handle(self, op: protocol.Op) -> None:
        """One operation from the server (the reader; never waits)."""
        if isinstance(op, protocol.Message):
            self._in_msgs += 1
            self._in_bytes += len(op.payload)
            if op.sid == self._inbox_sid:
                waiter = self._requests.pop(op.subject[len(self._inbox) + 1 :], None)
                if waiter is not None:
                    waiter.msg = Msg(op.subject, op.payload, op.reply, op.headers, self)
                    waiter.event.set()
                return
            sub = self._subs.get(op.sid) or self._draining_subs.get(op.sid)
            if sub is not None:
                before = sub._dropped
                if sub._deliver(Msg(op.subject, op.payload, op.reply, op.headers, self)):
                    self._emit("slow_consumer", SlowConsumerError(sub.subject, sub._dropped))
                self._dropped += sub._dropped - before
        elif isinstance(op, protocol.Ping):
            self._send(protocol.PONG)
        elif isinstance(op, protocol.Pong):
            self._pings_outstanding = 0
            if self._pongs:
                waiter = self._pongs.popleft()
                if waiter is not None:
                    waiter.event.set()
        elif isinstance(op, protocol.Info):
            self._update_info(op.info)
            if op.info.get("ldm") is True:
                self._emit("lame_duck")
                if len(self._pool) > 1:
                    self._lose(
                        ConnectionLostError(self._url(), "the server entered lame duck mode")
                    )
        elif isinstance(op, protocol.Err):
            self._server_errors += 1
            error = handshake.server_error(op.text)
            if error.fatal:
                self._lose(error)
            else:
                self._emit("server_error", error)

    def _update_info(self, info: dict[str, Any]) -> None:
        """Keep the server's INFO; add the cluster's servers it names to the pool."""
        self._info = info
        urls = info.get("connect_urls")
        if not isinstance(urls, list):
            return
        known = {server.key for server in self._pool}
        scheme = "tls" if self._server is not None and self._server.tls else "nats"
        for url in urls:
            try:
                server = parse_server(f"{scheme}://{url}", discovered=True)
            except ValueError:
                continue
            if server.key not in known:
                known.add(server.key)
                self._pool.append(server)

    def _url(self) -> str:
        return self._server.url if self._server is not None else ""

    def _lose(self, error: NatsError) -> None:
        """The current stream is unusable: stop its tasks; `_run` reconnects.

        What was queued for it and not written is dropped: it mixes control lines meant for
        that stream only (PONGs, PINGs, SUBs the reconnection re-sends) with publishes, which
        core NATS delivers at most once anyway. Publishes made from now on are buffered for
        the next stream."""
        if self._loss is None:
            self._loss = error
            self._connected = False
            self._outbound = bytearray()
            self._space_freed()  # publishers waiting for room re-check: now they may not wait
        self._serve_scope.cancel()

    # ================================================================= tasks

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _run(self) -> None:
        """Serve the connection; reconnect when it breaks; finish when closed or given up."""
        final: ConnectionClosedError | None = None
        cause: BaseException | None = None
        with self._run_scope:
            try:
                while True:
                    await self._serve()
                    if self._closing:
                        break
                    error = self._loss
                    assert error is not None
                    await self._drop_stream()
                    self._emit("disconnected", error)
                    if not self._options.allow_reconnect:
                        final = ConnectionClosedError(f"connection lost ({error})")
                        cause = error
                        break
                    await self._reconnect()
                    self._reconnects += 1
                    self._emit("reconnected")
            except ConnectError as exc:
                final, cause = ConnectionClosedError(f"gave up reconnecting: {exc}"), exc
            except Exception as exc:  # a bug: end the connection with it rather than hang
                final, cause = ConnectionClosedError(f"internal error: {exc!r}"), exc
            finally:
                with trio.CancelScope(shield=True):
                    await self._drop_stream()
                self._finish(final, cause)

    async def _serve(self) -> None:
        """Run the reader, writer and pinger on the current stream until it breaks (or the
        connection closes)."""
        stream = self._stream
        assert stream is not None
        self._loss = None
        async with trio.open_nursery() as nursery:
            self._serve_scope = nursery.cancel_scope
            for op in self._early_ops:
                self._handle(op)
            self._early_ops = []
            nursery.start_soon(self._read_loop, stream)
            nursery.start_soon(self._write_loop, stream)
            if math.isfinite(self._options.ping_interval):
                nursery.start_soon(self._ping_loop)

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _read_loop(self, stream: trio.abc.Stream) -> None:
        parser = self._parser
        while self._loss is None:
            try:
                data = await stream.receive_some(handshake.READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._lose(
                    ConnectionLostError(self._url(), f"read failed: {handshake.describe(exc)}")
                )
                return
            if not data:
                self._lose(ConnectionLostError(self._url(), "the server closed the connection"))
                return
            try:
                ops = parser.feed(data)
            except ProtocolError as exc:
                self._lose(exc)
                return
            for op in ops:
                self._handle(op)

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _write_loop(self, stream: trio.abc.Stream) -> None:
        while True:
            if not self._outbound:
                if self._closing:
                    self._serve_scope.cancel()
                    return
                await self._writer_wakeup.wait()
                self._writer_wakeup = trio.Event()
                continue
            data, self._outbound = self._outbound, bytearray()
            self._space_freed()
            try:
                await stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._lose(
                    ConnectionLostError(self._url(), f"write failed: {handshake.describe(exc)}")
                )
                return

    @trio.lowlevel.enable_ki_protection  # (a library task: Ctrl-C goes to the main task)
    async def _ping_loop(self) -> None:
        options = self._options
        while True:
            await trio.sleep(options.ping_interval)
            if self._pings_outstanding >= options.max_outstanding_pings:
                self._lose(StaleConnectionError(self._pings_outstanding))
                return
            self._pings_outstanding += 1
            self._pongs.append(None)
            self._send(protocol.PING)

    async def _drop_stream(self) -> None:
        """Close the current stream (if any)."""
        self._connected = False
        stream, self._stream = self._stream, None
        if stream is not None:
            await trio.aclose_forcefully(stream)

    # ================================================================= connecting

    async def _connect_first(self) -> None:
        """One pass over the servers; the first that accepts becomes the connection."""
        errors: list[ConnectError] = []
        for server in list(self._pool):
            try:
                await self._open(server)
            except ConnectError as exc:
                errors.append(exc)
                continue
            return
        self._finished = True
        auth = [error for error in errors if isinstance(error, AuthorizationError)]
        if auth:
            raise auth[-1]
        last = errors[-1]
        raise ConnectError(tuple(server.url for server in self._pool), last.detail) from last

    async def _reconnect(self) -> None:
        """Try the servers (others first, the one just lost last) pass after pass, with a
        jittered exponential backoff between passes, until one accepts or the attempts are
        exhausted (`ConnectError`)."""
        options = self._options
        passes = 0
        last: ConnectError | None = None
        while passes < options.max_reconnect_attempts:
            if passes:
                delay = min(
                    options.reconnect_max_delay, options.reconnect_delay * 2 ** (passes - 1)
                )
                await trio.sleep(delay * (1 - options.reconnect_jitter * random.random()))
            passes += 1
            for server in self._reconnect_order():
                try:
                    await self._open(server)
                except ConnectError as exc:
                    last = exc
                    continue
                return
        detail = last.detail if last is not None else "no reconnect attempt allowed"
        raise ConnectError(tuple(server.url for server in self._pool), detail) from last

    def _reconnect_order(self) -> list[ServerAddress]:
        current = self._server
        others = [server for server in self._pool if server is not current]
        if self._options.randomize:
            random.shuffle(others)
        return [*others, current] if current is not None else others

    async def _open(self, server: ServerAddress) -> None:
        """Connect to `server` (`ConnectError` if that fails); then it is the current stream:
        re-send every subscription, then the buffered publishes, then one PING per waiting
        flush."""
        opened = await handshake.open_connection(server, self._options)
        self._stream = opened.stream
        self._parser = opened.parser
        self._early_ops = opened.early_ops
        self._server = server
        self._update_info(opened.info)
        prefix = bytearray()
        if self._inbox_sid:
            prefix += self._inbox_subscription()
        for sid, sub in self._subs.items():
            sub._base = sub._delivered
            prefix += protocol.subscribe(
                protocol.encode_text(sub.subject), _encoded(sub.queue), sid
            )
            remaining = sub._remaining()
            if remaining is not None:
                prefix += protocol.unsubscribe(sid, remaining)
        waiters = [waiter for waiter in self._pongs if waiter is not None]
        self._pongs = deque(waiters)
        self._outbound = prefix + self._outbound + protocol.PING * len(waiters)
        self._pings_outstanding = 0
        self._connected = True
        self._space_freed()

    # ================================================================= the end

    def _finish(self, error: ConnectionClosedError | None, cause: BaseException | None) -> None:
        """The connection is over: answer every waiter, end subscriptions and feeds."""
        self._finished = True
        self._connected = False
        if error is not None:
            self._close_detail = error.detail
            self._close_cause = cause
        for waiter in [*self._requests.values(), *self._pongs]:
            if waiter is not None:
                waiter.fail(self._closed_error())
        self._requests.clear()
        self._pongs.clear()
        self._outbound.clear()
        subs = [*self._subs.values(), *self._draining_subs.values()]
        self._subs.clear()
        self._draining_subs.clear()
        for sub in subs:
            sub._finish_delivery(self._closed_error() if error is not None else None)
        self._space_freed()
        if error is not None:
            error.__cause__ = cause
        self._emit("closed", error)
        for feed in list(self._feeds):
            feed._end()
        self._feeds.clear()
        self._closed.set()


def _encoded(queue: str | None) -> bytes | None:
    return None if queue is None else protocol.encode_text(queue)
