"""The inline call path is invisible: random programs run alike with it on and off.

Issue 17's inline path runs a sync ``handle_call`` in the caller's task when the process is
idle, and hands everything else to the process's own task. This file runs the same program
twice, each in its own ``trio.run`` on a `MockClock`, with ``noex_trio._actor.INLINE_CALLS``
True and then False, and compares everything a user can observe (`tests/inline_programs.py`
says what and how). First a Hypothesis machine over random programs, then a handful of explicit
programs, one per handover case, so a failure there reads as a sentence.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from .inline_programs import (
    SHORT_TIMEOUT,
    Program,
    ServerSpec,
    Step,
    Trace,
    first_difference,
    programs,
    run_program,
    show,
)


def assert_equivalent(program: Program) -> Trace:
    inline = run_program(program, inline=True)
    queued = run_program(program, inline=False)
    difference = first_difference(inline, queued)
    assert difference is None, (
        f"{difference}\n--- inline:\n{show(inline)}\n--- queued:\n{show(queued)}"
    )
    return inline


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(program=programs())
def test_random_programs_run_alike_inline_and_queued(program: Program) -> None:
    assert_equivalent(program)


# --- explicit programs: one per case of the inline path -----------------------------------------

SYNC = ServerSpec()
ASYNC = ServerSpec(is_async=True)
RECORDING = ServerSpec(records_terminate=True)


def call(client: int, slot: int, *msg: Any, timeout: float = 5.0, by_name: bool = False) -> Step:
    return (client, "call", slot, msg, timeout, by_name)


def tick(seconds: float = 1.0) -> Step:
    return (None, "tick", seconds)


def run(*steps: Step, servers: tuple[ServerSpec, ...] = (SYNC,), clients: int = 1) -> Trace:
    """Run the program both ways, check the traces agree, return one."""
    return assert_equivalent(Program(servers=servers, clients=clients, steps=steps))


def seen(trace: Trace, actor: str, kind: str) -> list[Any]:
    """The events of `actor` whose first field is `kind`, without their window."""
    return [event[1:] for _, event in trace.get(actor, []) if event[0] == kind]


def test_a_plain_reply_from_an_idle_sync_server() -> None:
    trace = run(call(0, 0, "incr"), call(0, 0, "reply"), call(0, 0, "get"))
    assert seen(trace, "c0", "reply") == [("1",), (("'reply'", "1"),), (("'get'", "11"),)]
    assert seen(trace, "s0", "stats")[-1] == ("s0.1", "running", 3, 0, 0, 0, (), None)


def test_the_handler_runs_as_the_process() -> None:
    # GenServer.self(), the process's contextvars (not the caller's), casts to itself, and
    # monitors/links made from inside the handler.
    trace = run(
        call(0, 0, "self"),
        call(0, 0, "ctx"),
        call(0, 0, "ctx"),
        call(0, 0, "cast_self"),
        call(0, 0, "get"),
        call(0, 0, "monitor", 1),
        call(0, 0, "link", 1),
        (0, "crash", 1),
        servers=(ServerSpec(trap_exit=True), SYNC),
    )
    assert seen(trace, "c0", "reply")[:5] == [
        (("'self'", "'s0.1'"),),
        (("'ctx'", "'unset'"),),
        (("'ctx'", "'s0:0'"),),
        (("'cast_self'", "0"),),
        (("'get'", "5"),),
    ]
    crash = ("ValueError", "crashed on purpose", None)
    assert seen(trace, "s0", "info") == [
        (("Down", "s1.1", crash), 5),
        (("Exit", "s1.1", crash), 1005),
    ]


def test_a_raising_handler_crashes_the_process_and_the_caller_gets_the_error() -> None:
    trace = run((0, "call_then", 0, ("raise",)), call(0, 0, "get"), servers=(RECORDING,))
    error = ("ValueError", "boom at 0", None)
    assert seen(trace, "c0", "call_then")[0][:2] == (("raised", error), False)
    assert seen(trace, "c0", "raised")[0][0][0] == "ServerNotRunningError"
    assert seen(trace, "s0", "terminate") == [(error, 0)]
    assert seen(trace, "s0", "exit reason") == [("s0.1", error)]


def test_an_exception_group_and_a_bad_result_crash_the_process() -> None:
    trace = run(
        call(0, 0, "raise_group"),
        call(0, 1, "bad"),
        servers=(RECORDING, RECORDING),
    )
    group, bad = (event[0] for event in seen(trace, "c0", "raised"))
    assert group[:3] == ("group", "ExceptionGroup", "boom group")
    assert bad[0] == "TypeError"
    assert seen(trace, "s1", "terminate") == [(bad, 0)]


def test_stop_with_and_without_a_reply() -> None:
    trace = run(
        call(0, 0, "stop_reply", "normal"),
        call(0, 1, "stop", "custom"),
        servers=(RECORDING, RECORDING),
    )
    assert seen(trace, "c0", "reply") == [(("'bye'", "0"),)]
    assert seen(trace, "c0", "raised")[0][0][0] == "ServerNotRunningError"
    assert seen(trace, "s0", "terminate") == [("'normal'", 0)]
    assert seen(trace, "s1", "exit reason") == [("s1.1", "'custom'")]


def test_deferred_replies() -> None:
    trace = run(
        call(0, 0, "noreply"),
        (1, "cast", 0, ("flush",)),
        call(1, 0, "reply_now"),
        call(1, 0, "get"),
        clients=2,
    )
    assert seen(trace, "c0", "reply") == [(("'deferred'", "1"),)]
    assert seen(trace, "c1", "reply") == [(("'early'", "1"),), (("'get'", "2"),)]


def test_a_continuation_runs_before_the_next_message() -> None:
    trace = run(call(0, 0, "reply_cont"), call(0, 0, "get"))
    assert seen(trace, "s0", "continue") == [("more", 1)]
    assert seen(trace, "c0", "reply")[-1] == (("'get'", "101"),)


def test_an_idle_timeout_and_an_awaitable_result() -> None:
    trace = run(call(0, 0, "reply_idle"), tick(), tick(), call(0, 0, "awaitable"))
    assert seen(trace, "s0", "info") == [("IdleTimeout(seconds=1.125)", 1)]
    assert seen(trace, "c0", "reply")[-1] == (("'awaited'", "1001"),)


def test_a_call_from_an_async_handler_to_a_sync_server() -> None:
    trace = run(call(0, 0, "call_other", 1), call(0, 1, "get"), servers=(ASYNC, SYNC))
    assert seen(trace, "c0", "reply") == [(("'called'", "1"),), (("'get'", "1"),)]


def test_calls_to_a_busy_server_wait_or_time_out() -> None:
    trace = run(
        call(0, 0, "sleep"),
        call(1, 1, "sleep"),
        call(2, 1, "incr", timeout=SHORT_TIMEOUT),
        (3, "cast_burst", 1),
        tick(),
        tick(),
        servers=(ASYNC, ServerSpec(is_async=True, bounded=True)),
        clients=4,
    )
    assert seen(trace, "c0", "reply") == [(("'slept'", "0"),)]
    assert seen(trace, "c2", "raised")[0][0][0] == "CallTimeoutError"
    # (c2's call holds one of the two places of the bounded mailbox)
    bursts = seen(trace, "c3", "burst")
    assert bursts[0] == (0, "ok")
    assert [b[1][0] for b in bursts[1:]] == ["MailboxFullError", "MailboxFullError"]


def test_cancelled_callers() -> None:
    trace = run(
        (0, "precancelled_call", 0, ("incr",)),
        call(0, 0, "get"),
        (0, "cancel_call", 1, ("sleep",)),
        tick(),
        tick(),
        call(0, 1, "get"),
        servers=(SYNC, ASYNC),
    )
    # Cancelled after the request was queued: the server still handles it, the reply is lost.
    assert seen(trace, "c0", "call cancelled") == [(), ()]
    assert seen(trace, "c0", "reply") == [(("'get'", "1"),), (("'get'", "1"),)]


def test_a_supervised_named_server_restarts_under_its_name() -> None:
    supervised = ServerSpec(supervised=True, named=True, records_terminate=True)
    trace = run(
        call(0, 0, "raise", by_name=True),
        (0, "whereis", 0),
        call(0, 0, "incr", by_name=True),
        (0, "stop", 0, "normal"),
        (0, "kill", 0, "killed"),
        (0, "exit", 0, "kill"),
        (0, "whereis", 0),
        servers=(supervised,),
    )
    assert seen(trace, "c0", "whereis") == [("s0.2",), ("s0.5",)]
    assert [e[0] for e in seen(trace, "s0", "Restarted")] == ["s0.2", "s0.3", "s0.4", "s0.5"]


def test_a_handler_that_replies_through_its_caller_handle() -> None:
    # The first reply wins, whether the handler then returns NoReply or a reply of its own.
    trace = run(call(0, 0, "reply_twice"), call(0, 0, "reply_now"), call(0, 0, "get"))
    assert seen(trace, "c0", "reply") == [
        (("'early'", "0"),),
        (("'early'", "1"),),
        (("'get'", "2"),),
    ]


def test_a_cancelled_caller_whose_handler_replied_through_its_caller_handle() -> None:
    # The caller was cancelled before it waited: the server still handles the call, and the
    # caller gets Cancelled, not the reply the handler sent through GenServer.caller().
    trace = run(
        (0, "precancelled_call", 0, ("reply_now",)),
        (0, "precancelled_call", 0, ("reply_twice",)),
        call(0, 0, "get"),
    )
    assert seen(trace, "c0", "call cancelled") == [(), ()]
    assert seen(trace, "c0", "reply") == [(("'get'", "2"),)]


def test_a_call_made_while_the_caller_handles_an_exception() -> None:
    # The handler's error gets the caller's exception as its context only where the call
    # raises it in the caller (as any raise in an `except` does), and the user's frames in its
    # traceback are the same as when the process's task ran the handler.
    trace = run((0, "call_in_except", 0, ("raise",)), servers=(RECORDING,))
    ((error, frames),) = seen(trace, "c0", "raised")
    assert error == ("ValueError", "boom at 0", None, "context", "KeyError")
    assert frames == ("perform", "handle_call", "call_result")
    ((reason, _),) = seen(trace, "s0", "terminate")
    assert reason == ("ValueError", "boom at 0", None)  # (terminate ran before the re-raise)


def test_a_handler_that_wakes_its_own_loop() -> None:
    # A cast or an exit signal to itself wakes the loop while the handler runs; what the
    # handler returns still comes first.
    trace = run(
        call(0, 0, "cast_self_raise"),
        call(1, 1, "cast_self_noreply"),
        (0, "cast", 1, ("flush",)),
        call(0, 2, "exit_self", "custom"),
        call(0, 3, "exit_self", "normal"),
        call(0, 3, "get"),
        servers=(RECORDING, SYNC, RECORDING, ServerSpec(trap_exit=True)),
        clients=2,
    )
    assert seen(trace, "c0", "raised")[0][0][:2] == ("ValueError", "boom after a cast to self at 0")
    assert seen(trace, "s0", "cast") == []  # (dropped with the crash)
    assert seen(trace, "c1", "reply") == [(("'deferred'", "6"),)]
    assert seen(trace, "c0", "reply")[0] == (("'exit_self'", "0"),)
    assert seen(trace, "s2", "terminate") == [("'custom'", 1)]
    assert seen(trace, "s3", "info") == [(("Exit", "s3.1", "'normal'"), 1)]


def test_a_keyboard_interrupt_in_a_handler() -> None:
    trace = run(call(0, 0, "raise_ki"), servers=(RECORDING,))
    ((error,),) = seen(trace, "runtime", "raised")
    assert error[0] == "KeyboardInterrupt"
    ((reason, _),) = seen(trace, "s0", "terminate")
    assert reason == "'shutdown'"


def test_right_after_a_handler_ended_its_own_process() -> None:
    """The one known difference, a race either way: a handler that ends its own process (an
    exit signal to itself, a link to a dead process) and returns a plain reply. Queued, the
    loop answers and then needs two more scheduler passes to exit, so the caller, woken by the
    answer, always runs first and finds the process stopping. Inline, the kill wakes the
    parked loop at once, and its exit and the caller's checkpoint fall in the same Trio batch,
    which Trio orders at random: the caller finds the process stopping or already gone. Both
    are outcomes of a race that OTP has too (the exit is asynchronous to the caller); what
    must hold is that the caller never sees anything else. (docs/performance.md, "The inline
    call path".)"""
    program = Program(
        servers=(SYNC,), clients=1, steps=((0, "call_then", 0, ("exit_self", "custom")),)
    )
    queued = run_program(program, inline=False)
    stopping = ("ServerNotRunningError", "SyncServer#2 is stopping and takes no new messages", None)
    assert seen(queued, "c0", "call_then")[0][2] == stopping
    gone = (
        "ServerNotRunningError",
        "SyncServer#2 is not running (exit reason: 'custom')",
        None,
    )
    outcomes = set()
    for _ in range(20):
        trace = run_program(program, inline=True)
        outcomes.add(seen(trace, "c0", "call_then")[0][2])
    assert outcomes <= {stopping, gone}
