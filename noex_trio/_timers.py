"""``send_after``: a cast delivered later, owned by its target so it never outlives it."""

from __future__ import annotations

from typing import Any, final

import attrs
import trio

from . import _checks as checks
from ._context import reset_library_context
from ._exceptions import MailboxFullError, ServerNotRunningError
from ._handles import NoPublicConstructor
from ._mailbox import CastItem
from ._process import RUNNING, Process
from ._refs import cast, resolve


@final
@attrs.define(eq=False, repr=False)
class TimerRef(metaclass=NoPublicConstructor):
    """A pending ``send_after`` message; pass it to ``GenServer.cancel_timer``.

    Users never build one: ``GenServer.send_after`` returns it.
    """

    _target: Process
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
        return f"<TimerRef to {self._target.label} {state}>"

    @trio.lowlevel.enable_ki_protection
    def _cancel(self) -> bool:
        if not self._pending:
            return False
        self._pending = False
        self._scope.cancel()
        self._target.remove_exit_hook(self)
        return True


@trio.lowlevel.enable_ki_protection
def send_after(target: object, message: Any, delay: float) -> TimerRef:
    """Cast `message` to `target` after `delay` seconds; see ``GenServer.send_after``."""
    proc = resolve(target)
    seconds = checks.seconds(delay, "delay", zero=True)
    if proc.status > RUNNING:
        raise proc.not_running(target)
    timer: TimerRef = TimerRef._create(proc, message)
    proc.add_exit_hook(timer, lambda _reason: timer._cancel())
    proc.kernel.host().nursery.start_soon(_fire, timer, seconds)
    return timer


async def _fire(timer: TimerRef, delay: float) -> None:
    reset_library_context()
    with timer._scope:
        await trio.sleep(delay)
        if not timer._pending:  # pragma: no cover - cancelled without a checkpoint in between
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
