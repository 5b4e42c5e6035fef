"""`GenServer`: the behaviour base class, and the facade that starts and talks to processes.

A behaviour is a class with ``init`` / ``handle_call`` / ``handle_cast`` (and optionally
``handle_info`` / ``terminate``), sync or async. Subclassing ``GenServer[State, Call, Cast,
Reply]`` is the usual way — it types the refs that ``GenServer.start`` returns — but any object
with those callbacks works.
"""

from __future__ import annotations

import logging
import math
import types
from collections.abc import Awaitable, Callable
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    ParamSpec,
    Protocol,
    TypeAlias,
    TypeVar,
    TypeVarTuple,
    Union,
    overload,
)

import trio

from . import _checks as checks
from ._child_spec import ChildSpec, Restart, Shutdown
from ._context import current_process, current_runtime
from ._exceptions import InvalidChildSpecError, NoexError, NotInProcessError
from ._links import (
    DownReason,
    MonitorRef,
    demonitor,
    link,
    link_procs,
    monitor,
    send_exit,
    start_link_owner,
    unlink,
    wait_exit,
)
from ._mailbox import Caller
from ._process import ProcessRef, process_of
from ._refs import GenServerRef, call, cast, current_caller, get_state, stop, whereis
from ._remote_ref import RemoteName, current_distribution, distribution_for, is_remote
from ._results import Continue, ExitReason, Ignore, LifecycleEvent, NoReply, Reply, Stop
from ._safe_format import safe_repr
from ._spawn import start_process
from ._timers import TimerRef, cancel_timer, send_after
from ._via import Via

if TYPE_CHECKING:
    # A default for a type parameter (PEP 696; `typing.TypeVar` takes it from Python 3.13 on).
    from typing_extensions import TypeVar as TypeVarWithDefault

    from ._refs import CallTarget, CastTarget, SendAfterTarget

    #: The reply of a call whose target does not type it (a name): Any, not Never.
    AnyReply = TypeVarWithDefault("AnyReply", default=Any)

logger = logging.getLogger("noex_trio")

StateT = TypeVar("StateT")
CallT = TypeVar("CallT")
CastT = TypeVar("CastT")
ReplyT = TypeVar("ReplyT")

S = TypeVar("S")
C = TypeVar("C")
K = TypeVar("K")
R = TypeVar("R")

#: What ``handle_call`` may return.
CallResult = tuple[R, S] | Reply[R, S] | NoReply[S] | Stop[S]
#: What ``handle_cast``, ``handle_info`` and ``handle_continue`` may return (a plain value is
#: the new state).
CastResult: TypeAlias = Union[S, NoReply[S], Continue[S], Stop[S]]  # noqa: UP007
#: What ``init`` may return, besides `Ignore`: the first state, or `Continue` with it.
InitResult: TypeAlias = Union[S, Continue[S]]  # noqa: UP007

# --- typing `start` and `child_spec` ---------------------------------------------------------
# A behaviour is read through a Protocol: its ``init``'s parameters (`Ts`, so the init arguments
# are checked), its state type `S` and its ref type (from the ``_noex_state``/``_noex_ref`` that
# `GenServer` declares for type checkers only). `S` is pinned by ``_noex_state`` (invariant), so
# an ``init`` declared to return ``State | Ignore`` does not fit `InitTakes` and falls to
# `InitTakesOrIgnores`, whose start returns ``ref | None``.

Ts = TypeVarTuple("Ts")
P = ParamSpec("P")
RefT = TypeVar("RefT", bound=ProcessRef | None)
Ref_co = TypeVar("Ref_co", bound=ProcessRef | None, covariant=True)


class InitTakes(Protocol[*Ts, S, Ref_co]):
    """A GenServer subclass whose ``init`` takes `Ts` and never returns `Ignore`."""

    def init(self, *args: *Ts) -> InitResult[S] | Awaitable[InitResult[S]]: ...
    def _noex_state(self, state: S, /) -> S: ...
    def _noex_ref(self) -> Ref_co: ...


class InitTakesOrIgnores(Protocol[*Ts, S, Ref_co]):
    """A GenServer subclass whose ``init`` takes `Ts` and may return `Ignore`."""

    def init(self, *args: *Ts) -> InitResult[S] | Ignore | Awaitable[InitResult[S] | Ignore]: ...
    def _noex_state(self, state: S, /) -> S: ...
    def _noex_ref(self) -> Ref_co: ...


class AnyInitTakes(Protocol[*Ts]):
    """Any behaviour (not necessarily a GenServer subclass) whose ``init`` takes `Ts`."""

    def init(self, *args: *Ts) -> object: ...


class ChildSpecOf(Protocol[*Ts, Ref_co]):
    """``Worker.child_spec``: takes ``Worker.init``'s arguments, makes a ``ChildSpec[ref]``."""

    @overload
    def __call__(  # a simple_one_for_one template: init's arguments come from start_child
        self,
        *,
        id: str | None = None,
        name: str | Via | None = None,
        restart: Restart = "permanent",
        shutdown: Shutdown = 5.0,
        significant: bool = False,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
    ) -> ChildSpec[Ref_co]: ...
    @overload
    def __call__(
        self,
        *args: *Ts,
        id: str | None = None,
        name: str | Via | None = None,
        restart: Restart = "permanent",
        shutdown: Shutdown = 5.0,
        significant: bool = False,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
    ) -> ChildSpec[Ref_co]: ...


class _ChildSpecMethod:
    """What ``GenServer.child_spec`` is: a classmethod, typed by the class it is read from."""

    __slots__ = ("__func__",)

    def __init__(self, func: Callable[..., ChildSpec[Any]]) -> None:
        self.__func__ = func

    @overload
    def __get__(
        self, instance: object, owner: type[InitTakes[*Ts, S, RefT]]
    ) -> ChildSpecOf[*Ts, RefT]: ...
    @overload
    def __get__(
        self, instance: object, owner: type[InitTakesOrIgnores[*Ts, S, RefT]]
    ) -> ChildSpecOf[*Ts, RefT | None]: ...
    @overload
    def __get__(  # GenServer itself, or a subclass whose init does not fit its state type
        self, instance: object, owner: type[object]
    ) -> ChildSpecOf[*tuple[Any, ...], GenServerRef[Any, Any, Any]]: ...
    def __get__(self, instance: object, owner: type[object]) -> Any:
        return types.MethodType(self.__func__, owner)


class GenServer(Generic[StateT, CallT, CastT, ReplyT]):
    """Base class for behaviours, and the facade for processes (noex's ``GenServer``).

    Subclass it with the types of your state, call messages, cast messages and replies::

        class Counter(GenServer[int, str, int, int]):
            def init(self, start: int) -> int:
                return start

            def handle_call(self, msg: str, state: int) -> tuple[int, int]:
                return state, state          # (reply, new state)

            def handle_cast(self, msg: int, state: int) -> int:
                return state + msg           # new state

    Callbacks (each may be ``def`` or ``async def``):

    - ``init(*args) -> state``: runs inside the new process before ``start`` returns. Raising
      makes ``start`` raise `InitializationError`.
    - ``handle_call(msg, state)``: return ``(reply, new_state)``, `Reply`, `NoReply` (answer
      later through ``GenServer.caller()``) or `Stop`.
    - ``handle_cast(msg, state)``: return the new state, `NoReply(state)` or `Stop`.
    - ``handle_info(msg, state)`` (optional): monitor `Down` and trapped `Exit` notices; same
      returns as ``handle_cast``. The default logs the message (warning) and drops it.
    - ``handle_continue(arg, state)`` (optional): runs when ``init`` returned
      ``Continue(state, arg)`` or a handler asked for a continuation, before any other message;
      same returns as ``handle_cast``.
    - ``terminate(reason, state)`` (optional): runs once when the process stops, crashes or is
      shut down by its supervisor (not on ``brutal_kill``), within its shutdown budget. The
      default does nothing.

    Set ``owns_tasks = True`` on the class to give each process a nursery of its own
    (``GenServer.nursery()``) for Trio tasks that run beside its message loop — a socket
    reader, ``trio.serve_tcp``. See the "Tasks and I/O" guide.

    An exception escaping a handler crashes the process (OTP "let it crash"): the caller being
    served gets that exception, ``terminate`` runs, queued callers get
    `ServerNotRunningError`, and its supervisor decides what happens next.

    A class given to ``GenServer.start`` is instantiated with no arguments on every (re)start;
    an instance is used as it is.
    """

    #: True: each process of this behaviour gets a nursery of its own, ``GenServer.nursery()``,
    #: open around ``init`` and the message loop. A task that fails there crashes the process
    #: with its error; when the process exits, its tasks are cancelled (and finished) before
    #: ``terminate`` runs. False (the default): no nursery, nothing paid.
    owns_tasks: ClassVar[bool] = False

    if TYPE_CHECKING:
        # For type checkers only; nothing of this exists at run time (a behaviour without an
        # ``init`` is refused by `start`). ``init`` has no fixed signature: each behaviour
        # declares its own, and `start` checks its arguments against it. The other two are how
        # `start` and `child_spec` read a subclass's type arguments (through `InitTakes`).
        def init(self, *args: Any, **kwargs: Any) -> Any: ...
        def _noex_state(self, state: StateT, /) -> StateT: ...
        def _noex_ref(self) -> GenServerRef[CallT, CastT, ReplyT]: ...

    # -- default callbacks --

    def handle_call(
        self, msg: CallT, state: StateT
    ) -> CallResult[ReplyT, StateT] | Awaitable[CallResult[ReplyT, StateT]]:
        """Default: a call to a behaviour without ``handle_call`` crashes it."""
        raise NotImplementedError(
            f"{type(self).__name__} got call {safe_repr(msg)} but has no handle_call"
        )

    def handle_cast(
        self, msg: CastT, state: StateT
    ) -> CastResult[StateT] | Awaitable[CastResult[StateT]]:
        """Default: a cast to a behaviour without ``handle_cast`` crashes it."""
        raise NotImplementedError(
            f"{type(self).__name__} got cast {safe_repr(msg)} but has no handle_cast"
        )

    def handle_info(
        self, msg: Any, state: StateT
    ) -> CastResult[StateT] | Awaitable[CastResult[StateT]]:
        """Default: log the message (warning, logger ``noex_trio``) and keep the state."""
        proc = current_process()
        label = proc.label if proc is not None else type(self).__name__
        logger.warning("%s got %s but defines no handle_info; dropped", label, safe_repr(msg))
        return state

    def terminate(self, reason: ExitReason, state: StateT) -> Awaitable[None] | None:
        """Default: nothing to clean up."""
        return None

    terminate._noex_default = True  # type: ignore[attr-defined]  # the loop skips it

    # -- facade --

    # A class is read as the zero-argument callable that builds the behaviour: a callable
    # parameter is inferred after the others, so `Ts` comes from the init arguments given and a
    # mismatch is reported as an error on the behaviour (not "cannot infer").
    @overload
    @staticmethod
    async def start(  # type: ignore[overload-overlap]  # (with 3, for other behaviours)
        behaviour: Callable[[], InitTakes[*Ts, S, RefT]] | InitTakes[*Ts, S, RefT],
        *args: *Ts,
        name: str | Via | None = None,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
        link: bool = False,
    ) -> RefT: ...
    @overload
    @staticmethod
    async def start(  # type: ignore[overload-overlap]
        behaviour: Callable[[], InitTakesOrIgnores[*Ts, S, RefT]]
        | InitTakesOrIgnores[*Ts, S, RefT],
        *args: *Ts,
        name: str | Via | None = None,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
        link: bool = False,
    ) -> RefT | None: ...
    @overload
    @staticmethod
    async def start(  # any object with the callbacks: its init arguments are still checked
        behaviour: Callable[[], AnyInitTakes[*Ts]] | AnyInitTakes[*Ts],
        *args: *Ts,
        name: str | Via | None = None,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
        link: bool = False,
    ) -> GenServerRef[Any, Any, Any]: ...
    @staticmethod  # type: ignore[misc]  # (mypy: its `*args: Any` would not take a `*Ts`)
    async def start(
        behaviour: object,
        *args: Any,
        name: str | Via | None = None,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
        link: bool = False,
    ) -> Any:
        """Start a process running `behaviour` and return its ref once ``init`` is done.

        Typed: mypy checks `args` against ``init``'s parameters, and the ref is
        ``GenServerRef[Call, Cast, Reply]`` of a ``GenServer[State, Call, Cast, Reply]``
        subclass (``... | None`` if its ``init`` is declared to return `Ignore`).

        Args:
            behaviour: a behaviour class (instantiated with no arguments) or object.
            *args: passed to ``init``.
            name: register the process under this name (a str, or a `Via`: a key in another
                registry), atomically: if it is taken, `AlreadyRegisteredError` is raised and
                ``init`` never runs.
            init_timeout: seconds ``init`` may take (then it is cancelled).
            mailbox_size: ``math.inf`` (default) or a bound; a full mailbox makes ``cast``
                raise `MailboxFullError` and ``call`` wait for room.
            trap_exit: receive linked processes' exits as `Exit` messages instead of dying.
            link: link the new process to the calling process (OTP ``start_link``), once
                ``init`` has succeeded; only inside a process (`NotInProcessError` otherwise).
                A no-op in a supervisor's child ``start`` function (the supervisor already is
                linked).

        Returns:
            The new process's ref, or None if ``init`` returned `Ignore` (nothing runs).

        Raises:
            InitializationError: ``init`` raised (as ``__cause__``) or timed out.
            AlreadyRegisteredError: `name` is taken.
            TypeError, ValueError: bad arguments (nothing was started).

        If ``start`` is cancelled while ``init`` runs, ``init`` is cancelled and the name freed.
        Messages sent to the process (by name) during ``init`` are handled after it.
        """
        owner = start_link_owner() if link else None
        ref = await start_process(
            behaviour,
            args,
            name=name,
            init_timeout=init_timeout,
            mailbox_size=mailbox_size,
            trap_exit=trap_exit,
        )
        if owner is not None and ref is not None:
            link_procs(owner, process_of(ref))
        return ref

    # `call`, `cast` and `send_after` have two definitions: the typed one for type checkers, whose
    # parameters after `target` are the target's own (`CallTarget`: a `GenServerRef` types the
    # message and the reply; a name or a plain `ProcessRef` takes anything), and the one that runs.
    if TYPE_CHECKING:

        @staticmethod
        async def call(
            target: CallTarget[P, AnyReply] | str | Via, *args: P.args, **kwargs: P.kwargs
        ) -> AnyReply:
            """``call(target, msg, timeout=5.0)``, typed by the target; see below."""

    else:

        @staticmethod
        async def call(target, msg, timeout=5.0):  # noqa: ASYNC109 (OTP parity)
            """Send `msg` to ``handle_call`` and wait for the reply.

            Args:
                target: a ref or a registered name. A `GenServerRef` types `msg` and the reply; a
                    name or a plain `ProcessRef` (a registry lookup, a supervisor's child) is
                    checked when called (`TypeError` if it is not a GenServer).
                msg: the request.
                timeout: seconds to wait (``math.inf`` for no limit). It covers waiting for room in
                    a bounded mailbox too.

            Raises:
                CallTimeoutError: no reply in time. The request stays queued and may still be
                    handled; its late reply is dropped. The server is never disturbed.
                ServerNotRunningError: the target is not running, or stopped before answering.
                CallToSelfError: a process called itself.
                Exception: whatever ``handle_call`` raised (the server crashed on it).

            If the caller is cancelled after the request was queued, the server still handles it
            and the reply is dropped.
            """
            return await call(target, msg, timeout)

    if TYPE_CHECKING:

        @staticmethod
        def cast(target: CastTarget[P] | str | Via, *args: P.args, **kwargs: P.kwargs) -> None:
            """``cast(target, msg)``, typed by the target; see below."""

    else:

        @staticmethod
        def cast(target, msg):
            """Queue `msg` for ``handle_cast`` and return at once (sync, fire-and-forget).

            Args:
                target: a ref or a registered name.
                msg: the message.

            Raises:
                ServerNotRunningError: the target is not running (or the name is unknown).
                MailboxFullError: the target's bounded mailbox is full.
            """
            cast(target, msg)

    @staticmethod
    async def stop(target: object, reason: ExitReason = "normal") -> None:
        """Stop a process after the messages already queued; return once it is gone.

        The process runs ``terminate(reason, state)`` before it is gone. Idempotent: a dead
        target or unknown name returns quietly. Once the stop is queued, the process takes no new
        messages: calls and casts fail at once with `ServerNotRunningError` (``.reason ==
        "stopping"``), and calls still queued when it exits fail with its exit reason.

        With a full bounded mailbox, ``stop`` waits for room, so the stop request still comes
        after the backlog. If ``stop`` is cancelled before the request was queued, nothing was
        queued and the process runs on; once queued, the process stops even if ``stop`` is
        cancelled while waiting for the exit.

        A process cannot stop itself this way (it would wait for its own exit): return `Stop`
        from the handler instead.

        Args:
            target: a ref or a registered name.
            reason: any value (OTP): ``"normal"``, ``"shutdown"`` and ``("shutdown", detail)``
                are clean exits; an exception or any other value is abnormal.

        Raises:
            ValueError: `target` is an empty name.
            CallToSelfError: called from inside the target process itself.
            TypeError: `target` is neither a `GenServerRef` nor a str (or is a supervisor or
                bus: use their own facade).

        If ``stop`` is cancelled, the stop request stays queued and the process still stops.
        """
        await stop(target, reason)

    @staticmethod
    async def get_state(
        target: ProcessRef | str | Via,
        timeout: float = 5.0,  # noqa: ASYNC109 - OTP's timeout, as for call
    ) -> Any:
        """The state of a process, for debugging (OTP's ``:sys.get_state``).

        The request goes through the mailbox like a call: the process answers it between two
        messages, in order with the others, so a process busy with a long call answers once
        that call is done. The answer is ``format_status(state)`` if the behaviour defines
        ``format_status`` (to hide secrets or shorten a big state), else the state itself --
        the very object, not a copy: read it, do not change it. Works for every process,
        including supervisors, buses and tasks (their state is None) and processes that own
        tasks. It is not a message to ``handle_call``: the process's counts do not change.

        Args:
            target: a ref, a registered name or a `Via`.
            timeout: seconds to wait (``math.inf`` for no limit), as for `call`.

        Raises:
            ServerNotRunningError: the process is not running, or stopped before answering.
            CallTimeoutError: no answer in time (the request stays queued; its late answer is
                dropped).
            CallToSelfError: a process asked for its own state.
            Exception: what ``format_status`` raised (the process is not disturbed).

        If the caller is cancelled after the request was queued, the answer is dropped.
        """
        return await get_state(target, timeout)

    @staticmethod
    async def start_on(
        node: str,
        behaviour: str,
        *args: Any,
        name: str | None = None,
        link: bool = False,
        init_timeout: float = 5.0,
    ) -> ProcessRef | None:
        """Start a process on another node of the cluster, running the behaviour that node
        offers under the name `behaviour` (its ``ClusterConfig.behaviours``: code is never sent,
        only the name); returns its `RemoteRef` once ``init`` is done there.

        Args:
            node: the node's name (this node's own name starts it here).
            behaviour: the name that node offers it under.
            *args: passed to ``init`` there (values the codec carries).
            name: register it under this name on that node.
            link: link it to the calling process (once started: if it dies at once, the link
                delivers ``"noproc"`` rather than its reason).
            init_timeout: seconds ``init`` may take there.

        Returns:
            Its `RemoteRef` (a local ref for this node itself), or None if ``init`` returned
            `Ignore`.

        Raises:
            UnknownBehaviourError: that node offers no such behaviour.
            InitializationError: ``init`` raised there (its exception as the codec carries
                it: the same class, or a `RemoteError`) or timed out.
            AlreadyRegisteredError: `name` is taken on that node.
            noex_trio.cluster.NoConnectionError: the node is not up (or went down meanwhile).
            CallTimeoutError: no answer in time.
            NoexError: this runtime is not in a cluster.
        """
        try:
            checks.name(node, "node")
            checks.name(behaviour, "behaviour")
            if name is not None:
                checks.name(name, "name")
            seconds = checks.seconds(init_timeout, "init_timeout")
            me = start_link_owner() if link else None
            distribution = distribution_for(RemoteName(behaviour, node))
        except Exception:
            await trio.lowlevel.checkpoint()
            raise
        return await distribution.start_on(
            me, node, behaviour, args, name=name, link=link, timeout=seconds
        )

    @staticmethod
    def exit(target: ProcessRef | str | Via | RemoteName, reason: ExitReason) -> None:
        """Send an exit signal to `target` (a ref or name), as OTP's ``Process.exit/2``.

        - ``"kill"``: the target cannot trap it; it ends at once with reason ``"killed"``,
          without ``terminate`` (a supervisor stops its children first).
        - a target that traps exits (``trap_exit=True``) gets ``Exit(sender, reason)`` in
          ``handle_info`` (`sender` is the calling process's ref, None from plain Trio code),
          and decides itself.
        - ``"normal"``: ignored by a process that does not trap exits, unless it is the calling
          process itself (then it exits normally).
        - any other reason: the target exits with it, overtaking its mailbox; ``terminate``
          runs (within its shutdown budget). ``"shutdown"`` and ``("shutdown", detail)`` are
          clean exits, anything else abnormal (a supervisor restarts a transient child).

        Sync, like ``cast``: the signal is sent, the function does not wait for the exit (use
        ``GenServer.wait_exit``). A dead target or a name nobody holds is ignored.
        """
        send_exit(target, reason)

    @staticmethod
    def nursery() -> trio.Nursery:
        """Inside a process whose behaviour sets ``owns_tasks = True``: its own nursery.

        Open from the start of ``init`` until the message loop ends. Tasks started there run
        beside the loop (they may call and cast the process itself); one that raises crashes
        the process with that error as the exit reason; when the process exits, for any
        reason, they are cancelled and awaited before ``terminate`` runs. For example::

            class Listener(GenServer[None, str, str, int]):
                owns_tasks = True

                async def init(self, port: int) -> None:
                    await GenServer.nursery().start(trio.serve_tcp, self.on_connection, port)

        Raises:
            NotInProcessError: called outside a process.
            NoexError: the process's behaviour does not set ``owns_tasks = True``, or its loop
                has ended (in ``terminate``).
        """
        proc = current_process()
        if proc is None:
            raise NotInProcessError("GenServer.nursery()")
        nursery = proc.kernel.task_nurseries.get(proc)
        if nursery is None:
            if getattr(proc.behaviour, "owns_tasks", False):
                raise NoexError(f"{proc.label}: its tasks have ended (the process is exiting)")
            raise NoexError(
                f"{proc.label} owns no tasks: set `owns_tasks = True` on "
                f"{type(proc.behaviour).__name__} to give its processes a nursery"
            )
        return nursery

    @staticmethod
    def is_running(target: object) -> bool:
        """True if `target` (a ref or name) is a process accepting messages.

        For a process on another node (a `RemoteRef` or `RemoteName`): as far as this node
        knows, without asking (False once its node is down; a call is the sure check).
        """
        if is_remote(target):
            return _remote_running(target)
        if isinstance(target, (str, Via)):
            ref = whereis(target)
            return ref is not None and ref.is_running()
        if not isinstance(target, ProcessRef):
            raise checks.type_error("target", "a GenServerRef or a registered name", target)
        return target.is_running()

    if TYPE_CHECKING:

        @staticmethod
        def send_after(
            target: SendAfterTarget[P] | str | Via, *args: P.args, **kwargs: P.kwargs
        ) -> TimerRef:
            """``send_after(target, msg, delay)``, typed by the target; see below."""

    else:

        @staticmethod
        def send_after(target, msg, delay):
            """Cast `msg` to `target` after `delay` seconds (a name is resolved now).

            The timer belongs to the target: if it exits first, the timer is cancelled.
            """
            return send_after(target, msg, delay)

    @staticmethod
    def cancel_timer(timer: TimerRef) -> bool:
        """Cancel a ``send_after``; True only if it was still pending."""
        return cancel_timer(timer)

    @staticmethod
    def caller() -> Caller[Any]:
        """Inside ``handle_call``: the handle to answer this call later (deferred reply).

        Raises:
            NotInProcessError: called outside ``handle_call``.
        """
        return current_caller()

    @overload
    @staticmethod
    def self() -> GenServerRef[Any, Any, Any]: ...
    @overload
    @staticmethod
    def self(expected: type[GenServer[Any, C, K, R]]) -> GenServerRef[C, K, R]: ...
    @staticmethod
    def self(expected: type[Any] | None = None) -> GenServerRef[Any, Any, Any]:
        """Inside a process: its own ref (OTP ``self()``).

        ``GenServer.self(Counter)`` is the same ref typed as Counter's
        (``GenServerRef[Call, Cast, Reply]`` of a ``GenServer[State, Call, Cast, Reply]``), after
        checking that the calling process runs a ``Counter``; ``GenServer.self()`` is untyped.

        Raises:
            NotInProcessError: called outside a process.
            TypeError: `expected` is not a class, or the process does not run one.
        """
        if expected is not None:
            checks.instance(expected, "expected", type, expected="a behaviour class")
        proc = current_process()
        if proc is None:
            raise NotInProcessError("GenServer.self()")
        if expected is not None and not isinstance(proc.behaviour, expected):
            raise TypeError(
                f"the calling process {proc.ref!r} runs {type(proc.behaviour).__name__}, "
                f"expected {expected.__name__}"
            )
        return proc.ref  # type: ignore[return-value]

    @staticmethod
    def set_label(label: str) -> None:
        """Inside a process: name it `label` in logs, crash reports, reprs and errors from now on
        (shown as ``label#id``), e.g. a session process showing its user's nick. It does not
        register a name (use ``name=`` or the `Registry` for lookups).

        Raises:
            NotInProcessError: called outside a process.
            TypeError, ValueError: `label` is not a non-empty str.
        """
        proc = current_process()
        if proc is None:
            raise NotInProcessError("GenServer.set_label()")
        label = checks.name(label, "label")
        proc.label = f"{label}#{proc.id}"

    # -- monitors and links (see docs/guides/monitors-and-links.md) --

    @staticmethod
    def monitor(target: ProcessRef | str | Via | RemoteName) -> MonitorRef:
        """Inside a process: watch `target` (a ref or name); returns a new `MonitorRef`.

        When `target` exits, ``Down(monitor=mref, ref=target, reason=...)`` arrives in the
        calling process's ``handle_info``. If it is already gone (or the name is not
        registered), the `Down` is queued at once with reason ``"noproc"``. Every call makes
        an independent monitor; they are removed when the calling process exits.

        Raises:
            NotInProcessError: called outside a process (use `wait_exit` there).
        """
        return monitor(target)

    @staticmethod
    def demonitor(mref: MonitorRef, flush: bool = False) -> None:
        """Remove a monitor; idempotent (also after its `Down` was sent).

        Without `flush`, a `Down` already queued in the watcher's mailbox is still delivered
        (OTP); with ``flush=True`` it is dropped, so no `Down` of `mref` arrives afterwards.
        """
        demonitor(mref, flush)

    @staticmethod
    def link(target: ProcessRef | str | Via | RemoteName) -> None:
        """Inside a process: link it to `target` (a ref or name); idempotent.

        A link is two-way: if either process exits with an abnormal reason (a crash,
        ``"shutdown"``, ``"killed"``) the other exits too — or, if it was started with
        ``trap_exit=True``, gets ``Exit(ref, reason)`` in ``handle_info`` instead. A ``"normal"``
        exit kills nobody. Linking a process to itself does nothing.

        Raises:
            ServerNotRunningError: `target` is not running (reason ``"noproc"``) and the
                calling process does not trap exits; a trapping one gets
                ``Exit(target, "noproc")`` instead.
            NotInProcessError: called outside a process.
        """
        link(target)

    @staticmethod
    def unlink(target: ProcessRef | str | Via | RemoteName) -> None:
        """Inside a process: remove its link to `target`; idempotent.

        An `Exit` already queued in the calling process's mailbox is still delivered (OTP).

        Raises:
            NotInProcessError: called outside a process.
        """
        unlink(target)

    @staticmethod
    async def wait_exit(target: ProcessRef | str | Via) -> DownReason:
        """Wait until `target` (a ref or name) has exited and return its exit reason.

        For plain Trio code, where there is no mailbox to receive a `Down`. A process that
        already exited returns its reason at once; a name nobody holds returns ``"noproc"``.
        Cancelling the wait leaves nothing behind.
        """
        return await wait_exit(target)

    @staticmethod
    def on_lifecycle_event(handler: Callable[[LifecycleEvent], object]) -> Callable[[], None]:
        """Same as ``current_runtime().on_lifecycle_event(handler)``."""
        return current_runtime().on_lifecycle_event(handler)

    @_ChildSpecMethod  # a classmethod, typed by the class: ``Counter.child_spec(0)``
    def child_spec(
        cls: type[Any],
        *args: Any,
        id: str | None = None,
        name: str | Via | None = None,
        restart: Restart = "permanent",
        shutdown: Shutdown = 5.0,
        significant: bool = False,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
    ) -> ChildSpec[Any]:
        """A `ChildSpec` that starts this behaviour with `args` (Elixir's ``child_spec/1``).

        ``children=[Counter.child_spec(0, id="counter")]``; `id` defaults to the class name.
        As the ``child_template`` of a ``simple_one_for_one`` supervisor, the arguments of
        ``Supervisor.start_child(sup, *extra)`` are appended: ``init(*args, *extra)`` (OTP).

        Typed: mypy checks `args` against ``init``'s parameters (all of them, or none for a
        template), and the spec is a ``ChildSpec[GenServerRef[Call, Cast, Reply]]`` (``... |
        None`` if ``init`` is declared to return `Ignore`), so ``Supervisor.start_child``
        returns a typed ref.
        """
        if cls is GenServer:
            raise InvalidChildSpecError("child_spec must be called on a GenServer subclass")

        async def start_child(*extra: Any) -> ProcessRef | None:
            # None when init returned Ignore: the supervisor keeps the child as not running.
            return await start_process(
                cls,
                (*args, *extra),
                name=name,
                init_timeout=init_timeout,
                mailbox_size=mailbox_size,
                trap_exit=trap_exit,
            )

        return ChildSpec(
            id if id is not None else cls.__name__,
            start_child,
            restart=restart,
            shutdown=shutdown,
            significant=significant,
        )


__all__ = ["CallResult", "CastResult", "GenServer"]


def _remote_running(target: object) -> bool:
    distribution = current_distribution()
    return distribution is not None and distribution.is_running(target)  # type: ignore[arg-type]
