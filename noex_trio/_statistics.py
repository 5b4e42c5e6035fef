"""What an observer can read of a process, a supervisor, a bus and a registry: frozen values.

Like Trio's ``MemoryChannelStatistics``, these are snapshots taken when ``statistics()`` is
called; they never change and hold no reference to the runtime. They are built elsewhere (the
process record, the supervisor and bus servers, the registry); this module only defines them.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

#: What kind of process it is: a GenServer (``"worker"``), a supervisor (a DynamicSupervisor
#: included), an EventBus, a registry process, or a supervised task (``Task``).
ProcessKind: TypeAlias = Literal["worker", "supervisor", "bus", "registry", "task"]

#: Where a process is in its life: ``"starting"`` while ``init`` runs, ``"running"``,
#: ``"stopping"`` once a stop was requested or began (it takes no new messages), ``"dead"``.
ProcessStatus: TypeAlias = Literal["starting", "running", "stopping", "dead"]


@attrs.frozen(kw_only=True)
class ProcessStatistics:
    """A snapshot of one process, from ``ref.statistics()``.

    Times are `trio.current_time()` values (the runtime's clock, virtual in tests).

    Attributes:
        id: the process's id (``ref.id``).
        label: how logs and errors name it (``"counter#7"``).
        kind: ``"worker"``, ``"supervisor"``, ``"bus"``, ``"registry"`` or ``"task"``.
        behaviour: the behaviour's class name (``"Counter"``; ``"Supervisor"``,
            ``"DynamicSupervisor"``, ``"EventBus"``, ``"Registry"``, ``"Task"`` for the
            library's own processes).
        status: ``"starting"``, ``"running"``, ``"stopping"`` or ``"dead"``.
        mailbox_length: messages queued, not yet taken by the process (callers waiting for
            room in a full bounded mailbox are not counted).
        mailbox_capacity: the bound given as ``mailbox_size`` (``math.inf``: unbounded).
        calls: calls the process has taken from its mailbox (handled or being handled).
        casts: casts taken (timer messages sent by ``send_after`` included).
        infos: messages taken for ``handle_info`` (monitor ``Down``, ``Exit``, ``BusEvent``,
            the library's notices to supervisors).
        started_at: when the process was created (just before its ``init`` ran).
        uptime: seconds since `started_at` while the process lives; 0.0 once it is dead.
        restarts: how often its supervisor restarted the child this process is (the child's
            restart count); 0 outside a supervisor.
        serving: a short ``repr`` of the message of the call being handled right now, or None.
        serving_since: when that call was made by its caller (so it includes the time the
            call waited in the mailbox); None when no call is being handled.
        tasks: tasks running in the process's own nursery (``owns_tasks`` behaviours and
            supervised tasks); 0 for other processes.
        names: the names the process holds in the runtime's registry, oldest first.
    """

    id: int
    label: str
    kind: ProcessKind
    behaviour: str
    status: ProcessStatus
    mailbox_length: int
    mailbox_capacity: float
    calls: int
    casts: int
    infos: int
    started_at: float
    uptime: float
    restarts: int
    serving: str | None
    serving_since: float | None
    tasks: int
    names: tuple[str, ...]

    @property
    def process(self) -> ProcessStatistics:
        """The process's own figures (for `SupervisorStatistics` and `EventBusStatistics`,
        without theirs): ``sup.statistics().process.mailbox_length``."""
        if type(self) is ProcessStatistics:
            return self
        fields = {field.name: getattr(self, field.name) for field in _PROCESS_FIELDS}
        return ProcessStatistics(**fields)


_PROCESS_FIELDS = attrs.fields(ProcessStatistics)


@attrs.frozen(kw_only=True)
class SupervisorStatistics(ProcessStatistics):
    """A snapshot of a supervisor, from ``sup.statistics()`` or ``Supervisor.statistics(sup)``.

    It is the supervisor's `ProcessStatistics` (also as `process`), plus:

    Attributes:
        strategy: ``"one_for_one"``, ``"one_for_all"``, ``"rest_for_one"`` or
            ``"simple_one_for_one"`` (a DynamicSupervisor: ``"one_for_one"``).
        children_running: children whose process runs.
        children_not_running: children without a running process: their ``init`` returned
            `Ignore`, or they exited and their restart is under way.
        restarts_in_window: restarts in the intensity window now (the last `max_seconds`);
            one more than `max_restarts` makes the supervisor give up.
        restarts_total: restarts the supervisor made after a child exited, since it started
            (a one_for_all restart of the whole group counts once, as in the window;
            ``Supervisor.restart_child`` is not counted).
        max_restarts: the intensity: restarts tolerated within `max_seconds`.
        max_seconds: the intensity window, in seconds.
    """

    strategy: str
    children_running: int
    children_not_running: int
    restarts_in_window: int
    restarts_total: int
    max_restarts: int
    max_seconds: float


@attrs.frozen(kw_only=True)
class EventBusStatistics(ProcessStatistics):
    """A snapshot of an EventBus, from ``bus.statistics()`` or ``EventBus.statistics(bus)``.

    It is the bus's `ProcessStatistics` (also as `process`), plus:

    Attributes:
        subscriptions: handler subscriptions, listeners and process subscriptions now.
        published: ``publish`` and ``publish_sync`` calls on this bus.
        delivered: events handed to a subscriber: a handler called with it (whatever the
            handler did), an event put in a listener's buffer or in a process's mailbox.
            Events dropped (a full buffer or mailbox, an unsubscribe) are not counted.
        failed: handler calls that raised (each one was logged).
        cluster_sent: (a cluster bus) events published to the other nodes.
        cluster_received: (a cluster bus) events received from other nodes (matching a
            subscription here or not).
        cluster_dropped: (a cluster bus) events lost between this node and the others: not
            sent (the outbound buffer was full, or the connection closed), or not read (this
            bus's queue of incoming events was full).
        cluster_garbage: (a cluster bus) messages on the bus's subjects that were not valid
            events (ignored).
    """

    subscriptions: int
    published: int
    delivered: int
    failed: int
    cluster_sent: int = 0
    cluster_received: int = 0
    cluster_dropped: int = 0
    cluster_garbage: int = 0


@attrs.frozen(kw_only=True)
class RegistryStatistics:
    """A snapshot of a registry, from ``registry.statistics()``.

    Attributes:
        entries: registrations (key → process); in a unique registry, the number of keys.
        keys: keys with at least one process.
    """

    entries: int
    keys: int
