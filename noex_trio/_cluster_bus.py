"""A cluster-wide EventBus: the link between a local bus and the same bus on other nodes.

``EventBus.start(name, cluster=True)`` starts a bus as usual (``_bus_server``) with a
`ClusterLink`. ``publish`` delivers here as for any bus, then hands the event to the link,
which publishes it on NATS; every node running a cluster bus of that name reads those
subjects and delivers what *other* nodes published to its own subscribers, as ``publish``
would (the same `TopicIndex`, so the same grammar and the same delivery).

Subjects (``P`` = the cluster's prefix, ``<subject_prefix>.<cluster>``)::

    P.bus.<bus>.<segment>.<segment>...     one event; every node of the bus reads P.bus.<bus>.>

``<bus>`` is the bus's name and each ``<segment>`` a segment of the topic, each written as one
NATS token by `token`: itself if it is made of ``A-Za-z0-9_-`` (``orders.created`` stays
readable, and NATS permissions can name a bus: ``P.bus.orders.>``), else ``~`` and the
base64url of its UTF-8 (no dot, space or wildcard reaches a subject).

A message's payload is the node's codec encoding of the event's data, made with the runtime's
wire context (`Distribution.encode`: refs travel); its headers name the publisher (``Noex-From``,
its name token, and ``Noex-From-Inc``, its incarnation), so a node skips its own events (it
delivered them locally already). Anything else on those subjects is garbage: counted, ignored.

Order is what NATS gives: the events one node publishes reach each other node in the order
published. There is no replay: a node gets the events published after its bus subscribed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import re
from collections.abc import Awaitable
from typing import Any, Final

import trio

from . import nats
from ._bus_server import BusServer
from ._distribution import Distribution
from ._outcome import is_cancellation
from .cluster import _protocol as protocol
from .cluster._rpc import sender_of

logger: Final = logging.getLogger("noex_trio.cluster")

#: A topic segment (or bus name) written as itself in a subject.
_PLAIN: Final = re.compile(r"[A-Za-z0-9_-]+")
#: The first character of a token that is the base64url of its text.
_ESCAPE: Final = "~"
#: The longest subject an event may have: a HPUB control line must fit in 4096 bytes.
MAX_SUBJECT: Final = 4000
#: How many topics (and subjects) the link remembers the translation of.
_CACHE: Final = 4096
#: Events waiting to be read (beyond that, NATS drops them: counted in ``cluster_dropped``).
QUEUE: Final = 65536
QUEUE_BYTES: Final = 64 * 1024 * 1024


def token(text: str) -> str:
    """`text` (a topic segment, a bus name) as one NATS subject token (see the module doc)."""
    if _PLAIN.fullmatch(text):
        return text
    raw = text.encode("utf-8", "surrogatepass")
    return _ESCAPE + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def text_of(value: str) -> str | None:
    """The text a token stands for, or None if it is not the canonical token of a text."""
    if not value.startswith(_ESCAPE):
        return value if _PLAIN.fullmatch(value) else None
    body = value[1:]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
        text = raw.decode("utf-8", "surrogatepass")
    except (ValueError, binascii.Error):
        return None
    return text if token(text) == value else None


class ClusterLink:
    """The link of one cluster bus on this node (the `Link` of its `BusServer`)."""

    def __init__(self, distribution: Distribution, name: str) -> None:
        node = distribution.node
        self._distribution = distribution
        self._nc = node._nc
        self._node = node
        self._base = f"{node._config.prefix}.bus.{token(name)}."
        self._me = (node._token, str(node.id.incarnation))
        self._headers = {protocol.FROM: node._token, protocol.FROM_INCARNATION: self._me[1]}
        self._subjects: dict[str, str] = {}  # topic -> subject
        self._topics: dict[str, str] = {}  # subject -> topic
        self._sub: nats.Subscription | None = None
        self._scope = trio.CancelScope()
        self._closed = False
        self._refused = 0  # a run of events not sent (logged when it starts and ends)
        self.sent = self.received = self.not_sent = self.garbage = 0

    # ----------------------------------------------------------------- publishing

    def prepare(self, topic: str, data: Any) -> tuple[str, bytes]:
        """The event's subject and payload.

        Raises:
            CodecError: `data` cannot be encoded by the node's codec (or is larger than the
                server's ``max_payload``).
            ValueError: the topic's subject would be too long for NATS.
        """
        subject = self._subjects.get(topic)
        if subject is None:
            subject = self._base + ".".join(map(token, topic.split(".")))
            if len(subject) > MAX_SUBJECT:
                raise ValueError(
                    f"invalid topic of {len(topic)} characters: too long for a cluster bus "
                    f"(its NATS subject would have {len(subject)} bytes, at most {MAX_SUBJECT})"
                )
            if len(self._subjects) >= _CACHE:
                self._subjects.clear()
            self._subjects[topic] = subject
        return subject, self._distribution.encode(data)

    def send(self, outgoing: tuple[str, bytes]) -> None:
        """Publish a prepared event now (no await: the order of sends is the order sent)."""
        subject, payload = outgoing
        try:
            self._nc.publish_nowait(subject, payload, headers=self._headers)
        except nats.NatsError as error:  # a full outbound buffer, a closed connection
            self.not_sent += 1
            self._refused += 1
            if self._refused == 1:
                logger.warning(
                    "%s: events of bus %r are not sent to the other nodes, counted in "
                    "cluster_dropped, until they can be (%r)",
                    self._node.id,
                    self._base,
                    error,
                )
            return
        self.sent += 1
        if self._refused:
            logger.warning(
                "%s: events of bus %r are sent again (%d were not)",
                self._node.id,
                self._base,
                self._refused,
            )
            self._refused = 0

    # ----------------------------------------------------------------- receiving

    def start(self, server: BusServer) -> Awaitable[None]:
        return server._noex_nursery.start(self._run, server)

    def close(self) -> None:
        self._closed = True
        self._scope.cancel()

    async def _run(self, server: BusServer, task_status: trio.TaskStatus[None]) -> None:
        """Read the bus's subjects until the link is closed.

        Once started, only `close` ends it (a shielded scope, as the bus's delivery tasks:
        the bus's own cancellation must not escape its nursery), and nothing raises out of
        it: a connection closed for good ends the reading, a fatal error ends the runtime.
        """
        with self._scope:
            async with self._nc.subscribe(
                self._base + ">", max_pending=QUEUE, max_pending_bytes=QUEUE_BYTES
            ) as sub:
                self._sub = sub
                if self._nc.status == "connected":  # (else NATS subscribes on reconnecting)
                    with contextlib.suppress(nats.NatsError):
                        await self._nc.flush()  # the server knows the subscription
                task_status.started()
                self._scope.shield = True
                try:
                    async for (
                        msg
                    ) in sub:  # pragma: no branch - ends with the connection, or `close`
                        self._receive(server, msg)
                except BaseException as error:
                    if is_cancellation(error):
                        raise
                    if isinstance(error, Exception):  # pragma: no cover - the connection
                        # closed for good: the node fails and its runtime ends anyway
                        logger.info(
                            "%s: bus %r stops reading: %r", self._node.id, self._base, error
                        )
                    else:  # a KeyboardInterrupt in a user's from_wire converter
                        server.escalate(error)

    def _receive(self, server: BusServer, msg: nats.Msg) -> None:
        """Deliver one event of another node here, as ``publish`` does."""
        if self._closed:  # pragma: no cover - a message read as `close` was called: the bus
            return  # is stopping and takes no new event (its queues may be closed already)
        headers = msg.headers
        if headers is not None and self._me == (
            headers.get(protocol.FROM),
            headers.get(protocol.FROM_INCARNATION),
        ):
            return  # this node's own event: delivered here when it was published
        topic = self._topic(msg.subject)
        if topic is None or sender_of(msg) is None:
            self._garbage(msg, "an invalid subject or publisher")
            return
        matches = server.index.match(topic)
        if matches:  # (else nothing to decode)
            distribution = self._distribution
            try:
                with distribution._wire():
                    data = distribution.codec.decode(msg.data)
            except Exception as error:
                self._garbage(msg, repr(error))
                return
            for item in matches:
                item._offer(topic, data, None)
        self.received += 1

    def _topic(self, subject: str) -> str | None:
        topic = self._topics.get(subject)
        if topic is not None:
            return topic
        segments = []
        for value in subject[len(self._base) :].split("."):
            text = text_of(value)
            if not text or "." in text or "*" in text:
                return None
            segments.append(text)
        topic = ".".join(segments)
        if len(self._topics) >= _CACHE:
            self._topics.clear()
        self._topics[subject] = topic
        return topic

    def _garbage(self, msg: nats.Msg, why: str) -> None:
        self.garbage += 1
        self._node._count_garbage()
        if self.garbage & (self.garbage - 1) == 0:  # (the 1st, 2nd, 4th, 8th...: no flood)
            logger.warning(
                "%s: garbage on %r ignored (%s; %d so far)",
                self._node.id,
                msg.subject,
                why,
                self.garbage,
            )

    def counts(self) -> tuple[int, int, int, int]:
        sub = self._sub
        unread = sub.statistics().dropped if sub is not None else 0
        return self.sent, self.received, self.not_sent + unread, self.garbage
