"""``send_after``: a cast delivered later, owned by its target so it never outlives it."""

from __future__ import annotations

from typing import Any

import attrs
import trio

from . import _checks as checks
from ._exceptions import MailboxFullError
from ._process import RUNNING, AnyRef, CastItem, cast_message, not_running, resolve


@attrs.define(eq=False, repr=False)
class TimerRef:
    """A pending ``send_after`` message; pass it to ``GenServer.cancel_timer``."""

    _target: AnyRef
    _message: Any
    _scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    _pending: bool = True

    @property
    def pending(self) -> bool:
        """True until the message is delivered or the timer cancelled."""
        return self._pending

    def __repr__(self) -> str:
        state = "pending" if self._pending else "done"
        return f"<TimerRef to {self._target._label} {state}>"

    def _cancel(self) -> bool:
        if not self._pending:
            return False
        self._pending = False
        self._scope.cancel()
        self._target._remove_on_exit(self)
        return True


def send_after(target: object, message: Any, delay: float) -> TimerRef:
    """Cast `message` to `target` after `delay` seconds; see ``GenServer.send_after``."""
    proc = resolve(target)
    seconds = checks.seconds(delay, "delay", zero=True)
    if proc._status > RUNNING:
        raise not_running(target, proc)
    timer = TimerRef(proc, message)
    proc._add_on_exit(timer, lambda _reason: timer._cancel())
    proc._runtime._host.nursery.start_soon(_fire, timer, seconds)
    return timer


async def _fire(timer: TimerRef, delay: float) -> None:
    with timer._scope:
        await trio.sleep(delay)
        if not timer._pending:  # pragma: no cover - cancelled without a checkpoint in between
            return
        proc = timer._target
        try:
            cast_message(proc, timer._message, system=True)
        except MailboxFullError:
            # A full bounded mailbox: wait for room rather than lose the message. The timer
            # stays pending meanwhile (cancel_timer, or the process's exit, cancels it).
            await proc._send.send(CastItem(timer._message))
        except Exception:  # stopping: dropped like a cast to a process that is going away
            proc._runtime._dead_letters += 1
        timer._pending = False
        proc._remove_on_exit(timer)


def cancel_timer(timer: TimerRef) -> bool:
    """Cancel a ``send_after``; True only if the message was still pending."""
    return checks.instance(timer, "timer", TimerRef)._cancel()
