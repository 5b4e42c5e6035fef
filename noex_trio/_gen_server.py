"""`GenServer`: the behaviour base class, and the facade that starts and talks to processes.

A behaviour is a class with ``init`` / ``handle_call`` / ``handle_cast`` (and optionally
``handle_info`` / ``terminate``), sync or async. Subclassing ``GenServer[State, Call, Cast,
Reply]`` is the usual way — it types the refs that ``GenServer.start`` returns — but any object
with those callbacks works.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar, Union, overload

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
from ._refs import GenServerRef, call, cast, current_caller, stop, whereis
from ._results import Continue, ExitReason, LifecycleEvent, NoReply, Reply, Stop
from ._safe_format import safe_repr
from ._spawn import start_process
from ._timers import TimerRef, cancel_timer, send_after
from ._via import Via

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

    @overload
    @staticmethod
    async def start(
        behaviour: type[GenServer[Any, C, K, R]],
        *args: Any,
        name: str | Via | None = None,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
        link: bool = False,
    ) -> GenServerRef[C, K, R]: ...
    @overload
    @staticmethod
    async def start(
        behaviour: GenServer[Any, C, K, R],
        *args: Any,
        name: str | Via | None = None,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
        link: bool = False,
    ) -> GenServerRef[C, K, R]: ...
    @overload
    @staticmethod
    async def start(
        behaviour: object,
        *args: Any,
        name: str | Via | None = None,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
        link: bool = False,
    ) -> GenServerRef[Any, Any, Any]: ...
    @staticmethod
    async def start(
        behaviour: object,
        *args: Any,
        name: str | Via | None = None,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
        link: bool = False,
    ) -> GenServerRef[Any, Any, Any]:
        """Start a process running `behaviour` and return its ref once ``init`` is done.

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
        return ref  # type: ignore[return-value]

    @overload
    @staticmethod
    async def call(target: GenServerRef[C, Any, R], msg: C, timeout: float = 5.0) -> R: ...  # noqa: ASYNC109
    @overload
    @staticmethod
    async def call(target: str | Via | ProcessRef, msg: Any, timeout: float = 5.0) -> Any: ...  # noqa: ASYNC109
    @staticmethod
    async def call(target: object, msg: Any, timeout: float = 5.0) -> Any:  # noqa: ASYNC109 (OTP parity)
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

    @overload
    @staticmethod
    def cast(target: GenServerRef[Any, K, Any], msg: K) -> None: ...
    @overload
    @staticmethod
    def cast(target: str | Via | ProcessRef, msg: Any) -> None: ...
    @staticmethod
    def cast(target: object, msg: Any) -> None:
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
    def exit(target: ProcessRef | str | Via, reason: ExitReason) -> None:
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
        """True if `target` (a ref or name) is a process accepting messages."""
        if isinstance(target, (str, Via)):
            ref = whereis(target)
            return ref is not None and ref.is_running()
        if not isinstance(target, ProcessRef):
            raise checks.type_error("target", "a GenServerRef or a registered name", target)
        return target.is_running()

    @staticmethod
    def send_after(target: object, msg: Any, delay: float) -> TimerRef:
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

    @staticmethod
    def self() -> GenServerRef[Any, Any, Any]:
        """Inside a process: its own ref (OTP ``self()``).

        Raises:
            NotInProcessError: called outside a process.
        """
        proc = current_process()
        if proc is None:
            raise NotInProcessError("GenServer.self()")
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
    def monitor(target: ProcessRef | str | Via) -> MonitorRef:
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
    def link(target: ProcessRef | str | Via) -> None:
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
    def unlink(target: ProcessRef | str | Via) -> None:
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

    @classmethod
    def child_spec(
        cls,
        *args: Any,
        id: str | None = None,
        name: str | Via | None = None,
        restart: Restart = "permanent",
        shutdown: Shutdown = 5.0,
        significant: bool = False,
        init_timeout: float = 5.0,
        mailbox_size: float = math.inf,
        trap_exit: bool = False,
    ) -> ChildSpec:
        """A `ChildSpec` that starts this behaviour with `args` (Elixir's ``child_spec/1``).

        ``children=[Counter.child_spec(0, id="counter")]``; `id` defaults to the class name.
        As the ``child_template`` of a ``simple_one_for_one`` supervisor, the arguments of
        ``Supervisor.start_child(sup, *extra)`` are appended: ``init(*args, *extra)`` (OTP).
        """
        if cls is GenServer:
            raise InvalidChildSpecError("child_spec must be called on a GenServer subclass")

        async def start_child(*extra: Any) -> ProcessRef:
            # None when init returned Ignore: the supervisor keeps the child as not running.
            return await start_process(  # type: ignore[return-value]
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
