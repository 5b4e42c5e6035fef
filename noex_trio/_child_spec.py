"""Child specifications: how a supervisor starts, restarts and stops one child."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._exceptions import InvalidChildSpecError

if TYPE_CHECKING:
    from ._process import ProcessRef

Restart = Literal["permanent", "transient", "temporary"]
Shutdown = float | Literal["brutal_kill"]


def _check_id(_: object, __: object, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidChildSpecError(f"child id must be a non-empty str, got {value!r}")


def _check_start(_: object, __: object, value: Any) -> None:
    if not callable(value):
        raise InvalidChildSpecError(f"child start must be an async callable, got {value!r}")


def _check_restart(_: object, __: object, value: Any) -> None:
    if value not in ("permanent", "transient", "temporary"):
        raise InvalidChildSpecError(
            f"restart must be 'permanent', 'transient' or 'temporary', got {value!r}"
        )


def check_shutdown(value: object) -> None:
    """A shutdown budget: seconds >= 0, ``math.inf``, or ``"brutal_kill"``."""
    if value == "brutal_kill":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InvalidChildSpecError(
            f"shutdown must be seconds >= 0, math.inf or 'brutal_kill', got {value!r}"
        )


def _check_shutdown(_: object, __: object, value: Any) -> None:
    check_shutdown(value)


def _check_significant(_: object, __: object, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidChildSpecError(f"significant must be a bool, got {value!r}")


@attrs.frozen
class ChildSpec:
    """How a supervisor runs one child.

    Args:
        id: unique among the supervisor's children.
        start: a zero-argument async callable returning the child's ref — typically
            ``lambda: GenServer.start(Worker, ...)`` or ``lambda: Supervisor.start(...)``.
            Processes it starts are placed under the supervisor. For a ``simple_one_for_one``
            template it receives the arguments given to ``Supervisor.start_child``.
        restart: ``"permanent"`` (always restarted, also after a normal exit),
            ``"transient"`` (restarted only after a crash) or ``"temporary"`` (never; the spec
            is dropped when the child exits).
        shutdown: seconds ``terminate`` may take when the supervisor stops the child, then it
            is cancelled; ``math.inf`` to wait as long as it takes (the default for supervisors
            in OTP, and of ``Supervisor.child_spec``); ``"brutal_kill"`` to cancel at once
            without ``terminate``.
        significant: with the supervisor's ``auto_shutdown``, the exit of this child (on its
            own, not stopped by the supervisor) may shut the supervisor down.

    Raises:
        InvalidChildSpecError: a field has the wrong type or value.
    """

    id: str = attrs.field(validator=_check_id)
    start: Callable[..., Awaitable[ProcessRef]] = attrs.field(validator=_check_start)
    restart: Restart = attrs.field(default="permanent", validator=_check_restart, kw_only=True)
    shutdown: Shutdown = attrs.field(default=5.0, validator=_check_shutdown, kw_only=True)
    significant: bool = attrs.field(default=False, validator=_check_significant, kw_only=True)


@attrs.frozen
class ChildInfo:
    """A child as ``Supervisor.get_children`` reports it.

    `ref` is its current process (while a restart is under way, the one that exited);
    `restart_count` counts its restarts (a sibling's restart that took it down too does not).
    """

    id: str
    ref: ProcessRef
    restart_count: int
