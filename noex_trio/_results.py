"""Values that flow between processes and their observers.

Handler results (`Reply`, `NoReply`, `Stop`) tell the process loop what to do after a message;
lifecycle events (`Started`, `Crashed`, `Terminated`, `Restarted`) tell observers what happened.
All are frozen attrs classes: they are values, compared by content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar

import attrs

from . import _checks as checks

if TYPE_CHECKING:
    from ._process import ProcessRef

R = TypeVar("R")
S = TypeVar("S")

#: Why a process ended: ``"normal"`` and ``"shutdown"`` are clean exits; ``"killed"`` means it was
#: cancelled without running ``terminate`` (``brutal_kill``); an exception instance is a crash.
ExitReason = Literal["normal", "shutdown", "killed"] | BaseException


class _NoReplyValue:
    """Sentinel: a `Stop` that sends no reply."""

    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY: Final = _NoReplyValue()


@attrs.frozen
class Reply(Generic[R, S]):
    """Answer the current call with `value` and continue with `state`.

    Equivalent to returning ``(value, state)`` from ``handle_call``; spelled out, it reads better
    next to `NoReply` and `Stop`.
    """

    value: R
    state: S


@attrs.frozen
class NoReply(Generic[S]):
    """Continue with `state` without answering yet.

    From ``handle_call``: keep ``GenServer.caller()`` and answer later with ``caller.reply(v)``
    (a deferred reply). From ``handle_cast``/``handle_info``: same as returning the state.
    """

    state: S


@attrs.frozen
class Stop(Generic[S]):
    """Stop the process after this message.

    Args:
        reason: the exit reason: ``"normal"``, ``"shutdown"`` or an exception (a crash).
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
    """True for ``"shutdown"``."""
    return type(reason) is str and reason == "shutdown"


def is_killed(reason: object) -> bool:
    """True for ``"killed"`` (stopped without ``terminate``)."""
    return type(reason) is str and reason == "killed"


def is_crash(reason: object) -> bool:
    """True for exit reasons that count as a crash (an exception or ``"killed"``)."""
    return isinstance(reason, BaseException) or is_killed(reason)


def is_exit_reason(reason: object) -> bool:
    """True for the reasons a user may give (``stop``, `Stop`): not ``"killed"``."""
    if type(reason) is str:
        return reason in ("normal", "shutdown")
    return isinstance(reason, BaseException)


def check_exit_reason(reason: object, what: str = "reason") -> ExitReason:
    """Validate a user-given exit reason.

    Raises:
        ValueError: not ``"normal"``, ``"shutdown"`` or an exception instance.
    """
    if is_exit_reason(reason):
        return reason  # type: ignore[return-value,unused-ignore]
    raise checks.value_error(what, "'normal', 'shutdown' or an exception instance", reason)


# --- lifecycle events -------------------------------------------------------------------------


@attrs.frozen
class Started:
    """A process finished ``init`` and is running."""

    ref: ProcessRef


@attrs.frozen
class Crashed:
    """A process crashed; a `Terminated` event with the same error follows."""

    ref: ProcessRef
    error: BaseException


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
