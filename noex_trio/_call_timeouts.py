"""Call timeouts without a cancel scope per call.

Entering and leaving a `trio.CancelScope` costs about as much as a whole call round trip, so
`call` does not open one. Instead each runtime runs one *watchdog* task. A waiting caller is
appended to a doubly linked list per timeout value; since deadlines of one timeout value grow
with time, each list is sorted and the watchdog only ever looks at list heads. A caller keeps
when it was made (`Caller._since`, also what observers show); its deadline is that plus the
list's timeout. A reply (or a
cancelled caller) unlinks itself in O(1). The watchdog sleeps until the earliest head deadline
and fails the callers whose time is up with `CallTimeoutError`.

More than `_MAX_LISTS` distinct timeout values fall back to a cancel scope per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from ._exceptions import CallTimeoutError

if TYPE_CHECKING:
    from ._mailbox import Caller

_MAX_LISTS: Final = 16


class _List:
    """Waiting callers with the same timeout, oldest (earliest deadline) first."""

    __slots__ = ("head", "tail", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.head: Caller[Any] | None = None
        self.tail: Caller[Any] | None = None


def unlink(caller: Caller[Any]) -> None:
    """Remove a caller from its list (it was answered, or gave up); it must be in one."""
    lst = caller._list
    assert lst is not None
    prev, nxt = caller._prev, caller._next
    if prev is None:
        lst.head = nxt
    else:
        prev._next = nxt
    if nxt is None:
        lst.tail = prev
    else:
        nxt._prev = prev
    caller._list = caller._prev = caller._next = None


class Watchdog:
    """Fails callers whose deadline passed; one per runtime, running in its root nursery."""

    def __init__(self) -> None:
        self._lists: dict[float, _List] = {}
        self._scope: trio.CancelScope | None = None
        self._wake_at = math.inf
        #: The run's clock, read directly (``trio.current_time()`` costs two more calls).
        self.now: Callable[[], float] = trio.current_time

    def watch(self, caller: Caller[Any], timeout: float) -> bool:
        """Start watching `caller`; False if the caller must use its own cancel scope."""
        lst = self._lists.get(timeout)
        if lst is None:
            if len(self._lists) >= _MAX_LISTS or self._scope is None:
                return False
            lst = self._lists[timeout] = _List(timeout)
        now = self.now()
        deadline = now + timeout
        caller._since = now
        caller._list = lst
        tail = lst.tail
        caller._prev = tail
        if tail is None:
            lst.head = caller
        else:
            tail._next = caller
        lst.tail = caller
        if deadline < self._wake_at:
            self._wake_at = deadline
            self._scope.deadline = deadline  # type: ignore[union-attr]  # checked above
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The watchdog task: sleep until the earliest deadline, fail expired callers, repeat."""
        self.now = trio.lowlevel.current_clock().current_time
        started = False
        while True:
            with trio.CancelScope(deadline=self._wake_at) as scope:
                self._scope = scope
                if not started:
                    started = True
                    task_status.started()
                await trio.sleep_forever()
            self._scope = None
            now = trio.current_time()
            wake = math.inf
            for lst in self._lists.values():
                timeout = lst.timeout
                head = lst.head
                while head is not None and head._since + timeout <= now:
                    unlink(head)
                    head.fail(CallTimeoutError(head._target, timeout))
                    head = lst.head
                if head is not None and head._since + timeout < wake:
                    wake = head._since + timeout
            self._wake_at = wake
