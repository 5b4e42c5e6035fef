"""``rt.snapshot()``: the whole runtime as plain data, its JSON form and its text form.

A `RuntimeSnapshot` holds the process tree (the processes started outside supervisors, in
start order; under each supervisor its children, in the order of its children table), every
process with its `ProcessStatistics`, the calls processes wait in and the wait-for cycles among
them (`_stuck`). ``to_dict()`` is the JSON shape dashboards read (``GET /snapshot.json``);
``to_text()`` (``rt.dump()``) the thread dump a person reads.

The snapshot is taken synchronously, so it is consistent: no process runs while it is taken.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from ._process import MESSAGE_LIMIT, Process, statistics_of
from ._runtime import RuntimeStatistics
from ._safe_format import safe_repr
from ._statistics import EventBusStatistics, ProcessStatistics, SupervisorStatistics
from ._stuck import find_cycles, find_waits
from ._supervisor_server import SupervisorServer

if TYPE_CHECKING:
    from ._kernel import Kernel


@attrs.frozen(kw_only=True)
class CallWait:
    """A process waiting for the reply of a call (an entry of `RuntimeSnapshot.waits`).

    Attributes:
        caller: the id of the waiting process.
        target: the id of the process it called.
        message: a short ``repr`` of the call's message (``get_state()`` for
            ``GenServer.get_state``).
        since: when the call was made (`trio.current_time()`).
        waited: seconds waited so far, at the time of the snapshot.
    """

    caller: int
    target: int
    message: str
    since: float
    waited: float


@attrs.frozen(kw_only=True)
class ProcessNode:
    """One process of the tree: its statistics, and for a supervisor its children.

    Attributes:
        statistics: the process's `ProcessStatistics` (a `SupervisorStatistics` for a
            supervisor, an `EventBusStatistics` for a bus).
        children: the live children of a supervisor, in the order of its children table;
            empty for other processes.
    """

    statistics: ProcessStatistics
    children: tuple[ProcessNode, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """This node and its children in the JSON shape (see `RuntimeSnapshot.to_dict`)."""
        s = self.statistics
        supervisor = None
        if isinstance(s, SupervisorStatistics):
            supervisor = {
                "strategy": s.strategy,
                "children_running": s.children_running,
                "children_not_running": s.children_not_running,
                "restarts_in_window": s.restarts_in_window,
                "restarts_total": s.restarts_total,
                "max_restarts": s.max_restarts,
                "max_seconds": _number(s.max_seconds),
            }
        return {
            "id": s.id,
            "label": s.label,
            "kind": s.kind,
            "behaviour": s.behaviour,
            "status": s.status,
            "mailbox": {"length": s.mailbox_length, "capacity": _number(s.mailbox_capacity)},
            "messages": {"calls": s.calls, "casts": s.casts, "infos": s.infos},
            "started_at": s.started_at,
            "uptime": s.uptime,
            "restarts": s.restarts,
            "serving": s.serving,
            "serving_since": s.serving_since,
            "tasks": s.tasks,
            "names": list(s.names),
            "supervisor": supervisor,
            "children": [child.to_dict() for child in self.children],
        }


@attrs.frozen(kw_only=True)
class RuntimeSnapshot:
    """The whole runtime at one moment, as plain data (``rt.snapshot()``).

    Attributes:
        name: the runtime's name.
        time: when it was taken (`trio.current_time()`).
        statistics: the runtime's `RuntimeStatistics`.
        tree: the processes started outside any supervisor, in start order, each a
            `ProcessNode` (supervisors with their children).
        waits: every process waiting in a call (`CallWait`), by caller id.
        cycles: the wait-for cycles among processes blocked in calls (deadlocks: each one
            waits on the next, the last on the first), as process ids from the smallest; each
            cycle once. Only a call timeout ends them (and none, for calls without one).
    """

    name: str
    time: float
    statistics: RuntimeStatistics
    tree: tuple[ProcessNode, ...]
    waits: tuple[CallWait, ...]
    cycles: tuple[tuple[int, ...], ...]

    def nodes(self) -> Iterator[ProcessNode]:
        """Every process of the tree, depth first (a supervisor before its children)."""
        stack = list(reversed(self.tree))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data (str, int, float, bool, None, lists and dicts; an
        unbounded mailbox or window is ``None``), for ``json.dumps``::

            {"runtime": {"name": ..., "time": ..., "statistics": {...}},
             "tree": [NODE, ...], "waits": [{...}, ...], "cycles": [[7, 9], ...]}

        A NODE holds the `ProcessStatistics` fields (``mailbox`` and ``messages`` grouped),
        ``supervisor`` (the `SupervisorStatistics` fields, or None) and ``children``. See
        ``docs/guides/observer.md`` for the full shape.
        """
        stats = self.statistics
        return {
            "runtime": {
                "name": self.name,
                "time": self.time,
                "statistics": {
                    "processes": stats.processes,
                    "registered_names": stats.registered_names,
                    "dead_letters": stats.dead_letters,
                    "crashes": stats.crashes,
                    "restarts": stats.restarts,
                },
            },
            "tree": [node.to_dict() for node in self.tree],
            "waits": [
                {
                    "caller": wait.caller,
                    "target": wait.target,
                    "message": wait.message,
                    "since": wait.since,
                    "waited": wait.waited,
                }
                for wait in self.waits
            ],
            "cycles": [list(cycle) for cycle in self.cycles],
        }

    def to_text(self) -> str:
        """The snapshot as a readable "thread dump" (what ``rt.dump()`` returns)."""
        return _Text(self).render()


def _number(value: float) -> float | None:
    """JSON has no infinity: an unbounded figure is null."""
    return value if math.isfinite(value) else None


# --- taking it --------------------------------------------------------------------------------


def take_snapshot(kernel: Kernel) -> RuntimeSnapshot:
    """Build the `RuntimeSnapshot` of `kernel`'s runtime now (what ``rt.snapshot()`` does)."""
    now = kernel.watchdog.now()
    seen: set[Process] = set()

    def node(proc: Process) -> ProcessNode:
        seen.add(proc)
        server = proc.behaviour
        children: tuple[ProcessNode, ...] = ()
        if isinstance(server, SupervisorServer):
            children = tuple(node(child) for child in _children(server))
        return ProcessNode(statistics=statistics_of(proc, now), children=children)

    roots = [] if kernel.root is None else list(kernel.root.procs)
    tree = [node(proc) for proc in roots]
    # Every live process is in a host, so in the tree; this keeps the snapshot whole anyway.
    tree.extend(node(proc) for proc in list(kernel.live.values()) if proc not in seen)
    waits = find_waits(kernel)
    return RuntimeSnapshot(
        name=kernel.runtime.name,
        time=now,
        statistics=kernel.runtime.statistics(),
        tree=tuple(tree),
        waits=tuple(
            CallWait(
                caller=wait.caller.id,
                target=wait.target.id,
                message=safe_repr(wait.message, limit=MESSAGE_LIMIT),
                since=wait.since,
                waited=now - wait.since,
            )
            for wait in waits
        ),
        cycles=tuple(find_cycles(waits)),
    )


def _children(server: SupervisorServer) -> list[Process]:
    """The live processes of a supervisor's nursery: its children in table order, then any
    other (a child whose start has not returned yet)."""
    alive = server.procs
    ordered = [
        child.proc
        for child in server.children.values()
        if child.proc is not None and child.proc in alive
    ]
    listed = set(ordered)
    ordered.extend(proc for proc in alive if proc not in listed)
    return ordered


# --- the text form ----------------------------------------------------------------------------


class _Text:
    """Renders a snapshot as a thread dump (ASCII only: it may go to any terminal or log)."""

    def __init__(self, snapshot: RuntimeSnapshot) -> None:
        self.snapshot = snapshot
        self.labels = {node.statistics.id: node.statistics.label for node in snapshot.nodes()}
        self.cycle_of = {
            pid: number for number, cycle in enumerate(snapshot.cycles, 1) for pid in cycle
        }
        self.waits_of: dict[int, list[CallWait]] = {}
        for wait in snapshot.waits:
            self.waits_of.setdefault(wait.caller, []).append(wait)
        self.lines: list[str] = []

    def label(self, pid: int) -> str:
        return self.labels.get(pid, f"#{pid}")

    def render(self) -> str:
        snap = self.snapshot
        stats = snap.statistics
        self.lines.append(
            f"noex_trio runtime {snap.name!r} at t={snap.time:.3f}: "
            f"{_count(stats.processes, 'process', 'processes')}, "
            f"{_count(stats.registered_names, 'registered name')}, "
            f"{_count(stats.dead_letters, 'dead letter')}, "
            f"{_count(stats.crashes, 'crash', 'crashes')}, {_count(stats.restarts, 'restart')}"
        )
        self.lines.append("")
        for node in snap.tree:
            self.node(node, "", "")
        self.lines.append("")
        self.waits()
        self.cycles()
        return "\n".join(self.lines) + "\n"

    def node(self, node: ProcessNode, first: str, rest: str) -> None:
        """`first`: the prefix of the node's own line; `rest`: of the lines below it."""
        s = node.statistics
        mailbox = f"mailbox {s.mailbox_length}"
        if s.mailbox_capacity != math.inf:
            mailbox += f"/{s.mailbox_capacity:g}"
        head = (
            f"{s.label} {s.behaviour} ({s.kind}) {s.status}; {mailbox}; "
            f"calls {s.calls}, casts {s.casts}, infos {s.infos}; up {s.uptime:.3f} s"
        )
        if s.restarts:
            head += f"; restarts {s.restarts}"
        if s.tasks:
            head += f"; tasks {s.tasks}"
        if s.names:
            head += "; names " + ", ".join(repr(name) for name in s.names)
        self.lines.append(first + head)
        pad = rest + ("|  " if node.children else "   ")
        for line in self.details(s):
            self.lines.append(pad + line)
        for index, child in enumerate(node.children):
            last = index == len(node.children) - 1
            self.node(child, rest + ("`- " if last else "+- "), rest + ("   " if last else "|  "))

    def details(self, s: ProcessStatistics) -> Iterator[str]:
        now = self.snapshot.time
        if isinstance(s, SupervisorStatistics):
            yield (
                f"{s.strategy}; children {s.children_running} running, "
                f"{s.children_not_running} not running; restarts {s.restarts_total} in all, "
                f"{s.restarts_in_window} in the window (gives up beyond {s.max_restarts} "
                f"in {s.max_seconds:g} s)"
            )
        elif isinstance(s, EventBusStatistics):
            yield (
                f"{_count(s.subscriptions, 'subscription')}; events {s.published} published, "
                f"{s.delivered} delivered, {s.failed} failed"
            )
        if s.serving is not None and s.serving_since is not None:
            yield (
                f"serving call {s.serving} for {now - s.serving_since:.3f} s "
                f"(made at t={s.serving_since:.3f})"
            )
        for wait in self.waits_of.get(s.id, ()):
            cycle = self.cycle_of.get(s.id)
            mark = f"  <-- DEADLOCK (cycle {cycle})" if cycle is not None else ""
            yield (
                f"WAITING for {self.label(wait.target)} for {wait.waited:.3f} s: call "
                f"{wait.message} (made at t={wait.since:.3f}){mark}"
            )

    def waits(self) -> None:
        waits = self.snapshot.waits
        if not waits:
            self.lines.append("waits: no process is waiting in a call")
            return
        self.lines.append(f"waits: {_count(len(waits), 'call')} being waited for")
        for wait in waits:
            self.lines.append(
                f"  {self.label(wait.caller)} -> {self.label(wait.target)}: {wait.message}, "
                f"for {wait.waited:.3f} s (since t={wait.since:.3f})"
            )

    def cycles(self) -> None:
        cycles = self.snapshot.cycles
        if not cycles:
            self.lines.append("cycles: none (no deadlock)")
            return
        self.lines.append(
            f"cycles: {_count(len(cycles), 'deadlock')}: each process waits for the next, "
            "the last for the first; only a call timeout ends it"
        )
        for number, cycle in enumerate(cycles, 1):
            path = " -> ".join(self.label(pid) for pid in (*cycle, cycle[0]))
            self.lines.append(f"  cycle {number}: {path}")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"
