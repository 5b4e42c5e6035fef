"""Watching a key-value bucket: an ordered push consumer (ADR-17), re-created when it breaks.

The watcher subscribes to a fresh inbox and asks JetStream for an ephemeral consumer that
pushes there the latest message of every matching key, then every new one. Each delivery's
reply subject (``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``, or
the longer form with a domain and account hash) carries the stream sequence (the key's
revision), the consumer sequence (1, 2, 3, ... without gaps), the time, and how many messages
are still pending: the initial values end at the first ``pending == 0``.

The server sends ``100 Idle Heartbeat`` status messages when it has nothing to send (with
the last consumer sequence it sent) and ``100 FlowControl Request`` ones that must be
answered or delivery stalls. A consumer-sequence gap (a message dropped by a full queue), a
heartbeat naming a sequence not seen, or three heartbeats missed in a row (the server
restarted, the consumer is gone) make the watcher drop that consumer and create a new one on
a new inbox, starting after the last revision it delivered. With one message per key, what
it then delivers is the latest state of every key changed meanwhile.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, final

import trio

from .._handles import NoPublicConstructor
from . import _jetstream as js
from ._errors import JetStreamError, NatsError, NatsTimeoutError, OutboundBufferFullError
from ._kv import KeyEntry, KeyValue, entry

if TYPE_CHECKING:
    from types import TracebackType

    from ._subscription import Msg, Subscription

_NANOSECONDS: Final = 1_000_000_000
#: Heartbeats missed in a row before the consumer is considered gone.
_MISSED_HEARTBEATS: Final = 3


class _Gap:
    """What `_handle` returns when the consumer must be re-created."""


_GAP: Final = _Gap()


def _metadata(reply: str | None) -> tuple[int, int, int, int] | None:
    """(stream sequence, consumer sequence, timestamp in ns, pending) of a delivery's reply
    subject, or None if it is not one."""
    if reply is None or not reply.startswith("$JS.ACK."):
        return None
    tokens = reply.split(".")
    if len(tokens) == 9:
        base = 2
    elif len(tokens) >= 11:
        base = 4
    else:
        return None
    fields = tokens[base + 3 : base + 7]
    if not all(field.isdigit() for field in fields):
        return None
    sseq, cseq, timestamp, pending = map(int, fields)
    return sseq, cseq, timestamp, pending


def _time(nanoseconds: int) -> datetime:
    return datetime.fromtimestamp(nanoseconds / _NANOSECONDS, UTC)


@final
class KeyWatcher(metaclass=NoPublicConstructor):
    """A watch of a bucket's keys, from `KeyValue.watch`::

        async with kv.watch("users.>") as watcher:
            values = await watcher.initial()   # the latest message of every key
            async for entry in watcher:        # then every change
                ...

    Entries come in revision order; deletes, purges and TTL expiries come as entries whose
    `KeyEntry.operation` is ``"DEL"`` or ``"PURGE"``. The initial set holds the latest
    message of every matching key, tombstones included. Iteration ends if the connection is
    closed by the user; if the connection gives up reconnecting, it raises
    `ConnectionClosedError`. While the connection reconnects (or JetStream restarts), the
    watcher keeps trying to re-create its consumer, each try bounded by the watch's
    `timeout`; an answer from JetStream that is not "unavailable" (the bucket was deleted)
    ends it with that `JetStreamError`.
    """

    _noex_made_by = "use KeyValue.watch()"

    def __init__(
        self,
        kv: KeyValue,
        pattern: str,
        updates_only: bool,
        idle_heartbeat: float,
        timeout: float,
        headers_only: bool,
        max_pending: int,
    ) -> None:
        self.pattern = pattern
        self._kv = kv
        self._connection = kv.connection
        self._stream = f"KV_{kv.bucket}"
        self._prefix = f"$KV.{kv.bucket}."
        self._updates_only = updates_only
        self._idle_heartbeat = idle_heartbeat
        self._timeout = timeout
        self._headers_only = headers_only
        self._max_pending = max_pending
        self._state: Literal["new", "active", "closed"] = "new"
        self._sub: Subscription | None = None
        self._consumer = ""
        self._created = False
        self._cseq = 0
        self._sseq = 0
        self._initial_done = updates_only
        self._recoveries = 0

    def __repr__(self) -> str:
        return f"<KeyWatcher {self._kv.bucket!r} {self.pattern!r} {self._state}>"

    @property
    def initial_done(self) -> bool:
        """Every entry of the initial set was received (always True with `updates_only`)."""
        return self._initial_done

    @property
    def recoveries(self) -> int:
        """How many times the watcher re-created its consumer (after a gap, missed
        heartbeats, a server restart)."""
        return self._recoveries

    # ----------------------------------------------------------------- context

    async def __aenter__(self) -> KeyWatcher:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._state != "new":
            raise RuntimeError(f"{self!r} was already entered; watch again instead")
        await self._start()
        self._state = "active"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = "closed"
        self._stop()

    # ----------------------------------------------------------------- receiving

    def __aiter__(self) -> KeyWatcher:
        return self

    async def __anext__(self) -> KeyEntry:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def initial(self) -> list[KeyEntry]:
        """Receive the rest of the initial set (everything, if nothing was received yet) and
        return it; ``[]`` once it was received, or with `updates_only`."""
        await trio.lowlevel.checkpoint_if_cancelled()
        entries: list[KeyEntry] = []
        while not self._initial_done:
            entries.append(await self.receive())
        return entries

    async def receive(self) -> KeyEntry:
        """The next entry, waiting for it (and re-creating the consumer when it broke).

        Raises:
            trio.EndOfChannel: the connection was closed by the user.
            ConnectionClosedError: the connection gave up reconnecting.
            JetStreamError: re-creating the consumer was refused (not merely unavailable).
            RuntimeError: the watcher is not active (not entered, or left).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._state != "active":
            raise RuntimeError(f"{self!r} is not active; use `async with kv.watch(...)`")
        while True:
            sub = self._sub
            if sub is None:  # broken (or a recovery was cancelled half-way)
                await self._restart()
                continue
            msg: Msg | None = None
            with trio.move_on_after(self._idle_heartbeat * _MISSED_HEARTBEATS):
                msg = await sub.receive()
            item = _GAP if msg is None else self._handle(msg)
            if isinstance(item, KeyEntry):
                return item
            if item is _GAP:
                self._recoveries += 1
                self._stop()

    def _handle(self, msg: Msg) -> KeyEntry | _Gap | None:
        """An entry, `_GAP` (re-create the consumer), or None (a heartbeat, flow control)."""
        headers = msg.headers
        if headers is not None and headers.status is not None:
            if msg.reply:  # a flow control request
                self._answer(msg.reply)
            stalled = headers.get("Nats-Consumer-Stalled")
            if stalled:  # a heartbeat after a flow control request was lost
                self._answer(stalled)
            last = headers.get("Nats-Last-Consumer")
            if last is not None and last.isdigit() and int(last) != self._cseq:
                return _GAP
            return None
        metadata = _metadata(msg.reply)
        if (
            metadata is None
            or metadata[1] != self._cseq + 1
            or not msg.subject.startswith(self._prefix)
        ):
            return _GAP
        sseq, cseq, timestamp, pending = metadata
        self._cseq, self._sseq = cseq, sseq
        if pending == 0:
            self._initial_done = True
        key = msg.subject[len(self._prefix) :]
        return entry(self._kv.bucket, key, msg.data, headers, sseq, _time(timestamp))

    def _answer(self, subject: str) -> None:
        with suppress(NatsError, ValueError):  # a closed connection ends the watch anyway
            self._connection.publish_nowait(subject)

    # ----------------------------------------------------------------- the consumer

    async def _start(self) -> None:
        """Subscribe to a fresh inbox and create a consumer pushing there."""
        connection = self._connection
        inbox = connection.new_inbox()
        config: dict[str, Any] = {
            "deliver_subject": inbox,
            "filter_subject": f"{self._prefix}{self.pattern}",
            "ack_policy": "none",
            "max_deliver": 1,
            "flow_control": True,
            "idle_heartbeat": round(self._idle_heartbeat * _NANOSECONDS),
            "mem_storage": True,
            "num_replicas": 1,
            "inactive_threshold": round(max(30.0, 5 * self._idle_heartbeat) * _NANOSECONDS),
        }
        if self._created and (self._sseq or self._updates_only):
            config["deliver_policy"] = "by_start_sequence"
            config["opt_start_seq"] = self._sseq + 1
        else:
            config["deliver_policy"] = "new" if self._updates_only else "last_per_subject"
        if self._headers_only:
            config["headers_only"] = True
        sub = connection.subscribe(inbox, max_pending=self._max_pending)
        await sub.__aenter__()
        try:
            reply = await js.request(
                connection,
                f"$JS.API.CONSUMER.CREATE.{self._stream}",
                {"stream_name": self._stream, "config": config},
                timeout=self._timeout,
            )
        except BaseException:
            await sub.__aexit__(None, None, None)
            raise
        self._sub = sub
        self._consumer = str(reply.get("name", ""))
        self._cseq = 0
        if not self._created and self._updates_only:
            delivered = reply.get("delivered")
            seq = delivered.get("stream_seq") if isinstance(delivered, dict) else None
            self._sseq = seq if isinstance(seq, int) and not isinstance(seq, bool) else 0
        self._created = True
        if reply.get("num_pending") == 0:
            self._initial_done = True

    def _stop(self) -> None:
        """Leave the inbox; ask the server to delete the consumer (without waiting: it goes
        by itself after its inactive threshold anyway)."""
        sub, self._sub = self._sub, None
        if sub is not None:
            sub.unsubscribe()
        consumer, self._consumer = self._consumer, ""
        if consumer:
            with suppress(NatsError, ValueError):
                self._connection.publish_nowait(
                    f"$JS.API.CONSUMER.DELETE.{self._stream}.{consumer}",
                    reply=self._connection.new_inbox(),
                )

    async def _restart(self) -> None:
        """Re-create the consumer after the last revision delivered, retrying (with backoff
        up to the heartbeat interval) while JetStream is unavailable."""
        delay = min(0.05, self._idle_heartbeat)
        while True:
            try:
                await self._start()
            except (NatsTimeoutError, OutboundBufferFullError):
                pass
            except JetStreamError as exc:
                if exc.code != js.UNAVAILABLE:
                    raise
            else:
                return
            await trio.sleep(delay)
            delay = min(delay * 2, self._idle_heartbeat)
