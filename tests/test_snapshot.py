"""``rt.snapshot()``, its JSON form, ``rt.dump()`` and ``dump_on_signal`` (issue 13)."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from typing import Any

import pytest
import trio
import trio.testing

import noex_trio
from noex_trio import (
    DynamicSupervisor,
    EventBusStatistics,
    GenServer,
    Ignore,
    ProcessNode,
    Registry,
    Runtime,
    RuntimeSnapshot,
    Supervisor,
    SupervisorStatistics,
    Task,
    dump_on_signal,
)
from noex_trio.testing import crash, wait_for_restart

from .conftest import Counter, gen


class Ignored(GenServer[None, Any, Any, Any]):
    def init(self) -> Ignore:
        return Ignore()


def labels(nodes: tuple[ProcessNode, ...]) -> list[Any]:
    """The tree as nested labels: ``[label, [children...]]`` for supervisors."""
    return [
        [node.statistics.label, labels(node.children)]
        if isinstance(node.statistics, SupervisorStatistics)
        else node.statistics.label
        for node in nodes
    ]


async def test_the_tree(rt: Runtime) -> None:
    loose = await GenServer.start(Counter, name="loose")
    inner = Supervisor.child_spec(
        [Counter.child_spec(0, id="x", name="x"), Ignored.child_spec(id="ignored")],
        id="inner",
        name="inner",
    )
    top = await Supervisor.start(
        [Counter.child_spec(0, id="a", name="a"), inner, Counter.child_spec(0, id="b", name="b")],
        name="top",
    )
    pool = await DynamicSupervisor.start(name="pool")
    for _ in range(2):
        await DynamicSupervisor.start_child(pool, Counter.child_spec(0))
    task = await Task.start(trio.sleep_forever)
    a = gen(Supervisor.get_child(top, "a").ref)
    crash(a)
    a = await wait_for_restart(top, "a", a)  # a restarted child keeps its place in the table

    def label(ref: Any) -> str:
        return str(ref.statistics().label)

    workers = [info.ref for info in DynamicSupervisor.which_children(pool)]
    snapshot = rt.snapshot()
    assert isinstance(snapshot, RuntimeSnapshot)
    assert labels(snapshot.tree) == [
        label(rt.event_bus),
        label(loose),
        [
            label(top),
            [
                label(a),
                [label(Supervisor.get_child(top, "inner").ref), [label(Registry.whereis("x"))]],
                label(Registry.whereis("b")),
            ],
        ],
        [label(pool), [label(ref) for ref in workers]],
        label(task.ref),
    ]
    assert snapshot.name == "test"
    assert snapshot.statistics == rt.statistics()
    nodes = list(snapshot.nodes())
    assert len(nodes) == rt.statistics().processes == 11
    assert [node.statistics.label for node in nodes][:4] == [
        label(rt.event_bus),
        label(loose),
        label(top),
        label(a),
    ]
    assert isinstance(snapshot.tree[0].statistics, EventBusStatistics)
    assert nodes[-1].statistics.kind == "task"
    await task.cancel()
    for ref in (pool, top, loose):
        await ref.stop()


async def test_json_shape_and_round_trip(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    await trio.sleep(2.0)
    sup = await Supervisor.start(
        [Counter.child_spec(0, id="c", name="c")], name="app", max_seconds=math.inf
    )
    bounded = await GenServer.start(Counter, mailbox_size=5)
    await trio.sleep(0.5)
    data = rt.snapshot().to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert list(data) == ["runtime", "tree", "waits", "cycles"]
    assert data["runtime"] == {
        "name": "test",
        "time": 2.5,
        "statistics": {
            "processes": 4,
            "registered_names": 2,
            "dead_letters": 0,
            "crashes": 0,
            "restarts": 0,
        },
    }
    assert (data["waits"], data["cycles"]) == ([], [])
    bus, app, counter = data["tree"]
    assert app == {
        "id": sup.id,
        "label": f"app#{sup.id}",
        "kind": "supervisor",
        "behaviour": "Supervisor",
        "status": "running",
        "mailbox": {"length": 0, "capacity": None},
        "messages": {"calls": 0, "casts": 0, "infos": 0},
        "started_at": 2.0,
        "uptime": 0.5,
        "restarts": 0,
        "serving": None,
        "serving_since": None,
        "tasks": 0,
        "names": ["app"],
        "supervisor": {
            "strategy": "one_for_one",
            "children_running": 1,
            "children_not_running": 0,
            "restarts_in_window": 0,
            "restarts_total": 0,
            "max_restarts": 3,
            "max_seconds": None,
        },
        "children": [
            {
                "id": sup.id + 1,
                "label": f"c#{sup.id + 1}",
                "kind": "worker",
                "behaviour": "Counter",
                "status": "running",
                "mailbox": {"length": 0, "capacity": None},
                "messages": {"calls": 0, "casts": 0, "infos": 0},
                "started_at": 2.0,
                "uptime": 0.5,
                "restarts": 0,
                "serving": None,
                "serving_since": None,
                "tasks": 0,
                "names": ["c"],
                "supervisor": None,
                "children": [],
            }
        ],
    }
    assert (bus["kind"], bus["supervisor"], bus["children"]) == ("bus", None, [])
    assert counter["mailbox"] == {"length": 0, "capacity": 5}
    await bounded.stop()
    await sup.stop()


async def test_the_dump(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    class Stuck(GenServer[str, str, str, str]):
        def init(self, other: str) -> str:
            return other

        async def handle_call(self, msg: str, state: str) -> tuple[str, str]:
            return await GenServer.call(state, msg, 10.0), state

        def handle_cast(self, msg: str, state: str) -> str:
            return state

    sup = await Supervisor.start(
        [Stuck.child_spec("b", id="a", name="a"), Stuck.child_spec("a", id="b", name="b")],
        name="app",
    )
    bus = rt.event_bus
    noex_trio.EventBus.publish(bus, "nobody.listens", 1)
    with trio.move_on_after(2.0):
        await GenServer.call("a", "hello", 100.0)
    assert rt.dump() == (
        "noex_trio runtime 'test' at t=2.000: 4 processes, 3 registered names, 0 dead "
        "letters, 0 crashes, 0 restarts\n"
        "\n"
        "EventBus#1 EventBus (bus) running; mailbox 0; calls 0, casts 0, infos 0; up 2.000 s\n"
        "   0 subscriptions; events 1 published, 0 delivered, 0 failed\n"
        "app#2 Supervisor (supervisor) running; mailbox 0; calls 0, casts 0, infos 0; up "
        "2.000 s; names 'app'\n"
        "|  one_for_one; children 2 running, 0 not running; restarts 0 in all, 0 in the "
        "window (gives up beyond 3 in 5 s)\n"
        "+- a#3 Stuck (worker) running; mailbox 1; calls 1, casts 0, infos 0; up 2.000 s; "
        "names 'a'\n"
        "|     serving call 'hello' for 2.000 s (made at t=0.000)\n"
        "|     WAITING for b#4 for 2.000 s: call 'hello' (made at t=0.000)  <-- DEADLOCK "
        "(cycle 1)\n"
        "`- b#4 Stuck (worker) running; mailbox 0; calls 1, casts 0, infos 0; up 2.000 s; "
        "names 'b'\n"
        "      serving call 'hello' for 2.000 s (made at t=0.000)\n"
        "      WAITING for a#3 for 2.000 s: call 'hello' (made at t=0.000)  <-- DEADLOCK "
        "(cycle 1)\n"
        "\n"
        "waits: 2 calls being waited for\n"
        "  a#3 -> b#4: 'hello', for 2.000 s (since t=0.000)\n"
        "  b#4 -> a#3: 'hello', for 2.000 s (since t=0.000)\n"
        "cycles: 1 deadlock: each process waits for the next, the last for the first; only "
        "a call timeout ends it\n"
        "  cycle 1: a#3 -> b#4 -> a#3\n"
    )
    await sup.stop()
    text = rt.dump()
    assert text.endswith("waits: no process is waiting in a call\ncycles: none (no deadlock)\n")


async def test_the_dump_shows_restarts_tasks_bounded_mailboxes_and_names(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    # (virtual time: the uptime shown is exactly 0.000 s, whatever the machine's load)
    class Owner(GenServer[None, Any, Any, Any]):
        owns_tasks = True

        def init(self) -> None:
            GenServer.nursery().start_soon(trio.sleep_forever)

        def handle_call(self, msg: Any, state: None) -> tuple[Any, None]:
            return msg, state

        def handle_cast(self, msg: Any, state: None) -> None:
            return state

    sup = await Supervisor.start([Owner.child_spec(id="o", mailbox_size=3)])
    owner = gen(Supervisor.get_child(sup, "o").ref)
    noex_trio.Registry.register("one", owner)
    noex_trio.Registry.register("two", owner)
    crash(owner)
    owner = await wait_for_restart(sup, "o", owner)
    line = next(line for line in rt.dump().splitlines() if line.startswith("`- Owner"))
    assert line.endswith("mailbox 0/3; calls 0, casts 0, infos 0; up 0.000 s; restarts 1; tasks 1")
    noex_trio.Registry.register("one", owner)
    noex_trio.Registry.register("two", owner)
    line = next(line for line in rt.dump().splitlines() if line.startswith("`- Owner"))
    assert line.endswith("restarts 1; tasks 1; names 'one', 'two'")
    await sup.stop()


async def test_a_10000_process_snapshot(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    """Measured, not asserted: a dashboard takes one every second (see the report)."""
    pool = await DynamicSupervisor.start()
    for _ in range(10_000):
        await DynamicSupervisor.start_child(pool, Counter.child_spec(0))
    timings = {}
    started = time.perf_counter()
    snapshot = rt.snapshot()
    timings["snapshot"] = time.perf_counter() - started
    started = time.perf_counter()
    text = json.dumps(snapshot.to_dict())
    timings["to_dict + json.dumps"] = time.perf_counter() - started
    started = time.perf_counter()
    dump = rt.dump()
    timings["dump"] = time.perf_counter() - started
    assert len(list(snapshot.nodes())) == 10_002
    assert len(dump.splitlines()) > 10_000
    with capsys.disabled():
        sizes = f"JSON {len(text) / 1e6:.1f} MB"
        print(
            "\n10 000-process snapshot: "
            + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in timings.items())
            + f"; {sizes}",
            file=sys.stderr,
        )
    await pool.stop()


class Written:
    """A text file that tells when something was written to it (or, `broken`, fails to)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.text = ""
        self.broken = broken
        self.written = trio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        if self.broken:
            raise OSError("disk full")
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
async def test_dump_on_signal(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    file = Written()
    ref = await GenServer.start(Counter, name="counter")
    with dump_on_signal(signal.SIGUSR1, file=file):  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGUSR1)  # a real signal, to this very process
        with trio.fail_after(5):
            await file.written.wait()
    assert file.text.startswith("noex_trio runtime 'test' at t=")
    assert f"counter#{ref.id} Counter (worker) running" in file.text
    # a dump that cannot be written is logged; the program goes on
    broken = Written(broken=True)
    with dump_on_signal(signal.SIGUSR1, file=broken):  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGUSR1)
        with trio.fail_after(5):
            await broken.written.wait()
    assert [record.getMessage() for record in caplog.records] == [
        "dump_on_signal could not write the dump"
    ]
    await ref.stop()


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
async def test_dump_on_signal_writes_to_stderr_by_default(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = Written()
    monkeypatch.setattr(sys, "stderr", stderr)
    with dump_on_signal(signal.SIGUSR1):
        os.kill(os.getpid(), signal.SIGUSR1)
        with trio.fail_after(5):
            await stderr.written.wait()
    assert stderr.text.endswith("cycles: none (no deadlock)\n")


async def test_dump_on_signal_arguments(rt: Runtime) -> None:
    with pytest.raises(TypeError, match=r"^expected signum to be an int >= 1, got 'USR1'$"):
        dump_on_signal("USR1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected file to be a text file"):
        dump_on_signal(signal.SIGTERM, file=42)  # type: ignore[arg-type]
    handler = dump_on_signal(signal.SIGTERM)
    with handler:
        pass
    with pytest.raises(RuntimeError, match=r"can be entered once"), handler:
        pass  # pragma: no cover


def test_dump_on_signal_needs_a_runtime() -> None:
    async def main() -> None:
        with dump_on_signal(signal.SIGTERM):
            pass  # pragma: no cover

    with pytest.raises(noex_trio.NoRuntimeError):
        trio.run(main)


async def test_dump_on_signal_outside_the_main_thread(rt: Runtime) -> None:
    def enter() -> None:
        with dump_on_signal(signal.SIGTERM):
            pass  # pragma: no cover

    with pytest.raises(RuntimeError, match="main thread"):
        await trio.to_thread.run_sync(enter)
