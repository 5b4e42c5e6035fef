"""What is stuck: the calls processes wait in, and the wait-for cycles among them.

A process waits in a call while one of its tasks is parked on a `Caller`. The caller is held
by its target: as the call being handled (``current``), a deferred call (``deferred``), a
`Stop` whose reply comes after ``terminate`` (``stop_reply``), or still queued in the mailbox
(a `Caller`, or the `GetState` of a ``get_state``; also a sender waiting for room in a full
bounded mailbox). Walking every live process finds them all, and the task parked on each one
tells who waits: the process in whose context that task runs. Nothing is recorded per call for
this (the call path only notes when the call was made, `Caller._since`).

A wait *blocks* its process when the waiting task is the process's loop (or a task one of its
handlers started): the process takes no message until the call returns. Blocking waits that
form a cycle (A calls B while B calls A) end only when a timeout fires, or never: a deadlock.
The cycles are found from the current waits, so before any timeout fires. A task of a
process's own nursery (``owns_tasks``) waiting in a call does not block the loop: it is a
wait, never part of a cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import trio

from ._context import process_var
from ._mailbox import Caller, GetState
from ._process import Process
from ._refs import in_own_loop

if TYPE_CHECKING:
    from ._kernel import Kernel


class Wait(NamedTuple):
    """A process (`caller`) waiting for the reply of a call made to `target`."""

    caller: Process
    target: Process
    #: The call's message (``GET_STATE`` for a ``get_state``).
    message: object
    #: When the call was made (`trio.current_time()`).
    since: float
    #: The waiting task is the caller's loop: it handles nothing until the reply.
    blocking: bool


def find_waits(kernel: Kernel) -> list[Wait]:
    """Every call a live process of `kernel` waits in, by caller id, oldest first."""
    waits = []
    for target in list(kernel.live.values()):
        for caller, task in _callers_at(target):
            if type(task) is not trio.lowlevel.Task or caller._done:
                continue  # answered or given up; a sender not parked yet; another node's
            proc = task.context.get(process_var)
            if proc is None or proc.kernel is not kernel:
                continue  # plain Trio code waits: not a process
            waits.append(Wait(proc, target, caller.message, caller._since, in_own_loop(proc, task)))
    waits.sort(key=lambda wait: (wait.caller.id, wait.since))
    return waits


def _callers_at(target: Process) -> Iterator[tuple[Caller[Any], trio.lowlevel.Task | None]]:
    """The callers `target` holds, each with the task waiting on it (if parked)."""
    current = target.current
    if current is not None:
        yield current, current._task
    if target.stop_reply is not None:
        caller = target.stop_reply[0]
        yield caller, caller._task
    for caller in list(target.deferred or ()):
        yield caller, caller._task
    queued, senders = peek_mailbox(target)
    for item in queued:
        found = _caller_of(item)
        if found is not None:
            yield found, found._task
    for task, item in senders:
        found = _caller_of(item)
        if found is not None:
            yield found, task


def _caller_of(item: object) -> Caller[Any] | None:
    kind = type(item)
    if kind is Caller:
        return item  # type: ignore[return-value]
    if kind is GetState:
        return item.caller  # type: ignore[attr-defined,no-any-return]
    return None


def peek_mailbox(
    proc: Process,
) -> tuple[tuple[Any, ...], tuple[tuple[trio.lowlevel.Task, Any], ...]]:
    """The items queued in `proc`'s mailbox, and the senders waiting for room in a full bounded
    mailbox with what each one sends.

    Trio offers no public way to look into a memory channel, so this reads its private state
    (``MemorySendChannel._state``: ``data`` and ``send_tasks``, as in trio 0.35). It is the
    one place that does: if Trio changes it, nothing queued is seen (the waits of queued
    callers are missed; nothing else changes).
    """
    try:
        state = proc.send._state
        return tuple(state.data), tuple(state.send_tasks.items())
    except Exception:
        return (), ()


def find_cycles(waits: list[Wait]) -> list[tuple[int, ...]]:
    """The wait-for cycles among the blocking `waits`, as process ids: each cycle once,
    starting at its smallest id, in wait order (each waits on the next, the last on the
    first); cycles sorted by their first id.

    Cycles are the strongly connected groups of the wait-for graph (Tarjan), so a group of
    processes tangled in more than one cycle is reported once, as one group.
    """
    edges: dict[int, set[int]] = {}
    for wait in waits:
        if wait.blocking:
            edges.setdefault(wait.caller.id, set()).add(wait.target.id)
    # (No process waits on itself: a call to itself from its loop is refused.)
    return sorted(
        _in_wait_order(set(group), edges) for group in _strongly_connected(edges) if len(group) > 1
    )


def _strongly_connected(edges: dict[int, set[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative (a long chain of waits must not hit the recursion limit)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    groups: list[list[int]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[int, Iterator[int]]] = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def _in_wait_order(group: set[int], edges: dict[int, set[int]]) -> tuple[int, ...]:
    """The ids of `group` from the smallest, each followed by one it waits on (exactly the
    cycle when each process waits on one other, the usual case)."""
    node = min(group)
    order = [node]
    seen = {node}
    while True:
        following = sorted(edges.get(node, set()) & (group - seen))
        if not following:
            break
        node = following[0]
        order.append(node)
        seen.add(node)
    order.extend(sorted(group - seen))
    return tuple(order)
