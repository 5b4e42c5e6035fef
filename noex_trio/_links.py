"""Monitors and links: how processes learn of each other's exits, and die together.

- A **monitor** is one-way: the watcher gets ``Down(monitor, ref, reason)`` in ``handle_info``
  when the target exits (at once, with reason ``"noproc"``, if it is already gone). Each
  ``monitor`` call makes an independent `MonitorRef`; ``demonitor`` removes it.
- A **link** is two-way and at most one per pair: when either process exits with an abnormal
  reason, the other dies too, unless it traps exits (``trap_exit=True``), in which case it gets
  ``Exit(ref, reason)`` in ``handle_info`` instead.

Both are built on the exit hooks of the process record (``Process.add_exit_hook``): a hook
runs during the exit sequence, after the names are released and before ``Terminated`` is
emitted. Nothing
is stored for a process that never monitors or links, so it pays nothing. Hooks are removed on
both sides when either end goes away (exit, ``demonitor``, ``unlink``), so link and monitor
tables never keep a dead process alive.

Link keys live in the process's own exit-hook table: ``(_LINK, peer)`` on each side, so "are A
and B linked?" is a dict lookup and an exit walks only that process's own links.
"""

from __future__ import annotations

import functools
import logging
from contextlib import suppress
from typing import Final, Literal, TypeAlias, final

import attrs
import trio

from . import _checks as checks
from ._context import current_process, host_var, reset_library_context
from ._exceptions import LinkedExitError, NoexError, NotInProcessError, ServerNotRunningError
from ._handles import NoPublicConstructor
from ._mailbox import Info
from ._process import DEAD, Process, ProcessRef, process_of
from ._refs import resolve
from ._remote_ref import RemoteName, RemoteRef, distribution_for, is_remote
from ._results import ExitReason, is_normal, is_shutdown
from ._via import Via

logger: Final = logging.getLogger("noex_trio")

#: What a `Down` or `Exit` may report: an exit reason, or ``"noproc"`` when the target was
#: already gone (or never existed) when the monitor or link was made.
DownReason: TypeAlias = ExitReason | Literal["noproc"]

#: First element of the exit-hook key of a link: ``(_LINK, peer)``.
_LINK: Final = "noex_trio.link"


@final
@attrs.define(eq=False, repr=False)
class MonitorRef(metaclass=NoPublicConstructor):
    """One monitor, returned by ``GenServer.monitor``; pass it to ``GenServer.demonitor``.

    Hashable and compared by identity: every ``monitor`` call makes a new one, even for the
    same target, and the `Down` it produces carries it (``down.monitor is mref``).
    """

    _watcher: Process | None  # (None: a Down that came from another node)
    _target: Process | str | Via | RemoteRef | RemoteName
    _active: bool = True
    _flushed: bool = False

    @property
    def target(self) -> ProcessRef | str | Via | RemoteName:
        """The monitored process (or the name that was not registered)."""
        target = self._target
        return target.ref if isinstance(target, Process) else target

    @property
    def active(self) -> bool:
        """True until the `Down` was sent or the monitor removed by ``demonitor``."""
        return self._active

    def __repr__(self) -> str:
        target = self._target
        shown = target.label if isinstance(target, Process) else getattr(target, "_label", target)
        watcher = "another node" if self._watcher is None else self._watcher.label
        state = "active" if self._active else "inactive"
        return f"<MonitorRef of {shown} by {watcher} {state}>"

    # -- exit hooks --

    def _owner_key(self) -> tuple[str, MonitorRef]:
        return ("noex_trio.monitor", self)

    def _target_exited(self, reason: ExitReason) -> None:
        if not self._active:  # pragma: no cover - hooks are removed when deactivated
            return
        self._active = False
        watcher = self._watcher
        assert watcher is not None  # (only a Down from another node has none: never active)
        watcher.remove_exit_hook(self._owner_key())
        deliver(watcher, Down(self, self.target, reason))

    def _watcher_exited(self, _reason: ExitReason) -> None:
        self._active = False
        self._forget_target()

    def _forget_target(self) -> None:
        """The target no longer needs to report to this monitor."""
        target = self._target
        if isinstance(target, Process):
            target.remove_exit_hook(self)
        elif self._watcher is not None and self._watcher.kernel.distribution is not None:
            self._watcher.kernel.distribution.demonitor(self)


@attrs.frozen
class Down:
    """A monitored process exited: delivered to the watcher's ``handle_info``.

    Attributes:
        monitor: the `MonitorRef` that ``GenServer.monitor`` returned.
        ref: the process that exited (the name, if it was monitored by a name nobody held).
        reason: its exit reason; ``"noproc"`` if it was already gone when the monitor was made.
    """

    monitor: MonitorRef
    ref: ProcessRef | str | Via | RemoteName
    reason: DownReason

    def _noex_drop(self) -> bool:
        """Asked by the process loop: skip this message (``demonitor(..., flush=True)``)."""
        return self.monitor._flushed


@attrs.frozen
class Exit:
    """An exit signal reached a process that traps exits: delivered to ``handle_info``.

    Only processes started with ``trap_exit=True`` receive it (for every exit reason, ``"normal"``
    included, like OTP); the others die with the linked process instead (unless its reason is
    ``"normal"``). It comes from a linked process that exited, or from ``GenServer.exit``.

    Attributes:
        ref: the linked process that exited (the name, if ``link`` got a name nobody held), or
            the process that called ``GenServer.exit`` (None if plain Trio code called it).
        reason: the exit reason; ``"noproc"`` if the linked process was gone when ``link`` was
            called.
    """

    ref: ProcessRef | str | Via | RemoteName | None
    reason: DownReason


# --- delivery ---------------------------------------------------------------------------------


def deliver(proc: Process, message: object) -> None:
    """Queue `message` for ``handle_info`` of `proc`; wait for room if its mailbox is full.

    Notices are never dropped for a live process: a full bounded mailbox gets them from a
    helper task as soon as there is room (order among such late notices is not guaranteed).
    """
    if proc.deliver_info(message) or proc.status >= DEAD:
        return
    try:
        nursery = proc.kernel.host().nursery
    except NoexError:  # pragma: no cover - the runtime is closing: everything is stopping
        return
    nursery.start_soon(_deliver_later, proc, message)


async def _deliver_later(proc: Process, message: object) -> None:
    reset_library_context()
    # Shielded like the process it serves: it ends when the notice is in, or the process gone.
    # (If the process dies first, the notice goes to nobody: not a dead letter.)
    with (
        trio.CancelScope(shield=True),
        suppress(trio.ClosedResourceError, trio.BrokenResourceError),
    ):
        await proc.send.send(Info(message))


# --- monitors ---------------------------------------------------------------------------------


def _watcher(what: str) -> Process:
    proc = current_process()
    if proc is None:
        raise NotInProcessError(
            what,
            hint=" (the calling process is the watcher); "
            "from plain Trio code use `await GenServer.wait_exit(target)`",
        )
    return proc


@trio.lowlevel.enable_ki_protection
def monitor(target: object) -> MonitorRef:
    """Monitor `target` from the calling process; see ``GenServer.monitor``."""
    watcher = _watcher("GenServer.monitor()")
    if is_remote(target):
        assert isinstance(target, (RemoteRef, RemoteName))
        return distribution_for(target).monitor(watcher, target)
    try:
        proc = resolve(target, system=True)
    except ServerNotRunningError:  # a name nobody holds
        assert isinstance(target, (str, Via))
        mref: MonitorRef = MonitorRef._create(watcher, target, active=False)
        deliver(watcher, Down(mref, target, "noproc"))
        return mref
    mref = MonitorRef._create(watcher, proc)
    if proc.status >= DEAD:
        mref._active = False
        deliver(watcher, Down(mref, proc.ref, "noproc"))
        return mref
    proc.add_exit_hook(mref, mref._target_exited)
    if watcher is not proc:  # a process that monitors itself can never get the Down
        watcher.add_exit_hook(mref._owner_key(), mref._watcher_exited)
    return mref


@trio.lowlevel.enable_ki_protection
def demonitor(mref: MonitorRef, flush: bool = False) -> None:
    """Remove a monitor (idempotent); with `flush`, also drop its `Down` if already queued."""
    checks.instance(mref, "mref", MonitorRef)
    if mref._active:
        mref._active = False
        assert mref._watcher is not None  # (only a Down from another node has none)
        mref._watcher.remove_exit_hook(mref._owner_key())
        mref._forget_target()
    if flush:
        mref._flushed = True


async def wait_exit(target: object) -> DownReason:
    """Wait until `target` has exited and return its reason; see ``GenServer.wait_exit``."""
    try:
        proc = resolve(target, system=True)
    except ServerNotRunningError:
        await trio.lowlevel.checkpoint()
        return "noproc"
    return await proc.wait_exited()


# --- links ------------------------------------------------------------------------------------


@trio.lowlevel.enable_ki_protection
def link(target: object) -> None:
    """Link the calling process to `target`; see ``GenServer.link``."""
    me = _watcher("GenServer.link()")
    if is_remote(target):
        assert isinstance(target, (RemoteRef, RemoteName))
        distribution_for(target).link(me, target)
        return
    try:
        proc = resolve(target, system=True)
    except ServerNotRunningError:  # a name nobody holds
        _link_failed(me, target)
        return
    if proc.status >= DEAD:
        _link_failed(me, proc.ref)
        return
    link_procs(me, proc)


def _link_failed(me: Process, target: object, reason: str = "noproc") -> None:
    """OTP: linking to a process that does not exist is an exit signal ``noproc``
    (``noconnection`` if its node is down); a caller that does not trap exits gets it as an
    error instead (the handler may catch it)."""
    if me.trap_exit:
        assert isinstance(target, (ProcessRef, str, Via))
        deliver(me, Exit(target, reason))
        return
    raise ServerNotRunningError(target, reason)


@trio.lowlevel.enable_ki_protection
def link_procs(a: Process, b: Process) -> None:
    """Link two processes (idempotent; a process linked to itself is a no-op)."""
    if a is b:
        return
    if b.status >= DEAD:  # gone meanwhile (start(link=True)): the link would have fired
        exit_signal(a, b.ref, b.reason)
        return
    a.add_exit_hook((_LINK, b), functools.partial(_linked_exited, a, b))
    b.add_exit_hook((_LINK, a), functools.partial(_linked_exited, b, a))


@trio.lowlevel.enable_ki_protection
def unlink(target: object) -> None:
    """Remove the link between the calling process and `target`; see ``GenServer.unlink``."""
    me = _watcher("GenServer.unlink()")
    if is_remote(target):
        assert isinstance(target, (RemoteRef, RemoteName))
        distribution_for(target).unlink(me, target)
        return
    try:
        proc = resolve(target, system=True)
    except ServerNotRunningError:
        return  # a name nobody holds: nothing is linked to it
    me.remove_exit_hook((_LINK, proc))
    proc.remove_exit_hook((_LINK, me))


def linked(a: ProcessRef, b: ProcessRef) -> bool:
    """True if `a` and `b` are linked (for tests and introspection)."""
    return process_of(a).has_exit_hook((_LINK, process_of(b)))


@trio.lowlevel.enable_ki_protection
def _linked_exited(dying: Process, peer: Process, reason: ExitReason) -> None:
    peer.remove_exit_hook((_LINK, dying))
    exit_signal(peer, dying.ref, reason)


@trio.lowlevel.enable_ki_protection
def exit_signal(receiver: Process, sender: ProcessRef, reason: ExitReason) -> None:
    """Deliver the exit signal of `sender` to `receiver` (OTP's rules, see the guide's table).

    - trapping receiver: ``Exit(sender, reason)`` in its mailbox, whatever the reason;
    - ``"normal"``: nothing;
    - ``"shutdown"``: the receiver is shut down with ``"shutdown"`` (``terminate`` runs);
    - a crash or ``"killed"``: the receiver is shut down with a `LinkedExitError` naming the
      sender, whose exit reason is ``__cause__`` (``terminate`` runs).
    """
    if receiver.trap_exit:
        deliver(receiver, Exit(sender, reason))
        return
    if is_normal(reason):
        return
    if not is_shutdown(reason):
        reason = LinkedExitError(sender, reason)
    logger.debug("%s exits because linked %s exited", receiver.label, sender._label)
    receiver.kill(reason)


@trio.lowlevel.enable_ki_protection
def send_exit(target: object, reason: ExitReason) -> None:
    """Send an exit signal to `target` (OTP ``exit/2``); see ``GenServer.exit``."""
    sender = current_process()
    if is_remote(target):
        assert isinstance(target, (RemoteRef, RemoteName))
        distribution_for(target).send_exit(sender, target, reason)
        return
    try:
        proc = resolve(target, system=True)
    except ServerNotRunningError:
        return  # a name nobody holds: like a signal to a dead process, nothing happens
    signal_exit(proc, None if sender is None else sender.ref, reason)


@trio.lowlevel.enable_ki_protection
def signal_exit(proc: Process, sender: ProcessRef | None, reason: ExitReason) -> None:
    """Deliver an exit signal from `sender` (a process here or elsewhere, None for plain Trio
    code) to `proc`, by OTP's rules for ``exit/2``."""
    if proc.status >= DEAD:
        return
    if type(reason) is str and reason == "kill":
        logger.debug("%s killed by an exit signal", proc.label)
        proc.kill("killed", "brutal_kill")  # untrappable: no terminate
        return
    if proc.trap_exit:
        deliver(proc, Exit(sender, reason))
        return
    if is_normal(reason) and sender is not proc.ref:
        return  # OTP: "normal" from another process is ignored by a non-trapping one
    proc.kill(reason)


def start_link_owner() -> Process | None:
    """For ``GenServer.start(link=True)``: the calling process to link the new one to.

    None inside a supervisor's child ``start`` function: a supervisor already hears of its
    children's exits (it is linked to them in OTP terms), so the option is a no-op there.
    """
    if host_var.get() is not None:
        return None
    return _watcher("GenServer.start(link=True)")


__all__ = [
    "Down",
    "DownReason",
    "Exit",
    "MonitorRef",
    "demonitor",
    "link",
    "link_procs",
    "linked",
    "monitor",
    "send_exit",
    "start_link_owner",
    "unlink",
    "wait_exit",
]
