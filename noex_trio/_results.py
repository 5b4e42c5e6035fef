"""Values that flow between processes and their observers.

Handler results (`Reply`, `NoReply`, `Stop`, `Continue`, and `Ignore` from ``init``) tell the
process loop what to do after a message; `IdleTimeout` is what the loop tells a handler that
asked for one; lifecycle events (`Started`, `Crashed`, `Terminated`, `Restarted`) tell
observers what happened. All are frozen attrs classes: they are values, compared by content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeAlias, TypeVar, Union

import attrs

from . import _checks as checks

if TYPE_CHECKING:
    from ._process import ProcessRef

R = TypeVar("R")
S = TypeVar("S")

#: Why a process ended: any value, as in OTP. ``"normal"``, ``"shutdown"`` and
#: ``("shutdown", detail)`` are clean exits; anything else is abnormal: an exception instance (a
#: crash), ``"killed"`` (stopped without ``terminate``: ``brutal_kill``, ``GenServer.exit(ref,
#: "kill")``, a ``terminate`` over its budget), or any other value a user gave to `Stop`,
#: ``GenServer.stop`` or ``GenServer.exit``.
#: (Spelled as a union for the reader; to a type checker it is `object`.)
ExitReason: TypeAlias = Union[  # noqa: UP007
    Literal["normal", "shutdown", "killed"],
    tuple[Literal["shutdown"], object],
    BaseException,
    object,
]


class _NoReplyValue:
    """Sentinel: a `Stop` that sends no reply."""

    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY: Final = _NoReplyValue()


class _NoContinueValue:
    """Sentinel: a `Reply`/`NoReply` without a continuation."""

    def __repr__(self) -> str:
        return "NO_CONTINUE"


NO_CONTINUE: Final = _NoContinueValue()


@attrs.frozen
class Reply(Generic[R, S]):
    """Answer the current call with `value` and continue with `state`.

    Equivalent to returning ``(value, state)`` from ``handle_call``; spelled out, it reads better
    next to `NoReply` and `Stop`, and it takes the options a tuple cannot:

    Args:
        continue_with: run ``handle_continue(continue_with, state)`` right after this call,
            before any other message (OTP ``{:reply, r, s, {:continue, arg}}``).
        idle_timeout: seconds; if no message arrives within them, ``handle_info`` gets
            `IdleTimeout` (OTP ``{:reply, r, s, timeout}``). Not together with `continue_with`
            (the continuation's own result may ask for one).
    """

    value: R
    state: S
    continue_with: Any = NO_CONTINUE
    idle_timeout: float | None = None


@attrs.frozen
class NoReply(Generic[S]):
    """Continue with `state` without answering yet.

    From ``handle_call``: keep ``GenServer.caller()`` and answer later with ``caller.reply(v)``
    (a deferred reply). From ``handle_cast``/``handle_info``/``handle_continue``: same as
    returning the state, with the options below.

    Args:
        continue_with: run ``handle_continue(continue_with, state)`` next, before any other
            message (OTP ``{:noreply, s, {:continue, arg}}``).
        idle_timeout: seconds; if no message arrives within them, ``handle_info`` gets
            `IdleTimeout` (OTP ``{:noreply, s, timeout}``). Not together with `continue_with`.
    """

    state: S
    continue_with: Any = NO_CONTINUE
    idle_timeout: float | None = None


@attrs.frozen
class Continue(Generic[S]):
    """Go on with `state`, and run ``handle_continue(arg, state)`` before any other message.

    Returned by ``init`` (the continuation runs right after ``start`` returned, before any
    message queued meanwhile: OTP ``{:ok, state, {:continue, arg}}``) or by any handler that
    returns a new state (``handle_cast``, ``handle_info``, ``handle_continue``). From
    ``handle_call`` use ``Reply(value, state, continue_with=arg)`` or ``NoReply(state,
    continue_with=arg)``. A self-cast gives no such guarantee: other messages may come first.
    """

    state: S
    arg: Any


@attrs.frozen
class Ignore:
    """Returned by ``init``: do not start after all (OTP ``:ignore``).

    ``GenServer.start`` returns None; a supervisor keeps the child as not running and does not
    count it as a failure. The process leaves no trace: no lifecycle events, its name is freed.
    """


@attrs.frozen
class IdleTimeout:
    """Delivered to ``handle_info`` when a handler asked for an ``idle_timeout`` and no message
    arrived within it (OTP's ``:timeout`` message). `seconds` is the timeout that expired."""

    seconds: float


@attrs.frozen
class Stop(Generic[S]):
    """Stop the process after this message.

    Args:
        reason: the exit reason, any value: ``"normal"``, ``"shutdown"`` and ``("shutdown",
            detail)`` are clean exits; an exception or any other value is abnormal (a crash for
            supervisors and links).
        state: the state handed to ``terminate``.
        reply: from ``handle_call``, the value the caller receives (sent after ``terminate``).
            Without it the caller gets `ServerNotRunningError` carrying `reason`.
    """

    reason: ExitReason
    state: S
    reply: Any = NO_REPLY


# The predicates below compare only `str` reasons with ``==``: a user's object with an
# ``__eq__`` that raises must not break an exit.


def is_normal(reason: object) -> bool:
    """True for ``"normal"``."""
    return type(reason) is str and reason == "normal"


def is_shutdown(reason: object) -> bool:
    """True for ``"shutdown"`` and ``("shutdown", detail)``."""
    if type(reason) is str:
        return reason == "shutdown"
    return (
        type(reason) is tuple
        and len(reason) == 2
        and type(reason[0]) is str
        and reason[0] == "shutdown"
    )


def is_killed(reason: object) -> bool:
    """True for ``"killed"`` (stopped without ``terminate``)."""
    return type(reason) is str and reason == "killed"


def is_crash(reason: object) -> bool:
    """True for abnormal exit reasons: not ``"normal"``, ``"shutdown"``, ``("shutdown", x)``.

    Supervisors restart a transient child after one; a link propagates it (OTP).
    """
    return not (is_normal(reason) or is_shutdown(reason))


def check_idle_timeout(seconds: object, cb_name: str) -> float:
    """Validate the ``idle_timeout`` of a handler's result: seconds >= 0 (0: at once if the
    mailbox is empty, as OTP's ``0``), or ``math.inf`` (none)."""
    if (type(seconds) is float or type(seconds) is int) and seconds >= 0:  # (NaN fails)
        return float(seconds)
    raise checks.value_error(
        f"idle_timeout of {cb_name}", "a number of seconds >= 0 or math.inf", seconds
    )


# --- lifecycle events -------------------------------------------------------------------------


@attrs.frozen
class Started:
    """A process finished ``init`` and is running."""

    ref: ProcessRef


@attrs.frozen
class Crashed:
    """A process exited abnormally (not ``"killed"``); a `Terminated` event with the same
    reason follows. `error` is the exception of a crash, or the abnormal reason a user gave."""

    ref: ProcessRef
    error: ExitReason


@attrs.frozen
class Terminated:
    """A process is gone; its names were already removed."""

    ref: ProcessRef
    reason: ExitReason


@attrs.frozen
class Restarted:
    """A supervisor restarted a child; `ref` is the new process."""

    ref: ProcessRef
    attempt: int


LifecycleEvent = Started | Crashed | Terminated | Restarted
