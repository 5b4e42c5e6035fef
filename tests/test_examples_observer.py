"""``examples/observer.py`` runs and prints what the observer guide shows."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import sys
from pathlib import Path
from types import ModuleType

import pytest
import trio
import trio.testing

from examples import observer

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "observer.md"

DUMP = """\
noex_trio runtime 'shop' at t=0.500: 4 processes, 3 registered names, 0 dead letters, 0 crashes, 0 restarts

EventBus#1 EventBus (bus) running; mailbox 0; calls 0, casts 0, infos 0; up 0.500 s
   0 subscriptions; events 0 published, 0 delivered, 0 failed
app#2 Supervisor (supervisor) running; mailbox 0; calls 0, casts 0, infos 0; up 0.500 s; names 'app'
|  one_for_one; children 2 running, 0 not running; restarts 0 in all, 0 in the window (gives up beyond 3 in 5 s)
+- orders#3 Orders (worker) running; mailbox 1; calls 2, casts 0, infos 0; up 0.500 s; names 'orders'
|     serving call Place(item='pear') for 0.500 s (made at t=0.000)
|     WAITING for inventory#4 for 0.500 s: call Reserve(item='pear') (made at t=0.000)  <-- DEADLOCK (cycle 1)
`- inventory#4 Inventory (worker) running; mailbox 0; calls 2, casts 0, infos 0; up 0.500 s; names 'inventory'
      serving call Reserve(item='pear') for 0.500 s (made at t=0.000)
      WAITING for orders#3 for 0.500 s: call 'count' (made at t=0.000)  <-- DEADLOCK (cycle 1)

waits: 2 calls being waited for
  orders#3 -> inventory#4: Reserve(item='pear'), for 0.500 s (since t=0.000)
  inventory#4 -> orders#3: 'count', for 0.500 s (since t=0.000)
cycles: 1 deadlock: each process waits for the next, the last for the first; only a call timeout ends it
  cycle 1: orders#3 -> inventory#4 -> orders#3
"""  # noqa: E501


async def test_observer_example(autojump_clock: trio.testing.MockClock) -> None:
    lines = await observer.main()
    assert lines == [
        # statistics
        "orders#3: running, 1 call(s), mailbox 0",
        "app#2: one_for_one, 2 children running",
        # get_state, through format_status
        "inventory state: {'stock': {'apple': 2, 'pear': 1}, 'supplier_key': '<hidden>'}",
        # the snapshot
        "EventBus#1 (bus): 0 call(s) handled",
        "app#2 (supervisor): 0 call(s) handled",
        "orders#3 (worker): 1 call(s) handled",
        "inventory#4 (worker): 1 call(s) handled",
        "JSON: ['runtime', 'tree', 'waits', 'cycles'], tree of 1726 characters",
        # the hang, its dump, and its end when the timeouts fire
        DUMP,
        "cycles: ((3, 4),)",
        "t=2.0 s: call to 'inventory' timed out after 2.0 s",
        # both crashed on their timeouts, and were restarted
        "crashes 2, restarts 2",
        "inventory state: {'stock': {'apple': 3, 'pear': 1}, 'supplier_key': '<hidden>'}",
    ]


def test_the_guide_shows_the_dump_the_example_prints() -> None:
    assert f"```text\n{DUMP}```" in GUIDE.read_text("utf-8")


class Stderr:
    def __init__(self) -> None:
        self.text = ""
        self.written = trio.Event()

    def write(self, text: str) -> int:
        self.text += text
        self.written.set()
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
async def test_the_shop_prints_its_dump_on_sigusr1(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(observer.run_shop, stop)
        await trio.testing.wait_all_tasks_blocked()
        os.kill(os.getpid(), signal.SIGUSR1)
        with trio.fail_after(5):
            await stderr.written.wait()
        stop.set()
    assert stderr.text.startswith("noex_trio runtime 'shop' at t=")
    assert "+- orders#3 Orders (worker) running" in stderr.text


async def test_demo_signal_says_how(autojump_clock: trio.testing.MockClock) -> None:
    lines: list[str] = []
    await observer.demo_signal(lines.append)
    assert lines == ["the shop runs for 5 s; try: kill -USR1 <pid>"]
    assert trio.current_time() == 5.0


def _include_module() -> ModuleType:
    root = GUIDE.parent.parent
    spec = importlib.util.spec_from_file_location("docs_include", root / "_include.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_guide_shows_only_tested_code_and_every_region() -> None:
    include = _include_module()
    text = GUIDE.read_text("utf-8")
    assert include.process(text, write=False) == (text, [])
    source = Path(observer.__file__).read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    assert regions == set(re.findall(r"<!-- include: examples/observer\.py:([\w-]+) -->", text))
