"""Events into a process's mailbox: `BusEvent` and the subscription that delivers it.

``EventBus.subscribe_self(bus, pattern)`` makes a `MailboxSubscription`: no queue and no task
of its own. ``publish`` puts a `BusEvent` straight into the owner's mailbox (``handle_info``),
synchronously, so the process sees the events of all its subscriptions in publish order, and
in order with the messages sent to it after the publish (Phoenix.PubSub's model).

Mailbox policy, for a bounded mailbox that is full when an event is published: the event is
dropped for that process -- the publisher is never blocked and never fails. The drop is
counted as a dead letter (``Runtime.statistics().dead_letters``) and logged once per run of
drops (a warning when the first event of a run is dropped, another with the count when an
event gets through again).

A process that is stopping takes no new events (they would land behind its stop and be
dropped). The subscription ends with ``unsubscribe()``, with its owner's exit, and with the bus.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

import attrs

from ._process import RUNNING, Process
from ._refs import EventBusRef

if TYPE_CHECKING:
    from ._bus_subscription import Latch
    from ._topics import TopicIndex

logger: Final = logging.getLogger("noex_trio")


@attrs.frozen
class BusEvent:
    """An event of a bus the process subscribed itself to: delivered to its ``handle_info``.

    Made by ``EventBus.subscribe_self``: one per matching subscription, so a process
    subscribed under two patterns that both match a topic gets two, one with each `pattern`.

    Attributes:
        topic: the published topic (``"user.created"``).
        data: the published value, as it was given to ``publish`` (not copied).
        pattern: the pattern of the subscription that matched (``"user.*"``).
        bus: the bus it was published on.
    """

    topic: str
    data: Any
    pattern: str
    bus: EventBusRef

    #: Left in the mailbox of a process that exits, it counts as a dead letter (user data, as
    #: a cast; the library's own notices, ``Down``/``Exit``, do not).
    _noex_dead_letter: ClassVar[bool] = True


class MailboxBus(Protocol):
    """What a mailbox subscription needs from its bus (the bus server implements it)."""

    #: Events handed to subscribers (for ``statistics()``).
    delivered: int

    @property
    def index(self) -> TopicIndex[Any]: ...

    @property
    def label(self) -> str: ...

    def mailbox_ended(self, sub: MailboxSubscription) -> None:
        """`sub` left the index: forget it."""


class MailboxSubscription:
    """One ``subscribe_self`` subscription: delivers `BusEvent` to its owner's mailbox."""

    __slots__ = ("bus", "dropped", "owner", "pattern", "ref")

    #: No delivery task (``publish_sync`` checks a subscription's task against its caller).
    _task: Final = None

    def __init__(self, bus: MailboxBus, ref: EventBusRef, pattern: str, owner: Process) -> None:
        self.bus = bus
        self.pattern = pattern
        #: The bus and the subscribed process; both None once the subscription ended (a
        #: process often keeps its ``unsubscribe`` in its state: that must be no cycle).
        self.ref: EventBusRef | None = ref
        self.owner: Process | None = owner
        #: Events dropped since the last one that got in (a full mailbox); 0 when none.
        self.dropped = 0

    def _offer(self, topic: str, data: Any, latch: Latch | None) -> None:
        # Called by ``publish``: the event is in the mailbox (or dropped) when this returns,
        # so ``publish_sync`` counts it as done at once.
        owner = self.owner
        if owner is not None and owner.status <= RUNNING:
            assert self.ref is not None  # (cleared with the owner)
            if owner.deliver_info(BusEvent(topic, data, self.pattern, self.ref)):
                self.bus.delivered += 1
                if self.dropped:
                    self._log_resumed(owner)
            else:
                self._drop(owner, topic)
        if latch is not None:
            latch.done()

    def _drop(self, owner: Process, topic: str) -> None:
        owner.kernel.count_dead_letters(1)
        self.dropped += 1
        if self.dropped == 1:
            logger.warning(
                "%s: mailbox of %s is full (%s messages): events of %r are dropped, counted "
                "as dead letters, until there is room (first dropped: %r)",
                self.bus.label,
                owner.label,
                owner.mailbox_size,
                self.pattern,
                topic,
            )

    def _log_resumed(self, owner: Process) -> None:
        logger.warning(
            "%s: events of %r reach %s again, after %d dropped (its mailbox was full)",
            self.bus.label,
            self.pattern,
            owner.label,
            self.dropped,
        )
        self.dropped = 0

    def unsubscribe(self) -> None:
        """Stop delivering (sync, idempotent); events already in the mailbox stay there."""
        owner = self.owner
        if owner is not None:
            self.owner = self.ref = None
            self.bus.index.remove(self.pattern, self)
            owner.remove_exit_hook(self)
            self.bus.mailbox_ended(self)
