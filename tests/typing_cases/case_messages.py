"""Messages are checked against the target's types, with plain errors (issue 12 §4).

``GenServer.call``/``cast``/``send_after`` take their parameters from the target: a wrong
message is mypy's "incompatible type" error on that argument (not "cannot infer"), and a ref
whose types are unknown (a name, a plain `ProcessRef`) takes anything. A typing case run by
``tests/test_typing.py`` (see ``case_start.py`` for the conventions).
"""

from __future__ import annotations

from typing import Any, assert_type

from noex_trio import GenServer, GenServerRef, ProcessRef, Registry, Via


class Counter(GenServer[int, str, int, int]):
    def init(self) -> int:
        return 0


async def accepted(counter: GenServerRef[str, int, int], other: ProcessRef) -> None:
    # --8<-- [start:messages]
    GenServer.cast(counter, 1)
    assert_type(await GenServer.call(counter, "get"), int)
    assert_type(await GenServer.call(counter, "get", timeout=1.0), int)
    GenServer.send_after(counter, 5, 0.5)
    # A name or a plain ProcessRef is not typed: checked when the message is sent.
    assert_type(await GenServer.call("counter", "get"), Any)
    GenServer.cast(other, "anything")
    # A lookup given the behaviour class is typed again.
    assert_type(Registry.lookup("counter", Counter), GenServerRef[str, int, int])
    # --8<-- [end:messages]
    assert_type(await GenServer.call(counter, "get", 1.0), int)
    assert_type(await GenServer.call(counter, msg="get"), int)
    GenServer.cast(counter, msg=1)
    GenServer.send_after(counter, 5, delay=0.5)
    GenServer.send_after("counter", "anything", 0.5)
    assert_type(await GenServer.call(other, "anything"), Any)
    via = Via("sessions", ("user", 42))  # a name in another registry: untyped too
    assert_type(await GenServer.call(via, "anything"), Any)
    GenServer.cast(via, "anything")
    GenServer.send_after(via, "anything", 1.0)
    await GenServer.start(Counter, name=via)
    assert_type(await counter.call("get"), int)


async def rejected(counter: GenServerRef[str, int, int]) -> None:
    # --8<-- [start:messages-rejected]
    # E: Argument 2 to "cast" of "GenServer" has incompatible type "str"; expected "int"
    GenServer.cast(counter, "one")  # type: ignore[arg-type]
    # E: Argument 2 to "call" of "GenServer" has incompatible type "int"; expected "str"
    await GenServer.call(counter, 1)  # type: ignore[arg-type]
    # E: Argument 2 to "send_after" of "GenServer" has incompatible type "str"; expected "int"
    GenServer.send_after(counter, "one", 0.5)  # type: ignore[arg-type]
    # --8<-- [end:messages-rejected]
    # E: Argument 1 to "cast" of "GenServerRef" has incompatible type "str"; expected "int"
    counter.cast("one")  # type: ignore[arg-type]
    # E: Argument 1 to "call" of "GenServerRef" has incompatible type "int"; expected "str"
    await counter.call(1)  # type: ignore[arg-type]
    # E: Argument "timeout" to "call" of "GenServer" has incompatible type "str"; expected "float"
    await GenServer.call(counter, "get", timeout="1")  # type: ignore[arg-type]
    # E: Argument 3 to "send_after" of "GenServer" has incompatible type "str"; expected "float"
    GenServer.send_after(counter, 1, "soon")  # type: ignore[arg-type]
    # E: Missing positional argument "msg" in call to "cast" of "GenServer"
    GenServer.cast(counter)  # type: ignore[call-arg]
    # E: Argument 1 to "cast" of "GenServer" has incompatible type "int"
    GenServer.cast(42, 1)  # type: ignore[arg-type]
