"""`examples/gen_server.py` runs and does what its docstring and the GenServer guide say."""

from __future__ import annotations

import logging

import pytest
import trio.testing

from examples import gen_server

CRASH = "ValueError('cannot withdraw -5')"


async def test_gen_server_example(
    autojump_clock: trio.testing.MockClock,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = await gen_server.main()
    assert lines == [
        # start, name=, is_running; a taken name fails before init runs (no process #3 left)
        "started <GenServerRef alice#2>, running: True",
        "second start: name 'alice' is already registered in registry 'names' by alice#2",
        # call by name, cast, call by ref, typed lookup
        "balance: 100",
        "after withdrawing 30: 120",
        "looked up: True",
        # the deferred withdrawal is answered by the send_after deposit, 1 s later
        "t=0.0 cancel the big deposit: True",
        "t=0.0 cancel it again: False",
        "t=1.0 withdrew 200, balance 20",  # not 1_000_020: the cancelled timer never fired
        # the call gives up after 1 s; the audit goes on and delays the next call to t=4
        "t=2.0 call to alice#2 timed out after 1.0 s",
        "t=4.0 balance: 20",
        # Stop with a reply: terminate runs before the caller gets it; the name is gone
        "terminate: reason='normal', balance=20",
        "close: final balance 20",
        "running: False, named: None",
        "call after close: alice#2 is not running (exit reason: 'normal')",
        # the crash: terminate sees the exception; each caller hears at once (t=1.0)
        f"terminate: reason={CRASH}, balance=10",
        "Audit(seconds=1.0) -> 10 at t=1.0",
        f"Withdraw(amount=500) -> ServerNotRunningError: bob#4 is not running "
        f"(exit reason: {CRASH}) at t=1.0",
        "Withdraw(amount=-5) -> ValueError: cannot withdraw -5 at t=1.0",
        f"Balance() -> ServerNotRunningError: bob#4 is not running (exit reason: {CRASH}) at t=1.0",
        "bob running: False, named: None",
        # bounded mailbox: the message being handled does not count, two more fit
        "third deposit: mailbox of Account#5 is full (2 messages)",
        "terminate: reason='normal', balance=3",  # the two queued deposits were handled
        # lifecycle events, in order; the failed start emitted none
        "event: started <GenServerRef alice#2>",
        "event: terminated <GenServerRef alice#2> ('normal')",
        "event: started <GenServerRef bob#4>",
        f"event: crashed <GenServerRef bob#4> with {CRASH}",
        f"event: terminated <GenServerRef bob#4> ({CRASH})",
        "event: started <GenServerRef Account#5>",
        "event: terminated <GenServerRef Account#5> ('normal')",
        "RuntimeStatistics(processes=1, registered_names=0, dead_letters=0, crashes=1, restarts=0)",
        "processes: [<EventBusRef EventBus#1>]",
    ]
    assert capsys.readouterr().out.splitlines() == lines
    # 1 s deferred + 3 s audit + 1 s audit (crash) + 1 s audit (mailbox); nothing else waits
    assert trio.current_time() == 6.0
    # the crash was logged on the `noex_trio` logger, with its traceback; nothing else was
    records = [record for record in caplog.records if record.name == "noex_trio"]
    assert [(record.levelno, record.getMessage()) for record in records] == [
        (
            logging.ERROR,
            "bob#4 crashed (supervisor: none)\n"
            "  last message: call Withdraw(amount=-5)\n"
            "  state: Ledger(balance=10, waiting=[(500, <Caller of Withdraw(amount=500)>)])",
        )
    ]
    exc_info = records[0].exc_info
    assert exc_info is not None
    assert repr(exc_info[1]) == CRASH
