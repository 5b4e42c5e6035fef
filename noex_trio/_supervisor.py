"""`Supervisor`: the facade that starts supervisors and manages their children.

A supervisor is a process (see `_supervisor_server`) whose children live in a nursery inside
its own task; supervisors can be children of supervisors, so trees nest to any depth. This
module validates arguments (before anything starts), turns facade calls into requests in the
supervisor's mailbox, and reads the children table for the synchronous queries.

Guide: ``docs/guides/supervision.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, cast, overload

import trio

from . import _checks as checks
from ._child_spec import ChildInfo, ChildSpec, Restart, Shutdown
from ._exceptions import (
    DuplicateChildError,
    InitializationError,
    InvalidChildSpecError,
    MissingChildTemplateError,
)
from ._process import Process, ProcessRef, process_of
from ._refs import SupervisorRef, resolve, stop, whereis
from ._restart_intensity import RestartIntensity, check_intensity
from ._results import ExitReason
from ._spawn import start_process
from ._statistics import SupervisorStatistics
from ._supervisor_server import (
    AUTO_SHUTDOWNS,
    STRATEGIES,
    AutoShutdown,
    Child,
    RestartChild,
    StartChild,
    Strategy,
    SupervisorServer,
    TerminateChild,
    check_supervisor,
    request,
    running_server,
    server_of,
)
from ._via import Via

if TYPE_CHECKING:
    from ._gen_server import InitTakes, InitTakesOrIgnores

RefT = TypeVar("RefT", bound=ProcessRef | None)
S = TypeVar("S")
Ts = TypeVarTuple("Ts")


class Supervisor:
    """Start supervisors and manage their children (OTP's ``supervisor``, noex's ``Supervisor``).

    A supervisor starts its children in order, restarts them by its *strategy* when they exit,
    gives up when they crash too often, and stops them in reverse order when it stops::

        sup = await Supervisor.start(
            [Cache.child_spec(id="cache"), Worker.child_spec("a", id="worker")],
            strategy="one_for_one",
        )

    Every function takes the supervisor as a `SupervisorRef` or its registered name. Requests
    (``start_child``, ``terminate_child``, ``restart_child``) go through the supervisor's
    mailbox, in order with the exits of its children. The queries (``get_children``,
    ``get_child``, ``count_children``) read its table directly; during a restart they show the
    child's previous (exited) ref until the new process is up.
    """

    @staticmethod
    async def start(
        children: Iterable[ChildSpec] = (),
        *,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        name: str | Via | None = None,
        child_template: ChildSpec | None = None,
        auto_shutdown: AutoShutdown = "never",
        max_children: float = math.inf,
    ) -> SupervisorRef:
        """Start a supervisor and its children; return once all children have started.

        Called from a ``ChildSpec.start`` of another supervisor, the new supervisor is that
        supervisor's child (a supervision tree).

        Args:
            children: child specs, started in this order (none for ``simple_one_for_one``).
            strategy: what a child's exit takes down with it: ``"one_for_one"`` (only that
                child is restarted), ``"one_for_all"`` (all children), ``"rest_for_one"`` (the
                child and those started after it), or ``"simple_one_for_one"`` (children are
                added later with ``start_child(sup, *args)`` from `child_template`).
            max_restarts: restarts tolerated within `max_seconds`; one more and the supervisor
                gives up (Elixir's default 3 in 5 s; Erlang's is 1 in 5 s).
            max_seconds: the length of the sliding window, in seconds (``math.inf``: ever).
            name: register the supervisor under this name, a str or a `Via` (it moves with
                restarts).
            child_template: ``simple_one_for_one`` only: the spec every child is started from;
                its ``start`` receives the ``start_child`` arguments; its ``id`` is not used.
            auto_shutdown: ``"never"``, ``"any_significant"`` (stop when a significant child
                exits on its own and is not restarted) or ``"all_significant"`` (when the last
                significant child did).
            max_children: ``simple_one_for_one`` only: how many children it may have
                (Elixir's ``DynamicSupervisor``); ``start_child`` beyond it raises
                `MaxChildrenError`.

        Raises:
            Exception: the error of the child that failed to start (e.g. its
                `InitializationError`), unchanged; the children already started were stopped
                in reverse order first.
            InvalidChildSpecError: a bad option or child spec (nothing was started).
            DuplicateChildError: two children share an id (nothing was started).
            MissingChildTemplateError: ``simple_one_for_one`` without `child_template`.
            AlreadyRegisteredError: `name` is taken.

        If ``start`` is cancelled, the children started so far are stopped in reverse order.
        """
        server = _new_server(
            children,
            strategy=strategy,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            name=name,
            child_template=child_template,
            auto_shutdown=auto_shutdown,
            max_children=max_children,
        )
        try:
            ref = await start_process(
                server,
                (),
                name=name,
                init_timeout=math.inf,
                mailbox_size=math.inf,
                trap_exit=True,  # supervisors trap exits (OTP): a linked outsider's crash
                ref_class=SupervisorRef,  # never takes the tree down
                budget=math.inf,
                label="Supervisor",
            )
        except InitializationError:
            if server.start_error is None:  # pragma: no cover - init fails only on children
                raise
        else:
            return cast(SupervisorRef, ref)
        # The child's own error (raised outside the except block: its context stays its own).
        error = server.start_error
        server.start_error = None
        raise error

    @staticmethod
    def child_spec(
        children: Iterable[ChildSpec] = (),
        *,
        id: str | None = None,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        name: str | Via | None = None,
        child_template: ChildSpec | None = None,
        auto_shutdown: AutoShutdown = "never",
        max_children: float = math.inf,
        restart: Restart = "permanent",
        shutdown: Shutdown = math.inf,
        significant: bool = False,
    ) -> ChildSpec[SupervisorRef]:
        """A `ChildSpec` that starts a supervisor as a child of another one (a subtree).

        Takes the options of `start` plus the child options. `id` defaults to `name`, else
        ``"Supervisor"``. `shutdown` defaults to ``math.inf`` (OTP's default for supervisor
        children): a supervisor needs the time its own children's budgets add up to, and a
        shorter budget kills its remaining children without ``terminate``.

        Raises:
            InvalidChildSpecError, DuplicateChildError, MissingChildTemplateError: as `start`
                would, but now, when the spec is built.
        """
        specs = _check_children(children)  # an iterator is read once, here
        _new_server(  # validates now
            specs,
            strategy=strategy,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            name=name,
            child_template=child_template,
            auto_shutdown=auto_shutdown,
            max_children=max_children,
        )

        async def start_supervisor() -> SupervisorRef:
            return await Supervisor.start(
                specs,
                strategy=strategy,
                max_restarts=max_restarts,
                max_seconds=max_seconds,
                name=name,
                child_template=child_template,
                auto_shutdown=auto_shutdown,
                max_children=max_children,
            )

        child_id = id if id is not None else name if isinstance(name, str) else "Supervisor"
        return ChildSpec(
            child_id,
            start_supervisor,
            restart=restart,
            shutdown=shutdown,
            significant=significant,
        )

    @overload
    @staticmethod
    async def start_child(sup: SupervisorRef | str, spec: ChildSpec[RefT], /) -> RefT: ...
    @overload
    @staticmethod
    async def start_child(sup: SupervisorRef | str, *args: Any) -> ProcessRef | None: ...
    @staticmethod
    async def start_child(sup: SupervisorRef | str, *args: Any) -> Any:
        """Start a new child and return its ref.

        ``start_child(sup, spec)`` adds `spec` after the existing children;
        ``start_child(sup, *args)`` on a ``simple_one_for_one`` supervisor starts a child from
        its template with ``template.start(*args)`` (the same args on every restart), with
        the id ``child_N``.

        Returns None if the child's ``init`` returned `Ignore`: the child is kept as not
        running (``ChildInfo.ref`` None; ``restart_child`` tries again), unless it is
        temporary or a ``simple_one_for_one`` child, which leave no trace (OTP).

        Typed by the spec: ``start_child(sup, Counter.child_spec(0))`` returns Counter's
        ``GenServerRef[Call, Cast, Reply]`` (a ``ChildSpec[X]`` gives an ``X``; ``X | None``
        when Counter's ``init`` is declared to return `Ignore`).

        Raises:
            Exception: whatever the child's start raised (nothing is added).
            DuplicateChildError: a child with ``spec.id`` exists.
            MaxChildrenError: ``max_children`` reached.
            InvalidChildSpecError: not a `ChildSpec` (or one given to ``simple_one_for_one``),
                or a bad ``significant``.
            TypeError: `sup` is a DynamicSupervisor (use ``DynamicSupervisor.start_child``).
            ServerNotRunningError: the supervisor is not running.

        If ``start_child`` is cancelled after the request was queued, the supervisor still
        starts the child (and keeps it).
        """
        proc, server = await running_server(sup, dynamic=False)
        if server.strategy == "simple_one_for_one":
            if len(args) == 1 and isinstance(args[0], ChildSpec):
                raise InvalidChildSpecError(
                    f"{proc.label} is simple_one_for_one: it starts children from its "
                    "child_template; pass the start arguments, not a ChildSpec"
                )
            message = StartChild(None, args)
        else:
            if len(args) != 1 or not isinstance(args[0], ChildSpec):
                raise checks.type_error(
                    "the arguments", "one ChildSpec", args, error=InvalidChildSpecError
                )
            _check_significant(args[0], server.auto_shutdown)
            message = StartChild(args[0])
        return await request(proc, message)

    @staticmethod
    async def terminate_child(sup: SupervisorRef | str, child_id: str) -> None:
        """Stop a child (``terminate("shutdown")`` within its budget) and remove it.

        The child is not restarted and its spec is gone (noex semantics; OTP keeps the spec
        for ``restart_child``). Its exit does not count for ``auto_shutdown``. A child that
        is not running (its ``init`` returned `Ignore`) is removed.

        Raises:
            ChildNotFoundError: no child has that id.
            TypeError: `sup` is a DynamicSupervisor (its children are terminated by ref, with
                ``DynamicSupervisor.terminate_child``).
            ServerNotRunningError: the supervisor is not running.

        If cancelled after the request was queued, the child is still stopped.
        """
        proc, _ = await running_server(sup, dynamic=False)
        await request(proc, TerminateChild(_check_id(child_id)))

    @overload
    @staticmethod
    async def restart_child(sup: SupervisorRef | str, child_id: str) -> ProcessRef | None: ...
    @overload
    @staticmethod
    async def restart_child(
        sup: SupervisorRef | str, child_id: str, expected: type[InitTakes[*Ts, S, RefT]]
    ) -> RefT: ...
    @overload
    @staticmethod
    async def restart_child(
        sup: SupervisorRef | str,
        child_id: str,
        expected: type[InitTakesOrIgnores[*Ts, S, RefT]],
    ) -> RefT | None: ...
    @staticmethod
    async def restart_child(
        sup: SupervisorRef | str, child_id: str, expected: type[Any] | None = None
    ) -> ProcessRef | None:
        """Stop a child if it runs, start it again, and return its new ref.

        Its ``restart_count`` goes up by one and a `Restarted` event is emitted; a manual
        restart does not count toward the restart intensity. If the new start fails, the
        child is removed and the error raised. A child that is not running (its ``init``
        returned `Ignore`) is started; if ``init`` returns `Ignore` again, it stays not
        running and None is returned (no `Restarted` event).

        Args:
            sup: the supervisor (a ref or name).
            child_id: the child's id.
            expected: optionally the behaviour class the child runs (as in
                ``Registry.lookup``): the ref is then typed as that class's
                ``GenServerRef[Call, Cast, Reply]`` (``| None`` only if its ``init`` is
                declared to return `Ignore`). Checked before the restart (on the running
                process), and again on the new one.

        Raises:
            ChildNotFoundError: no child has that id.
            TypeError: `sup` is a DynamicSupervisor; or `expected` is not a class, or the child
                does not run one (the child was not restarted; if only the new process does
                not, it runs on).
            ServerNotRunningError: the supervisor is not running.
            Exception: whatever the child's start raised.

        If ``restart_child`` is cancelled after the request was queued, the supervisor still
        restarts the child.
        """
        child_id = _check_id(child_id)
        if expected is not None:
            checks.instance(expected, "expected", type, expected="a behaviour class")
        proc, server = await running_server(sup, dynamic=False)
        if expected is not None:
            child = server.children.get(child_id)  # (an unknown id: the request raises)
            running = None if child is None else child.proc
            error = None if running is None else _not_running(running, child_id, expected)
            if error is not None:
                await trio.lowlevel.checkpoint()
                raise error
        ref = cast("ProcessRef | None", await request(proc, RestartChild(child_id)))
        if expected is not None and ref is not None:
            error = _not_running(process_of(ref), child_id, expected)
            if error is not None:
                raise error
        return ref

    @staticmethod
    def get_children(sup: SupervisorRef | str) -> list[ChildInfo]:
        """Every child as ``ChildInfo(id, ref, restart_count)``, in start order (``ref`` None
        for a child that is not running because its ``init`` returned `Ignore`).

        Raises:
            TypeError: `sup` is a DynamicSupervisor (use ``DynamicSupervisor.which_children``).
            ServerNotRunningError: the supervisor is not running.
        """
        _, server = server_of(sup, dynamic=False)
        return [_info(child) for child in server.children.values()]

    @staticmethod
    def get_child(sup: SupervisorRef | str, child_id: str) -> ChildInfo:
        """The child with that id as ``ChildInfo(id, ref, restart_count)``.

        Raises:
            ChildNotFoundError: no child has that id.
            TypeError: `sup` is a DynamicSupervisor.
            ServerNotRunningError: the supervisor is not running.
        """
        _, server = server_of(sup, dynamic=False)
        return _info(server._get(_check_id(child_id)))

    @staticmethod
    def count_children(sup: SupervisorRef | str) -> int:
        """How many children the supervisor has (those not running included); also for a
        DynamicSupervisor (``DynamicSupervisor.count_children`` gives the details).

        Raises:
            ServerNotRunningError: the supervisor is not running.
        """
        _, server = server_of(sup, dynamic=None)
        return len(server.children)

    @staticmethod
    def statistics(sup: SupervisorRef | str | Via) -> SupervisorStatistics:
        """A snapshot of the supervisor (a DynamicSupervisor too): its process's figures and
        its own (strategy, children running and not, restarts in the window and in total, the
        intensity); see `SupervisorStatistics`. Same as ``sup.statistics()``; a ref works
        after the supervisor ended.

        Raises:
            TypeError: `sup` is not a supervisor (its ref, name or `Via`).
            ServerNotRunningError: a name or `Via` that names no process.
        """
        found = resolve(sup, system=True).ref if isinstance(sup, str | Via) else sup
        return check_supervisor(sup, found).statistics()

    @staticmethod
    async def stop(sup: SupervisorRef | str | Via, reason: ExitReason = "normal") -> None:
        """Stop the supervisor after the requests already queued; return once it is gone.

        Its children stop first, in reverse start order, each with ``terminate("shutdown")``
        within its ``shutdown`` budget (``simple_one_for_one`` children stop concurrently).
        No child is restarted once the stop was requested. Idempotent, and safe to call
        concurrently: a dead supervisor or unknown name returns quietly.

        If ``stop`` is cancelled, the stop request stays queued and the supervisor still stops.
        """
        if isinstance(sup, str | Via):
            found = whereis(sup)
            if found is not None:
                check_supervisor(sup, found)
        else:
            check_supervisor(sup, sup)
        await stop(sup, reason, system=True)  # an unknown name: returns

    @staticmethod
    def is_running(sup: SupervisorRef | str | Via) -> bool:
        """True if `sup` (a ref, name or `Via`) is a supervisor accepting requests."""
        if isinstance(sup, str | Via):
            found = whereis(sup)
            return found is not None and check_supervisor(sup, found).is_running()
        return check_supervisor(sup, sup).is_running()


# --- helpers ----------------------------------------------------------------------------------


def _info(child: Child) -> ChildInfo:
    proc = child.proc
    return ChildInfo(child.id, None if proc is None else proc.ref, child.restart_count)


def _new_server(
    children: object,
    *,
    strategy: object,
    max_restarts: object,
    max_seconds: object,
    name: str | Via | None,
    child_template: object,
    auto_shutdown: object,
    max_children: object,
) -> SupervisorServer:
    """Validate the options of a supervisor (nothing starts) and build its behaviour."""
    specs = _check_children(children)
    checked_strategy = _check_strategy(strategy)
    intensity = RestartIntensity(*check_intensity(max_restarts, max_seconds))
    template = _check_template(checked_strategy, child_template, specs, name)
    checked_auto_shutdown = _check_auto_shutdown(auto_shutdown)
    for spec in specs if template is None else [template]:
        _check_significant(spec, checked_auto_shutdown)
    return SupervisorServer(
        specs=specs,
        strategy=checked_strategy,
        intensity=intensity,
        template=template,
        auto_shutdown=checked_auto_shutdown,
        max_children=_check_max_children(checked_strategy, max_children),
    )


def _check_id(child_id: object) -> str:
    return checks.instance(child_id, "child_id", str)


def _not_running(proc: Process, child_id: str, expected: type[Any]) -> TypeError | None:
    """The error for a child that does not run `expected` (``restart_child``), else None."""
    if isinstance(proc.behaviour, expected):
        return None
    return TypeError(
        f"child {child_id!r} is {proc.ref!r} running {type(proc.behaviour).__name__}, "
        f"expected {expected.__name__}"
    )


def _check_children(children: object) -> list[ChildSpec]:
    if isinstance(children, (str, bytes, ChildSpec)) or not isinstance(children, Iterable):
        raise checks.type_error(
            "children", "a list of ChildSpec", children, error=InvalidChildSpecError
        )
    specs = list(children)
    seen: set[str] = set()
    for spec in specs:
        checks.instance(
            spec, "children", ChildSpec, expected="ChildSpec objects", error=InvalidChildSpecError
        )
        if spec.id in seen:
            raise DuplicateChildError(None, spec.id)
        seen.add(spec.id)
    return specs


def _check_strategy(strategy: object) -> Strategy:
    return checks.one_of(strategy, "strategy", STRATEGIES, error=InvalidChildSpecError)


def _check_auto_shutdown(auto_shutdown: object) -> AutoShutdown:
    return checks.one_of(
        auto_shutdown, "auto_shutdown", AUTO_SHUTDOWNS, error=InvalidChildSpecError
    )


def _check_template(
    strategy: Strategy, template: object, specs: list[ChildSpec], name: str | Via | None
) -> ChildSpec | None:
    if strategy != "simple_one_for_one":
        if template is not None:
            raise InvalidChildSpecError(
                f"child_template is only used by simple_one_for_one, got strategy {strategy!r}"
            )
        return None
    if template is None:
        raise MissingChildTemplateError(name)
    spec = checks.instance(template, "child_template", ChildSpec, error=InvalidChildSpecError)
    if specs:
        raise InvalidChildSpecError(
            "a simple_one_for_one supervisor takes no static children; start them with "
            f"Supervisor.start_child(sup, *args), got {[spec.id for spec in specs]!r}"
        )
    return spec


def _check_max_children(strategy: Strategy, max_children: object) -> float:
    limit = checks.count(max_children, "max_children", inf=True, error=InvalidChildSpecError)
    if limit != math.inf and strategy != "simple_one_for_one":
        raise InvalidChildSpecError(
            f"max_children is only used by simple_one_for_one, got strategy {strategy!r}"
        )
    return limit


def _check_significant(spec: ChildSpec, auto_shutdown: object) -> None:
    """OTP: significant children need an auto_shutdown, and cannot be permanent."""
    if not spec.significant:
        return
    if auto_shutdown == "never":
        raise InvalidChildSpecError(
            f"child {spec.id!r} is significant, which needs auto_shutdown='any_significant' "
            "or 'all_significant' (got 'never')"
        )
    if spec.restart == "permanent":
        raise InvalidChildSpecError(
            f"child {spec.id!r} is significant and permanent; a significant child must be "
            "transient or temporary"
        )


__all__ = ["Supervisor", "SupervisorRef"]
