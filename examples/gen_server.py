"""A GenServer from end to end: a bank account whose withdrawals wait for the money.

``Account`` keeps a balance. A withdrawal larger than the balance is not refused: the caller
waits (a *deferred reply*) until deposits cover it. ``main`` walks through the whole life of
such processes: start with a name, call and cast, deferred replies answered by a delayed
deposit (``send_after``), a call timeout, a clean stop with a final reply, a crash, a bounded
mailbox, and the lifecycle events all of it produced.

Run it with ``python -m examples.gen_server``; ``tests/test_examples_gen_server.py`` runs it on
a virtual clock and checks every line. ``docs/guides/gen-server.md`` walks through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import attrs
import trio

from noex_trio import (
    AlreadyRegisteredError,
    Caller,
    CallTimeoutError,
    Crashed,
    ExitReason,
    GenServer,
    LifecycleEvent,
    MailboxFullError,
    NoReply,
    Registry,
    Reply,
    ServerNotRunningError,
    Started,
    Stop,
    Terminated,
    open_runtime,
)

Say = Callable[[str], None]


# --8<-- [start:messages]
# Calls (each answered with the balance, an int)
@attrs.frozen
class Balance:
    pass


@attrs.frozen
class Withdraw:
    amount: int  # waits until the balance covers it; <= 0 is a bug and crashes the account


@attrs.frozen
class Audit:
    seconds: float  # asks a slow outside system: the account handles nothing else meanwhile


@attrs.frozen
class Close:
    pass  # stops the account; the caller gets the final balance


# Casts
@attrs.frozen
class Deposit:
    amount: int


AccountCall = Balance | Withdraw | Audit | Close


@dataclass
class Ledger:
    """The state: the balance and the withdrawals waiting for money (oldest first)."""

    balance: int
    waiting: list[tuple[int, Caller[int]]] = field(default_factory=list)


# --8<-- [end:messages]


# --8<-- [start:behaviour]
class Account(GenServer[Ledger, AccountCall, Deposit, int]):
    """A bank account: ``GenServer[State, Call, Cast, Reply]``."""

    def init(self, opening: int, say: Say) -> Ledger:  # sync; runs before `start` returns
        self.say = say
        return Ledger(opening)

    async def handle_call(  # async: it may await (see Audit)
        self, msg: AccountCall, state: Ledger
    ) -> tuple[int, Ledger] | Reply[int, Ledger] | NoReply[Ledger] | Stop[Ledger]:
        match msg:
            case Balance():
                return state.balance, state  # (reply, new state)
            case Withdraw(amount) if amount <= 0:
                raise ValueError(f"cannot withdraw {amount}")  # a bug: let it crash
            case Withdraw(amount) if amount <= state.balance:
                state.balance -= amount
                return Reply(state.balance, state)  # the same as (reply, state)
            case Withdraw(amount):
                state.waiting.append((amount, GenServer.caller()))  # answered later...
                return NoReply(state)  # ...so the caller keeps waiting
            case Audit(seconds):
                await trio.sleep(seconds)
                return state.balance, state
            case Close():
                return Stop("normal", state, reply=state.balance)

    def handle_cast(self, msg: Deposit, state: Ledger) -> Ledger:  # sync
        state.balance += msg.amount
        while state.waiting and state.waiting[0][0] <= state.balance:
            amount, caller = state.waiting.pop(0)
            state.balance -= amount
            caller.reply(state.balance)  # the deferred reply
        return state  # the new state

    def terminate(self, reason: ExitReason, state: Ledger) -> None:
        self.say(f"terminate: reason={reason!r}, balance={state.balance}")


# --8<-- [end:behaviour]


async def main() -> list[str]:
    lines: list[str] = []

    def say(line: str) -> None:
        print(line)
        lines.append(line)

    # --8<-- [start:start]
    async with open_runtime() as rt:
        t0 = trio.current_time()

        def now() -> str:
            return f"t={trio.current_time() - t0:.1f}"

        events: list[LifecycleEvent] = []
        rt.on_lifecycle_event(events.append)

        account = await GenServer.start(Account, 100, say, name="alice")
        say(f"started {account!r}, running: {GenServer.is_running('alice')}")
        try:
            await GenServer.start(Account, 0, say, name="alice")
        except AlreadyRegisteredError as error:
            say(f"second start: {error}")  # init did not run: nothing was started
        # --8<-- [end:start]

        # --8<-- [start:call-cast]
        say(f"balance: {await GenServer.call('alice', Balance())}")  # by name: untyped
        GenServer.cast(account, Deposit(50))  # returns at once
        say(f"after withdrawing 30: {await account.call(Withdraw(30))}")  # typed: int
        alice = Registry.lookup("alice", Account)  # GenServerRef[AccountCall, Deposit, int]
        say(f"looked up: {alice is account}")
        # --8<-- [end:call-cast]

        # --8<-- [start:deferred]
        async def withdraw(amount: int) -> None:
            balance = await account.call(Withdraw(amount))
            say(f"{now()} withdrew {amount}, balance {balance}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(withdraw, 200)  # more than the 120 there: it waits
            GenServer.send_after(account, Deposit(100), 1.0)  # a cast, 1 s from now
            timer = GenServer.send_after(account, Deposit(1_000_000), 0.5)
            say(f"{now()} cancel the big deposit: {GenServer.cancel_timer(timer)}")
            say(f"{now()} cancel it again: {GenServer.cancel_timer(timer)}")
        # --8<-- [end:deferred]

        # --8<-- [start:timeout]
        try:
            await account.call(Audit(3.0), timeout=1.0)
        except CallTimeoutError as error:
            say(f"{now()} {error}")
        # The audit still runs: the next call waits behind it, the late reply is dropped.
        balance = await account.call(Balance())  # default timeout: 5 s
        say(f"{now()} balance: {balance}")
        # --8<-- [end:timeout]

        # --8<-- [start:stop]
        say(f"close: final balance {await account.call(Close())}")  # terminate ran first
        say(f"running: {GenServer.is_running(account)}, named: {Registry.whereis('alice')}")
        try:
            await account.call(Balance())  # the ref stays valid, the process is gone
        except ServerNotRunningError as error:
            say(f"call after close: {error}")
        await GenServer.stop(account)  # idempotent: a dead target returns quietly
        # --8<-- [end:stop]

        # --8<-- [start:crash]
        bob = await GenServer.start(Account, 10, say, name="bob")

        async def client(delay: float, msg: AccountCall) -> None:
            await trio.sleep(delay)
            try:
                outcomes[msg] = f"{await bob.call(msg)} at {now()}"
            except Exception as error:
                outcomes[msg] = f"{type(error).__name__}: {error} at {now()}"

        calls: list[AccountCall] = [
            Audit(1.0),  # keeps bob busy for 1 s
            Withdraw(500),  # deferred: waits for money that never comes
            Withdraw(-5),  # the bug: crashes bob
            Balance(),  # queued behind the crash
        ]
        outcomes: dict[AccountCall, str] = {}
        t0 = trio.current_time()
        async with trio.open_nursery() as nursery:
            for i, msg in enumerate(calls):
                nursery.start_soon(client, i / 10, msg)  # they arrive 0.1 s apart, in order
        for msg in calls:
            say(f"{msg} -> {outcomes[msg]}")
        say(f"bob running: {GenServer.is_running(bob)}, named: {Registry.whereis('bob')}")
        # --8<-- [end:crash]

        # --8<-- [start:mailbox]
        carol = await GenServer.start(Account, 0, say, mailbox_size=2)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(carol.call, Audit(1.0))  # being handled: it does not count
            await trio.sleep(0.5)
            carol.cast(Deposit(1))
            carol.cast(Deposit(2))  # the mailbox is full now
            try:
                carol.cast(Deposit(3))
            except MailboxFullError as error:
                say(f"third deposit: {error}")
        await carol.stop()
        # --8<-- [end:mailbox]

        # --8<-- [start:events]
        for event in events:
            match event:
                case Started(ref):
                    say(f"event: started {ref!r}")
                case Crashed(ref, crash):
                    say(f"event: crashed {ref!r} with {crash!r}")
                case Terminated(ref, reason):
                    say(f"event: terminated {ref!r} ({reason!r})")
        say(f"{rt.statistics()}")
        say(f"processes: {rt.processes()}")  # the runtime's own event bus
        # --8<-- [end:events]
    return lines


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
