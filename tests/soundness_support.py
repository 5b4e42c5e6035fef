"""Helpers for `test_soundness.py` and `test_fault_injection.py` (issue 11), public API only.

- `Probe`: a behaviour that logs ``init``/``terminate`` into a shared list and runs callables
  sent to it as messages (so a test can make any handler do anything, including raise).
- `Nasty`: an exception whose ``__str__`` and ``__repr__`` raise.
- `run_scenario`: run a scenario of `soundness_scenarios` in a fresh interpreter and return
  what it reported. Scenarios that must end in ``trio.run`` raising a plain
  ``KeyboardInterrupt`` or ``SystemExit`` run there: a broken runtime can hang ``trio.run``
  (even spin without a checkpoint), and a stray ``KeyboardInterrupt`` must not reach pytest.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from noex_trio import GenServer

ROOT = Path(__file__).resolve().parent.parent

#: Wall-clock seconds a scenario may run (its time is virtual) before it is reported as a hang.
HANG_SECONDS = float(os.environ.get("NOEX_SOUNDNESS_HANG_SECONDS", "15"))


async def maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def sleeping(seconds: float) -> Callable[[], Awaitable[None]]:
    """An ``on_terminate`` that sleeps (virtual time in these tests)."""

    async def sleep() -> None:
        await trio.sleep(seconds)

    return sleep


class Nasty(Exception):
    """An exception whose text cannot be computed: formatting it raises."""

    def __str__(self) -> str:
        raise RuntimeError("Nasty.__str__ raised")

    def __repr__(self) -> str:
        raise RuntimeError("Nasty.__repr__ raised")


class NastyResult:
    """A malformed handler result whose ``repr`` raises."""

    def __repr__(self) -> str:
        raise RuntimeError("NastyResult.__repr__ raised")


class Probe(GenServer[Any, Any, Any, Any]):
    """Logs ``"init <tag>"``, ``"terminate <tag>"`` (on entry) and ``"terminated <tag>"`` (on a
    normal return of ``terminate``) into `log`.

    A callable message is called with the state and its (awaited) result is the handler's result;
    any other call is echoed back, any other cast or info leaves the state unchanged.
    """

    def __init__(
        self,
        tag: str,
        log: list[str],
        *,
        on_terminate: Callable[[], object] | None = None,
    ) -> None:
        self.tag = tag
        self.log = log
        self.on_terminate = on_terminate

    def init(self) -> Any:
        self.log.append(f"init {self.tag}")
        return None

    async def handle_call(self, msg: Any, state: Any) -> Any:
        if callable(msg):
            return await maybe_await(msg(state))
        return msg, state

    async def handle_cast(self, msg: Any, state: Any) -> Any:
        if callable(msg):
            return await maybe_await(msg(state))
        return state

    async def handle_info(self, msg: Any, state: Any) -> Any:
        if callable(msg):
            return await maybe_await(msg(state))
        self.log.append(f"info {self.tag} {type(msg).__name__}")
        return state

    async def terminate(self, reason: Any, state: Any) -> None:
        self.log.append(f"terminate {self.tag}")
        if self.on_terminate is not None:
            await maybe_await(self.on_terminate())
        self.log.append(f"terminated {self.tag}")


def tags(log: list[str], word: str) -> list[str]:
    """The tags logged with `word` (``"init"``, ``"terminate"``, ...), in log order."""
    return [entry.split(" ", 1)[1] for entry in log if entry.split(" ", 1)[0] == word]


def describe(exc: BaseException | None) -> str | None:
    """``"KeyboardInterrupt"``, or ``"BaseExceptionGroup[Cancelled, Cancelled]"`` for groups."""
    if exc is None:
        return None
    if isinstance(exc, BaseExceptionGroup):
        inner = ", ".join(str(describe(e)) for e in exc.exceptions)
        return f"{type(exc).__name__}[{inner}]"
    return type(exc).__name__


def run_scenario(name: str, *args: str, hang_seconds: float = HANG_SECONDS) -> dict[str, Any]:
    """Run ``soundness_scenarios.<name>(*args)`` in a subprocess; return its report.

    The report is a dict: ``raised`` (what ``trio.run`` raised, see `describe`, or ``"HANG"``
    when the scenario did not end within `hang_seconds` of wall time), ``log`` (the scenario's
    log at that moment), ``time`` (virtual time at the end).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NOEX_SOUNDNESS_HANG_SECONDS": str(hang_seconds)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.soundness_scenarios", name, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=hang_seconds + 30,  # the scenario's own watchdog fires first
        )
    except subprocess.TimeoutExpired:  # pragma: no cover - the watchdog did not fire
        pytest.fail(f"scenario {name}{args} did not end and its watchdog did not fire")
    lines = done.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("{"):
        pytest.fail(
            f"scenario {name}{args} reported nothing (exit code {done.returncode}):\n"
            + done.stderr[-3000:]
        )
    report: dict[str, Any] = json.loads(lines[-1])
    return report
