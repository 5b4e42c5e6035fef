"""The observer's figures for metrics systems: the Prometheus text format, the call-latency
histogram and its hook, the runtime-wide message counters."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import GenServer, LifecycleEvent, Runtime, Terminated
from noex_trio.observer._alerts import walk
from noex_trio.observer._call_timings import BUCKETS, CallTimings, Histogram
from noex_trio.observer._metrics import MessageTally, prometheus_text
from tests.observer_support import node, snapshot, supervisor, wait


def small_snapshot() -> dict[str, Any]:
    tree = [
        node(
            1,
            "app#1",
            supervisor=supervisor(restarts_total=2),
            children=[
                node(2, 'say "hi"\\\n#2', length=3, messages=(5, 6, 7), restarts=2),
                node(3, "cache#3", behaviour="Cache", length=1),
            ],
        )
    ]
    return snapshot(
        12.5, tree, waits=[wait(3, 2, 12.0, 0.5)], cycles=[[2, 3]], crashes=2, restarts=2
    )


#: The awkward label of process 2, escaped as the text format wants it.
ODD = 'say \\"hi\\"\\\\\\n#2'


def test_the_prometheus_text() -> None:
    text = prometheus_text(
        small_snapshot(), {"calls": 50, "casts": 60, "infos": 70}, snapshot_seconds=0.25
    )
    assert text == (
        "# HELP noex_processes Processes alive, services included.\n"
        "# TYPE noex_processes gauge\n"
        "noex_processes 0\n"
        "# HELP noex_registered_names Names in the runtime's registry.\n"
        "# TYPE noex_registered_names gauge\n"
        "noex_registered_names 0\n"
        "# HELP noex_crashes_total Processes that exited abnormally.\n"
        "# TYPE noex_crashes_total counter\n"
        "noex_crashes_total 2\n"
        "# HELP noex_restarts_total Children restarted by their supervisors.\n"
        "# TYPE noex_restarts_total counter\n"
        "noex_restarts_total 2\n"
        "# HELP noex_dead_letters_total Casts dropped: their target died.\n"
        "# TYPE noex_dead_letters_total counter\n"
        "noex_dead_letters_total 0\n"
        "# HELP noex_messages_total Messages handled, by kind (call, cast, info).\n"
        "# TYPE noex_messages_total counter\n"
        'noex_messages_total{kind="call"} 50\n'
        'noex_messages_total{kind="cast"} 60\n'
        'noex_messages_total{kind="info"} 70\n'
        "# HELP noex_mailbox_messages Messages waiting in all mailboxes.\n"
        "# TYPE noex_mailbox_messages gauge\n"
        "noex_mailbox_messages 4\n"
        "# HELP noex_mailbox_max_length The longest mailbox.\n"
        "# TYPE noex_mailbox_max_length gauge\n"
        "noex_mailbox_max_length 3\n"
        "# HELP noex_call_waits Calls waiting for their reply.\n"
        "# TYPE noex_call_waits gauge\n"
        "noex_call_waits 1\n"
        "# HELP noex_wait_cycles Wait-for cycles: calls that can only time out.\n"
        "# TYPE noex_wait_cycles gauge\n"
        "noex_wait_cycles 1\n"
        "# HELP noex_snapshot_seconds Time taken to build this snapshot.\n"
        "# TYPE noex_snapshot_seconds gauge\n"
        "noex_snapshot_seconds 0.25\n"
        "# HELP noex_process_mailbox_length Messages waiting in the mailbox.\n"
        "# TYPE noex_process_mailbox_length gauge\n"
        'noex_process_mailbox_length{process="app#1",behaviour="Supervisor"} 0\n'
        'noex_process_mailbox_length{process="say \\"hi\\"\\\\\\n#2",behaviour="Worker"} 3\n'
        'noex_process_mailbox_length{process="cache#3",behaviour="Cache"} 1\n'
        "# HELP noex_process_messages_total Messages the process handled.\n"
        "# TYPE noex_process_messages_total counter\n"
        'noex_process_messages_total{process="app#1",behaviour="Supervisor",kind="call"} 0\n'
        'noex_process_messages_total{process="app#1",behaviour="Supervisor",kind="cast"} 0\n'
        'noex_process_messages_total{process="app#1",behaviour="Supervisor",kind="info"} 0\n'
        f'noex_process_messages_total{{process="{ODD}",behaviour="Worker",kind="call"}} 5\n'
        f'noex_process_messages_total{{process="{ODD}",behaviour="Worker",kind="cast"}} 6\n'
        f'noex_process_messages_total{{process="{ODD}",behaviour="Worker",kind="info"}} 7\n'
        'noex_process_messages_total{process="cache#3",behaviour="Cache",kind="call"} 0\n'
        'noex_process_messages_total{process="cache#3",behaviour="Cache",kind="cast"} 0\n'
        'noex_process_messages_total{process="cache#3",behaviour="Cache",kind="info"} 0\n'
        "# HELP noex_process_restarts Restarts of the process's child slot.\n"
        "# TYPE noex_process_restarts gauge\n"
        'noex_process_restarts{process="app#1",behaviour="Supervisor"} 0\n'
        'noex_process_restarts{process="say \\"hi\\"\\\\\\n#2",behaviour="Worker"} 2\n'
        'noex_process_restarts{process="cache#3",behaviour="Cache"} 0\n'
        "# HELP noex_supervisor_restarts_total Children the supervisor restarted.\n"
        "# TYPE noex_supervisor_restarts_total counter\n"
        'noex_supervisor_restarts_total{process="app#1",behaviour="Supervisor"} 2\n'
    )


def test_without_per_process_series_nor_timings() -> None:
    text = prometheus_text(
        snapshot(1.0, []), {"calls": 0, "casts": 0, "infos": 0}, per_process=False
    )
    assert "noex_mailbox_max_length 0\n" in text
    assert "noex_process_" not in text
    assert "noex_snapshot_seconds" not in text
    assert "noex_call_duration" not in text


def test_a_histogram() -> None:
    histogram = Histogram()
    for seconds in (0.00001, 0.001, 0.001, 0.0011, 7.0, 99.0):
        histogram.observe(seconds)
    buckets = dict(histogram.cumulative())
    assert list(buckets) == [*BUCKETS, float("inf")]
    # A bucket counts the observations up to and including its bound (Prometheus's `le`).
    assert buckets[0.00005] == 1
    assert buckets[0.0005] == 1
    assert buckets[0.001] == 3
    assert buckets[0.0025] == 4
    assert buckets[5.0] == 4
    assert buckets[10.0] == 5
    assert buckets[float("inf")] == 6
    assert histogram.count == 6
    assert histogram.sum == pytest.approx(106.00311)


def test_latency_in_the_prometheus_text() -> None:
    timings = CallTimings()
    timings._observe(SimpleNamespace(behaviour=SimpleNamespace()), 0.002)  # type: ignore[arg-type]
    (name,) = timings.figures()
    text = prometheus_text(
        snapshot(1.0, []), {"calls": 0, "casts": 0, "infos": 0}, latency=timings.figures()
    )
    lines = text.splitlines()
    at = lines.index("# TYPE noex_call_duration_seconds histogram")
    assert lines[at + 1 : at + 5] == [
        f'noex_call_duration_seconds_bucket{{behaviour="{name}",le="5e-05"}} 0',
        f'noex_call_duration_seconds_bucket{{behaviour="{name}",le="0.0001"}} 0',
        f'noex_call_duration_seconds_bucket{{behaviour="{name}",le="0.00025"}} 0',
        f'noex_call_duration_seconds_bucket{{behaviour="{name}",le="0.0005"}} 0',
    ]
    assert lines[-3:] == [
        f'noex_call_duration_seconds_bucket{{behaviour="{name}",le="+Inf"}} 1',
        f'noex_call_duration_seconds_sum{{behaviour="{name}"}} 0.002',
        f'noex_call_duration_seconds_count{{behaviour="{name}"}} 1',
    ]


async def test_the_core_reports_answered_calls_to_the_hook(
    runtime: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class Slow(GenServer[None, float, None, float]):
        def init(self) -> None:
            return None

        async def handle_call(self, msg: float, state: None) -> tuple[float, None]:
            if msg < 0:
                raise ValueError("negative")
            await trio.sleep(msg)
            return msg, state

        def handle_cast(self, msg: None, state: None) -> None:
            return state

    kernel: Any = runtime._kernel
    assert kernel.call_observers == {}  # nothing is timed unless an observer asks
    seen: list[tuple[str, float]] = []
    timings = CallTimings()
    assert timings.attach(runtime, lambda behaviour, seconds: seen.append((behaviour, seconds)))
    ref = await GenServer.start(Slow)
    bounded = await GenServer.start(Slow, mailbox_size=1)
    assert await ref.call(0.5) == 0.5
    assert await ref.call(0.25, timeout=math.inf) == 0.25
    doomed = await GenServer.start(Slow)
    with pytest.raises(ValueError, match="negative"):
        await doomed.call(-1.0)  # an error is an answer too
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bounded.call, 1.0)
        await trio.testing.wait_all_tasks_blocked()  # the process serves it for 1 s
        bounded.cast(None)  # fills the mailbox: the next call waits for room
        assert await bounded.call(0.0) == 0.0  # the bounded path, 1 s + the cast's time
    with trio.move_on_after(0.1):
        await ref.call(10.0)  # given up: not an answered call
    assert [(name, round(seconds, 3)) for name, seconds in seen] == [
        ("Slow", 0.5),
        ("Slow", 0.25),
        ("Slow", 0.0),
        ("Slow", 1.0),
        ("Slow", 1.0),
    ]
    timings.detach()
    assert kernel.call_observers == {}
    await ref.stop()
    await bounded.stop()


async def test_call_timings_through_the_hook(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The core calls every registered observer with (process record, seconds) after a call.
    kernel: Any = runtime._kernel
    seen: list[tuple[str, float]] = []
    timings = CallTimings()
    assert timings.attach(runtime, lambda behaviour, seconds: seen.append((behaviour, seconds)))

    class Pricing:
        pass

    record = SimpleNamespace(behaviour=Pricing())
    for observer in list(kernel.call_observers.values()):
        observer(record, 0.003)
        observer(record, 0.02)
    assert seen == [("Pricing", 0.003), ("Pricing", 0.02)]
    ((buckets, total, count),) = timings.figures().values()
    assert total == pytest.approx(0.023)
    assert count == 2
    assert dict(buckets)[0.005] == 1
    timings.detach()
    timings.detach()
    assert timings not in kernel.call_observers


class Counter(GenServer[int, str, int, int]):
    def init(self) -> int:
        return 0

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state

    def handle_cast(self, msg: int, state: int) -> int:
        return state + msg


async def test_message_totals_never_go_down(rt: Runtime) -> None:
    tally = MessageTally(rt)
    try:
        before = tally.totals(rt.snapshot().to_dict())
        ref = await GenServer.start(Counter)
        ref.cast(1)
        ref.cast(2)
        for _ in range(3):
            assert await ref.call("get") == 3
        during = tally.totals(rt.snapshot().to_dict())
        assert during["calls"] - before["calls"] == 3
        assert during["casts"] - before["casts"] == 2
        await ref.stop()
        # The process is gone from the snapshots; its messages still count.
        after = tally.totals(rt.snapshot().to_dict())
        assert after == during
        assert tally.totals(rt.snapshot().to_dict()) == during
    finally:
        tally.close()


async def test_a_process_is_not_counted_twice(rt: Runtime) -> None:
    # A snapshot taken while a process exits (its `Terminated` handlers run before it leaves
    # the runtime) still shows it: its messages are counted once.
    tally = MessageTally(rt)
    taken: list[dict[str, Any]] = []

    def on_event(event: LifecycleEvent) -> None:
        if isinstance(event, Terminated):
            taken.append(rt.snapshot().to_dict())

    unsubscribe = rt.on_lifecycle_event(on_event)
    try:
        ref = await GenServer.start(Counter)
        await ref.call("get")
        before = tally.totals(rt.snapshot().to_dict())
        await ref.stop()
        (during,) = taken
        assert ref.id in [node["id"] for node in walk(during["tree"])]
        assert tally.totals(during) == before
        assert tally.totals(rt.snapshot().to_dict()) == before
    finally:
        unsubscribe()
        tally.close()
