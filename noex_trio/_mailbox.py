"""What travels through a process's mailbox, and the reply slot of a call.

A mailbox is a Trio memory channel of these items: a `Caller` (a call waiting for its reply),
`CastItem`, `Info` (for ``handle_info``), `StopRequest`, `GetState` (``GenServer.get_state``),
`Crash` (``testing.crash``) and `Handover` (what an inline call leaves to the process's task,
see `_inline.py`).
"""

from __future__ import annotations

from typing import Any, Generic, NoReturn, TypeVar, cast, final

import trio

from ._call_timeouts import unlink
from ._handles import NoPublicConstructor
from ._safe_format import safe_repr

R = TypeVar("R")


@final
class Caller(Generic[R], metaclass=NoPublicConstructor):
    """The pending reply of one call: the handle behind ``GenServer.caller()``.

    Keep it and return `NoReply` to answer later with `reply`; a second reply is ignored,
    and so is a reply to a caller that timed out or was cancelled. Users never build one.
    """

    __slots__ = (
        "_deferred",
        "_done",
        "_error",
        "_list",
        "_next",
        "_prev",
        "_since",
        "_target",
        "_task",
        "_value",
        "message",
    )

    def __init__(self, message: Any, target: object = None) -> None:
        self.message = message
        self._target = target
        #: The task parked on the reply; or, for a call from another node, the function
        #: that sends the answer there (called with the caller when it is answered).
        self._task: Any = None
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._deferred: set[Caller[Any]] | None = None
        # Links of the call-timeout watchdog's list (see _call_timeouts).
        self._list: Any = None
        self._prev: Caller[Any] | None = None
        self._next: Caller[Any] | None = None
        #: When the call was made (`trio.current_time()`): its deadline is this plus its
        #: timeout (the watchdog's list knows the timeout), and observers show how long the
        #: caller has been waiting. Set by the call path, never per message.
        self._since = 0.0

    @property
    def pending(self) -> bool:
        """True while the caller still waits: not answered yet, and it has not given up
        (timed out or been cancelled). A deferred reply to a caller that is no longer pending
        is dropped, so check this before handing it something you cannot afford to lose."""
        return not self._done

    @trio.lowlevel.enable_ki_protection
    def reply(self, value: R) -> None:
        """Send `value` to the waiting caller (sync; ignored if already answered or abandoned)."""
        if self._done:
            return
        self._done = True
        self._value = value
        self._wake()

    @trio.lowlevel.enable_ki_protection
    def fail(self, error: BaseException) -> None:
        """Raise `error` in the waiting caller (ignored if already answered or abandoned)."""
        if self._done:
            return
        self._done = True
        self._error = error
        self._wake()

    def defer(self, deferred: set[Caller[Any]]) -> None:
        """The handler returned `NoReply`: remember the caller in its process's `deferred` set
        (so the process's exit fails it), until it is answered or gives up."""
        if not self._done:
            deferred.add(self)
            self._deferred = deferred

    def _wake(self) -> None:
        if self._list is not None:
            unlink(self)
        if self._deferred is not None:
            self._deferred.discard(self)
            self._deferred = None
        task = self._task
        if task is not None:
            self._task = None
            if type(task) is _Task:
                trio.lowlevel.reschedule(task)
            else:
                task(self)  # (a call from another node: its answer goes out now)

    def abort(self, _raise_cancel: Any) -> trio.lowlevel.Abort:
        """Trio's abort callback: the caller gave up (timeout or cancellation); later replies
        are dropped, and a deferred caller no longer needs to be remembered by the process."""
        self._task = None
        self._done = True
        if self._list is not None:
            unlink(self)
        if self._deferred is not None:
            self._deferred.discard(self)
            self._deferred = None
        return trio.lowlevel.Abort.SUCCEEDED

    def raise_error(self) -> NoReturn:
        """In the caller: raise the error the call failed with."""
        # Raised from here, not from `call`'s frame: that frame holds the caller, and the
        # caller the error, which would make error -> traceback -> frame -> caller -> error a
        # reference cycle (garbage for the cyclic collector on every failed call).
        error = self._error
        self._error = None
        assert error is not None
        try:
            raise error
        finally:
            del error

    async def wait(self) -> R:
        """In the caller: park until answered (the caller's own cancel scope may end it)."""
        if self._done:
            await trio.lowlevel.cancel_shielded_checkpoint()
        else:
            self._task = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self.abort)
        if self._error is not None:
            self.raise_error()
        return cast(R, self._value)

    def __repr__(self) -> str:
        return f"<Caller of {safe_repr(self.message)}>"


_Task = trio.lowlevel.Task

#: Builds a `Caller` without going through the metaclass (the call path makes one per call).
new_caller: Any = type.__call__.__get__(Caller)


class CastItem:
    __slots__ = ("message",)

    def __init__(self, message: object) -> None:
        self.message = message


class Info:
    """A message for ``handle_info`` (monitor ``Down``, trapped ``Exit``, supervisor notices)."""

    __slots__ = ("message",)

    def __init__(self, message: object) -> None:
        self.message = message


class Crash:
    """Test helper item: the process raises `error` as if a handler had (``testing.crash``)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Handover:
    """A call whose ``handle_call`` ran inline (`_inline.py`) but whose outcome needs the
    process's own task: the loop carries on from `result` (a `Stop`, `NoReply`, a
    continuation, an awaitable, a bad value) or raises `error`, as if its own ``handle_call``
    had returned or raised it for `caller`."""

    __slots__ = ("caller", "error", "result")

    def __init__(self, caller: Caller[Any], result: object, error: BaseException | None) -> None:
        self.caller = caller
        self.result = result
        self.error = error


class StopRequest:
    __slots__ = ("reason",)

    def __init__(self, reason: object) -> None:
        self.reason = reason


class _GetStateRequest:
    """The message of a ``get_state`` caller (how observers show it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "get_state()"


#: What a ``get_state`` caller asks (its `Caller.message`).
GET_STATE: Any = _GetStateRequest()


class GetState:
    """``GenServer.get_state``: the loop answers `caller` with the state, in mailbox order."""

    __slots__ = ("caller",)

    def __init__(self, caller: Caller[Any]) -> None:
        self.caller = caller
