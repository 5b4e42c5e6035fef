"""Child specifications: how a supervisor starts, restarts and stops one child."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import attrs

from . import _checks as checks
from ._exceptions import InvalidChildSpecError

if TYPE_CHECKING:
    # A default for the type parameter (PEP 696), so that a bare ``ChildSpec`` means
    # ``ChildSpec[ProcessRef | None]``; `typing.TypeVar` takes ``default=`` from Python 3.13 on.
    from typing_extensions import TypeVar as TypeVarWithDefault

    from ._process import ProcessRef

    #: What the child's ``start`` returns: its ref, or None if it does not start (``Ignore``).
    RefT = TypeVarWithDefault(
        "RefT", bound=ProcessRef | None, default=ProcessRef | None, covariant=True
    )
else:
    RefT = TypeVar("RefT", covariant=True)

Restart = Literal["permanent", "transient", "temporary"]
Shutdown = float | Literal["brutal_kill"]

RESTARTS: tuple[Restart, ...] = ("permanent", "transient", "temporary")


def _child_id(value: str) -> str:
    return checks.name(value, "child id", error=InvalidChildSpecError)


def _check_start(_: object, __: object, value: Any) -> None:
    checks.callable_(
        value, "child start", expected="an async callable", error=InvalidChildSpecError
    )


def _restart(value: Restart) -> Restart:
    return checks.one_of(value, "restart", RESTARTS, error=InvalidChildSpecError)


def check_shutdown(value: Shutdown) -> Shutdown:
    """A shutdown budget: seconds >= 0 (as a float), ``math.inf``, or ``"brutal_kill"``.

    Raises:
        InvalidChildSpecError: anything else.
    """
    if isinstance(value, str) and str.__eq__(value, "brutal_kill"):
        return "brutal_kill"
    return checks.seconds(
        value, "shutdown", zero=True, also="'brutal_kill'", error=InvalidChildSpecError
    )


def _significant(value: bool) -> bool:
    return checks.boolean(value, "significant", error=InvalidChildSpecError)


@attrs.frozen
class ChildSpec(Generic[RefT]):
    """How a supervisor runs one child.

    Generic in the ref its ``start`` returns: ``ChildSpec[GenServerRef[str, int, int]]`` makes
    ``Supervisor.start_child`` return that ref type. A bare ``ChildSpec`` is
    ``ChildSpec[ProcessRef | None]`` (any child); the type is inferred from `start` when you
    build one.

    Args:
        id: unique among the supervisor's children.
        start: a zero-argument async callable returning the child's ref — typically
            ``lambda: GenServer.start(Worker, ...)`` or ``lambda: Supervisor.start(...)`` —
            or None when the child's ``init`` returned `Ignore` (the supervisor keeps the
            child as not running). Processes it starts are placed under the supervisor. For a
            ``simple_one_for_one`` template it receives the arguments given to
            ``Supervisor.start_child``.
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

    id: str = attrs.field(converter=_child_id)
    start: Callable[..., Awaitable[RefT]] = attrs.field(validator=_check_start)
    restart: Restart = attrs.field(default="permanent", converter=_restart, kw_only=True)
    shutdown: Shutdown = attrs.field(default=5.0, converter=check_shutdown, kw_only=True)
    significant: bool = attrs.field(default=False, converter=_significant, kw_only=True)


@attrs.frozen
class ChildInfo:
    """A child as ``Supervisor.get_children`` reports it.

    `ref` is its current process (while a restart is under way, the one that exited), or None
    when the child is not running because its ``init`` returned `Ignore` (OTP's ``undefined``
    pid; ``Supervisor.restart_child`` tries to start it again); `restart_count` counts its
    restarts (a sibling's restart that took it down too does not).
    """

    id: str
    ref: ProcessRef | None
    restart_count: int
