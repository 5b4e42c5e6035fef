"""`DynamicSupervisor`: Elixir's supervisor of children started on demand.

A DynamicSupervisor starts with no children; ``start_child`` adds one at a time, each from its
own spec (children of any kind, each with its restart type and shutdown budget), and children
are known by their refs, not by ids. It is the supervisor process of `_supervisor_server` in
its *dynamic* mode (``one_for_one`` restarts, anonymous children, concurrent shutdown), with a
facade of its own; ``simple_one_for_one`` stays for noex users.

Guide: ``docs/guides/supervision.md`` ("DynamicSupervisor").
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

import attrs

from . import _checks as checks
from ._child_spec import ChildSpec, Restart, Shutdown
from ._context import current_runtime
from ._exceptions import InvalidChildSpecError
from ._process import DEAD, ProcessRef, process_of
from ._refs import SupervisorRef, stop
from ._restart_intensity import RestartIntensity, check_intensity
from ._results import ExitReason
from ._spawn import start_process
from ._supervisor_server import (
    Child,
    StartChild,
    SupervisorServer,
    TerminateChild,
    check_kind,
    check_supervisor,
    request,
    running_server,
    server_of,
)

if TYPE_CHECKING:
    from ._gen_server import GenServer
    from ._refs import GenServerRef

C = TypeVar("C")
K = TypeVar("K")
R = TypeVar("R")
RefT = TypeVar("RefT", bound=ProcessRef | None)


@attrs.frozen
class DynamicChildInfo:
    """A child as ``DynamicSupervisor.which_children`` reports it (Elixir's
    ``{:undefined, pid, type, modules}``).

    Attributes:
        ref: the child's current process (while a restart is under way, the one that exited).
        restart: its restart type, from its spec.
        kind: ``"supervisor"`` for a supervisor (a `SupervisorRef`), else ``"worker"``.
        restart_count: how often the supervisor restarted it.
    """

    ref: ProcessRef
    restart: Restart
    kind: Literal["worker", "supervisor"]
    restart_count: int


@attrs.frozen
class ChildCounts:
    """What ``DynamicSupervisor.count_children`` returns (Elixir's ``%{specs: ..., active:
    ..., supervisors: ..., workers: ...}``).

    Attributes:
        specs: every child, running or waiting to be restarted.
        active: the children whose process is running.
        supervisors: the children that are supervisors.
        workers: the other children.
    """

    specs: int
    active: int
    supervisors: int
    workers: int


class DynamicSupervisor:
    """Start children on demand, each from its own spec, and restart them one by one
    (Elixir's ``DynamicSupervisor``, which replaces OTP's ``simple_one_for_one``).

    ::

        pool = await DynamicSupervisor.start(max_children=100, name="sessions")
        ref = await DynamicSupervisor.start_child(pool, Session, "alice")  # Session.init("alice")
        await DynamicSupervisor.terminate_child(pool, ref)

    Every function takes the supervisor as a `SupervisorRef` or its registered name, and only
    a DynamicSupervisor (`TypeError` for another supervisor). Children have no ids: a child is
    its ref, and a restarted child has a new ref. ``start_child`` and ``terminate_child`` go
    through the supervisor's mailbox, in order with the exits of its children; the queries
    (``which_children``, ``count_children``) read its table directly.
    """

    @staticmethod
    async def start(
        *,
        max_children: float = math.inf,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        name: str | None = None,
    ) -> SupervisorRef:
        """Start a DynamicSupervisor, with no children.

        Called from a ``ChildSpec.start`` of another supervisor, it is that supervisor's child
        (see `child_spec`).

        Args:
            max_children: how many children it may have at once (``math.inf``: no limit);
                ``start_child`` beyond it raises `MaxChildrenError`.
            max_restarts: restarts of its children tolerated within `max_seconds`, over all
                children; one more and it gives up (`MaxRestartsExceededError`).
            max_seconds: the length of the sliding window, in seconds (``math.inf``: ever).
            name: register the supervisor under this name.

        Raises:
            InvalidChildSpecError: a bad option (nothing was started).
            AlreadyRegisteredError: `name` is taken.
            TypeError, ValueError: a bad `name`.
        """
        server = _new_server(max_children, max_restarts, max_seconds)
        ref = await start_process(
            server,
            (),
            name=name,
            init_timeout=math.inf,
            mailbox_size=math.inf,
            trap_exit=True,  # supervisors trap exits (OTP)
            ref_class=SupervisorRef,
            budget=math.inf,
            label="DynamicSupervisor",
        )
        return cast(SupervisorRef, ref)  # (its init never returns Ignore)

    @staticmethod
    def child_spec(
        *,
        id: str | None = None,
        name: str | None = None,
        max_children: float = math.inf,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        restart: Restart = "permanent",
        shutdown: Shutdown = math.inf,
        significant: bool = False,
    ) -> ChildSpec:
        """A `ChildSpec` that starts a DynamicSupervisor as a child of another supervisor.

        Takes the options of `start` plus the child options. `id` defaults to `name`, else
        ``"DynamicSupervisor"``; `shutdown` defaults to ``math.inf`` (OTP's default for
        supervisor children). A restarted DynamicSupervisor starts empty (its children were
        started on demand).

        Raises:
            InvalidChildSpecError: as `start` would, but now, when the spec is built.
        """
        _new_server(max_children, max_restarts, max_seconds)  # validates now

        async def start_dynamic_supervisor() -> SupervisorRef:
            return await DynamicSupervisor.start(
                max_children=max_children,
                max_restarts=max_restarts,
                max_seconds=max_seconds,
                name=name,
            )

        child_id = id if id is not None else name if name is not None else "DynamicSupervisor"
        return ChildSpec(
            child_id,
            start_dynamic_supervisor,
            restart=restart,
            shutdown=shutdown,
            significant=significant,
        )

    @overload
    @staticmethod
    async def start_child(sup: SupervisorRef | str, spec: ChildSpec[RefT], /) -> RefT: ...
    @overload
    @staticmethod
    async def start_child(
        sup: SupervisorRef | str, spec: type[GenServer[Any, C, K, R]], /, *args: Any
    ) -> GenServerRef[C, K, R] | None: ...
    @overload
    @staticmethod
    async def start_child(
        sup: SupervisorRef | str, spec: type, /, *args: Any
    ) -> ProcessRef | None: ...
    @staticmethod
    async def start_child(sup: SupervisorRef | str, spec: object, /, *args: Any) -> Any:
        """Start a child and return its ref.

        `spec` is a `ChildSpec` (its ``id`` is not used), or a behaviour class with the
        arguments of its ``init``: ``start_child(sup, Counter, 0)`` starts
        ``Counter.child_spec(0)`` (Elixir's ``{Counter, 0}``); a class without ``child_spec``
        is started like ``GenServer.start(cls, *args)``. The child's restart type and shutdown
        budget come from its spec; ``Supervisor.child_spec(...)`` and
        ``DynamicSupervisor.child_spec(...)`` make supervisor children.

        Returns None if the child's ``init`` returned `Ignore`: nothing is kept (Elixir).

        Raises:
            Exception: whatever the child's start raised, e.g. its `InitializationError`
                (nothing is kept).
            MaxChildrenError: the supervisor already has ``max_children`` children.
            InvalidChildSpecError: `spec` is neither a `ChildSpec` nor a behaviour class,
                arguments follow a `ChildSpec`, or the spec is ``significant`` (a
                DynamicSupervisor has no ``auto_shutdown``).
            TypeError: `sup` is not a DynamicSupervisor, or the class is not a behaviour.
            ServerNotRunningError: the supervisor is not running.

        If ``start_child`` is cancelled after the request was queued, the supervisor still
        starts the child and keeps it (as OTP does when a caller gives up on a call).
        """
        proc, _ = await running_server(sup, dynamic=True)
        return await request(proc, StartChild(_spec_of(spec, args)))

    @staticmethod
    async def terminate_child(sup: SupervisorRef | str, ref: ProcessRef) -> None:
        """Stop the child `ref` (``terminate("shutdown")`` within its budget) and remove it;
        it is not restarted, whatever its restart type.

        Raises:
            ChildNotFoundError: `ref` is not a child of `sup` (never was, or no longer is: it
                exited and was not restarted, or was restarted under a new ref).
            TypeError: `ref` is not a ref, or `sup` is not a DynamicSupervisor.
            ServerNotRunningError: the supervisor is not running.

        If cancelled after the request was queued, the child is still stopped.
        """
        proc, _ = await running_server(sup, dynamic=True)
        checks.instance(ref, "ref", ProcessRef, expected="a child's ProcessRef")
        await request(proc, TerminateChild(ref))

    @staticmethod
    def which_children(sup: SupervisorRef | str) -> list[DynamicChildInfo]:
        """Every child as a `DynamicChildInfo` (ref, restart type, kind, restart count), in
        start order (a restarted child keeps its place).

        Raises:
            TypeError: `sup` is not a DynamicSupervisor.
            ServerNotRunningError: the supervisor is not running.
        """
        _, server = server_of(sup, dynamic=True)
        return [_info(child) for child in server.children.values()]

    @staticmethod
    def count_children(sup: SupervisorRef | str) -> ChildCounts:
        """How many children the supervisor has, as `ChildCounts` (specs, active,
        supervisors, workers). ``Supervisor.count_children`` gives the total only.

        Raises:
            TypeError: `sup` is not a DynamicSupervisor.
            ServerNotRunningError: the supervisor is not running.
        """
        _, server = server_of(sup, dynamic=True)
        specs = active = supervisors = 0
        for child in server.children.values():
            proc = child.proc
            assert proc is not None  # an ignored child is never kept here
            specs += 1
            active += proc.status < DEAD
            supervisors += isinstance(proc.ref, SupervisorRef)
        return ChildCounts(specs, active, supervisors, specs - supervisors)

    @staticmethod
    async def stop(sup: SupervisorRef | str, reason: ExitReason = "normal") -> None:
        """Stop the supervisor after the requests already queued; return once it is gone.

        Its children stop first, concurrently (Elixir), each with ``terminate("shutdown")``
        within its own ``shutdown`` budget. No child is restarted once the stop was requested.
        `reason` is any exit reason. Idempotent, and safe to call concurrently: a dead
        supervisor or unknown name returns quietly.

        Raises:
            TypeError: `sup` is not a DynamicSupervisor.

        If ``stop`` is cancelled, the stop request stays queued and the supervisor still stops.
        """
        _check_dynamic(sup)
        await stop(sup, reason, system=True)

    @staticmethod
    def is_running(sup: SupervisorRef | str) -> bool:
        """True if `sup` (a ref or name) is a DynamicSupervisor accepting requests (False for
        a name nobody holds).

        Raises:
            TypeError: `sup` is not a DynamicSupervisor.
        """
        ref = _check_dynamic(sup)
        return ref is not None and ref.is_running()


# --- helpers ----------------------------------------------------------------------------------


def _new_server(
    max_children: object, max_restarts: object, max_seconds: object
) -> SupervisorServer:
    """Validate the options (nothing starts) and build the supervisor's behaviour."""
    intensity = RestartIntensity(*check_intensity(max_restarts, max_seconds))
    limit = checks.count(max_children, "max_children", inf=True, error=InvalidChildSpecError)
    return SupervisorServer(
        specs=[],
        strategy="one_for_one",
        intensity=intensity,
        template=None,
        auto_shutdown="never",
        max_children=limit,
        dynamic=True,
    )


def _check_dynamic(sup: object) -> SupervisorRef | None:
    """`sup` as the ref of a DynamicSupervisor (None: a name nobody holds), or a TypeError."""
    found: object = sup
    if isinstance(sup, str):
        found = current_runtime().registry.whereis(sup)
        if found is None:
            return None
    ref = check_supervisor(sup, found)
    check_kind(sup, process_of(ref), dynamic=True)
    return ref


def _spec_of(spec: object, args: tuple[Any, ...]) -> ChildSpec:
    """The `ChildSpec` that ``start_child(sup, spec, *args)`` asks for."""
    if isinstance(spec, ChildSpec):
        if args:
            raise checks.type_error(
                "the arguments after a ChildSpec",
                "none (init arguments go with a behaviour class)",
                args,
                error=InvalidChildSpecError,
            )
    elif isinstance(spec, type):
        factory = getattr(spec, "child_spec", None)
        if callable(factory):
            built = factory(*args)
            if not isinstance(built, ChildSpec):
                raise InvalidChildSpecError(
                    f"{spec.__name__}.child_spec must return a ChildSpec, got {built!r}"
                )
            spec = built
        else:
            missing = [
                callback
                for callback in ("init", "handle_call", "handle_cast")
                if not callable(getattr(spec, callback, None))
            ]
            if missing:
                raise TypeError(
                    f"behaviour {spec.__name__} is missing required callbacks: "
                    + ", ".join(missing)
                )
            start = functools.partial(
                start_process,
                spec,
                args,
                name=None,
                init_timeout=5.0,
                mailbox_size=math.inf,
                trap_exit=False,
            )
            spec = ChildSpec(spec.__name__, start)
    else:
        raise checks.type_error(
            "spec",
            "a ChildSpec or a behaviour class (with its init arguments)",
            spec,
            error=InvalidChildSpecError,
        )
    if spec.significant:
        raise InvalidChildSpecError(
            f"child {spec.id!r} is significant, but a DynamicSupervisor has no auto_shutdown"
        )
    return spec


def _info(child: Child) -> DynamicChildInfo:
    proc = child.proc
    assert proc is not None  # an ignored child is never kept here
    ref = proc.ref
    kind: Literal["worker", "supervisor"] = (
        "supervisor" if isinstance(ref, SupervisorRef) else "worker"
    )
    return DynamicChildInfo(ref, child.spec.restart, kind, child.restart_count)


__all__ = ["ChildCounts", "DynamicChildInfo", "DynamicSupervisor"]
