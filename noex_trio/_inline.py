"""The inline call path: a caller runs an idle process's plain-``def`` ``handle_call`` itself.

Trio runs one task at a time, and a plain ``def`` never yields. So when a call reaches a
process whose loop waits on an empty mailbox, handing the message over changes nothing but
the cost: the loop would wake, run ``handle_call`` with nothing else able to run meanwhile,
and wake the caller — two task switches, most of a call's time. Instead the caller runs
``handle_call`` itself, on the process's behalf, exactly as the loop would: in the process's
contextvars context (``GenServer.self()``, ``GenServer.caller()``, the process's own context
variables), with ``current`` and the call count set, on the state the loop left on the record,
and stores the new state there. Then it takes one checkpoint (Trio's rule), and has its reply.

Only the plain outcome completes inline: ``(reply, state)`` or a `Reply` without options.
Everything else needs the process's own task and is handed over (`hand_over`): a handler that
raises (or a `KeyboardInterrupt` in it), `Stop`, `NoReply`, a continuation or idle timeout, an
awaitable, a bad value. The loop takes that outcome before any other message and carries on
from it as if its own ``handle_call`` had returned or raised it; the caller waits for its
answer like any caller. The loop offers inline calls (`Process.parked`) only when it is parked
on a plain ``receive`` of an unbounded mailbox (no idle timeout), its ``handle_call`` is a
plain ``def``, and the process owns no tasks (`_actor.inline_offered`).

Why this is the same as the queued path: the mailbox is empty and the loop parked, so the call
would have been the next message; nothing else runs while a plain ``def`` does; the loop's
view of the process (state, counts, current caller) is the record's, which the inline run
updates in its place. "Parked on the mailbox" is read from Trio itself: a task waiting in a
memory channel's ``receive`` has that channel as its ``custom_sleep_data``, which Trio resets
when the task is woken (by a message, or a cancellation), so a loop already handed a message
is never taken for idle.
"""

from __future__ import annotations

import sys
from typing import Any

import trio

from ._mailbox import Caller, Handover
from ._process import Process
from ._results import NO_CONTINUE, Reply


def run_inline(proc: Process, loop: trio.lowlevel.Task, caller: Caller[Any]) -> bool:
    """Run ``handle_call`` for `caller` on behalf of `proc`, whose loop `loop` is parked.
    True: the caller holds its answer (the reply, or one given through
    ``GenServer.caller()`` meanwhile); False: the call was handed over and the caller waits
    for its answer."""
    handle_call = proc.inline_call
    assert handle_call is not None  # (offered with `parked`)
    proc.parked = None  # busy: no other inline call, and not idle for anyone
    proc.current = caller
    proc.calls += 1
    handling = sys.exception()  # what the caller is handling, if it calls from an `except`
    try:
        result = loop.context.run(handle_call, caller.message, proc.state)
    except BaseException as exc:
        # The loop raises it (its state stays the one the call found), with the traceback
        # and context it would have had there.
        traceback = exc.__traceback__
        assert traceback is not None  # (it passed through this frame)
        exc.__traceback__ = traceback.tb_next
        if handling is not None:
            _unchain(exc, handling)
        hand_over(proc, loop, Handover(caller, None, exc))
        return caller._done
    rtype = type(result)
    if rtype is tuple and len(result) == 2:
        value = result[0]
        proc.state = result[1]
    elif rtype is Reply and result.continue_with is NO_CONTINUE and result.idle_timeout is None:
        value = result.value
        proc.state = result.state
    else:
        hand_over(proc, loop, Handover(caller, result, None))
        return caller._done
    proc.current = None
    proc.parked = loop  # idle again (if the handler woke the loop, `custom_sleep_data` says so)
    if not caller._done:  # (an answer given through GenServer.caller() meanwhile wins)
        caller._done = True  # later replies to this caller are dropped, as after the loop's
        caller._value = value
    return True


def _unchain(error: BaseException, handling: BaseException) -> None:
    """Cut `error`'s implicit context where it reaches `handling` (the caller's exception,
    which the process's own task would not have been handling). Every link of the chain was
    set by a ``raise`` inside the handler, so the chain leads there (the walk is bounded all
    the same: a chain made by hand may loop)."""
    depth = 0
    while error.__context__ is not None and error.__context__ is not handling and depth < 100:
        error = error.__context__
        depth += 1
    error.__context__ = None


def caller_cancelled() -> bool:
    """Whether the calling task is cancelled: its call then takes the queued path, where the
    handler finds the caller already gone (it gave up when it parked), as OTP's would.

    Trio has no cheap public test for this (`trio.current_effective_deadline` walks every
    enclosing cancel scope, ~1.4 µs, a third of an inline call), so this reads the task's
    cancel status; `tests/test_inline_calls.py` pins the behaviour."""
    status: Any = trio.lowlevel.current_task()._cancel_status
    return bool(status.effectively_cancelled)


def hand_over(proc: Process, loop: trio.lowlevel.Task, handover: Handover) -> None:
    """Leave an inline call's outcome to the process's task, ahead of any other message."""
    if loop.custom_sleep_data is proc.recv:
        proc.send.send_nowait(handover)  # still parked: straight to the loop
    else:
        # The handler itself woke the loop (a message to its own process, an exit signal to
        # itself): the loop takes this before the message it was woken with.
        proc.front = handover
