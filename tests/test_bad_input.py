# mypy: disable-error-code="arg-type, call-arg, call-overload"
# (this file passes wrong types on purpose)
"""Bad input everywhere: every public function given wrong types, empty or unknown names,
invalid patterns, negative or NaN durations, non-ref targets, or a behaviour that breaks its
contract. Each case raises a clear error naming what was wrong, at the call site, and leaves
the runtime unharmed (checked after every case by the `rt` fixture's leak check and a call).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import pytest

from noex_trio import (
    ChildNotFoundError,
    ChildSpec,
    EventBus,
    GenServer,
    InvalidChildSpecError,
    NoexError,
    Registry,
    Runtime,
    ServerNotRunningError,
    Supervisor,
    open_runtime,
)
from noex_trio.testing import crash

from .conftest import Counter, Echo, returning

NOT_A_TARGET = r"^expected target to be a GenServerRef or a registered name, got 3$"
EMPTY_TARGET = r"^expected target to be a ref or a non-empty registered name, got ''$"
BAD_TIMEOUT = r"^expected timeout to be a number of seconds > 0 or math.inf, got "


def nop() -> Any:  # pragma: no cover - never started
    return None


# (label, operation(rt, ref, sup), error type, anchored message regex)
CASES: list[tuple[str, Callable[[Runtime, Any, Any], Any], type[Exception], str]] = [
    # -- GenServer --
    ("start non-behaviour", lambda rt, r, s: GenServer.start(object()), TypeError,
     r"^behaviour object is missing required callbacks: init, handle_call, handle_cast$"),
    ("start empty name", lambda rt, r, s: GenServer.start(Counter, name=""), ValueError,
     r"^expected name to be a non-empty str, got ''$"),
    ("start int name", lambda rt, r, s: GenServer.start(Counter, name=5), TypeError,
     r"^expected name to be a non-empty str or a Via, got 5$"),
    ("start NaN init_timeout", lambda rt, r, s: GenServer.start(Counter, init_timeout=math.nan),
     ValueError, r"^expected init_timeout to be a number of seconds > 0 or math.inf, got nan$"),
    ("start negative init_timeout", lambda rt, r, s: GenServer.start(Counter, init_timeout=-1),
     ValueError, r"^expected init_timeout to be a number of seconds > 0 or math.inf, got -1$"),
    ("start zero mailbox", lambda rt, r, s: GenServer.start(Counter, mailbox_size=0), ValueError,
     r"^expected mailbox_size to be an int >= 1 or math.inf, got 0$"),
    ("start float mailbox", lambda rt, r, s: GenServer.start(Counter, mailbox_size=1.5),
     TypeError, r"^expected mailbox_size to be an int >= 1 or math.inf, got 1.5$"),
    ("start str trap_exit", lambda rt, r, s: GenServer.start(Counter, trap_exit="yes"),
     TypeError, r"^expected trap_exit to be a bool, got 'yes'$"),
    ("call non-ref", lambda rt, r, s: GenServer.call(3, "get"), TypeError, NOT_A_TARGET),
    ("call empty name", lambda rt, r, s: GenServer.call("", "get"), ValueError, EMPTY_TARGET),
    ("call unknown name", lambda rt, r, s: GenServer.call("nobody", "get"),
     ServerNotRunningError, r"^'nobody' is not running$"),
    ("call NaN timeout", lambda rt, r, s: GenServer.call(r, "get", timeout=math.nan),
     ValueError, BAD_TIMEOUT + "nan$"),
    ("call negative timeout", lambda rt, r, s: GenServer.call(r, "get", timeout=-1.0),
     ValueError, BAD_TIMEOUT + r"-1.0$"),
    ("call zero timeout", lambda rt, r, s: GenServer.call(r, "get", timeout=0),
     ValueError, BAD_TIMEOUT + "0$"),
    ("call bool timeout", lambda rt, r, s: GenServer.call(r, "get", timeout=True),
     TypeError, r"^expected timeout to be a number of seconds > 0 or math.inf, got True$"),
    ("call a supervisor", lambda rt, r, s: GenServer.call(s, "get"), TypeError,
     r"^<SupervisorRef Supervisor#\d+> is not a GenServer; use the functions of its own "
     r"facade \(Supervisor\.\*, EventBus\.\*\)$"),
    ("cast non-ref", lambda rt, r, s: GenServer.cast(3, 1), TypeError, NOT_A_TARGET),
    ("cast empty name", lambda rt, r, s: GenServer.cast("", 1), ValueError, EMPTY_TARGET),
    ("cast unknown name", lambda rt, r, s: GenServer.cast("nobody", 1),
     ServerNotRunningError, r"^'nobody' is not running$"),
    ("stop non-ref", lambda rt, r, s: GenServer.stop(3), TypeError, NOT_A_TARGET),
    ("stop empty name", lambda rt, r, s: GenServer.stop(""), ValueError, EMPTY_TARGET),
    ("is_running non-ref", lambda rt, r, s: GenServer.is_running(3), TypeError, NOT_A_TARGET),
    ("send_after negative", lambda rt, r, s: GenServer.send_after(r, 1, -1), ValueError,
     r"^expected delay to be a number of seconds >= 0 or math\.inf, got -1$"),
    ("send_after NaN", lambda rt, r, s: GenServer.send_after(r, 1, math.nan), ValueError,
     r"^expected delay to be a number of seconds >= 0 or math\.inf, got nan$"),
    ("send_after non-ref", lambda rt, r, s: GenServer.send_after(3, 1, 1), TypeError,
     NOT_A_TARGET),
    ("cancel_timer non-timer", lambda rt, r, s: GenServer.cancel_timer("t"), TypeError,
     r"^expected timer to be a TimerRef, got 't'$"),
    ("monitor outside a process", lambda rt, r, s: GenServer.monitor(r), NoexError,
     r"^GenServer\.monitor\(\) can only be used inside a process"),
    ("wait_exit non-ref", lambda rt, r, s: GenServer.wait_exit(3), TypeError, NOT_A_TARGET),
    ("caller outside handle_call", lambda rt, r, s: GenServer.caller(), NoexError,
     r"^GenServer\.caller\(\) can only be used inside handle_call$"),
    ("crash with a non-exception", lambda rt, r, s: crash(r, "x"), TypeError,
     r"^expected error to be an exception instance, got 'x'$"),
    # -- Registry --
    ("register empty name", lambda rt, r, s: Registry.register("", r), ValueError,
     r"^expected name to be a non-empty str, got ''$"),
    ("register non-ref", lambda rt, r, s: Registry.register("x", "ref"), TypeError,
     r"^expected ref to be a process ref, got 'ref'$"),
    ("unregister int", lambda rt, r, s: Registry.unregister(3), TypeError,
     r"^expected name to be a non-empty str, got 3$"),
    ("lookup int", lambda rt, r, s: Registry.lookup(3), TypeError,
     r"^expected name to be a non-empty str, got 3$"),
    ("lookup unknown", lambda rt, r, s: Registry.lookup("nobody"), NoexError,
     r"^no process is registered as 'nobody' in registry 'names'$"),
    ("whereis empty", lambda rt, r, s: Registry.whereis(""), ValueError,
     r"^expected name to be a non-empty str, got ''$"),
    ("create unknown keys", lambda rt, r, s: Registry.create(keys="many"), ValueError,
     r"^expected keys to be 'unique' or 'duplicate', got 'many'$"),
    ("match int pattern", lambda rt, r, s: Registry.create(keys="duplicate").match(3),
     TypeError, r"^expected pattern to be a non-empty str, got 3$"),
    ("dispatch unhashable key",
     lambda rt, r, s: Registry.create(keys="duplicate").dispatch([], 1),
     TypeError, r"^expected key to be a hashable value, got \[\]$"),
    # -- Supervisor --
    ("unknown strategy", lambda rt, r, s: Supervisor.start(strategy="x"),
     InvalidChildSpecError, r"^expected strategy to be 'one_for_one', 'one_for_all', "
     r"'rest_for_one' or 'simple_one_for_one', got 'x'$"),
    ("negative max_restarts", lambda rt, r, s: Supervisor.start(max_restarts=-1),
     InvalidChildSpecError, r"^expected max_restarts to be an int >= 0, got -1$"),
    ("NaN max_seconds", lambda rt, r, s: Supervisor.start(max_seconds=math.nan),
     InvalidChildSpecError,
     r"^expected max_seconds to be a number of seconds > 0 or math\.inf, got nan$"),
    ("children not a list", lambda rt, r, s: Supervisor.start(children=3),
     InvalidChildSpecError, r"^expected children to be a list of ChildSpec, got 3$"),
    ("start_child on a GenServer", lambda rt, r, s: Supervisor.start_child(r, 1), TypeError,
     r"^expected sup to be a SupervisorRef or a supervisor's name, "
     r"got <GenServerRef Counter#\d+>$"),
    ("start_child non-spec", lambda rt, r, s: Supervisor.start_child(s, 3),
     InvalidChildSpecError, r"^expected the arguments to be one ChildSpec, got \(3,\)$"),
    ("terminate_child int id", lambda rt, r, s: Supervisor.terminate_child(s, 3), TypeError,
     r"^expected child_id to be a str, got 3$"),
    ("restart_child unknown id", lambda rt, r, s: Supervisor.restart_child(s, "zz"),
     ChildNotFoundError, r"^Supervisor#\d+ has no child 'zz'$"),
    ("get_child unknown id", lambda rt, r, s: Supervisor.get_child(s, "zz"),
     ChildNotFoundError, r"^Supervisor#\d+ has no child 'zz'$"),
    ("get_children unknown name", lambda rt, r, s: Supervisor.get_children("nobody"),
     ServerNotRunningError, r"^'nobody' is not running$"),
    ("ChildSpec NaN shutdown", lambda rt, r, s: ChildSpec("a", nop, shutdown=math.nan),
     InvalidChildSpecError,
     r"^expected shutdown to be a number of seconds >= 0, math\.inf or 'brutal_kill', got nan$"),
    ("ChildSpec negative shutdown", lambda rt, r, s: ChildSpec("a", nop, shutdown=-1),
     InvalidChildSpecError,
     r"^expected shutdown to be a number of seconds >= 0, math\.inf or 'brutal_kill', got -1$"),
    ("ChildSpec start not callable", lambda rt, r, s: ChildSpec("a", 3), InvalidChildSpecError,
     r"^expected child start to be an async callable, got 3$"),
    ("ChildSpec empty id", lambda rt, r, s: ChildSpec("", nop), InvalidChildSpecError,
     r"^expected child id to be a non-empty str, got ''$"),
    # -- EventBus --
    ("publish empty topic", lambda rt, r, s: EventBus.publish(rt.event_bus, "", 1), ValueError,
     r"^invalid topic '': topic is empty$"),
    ("publish wildcard topic", lambda rt, r, s: EventBus.publish(rt.event_bus, "a.*", 1),
     ValueError, r"^invalid topic 'a\.\*': wildcards are not allowed in published topics$"),
    ("publish int topic", lambda rt, r, s: EventBus.publish(rt.event_bus, 3, 1), TypeError,
     r"^expected topic to be a str, got 3$"),
    ("publish to a GenServer", lambda rt, r, s: EventBus.publish(r, "a", 1), TypeError,
     r"^expected bus to be an EventBusRef or the name of one, got <GenServerRef Counter#\d+>$"),
    ("publish_sync empty segment", lambda rt, r, s: EventBus.publish_sync(rt.event_bus, "a.", 1),
     ValueError, r"^invalid topic 'a\.': empty segment at position 2$"),
    ("subscribe empty segment", lambda rt, r, s: EventBus.subscribe(rt.event_bus, "a..b", print),
     ValueError, r"^invalid pattern 'a\.\.b': empty segment at position 2$"),
    ("subscribe bad wildcard", lambda rt, r, s: EventBus.subscribe(rt.event_bus, "a.***", print),
     ValueError, r"^invalid pattern 'a\.\*\*\*': '\*\*\*' at position 2 is not a wildcard"),
    ("subscribe non-callable", lambda rt, r, s: EventBus.subscribe(rt.event_bus, "a", 3),
     TypeError, r"^expected handler to be callable, got 3$"),
    ("listen zero buffer", lambda rt, r, s: EventBus.listen(rt.event_bus, "a", buffer=0),
     ValueError, r"^expected buffer to be an int >= 1 or math.inf, got 0$"),
    ("listen NaN buffer", lambda rt, r, s: EventBus.listen(rt.event_bus, "a", buffer=math.nan),
     TypeError, r"^expected buffer to be an int >= 1 or math.inf, got nan$"),
    ("bus empty name", lambda rt, r, s: EventBus.start(name=""), ValueError,
     r"^expected name to be a non-empty str, got ''$"),
    # -- runtime --
    ("non-callable lifecycle handler", lambda rt, r, s: rt.on_lifecycle_event(3), TypeError,
     r"^expected handler to be callable, got 3$"),
    ("runtime int name", lambda rt, r, s: open_runtime(name=3), TypeError,
     r"^expected name to be a str or None, got 3$"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "operation", "error", "message"), CASES, ids=[c[0] for c in CASES]
)
async def test_bad_input_is_refused_clearly_and_harms_nothing(
    rt: Runtime,
    label: str,
    operation: Callable[[Runtime, Any, Any], Any],
    error: type[Exception],
    message: str,
) -> None:
    ref = await GenServer.start(Counter, 1)
    sup = await Supervisor.start()
    processes = set(rt.processes())
    names = rt.registry.names()
    with pytest.raises(error, match=message):  # noqa: PT012 - sync or async operations
        result = operation(rt, ref, sup)
        if inspect.isawaitable(result):
            await result
    # the runtime is unharmed: nothing started or stopped, names unchanged, calls work
    assert set(rt.processes()) == processes
    assert rt.registry.names() == names
    assert await ref.call("incr") == 2
    assert Supervisor.count_children(sup) == 0
    del ref, sup  # (the leak check of `rt` looks for them)


@pytest.mark.parametrize(
    ("result", "handler", "expected"),
    [
        ("not a tuple", "handle_call", "(reply, state), Reply, NoReply or Stop"),
        ((1, 2, 3), "handle_call", "(reply, state), Reply, NoReply or Stop"),
        (None, "handle_call", "(reply, state), Reply, NoReply or Stop"),
    ],
)
async def test_malformed_call_results_crash_the_process_with_what_was_expected(
    rt: Runtime, result: Any, handler: str, expected: str
) -> None:
    ref = await GenServer.start(Echo())
    message = f"^Echo.{handler} must return {re.escape(expected)}, got {re.escape(repr(result))}$"
    with pytest.raises(TypeError, match=message):
        await ref.call(returning(result))
    reason = await GenServer.wait_exit(ref)
    assert isinstance(reason, TypeError)  # a crash: the exit reason is the error
    assert re.match(message, str(reason))
    other = await GenServer.start(Counter)  # the runtime goes on
    assert await other.call("incr") == 1


async def test_any_stop_reason_from_a_handler_is_the_exit_reason(rt: Runtime) -> None:
    from noex_trio import Stop

    ref = await GenServer.start(Echo())
    with pytest.raises(ServerNotRunningError) as caught:
        await ref.call(returning(Stop("bye", None)))
    assert caught.value.reason == "bye"
    assert await GenServer.wait_exit(ref) == "bye"


async def test_a_reply_from_handle_cast_is_a_crash(rt: Runtime) -> None:
    from noex_trio import Reply

    ref = await GenServer.start(Echo())
    ref.cast(returning(Reply(1, [])))
    reason = await GenServer.wait_exit(ref)
    assert isinstance(reason, TypeError)
    assert re.match(
        r"^Echo\.handle_cast must return a new state, NoReply, Continue or Stop, got ", str(reason)
    )


async def test_behaviours_missing_callbacks_are_refused_before_anything_starts(
    rt: Runtime,
) -> None:
    class OnlyInit:
        def init(self) -> None:  # pragma: no cover - never started
            return None

    with pytest.raises(
        TypeError,
        match=r"^behaviour OnlyInit is missing required callbacks: handle_call, handle_cast$",
    ):
        await GenServer.start(OnlyInit)
    assert rt.processes() == [rt.event_bus]
