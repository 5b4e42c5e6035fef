"""Shared fixtures and small behaviours for the core tests.

`rt` is the fixture most tests use: a fresh runtime that, once the test is over and the runtime
closed, checks for leaks — no process alive, the registry empty, and every process the test
started garbage-collectable.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    GenServer,
    GenServerRef,
    LifecycleEvent,
    NoReply,
    Reply,
    Runtime,
    Started,
    Stop,
    open_runtime,
)


class Counter(GenServer[int, str, int, int]):
    """Calls: ``"get"``, ``"incr"`` (returns the new value), ``"boom"`` (raises ValueError).
    Casts: an int to add."""

    def init(self, start: int = 0) -> int:
        return start

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        if msg == "get":
            return state, state
        if msg == "incr":
            return state + 1, state + 1
        raise ValueError(f"bad call {msg!r}")

    def handle_cast(self, msg: int, state: int) -> int:
        return state + msg


class Echo(GenServer[list[Any], Any, Any, Any]):
    """Records every message it sees (in `seen`, shared with the test) and its terminate calls.

    Calls reply with the message. A message that is a `Reply`/`NoReply`/`Stop`/tuple factory
    (a callable) is called with the state and its result is returned as the handler's result.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.terminated: list[tuple[Any, Any]] = []

    def init(self, *args: Any) -> list[Any]:
        self.seen.append(("init", args))
        return []

    def handle_call(self, msg: Any, state: list[Any]) -> Any:
        self.seen.append(("call", msg))
        if callable(msg):
            return msg(state)
        return Reply(msg, [*state, msg])

    def handle_cast(self, msg: Any, state: list[Any]) -> Any:
        self.seen.append(("cast", msg))
        if callable(msg):
            return msg(state)
        return [*state, msg]

    def handle_info(self, msg: Any, state: list[Any]) -> Any:
        self.seen.append(("info", msg))
        if callable(msg):
            return msg(state)
        return state

    def terminate(self, reason: Any, state: Any) -> None:
        self.terminated.append((reason, state))


def raiser(error: BaseException) -> Any:
    """A message for `Echo` that makes its handler raise `error`."""

    def handler(state: Any) -> Any:
        raise error

    return handler


def returning(value: Any) -> Any:
    """A message for `Echo` that makes its handler return `value` as is."""
    return lambda state: value


def assert_clean(runtime: Runtime) -> None:
    """After the runtime closed: nothing alive, no name left."""
    stats = runtime.statistics()
    assert stats.processes == 0, runtime.processes()
    assert stats.registered_names == 0, runtime.registry.names()
    assert runtime.registry.names() == []


def assert_collected(refs: list[weakref.ref[Any]]) -> None:
    """Every weakly referenced object is gone once cyclic garbage is collected."""
    for _ in range(3):
        gc.collect()
    alive = [r() for r in refs if r() is not None]
    assert alive == [], f"leaked: {alive!r}"


class LeakTracker:
    """Weak references to every process a runtime started (via `Started` events)."""

    def __init__(self, runtime: Runtime) -> None:
        self.refs: list[weakref.ref[GenServerRef[Any, Any, Any]]] = []
        runtime.on_lifecycle_event(self._record)

    def _record(self, event: LifecycleEvent) -> None:
        if isinstance(event, Started):
            self.refs.append(weakref.ref(event.ref))


@pytest.fixture
async def rt() -> AsyncIterator[Runtime]:
    """A fresh runtime, leak-checked after the test: see the module docstring."""
    runtime = open_runtime(name="test")
    async with runtime:
        tracker = LeakTracker(runtime)
        yield runtime
    assert_clean(runtime)
    refs = tracker.refs
    del tracker
    assert_collected(refs)


@pytest.fixture
def no_cyclic_garbage() -> Iterator[None]:
    """Fail if the test left cyclic garbage behind (trio's own leak tests do the same)."""
    gc.collect()
    old_flags = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(old_flags)
        gc.garbage.clear()
        gc.collect()
    assert garbage == []


async def settle() -> None:
    """Let every task run until all are blocked."""
    await trio.testing.wait_all_tasks_blocked()
