"""`GenServer.start` checks the init arguments against ``init``'s parameters (issue 12 §4).

A typing case: ``tests/test_typing.py`` runs mypy on it. A line mypy must reject carries
``# type: ignore[code]`` (so the project's own mypy run, with ``warn_unused_ignores``, fails if
the error goes away) and, above it, ``# E: <part of the message>``.
"""

from __future__ import annotations

from typing import Any, assert_type

from noex_trio import Continue, GenServer, GenServerRef


# --8<-- [start:counter]
class Counter(GenServer[int, str, int, int]):
    def init(self, start: int) -> int:
        return start

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state

    def handle_cast(self, msg: int, state: int) -> int:
        return state + msg


# --8<-- [end:counter]


class Slow(GenServer[str, str, str, str]):
    """An async init with a default, returning `Continue`: still typed."""

    async def init(self, name: str, retries: int = 3) -> str | Continue[str]:
        return Continue(name, "warm up")


class Duck:
    """Not a GenServer subclass: any object with the callbacks is a behaviour."""

    def init(self, size: int) -> list[int]:
        return [0] * size

    def handle_call(self, msg: Any, state: list[int]) -> tuple[int, list[int]]:
        return len(state), state

    def handle_cast(self, msg: Any, state: list[int]) -> list[int]:
        return state


async def accepted() -> None:
    # --8<-- [start:start]
    counter = await GenServer.start(Counter, 0)
    assert_type(counter, GenServerRef[str, int, int])
    # --8<-- [end:start]
    named = await GenServer.start(
        Counter, 0, name="c", init_timeout=1.0, mailbox_size=8, trap_exit=True, link=False
    )
    assert_type(named, GenServerRef[str, int, int])
    assert_type(await GenServer.start(Counter(), 0), GenServerRef[str, int, int])
    assert_type(await GenServer.start(Slow, "db"), GenServerRef[str, str, str])
    assert_type(await GenServer.start(Slow, "db", 5), GenServerRef[str, str, str])
    assert_type(await GenServer.start(Duck, 3), GenServerRef[Any, Any, Any])
    assert_type(await GenServer.start(Duck(), 3), GenServerRef[Any, Any, Any])


async def rejected() -> None:
    # --8<-- [start:start-rejected]
    # E: Argument 1 to "start" of "GenServer" has incompatible type "type[Counter]"
    await GenServer.start(Counter, "not an int")  # type: ignore[arg-type]
    # --8<-- [end:start-rejected]
    # E: Too few arguments for "start" of "GenServer"
    await GenServer.start(Counter)  # type: ignore[call-arg, arg-type]
    # E: Too many arguments for "start" of "GenServer"
    await GenServer.start(Counter, 1, 2)  # type: ignore[call-arg, arg-type]
    # E: Argument 1 to "start" of "GenServer" has incompatible type "Counter"
    await GenServer.start(Counter(), "x")  # type: ignore[arg-type]
    # E: Argument 1 to "start" of "GenServer" has incompatible type "type[Slow]"
    await GenServer.start(Slow, "db", "5")  # type: ignore[call-arg, arg-type]
    # E: Argument 1 to "start" of "GenServer" has incompatible type "type[Duck]"
    await GenServer.start(Duck, "3")  # type: ignore[arg-type]
    # E: No overload variant of "start" of "GenServer" matches argument types "type[Counter]"
    await GenServer.start(Counter, 0, name=5)  # type: ignore[call-overload]
