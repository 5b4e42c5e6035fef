"""``send_after``: a cast delivered later, owned by its target so it never outlives it."""

from __future__ import annotations

from contextlib import suppress
from typing import Any, final

import attrs
import trio

from . import _checks as checks
from ._context import current_kernel, reset_library_context
from ._exceptions import MailboxFullError, ServerNotRunningError
from ._handles import NoPublicConstructor
from ._mailbox import CastItem
from ._process import RUNNING, Process
from ._refs import cast, resolve
from ._remote_ref import RemoteName, RemoteRef, distribution_for, is_remote


@final
@attrs.define(eq=False, repr=False)
class TimerRef(metaclass=NoPublicConstructor):
    """A pending ``send_after`` message; pass it to ``GenServer.cancel_timer``.

    Users never build one: ``GenServer.send_after`` returns it.
    """

    _target: Process | RemoteRef | RemoteName
    _message: Any
    # Shielded like the process it serves: a cancellation of the runtime's body must not end
    # it; the timer ends when it fires, is cancelled, or its target exits.
    _scope: trio.CancelScope = attrs.field(factory=lambda: trio.CancelScope(shield=True))
    _pending: bool = True

    @property
    def pending(self) -> bool:
        """True until the message is delivered or the timer cancelled."""
        return self._pending

    def __repr__(self) -> str:
        state = "pending" if self._pending else "done"
        target = self._target
        label = target.label if isinstance(target, Process) else target._label
        return f"<TimerRef to {label} {state}>"

    @trio.lowlevel.enable_ki_protection
    def _cancel(self) -> bool:
        if not self._pending:
            return False
        self._pending = False
        self._scope.cancel()
        if isinstance(self._target, Process):
            self._target.remove_exit_hook(self)
        return True


@trio.lowlevel.enable_ki_protection
def send_after(target: object, message: Any, delay: float) -> TimerRef:
    """Cast `message` to `target` after `delay` seconds; see ``GenServer.send_after``."""
    if is_remote(target):
        return _send_after_remote(target, message, delay)  # type: ignore[arg-type]  # (checked)
    proc = resolve(target)
    seconds = checks.seconds(delay, "delay", zero=True)
    if proc.status > RUNNING:
        raise proc.not_running(target)
    timer: TimerRef = TimerRef._create(proc, message)
    proc.add_exit_hook(timer, lambda _reason: timer._cancel())
    proc.kernel.host().nursery.start_soon(_fire, timer, seconds)
    return timer


def _send_after_remote(target: RemoteRef | RemoteName, message: Any, delay: float) -> TimerRef:
    """A timer here whose cast goes to another node when it fires (dropped if the target is
    gone by then, as any cast there)."""
    distribution = distribution_for(target)
    seconds = checks.seconds(delay, "delay", zero=True)
    if not distribution.is_running(target):
        raise ServerNotRunningError(target, "noconnection")
    timer: TimerRef = TimerRef._create(target, message)
    current_kernel().host().nursery.start_soon(_fire, timer, seconds)
    return timer


async def _fire(timer: TimerRef, delay: float) -> None:
    reset_library_context()
    with timer._scope:
        await trio.sleep(delay)
        if not timer._pending:  # pragma: no cover - cancelled without a checkpoint in between
            return
        if not isinstance(timer._target, Process):
            timer._pending = False
            with suppress(ServerNotRunningError, MailboxFullError):  # (its node went down)
                cast(timer._target, timer._message)
            return
        proc = timer._target
        try:
            cast(proc.ref, timer._message, system=True)
        except MailboxFullError:
            # A full bounded mailbox: wait for room rather than lose the message. The timer
            # stays pending meanwhile (cancel_timer, or the process's exit, cancels it).
            await proc.send.send(CastItem(timer._message))
        except ServerNotRunningError:  # stopping: dropped like a cast to a process going away
            proc.kernel.count_dead_letters(1)
        timer._pending = False
        proc.remove_exit_hook(timer)


def cancel_timer(timer: TimerRef) -> bool:
    """Cancel a ``send_after``; True only if the message was still pending."""
    return checks.instance(timer, "timer", TimerRef)._cancel()
