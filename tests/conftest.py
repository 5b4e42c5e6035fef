"""Shared fixtures and small behaviours for the core tests.

`rt` is the fixture most tests use: a fresh runtime that, once the test is over and the runtime
closed, checks for leaks — no process alive, the registry empty, and every process the test
started garbage-collectable.
"""

from __future__ import annotations

import gc
import inspect
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from noex_trio import (
    GenServer,
    GenServerRef,
    ProcessRef,
    Reply,
    Runtime,
)
from noex_trio.testing import assert_no_leaks


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

    def init(self, *args: Any) -> Any:
        self.seen.append(("init", args))
        return []

    async def handle_call(self, msg: Any, state: list[Any]) -> Any:
        self.seen.append(("call", msg))
        if callable(msg):
            return await _maybe_await(msg(state))
        return Reply(msg, [*state, msg])

    async def handle_cast(self, msg: Any, state: list[Any]) -> Any:
        self.seen.append(("cast", msg))
        if callable(msg):
            return await _maybe_await(msg(state))
        return [*state, msg]

    async def handle_info(self, msg: Any, state: list[Any]) -> Any:
        self.seen.append(("info", msg))
        if callable(msg):
            return await _maybe_await(msg(state))
        return state

    def terminate(self, reason: Any, state: Any) -> None:
        self.terminated.append((reason, state))


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


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


def assert_collected(refs: list[weakref.ref[Any]]) -> None:
    """Every weakly referenced object is gone once cyclic garbage is collected."""
    assert_no_leaks(refs)


@pytest.fixture
async def rt(leak_checked_runtime: Runtime) -> Runtime:
    """The plugin's leak-checked runtime (`noex_trio.testing.leak_checked_runtime`)."""
    return leak_checked_runtime


async def assert_no_cyclic_garbage(operation: Callable[[], Awaitable[object]]) -> None:
    """Run `operation` (once to warm caches, then measured) and fail if it left cyclic garbage."""
    await operation()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await operation()
        gc.collect()
        garbage = [type(obj).__name__ for obj in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert garbage == [], garbage


def gen(ref: ProcessRef | None) -> GenServerRef[Any, Any, Any]:
    """A child's ref as a GenServer's (supervisors hand out `ProcessRef`s: a child may be a
    supervisor, or None: not running); fails the test if it is not one."""
    assert isinstance(ref, GenServerRef), ref
    return ref


def user_processes(runtime: Runtime) -> list[ProcessRef]:
    """The live processes a test started (services such as ``rt.event_bus`` left out)."""
    return [proc for proc in runtime.processes() if proc is not runtime.event_bus]
