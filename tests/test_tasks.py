"""Supervised tasks (issue 12, section 1): `Task.start` and its handle, `Task.child_spec` under
supervisors, and the typing of both.

Time is virtual: tests that sleep or time out take `autojump_clock` and assert exact times.
"""

from __future__ import annotations

import functools
import logging
import math
import pickle
from collections.abc import AsyncIterator, Generator
from typing import Any, Never, assert_type

import pytest
import trio
import trio.lowlevel
import trio.testing

from noex_trio import (
    AlreadyRegisteredError,
    CallTimeoutError,
    ChildNotFoundError,
    Crashed,
    DynamicSupervisor,
    Exit,
    GenServer,
    GenServerRef,
    InvalidChildSpecError,
    LinkedExitError,
    MaxChildrenError,
    MaxRestartsExceededError,
    NoRuntimeError,
    NotInProcessError,
    Registry,
    Restarted,
    Runtime,
    ServerNotRunningError,
    Started,
    Supervisor,
    Task,
    TaskRef,
    TaskSupervisor,
    TaskTimeoutError,
    Terminated,
    open_runtime,
)
from noex_trio._links import linked
from noex_trio.testing import wait_exit, wait_for_restart

from .conftest import Echo, assert_no_cyclic_garbage
from .supervisor_helpers import child_ref

# ---------------------------------------------------------------- functions run as tasks


class Boom(Exception):
    pass


async def double(x: int) -> int:
    await trio.sleep(1)
    return 2 * x


async def fail(error: BaseException, delay: float = 1.0) -> int:
    await trio.sleep(delay)
    raise error


async def immediate(value: str) -> str:
    return value


class Log:
    """What the functions of one test did."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.runs = 0
        self.changed = trio.Event()

    def add(self, entry: str) -> None:
        self.entries.append(entry)
        self.changed.set()
        self.changed = trio.Event()

    async def wait_for(self, entry: str) -> None:
        with trio.fail_after(100):
            while entry not in self.entries:
                await self.changed.wait()


async def forever(log: Log, tag: str = "t") -> str:
    """Runs until cancelled; logs what it saw."""
    log.add(f"start {tag}")
    try:
        await trio.sleep(math.inf)
        return "woke up"
    except trio.Cancelled:
        log.add(f"cancelled {tag}")
        raise
    finally:
        log.add(f"finally {tag}")


async def counted(log: Log, outcome: str) -> str:
    """Returns, or raises `Boom`, after one second; counts its runs."""
    log.runs += 1
    log.add(f"run {log.runs}")
    await trio.sleep(1)
    if outcome == "raise":
        raise Boom(log.runs)
    return f"done {log.runs}"


def events(rt: Runtime) -> list[Any]:
    seen: list[Any] = []
    rt.on_lifecycle_event(seen.append)
    return seen


# ---------------------------------------------------------------- result


async def test_result_is_the_return_value(rt: Runtime, autojump_clock: object) -> None:
    task = await Task.start(double, 21)
    assert await task.result() == 42
    assert trio.current_time() == 1.0
    assert task.ref.exit_reason == "normal"
    # Kept: again, and after the task is gone, the same value.
    assert await task.result() == 42
    assert await task.result(timeout=0.5) == 42


async def test_result_after_the_task_finished(rt: Runtime) -> None:
    task = await Task.start(immediate, "x")
    assert await wait_exit(task.ref) == "normal"
    assert await task.result() == "x"


async def test_result_raises_the_functions_exception(rt: Runtime, autojump_clock: object) -> None:
    error = Boom("no")
    task = await Task.start(fail, error)
    with pytest.raises(Boom) as first:
        await task.result()
    assert first.value is error
    assert task.ref.exit_reason is error  # the crash reason, not wrapped
    with pytest.raises(Boom) as second:
        await task.result()
    assert second.value is error


async def test_an_exception_group_is_raised_as_it_is(rt: Runtime, autojump_clock: object) -> None:
    async def group() -> None:
        await trio.sleep(1)
        raise ExceptionGroup("two", [Boom("a"), KeyError("b")])

    task = await Task.start(group)
    with pytest.RaisesGroup(Boom, KeyError) as caught:
        await task.result()
    assert task.ref.exit_reason is caught.value


async def test_lifecycle_events(rt: Runtime, autojump_clock: object) -> None:
    seen = events(rt)
    ok = await Task.start(double, 1)
    await ok.result()
    error = Boom()
    bad = await Task.start(fail, error)
    with pytest.raises(Boom):
        await bad.result()
    assert seen == [
        Started(ok.ref),
        Terminated(ok.ref, "normal"),
        Started(bad.ref),
        Crashed(bad.ref, error),
        Terminated(bad.ref, error),
    ]


async def test_a_crash_is_logged_with_the_task(
    rt: Runtime, autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    task = await Task.start(fail, Boom("logged"))
    with pytest.raises(Boom):
        await task.result()
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith(f"Task(fail)#{task.ref.id} crashed")
    assert record.exc_info is not None
    assert record.exc_info[1] is task.ref.exit_reason


async def test_result_times_out_and_the_task_runs_on(rt: Runtime, autojump_clock: object) -> None:
    task = await Task.start(double, 5)
    with pytest.raises(
        TaskTimeoutError, match=rf"^task Task\(double\)#{task.ref.id} did not finish within 0.5 s$"
    ) as caught:
        await task.result(timeout=0.5)
    assert trio.current_time() == 0.5
    assert isinstance(caught.value, CallTimeoutError)
    assert isinstance(caught.value, trio.TooSlowError)
    assert caught.value.target is task.ref
    assert caught.value.timeout == 0.5
    assert task.ref.is_running()
    assert await task.result(timeout=math.inf) == 10
    assert trio.current_time() == 1.0


async def test_cancelling_result_leaves_the_task_running(
    rt: Runtime, autojump_clock: object
) -> None:
    task = await Task.start(double, 5)
    with trio.move_on_after(0.5):
        await task.result()
    assert task.ref.is_running()
    assert await task.result() == 10


def test_task_timeout_error_pickles() -> None:
    error = TaskTimeoutError("worker", 2.0)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is TaskTimeoutError
    assert (copy.target, copy.timeout) == ("worker", 2.0)
    assert str(copy) == "task 'worker' did not finish within 2.0 s"


# ---------------------------------------------------------------- stopped from outside


async def test_cancel_stops_a_running_task(rt: Runtime, autojump_clock: object) -> None:
    log = Log()
    task = await Task.start(forever, log)
    await log.wait_for("start t")
    assert await task.cancel() is None
    assert log.entries == ["start t", "cancelled t", "finally t"]
    assert task.ref.exit_reason == "shutdown"
    with pytest.raises(ServerNotRunningError) as caught:
        await task.result()
    assert caught.value.reason == "shutdown"
    assert caught.value.target is task.ref
    assert await task.cancel() is None  # idempotent


async def test_cancel_returns_the_value_of_a_finished_task(rt: Runtime) -> None:
    task = await Task.start(immediate, "v")
    assert await task.result() == "v"
    assert await task.cancel() == "v"
    assert task.ref.exit_reason == "normal"


async def test_cancel_returns_a_value_returned_meanwhile(rt: Runtime) -> None:
    started = trio.Event()

    async def stubborn() -> str:
        started.set()
        try:
            await trio.sleep(math.inf)
        except trio.Cancelled:
            return "late"  # (swallows the cancellation: poor style, but it finished)
        return "never"

    task = await Task.start(stubborn)
    await started.wait()
    assert await task.cancel() == "late"
    assert task.ref.exit_reason == "shutdown"
    assert await task.result() == "late"


async def test_cancel_of_a_failed_task_returns_none(rt: Runtime, autojump_clock: object) -> None:
    error = Boom()
    task = await Task.start(fail, error)
    await wait_exit(task.ref)
    assert await task.cancel() is None
    with pytest.raises(Boom):
        await task.result()


async def test_a_task_stopped_with_gen_server_stop(rt: Runtime) -> None:
    log = Log()
    task = await Task.start(forever, log)
    await log.wait_for("start t")
    await GenServer.stop(task.ref, ("shutdown", "enough"))  # at once: the loop is idle
    assert log.entries == ["start t", "cancelled t", "finally t"]
    with pytest.raises(ServerNotRunningError) as caught:
        await task.result()
    assert caught.value.reason == ("shutdown", "enough")


async def test_a_task_killed_with_gen_server_exit(rt: Runtime) -> None:
    log = Log()
    task = await Task.start(forever, log)
    GenServer.exit(task.ref, "kill")
    assert await wait_exit(task.ref) == "killed"
    with pytest.raises(ServerNotRunningError) as caught:
        await task.result()
    assert caught.value.reason == "killed"


async def test_the_runtime_closing_cancels_its_tasks() -> None:
    log = Log()
    async with open_runtime():
        await Task.start(forever, log, "a")
        await Task.start(forever, log, "b")
        await log.wait_for("start b")
    assert log.entries == [
        "start a",
        "start b",
        "cancelled b",
        "finally b",
        "cancelled a",
        "finally a",
    ]


# ---------------------------------------------------------------- the process


async def test_the_function_runs_inside_its_process(rt: Runtime) -> None:
    async def whoami() -> GenServerRef[Any, Any, Any]:
        return GenServer.self()

    task = await Task.start(whoami)
    assert await task.result() is task.ref
    assert repr(task) == f"<Task Task(whoami)#{task.ref.id}>"
    assert repr(task.ref) == f"<GenServerRef Task(whoami)#{task.ref.id}>"


class Ready:
    """An awaitable that is not a coroutine."""

    def __await__(self) -> Generator[Any, None, str]:
        yield from trio.lowlevel.checkpoint().__await__()  # noqa: ASYNC105 (by hand)
        return "ready"


class Fetcher:
    """A callable object (no ``__name__``) with an async ``__call__``."""

    async def __call__(self, url: str) -> str:
        return f"got {url}"


async def test_any_callable_returning_an_awaitable(rt: Runtime) -> None:
    awaitable = await Task.start(Ready)
    assert await awaitable.result() == "ready"
    assert repr(awaitable.ref).startswith("<GenServerRef Task(Ready)#")
    called = await Task.start(Fetcher(), "x")
    assert await called.result() == "got x"
    assert repr(called.ref).startswith("<GenServerRef Task(Fetcher)#")
    partial = await Task.start(functools.partial(double, 1))
    assert repr(partial.ref).startswith("<GenServerRef Task(double)#")
    await partial.cancel()
    holder = await GenServer.start(Echo(), name="taken")
    with pytest.raises(AlreadyRegisteredError):
        await Task.start(Ready, name="taken")  # (nothing to close: not a coroutine)
    await holder.stop()


async def test_a_named_task(rt: Runtime) -> None:
    log = Log()
    task = await Task.start(forever, log, name="worker")
    assert Registry.lookup("worker") is task.ref
    assert repr(task.ref) == f"<GenServerRef worker#{task.ref.id}>"
    await task.cancel()
    assert not Registry.is_registered("worker")


async def test_a_cancelled_start_cancels_the_task(rt: Runtime) -> None:
    log = Log()
    with trio.CancelScope() as scope:
        scope.cancel()
        await Task.start(forever, log)
    assert scope.cancelled_caught
    assert log.entries == ["start t", "cancelled t", "finally t"]
    assert user_count(rt) == 0


async def test_a_taken_name_runs_nothing(rt: Runtime) -> None:
    log = Log()
    holder = await GenServer.start(Echo(), name="worker")
    with pytest.raises(AlreadyRegisteredError):
        await Task.start(forever, log, name="worker")
    await trio.testing.wait_all_tasks_blocked()
    assert log.entries == []  # (and no "never awaited" warning: the coroutine was closed)
    await holder.stop()


async def test_a_task_can_be_monitored(rt: Runtime, autojump_clock: object) -> None:
    watcher = Echo()
    ref = await GenServer.start(watcher)
    task = await Task.start(double, 1)
    mref = await ref.call(returning_monitor(task.ref))
    await task.result()
    await ref.call("sync")
    [(_, down)] = [entry for entry in watcher.seen if entry[0] == "info"]
    assert (down.monitor, down.ref, down.reason) == (mref, task.ref, "normal")
    await ref.stop()


def returning_monitor(target: TaskRef) -> Any:
    """A message for `Echo`: monitor `target`, reply with the monitor."""
    return lambda state: (GenServer.monitor(target), state)


async def test_calls_to_a_task_fail_and_casts_are_dropped(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    log = Log()
    task = await Task.start(forever, log)
    ref: GenServerRef[Any, Any, Any] = task.ref
    with pytest.raises(
        TypeError,
        match=rf"^Task\(forever\)#{ref.id} is a task: it takes no calls \(got 'hi'\); ",
    ):
        await ref.call("hi")
    ref.cast("hello")
    await trio.testing.wait_all_tasks_blocked()
    assert ref.is_running()
    assert [r.getMessage() for r in caplog.records] == [
        f"Task(forever)#{ref.id} got cast 'hello' but is a task (it takes no messages); dropped"
    ]
    await task.cancel()


# ---------------------------------------------------------------- links


def start_task(fn: Any, *args: Any, link: bool = False) -> Any:
    """A message for `Echo`: start a task (from inside the process), reply with it."""

    async def handler(state: Any) -> Any:
        return await Task.start(fn, *args, link=link), state

    return handler


async def test_unlinked_by_default(rt: Runtime, autojump_clock: object) -> None:
    owner = await GenServer.start(Echo())
    task: Task[int] = await owner.call(start_task(fail, Boom()))
    with pytest.raises(Boom):
        await task.result()
    assert owner.is_running()
    await owner.stop()


async def test_a_linked_task_takes_its_caller_down(rt: Runtime, autojump_clock: object) -> None:
    owner = await GenServer.start(Echo())
    error = Boom()
    task: Task[int] = await owner.call(start_task(fail, error, link=True))
    assert linked(owner, task.ref)
    reason = await wait_exit(owner)
    assert isinstance(reason, LinkedExitError)
    assert reason.process is task.ref
    assert reason.__cause__ is error


async def test_a_trapping_caller_gets_exit(rt: Runtime, autojump_clock: object) -> None:
    echo = Echo()
    owner = await GenServer.start(echo, trap_exit=True)
    error = Boom()
    task: Task[int] = await owner.call(start_task(fail, error, link=True))
    with pytest.raises(Boom):
        await task.result()
    await owner.call("sync")
    assert ("info", Exit(task.ref, error)) in echo.seen
    await owner.stop()


async def test_a_linked_task_dies_with_its_caller(rt: Runtime) -> None:
    log = Log()
    owner = await GenServer.start(Echo())
    task: Task[str] = await owner.call(start_task(forever, log, link=True))
    await log.wait_for("start t")
    await GenServer.stop(owner, "bye")
    reason = await wait_exit(task.ref)
    assert isinstance(reason, LinkedExitError)
    assert (reason.process, reason.reason) == (owner, "bye")
    assert log.entries == ["start t", "cancelled t", "finally t"]


async def test_cancel_unlinks_first(rt: Runtime) -> None:
    log = Log()
    owner = await GenServer.start(Echo())
    task: Task[str] = await owner.call(start_task(forever, log, link=True))
    assert await task.cancel() is None  # from outside the owner
    assert not linked(owner, task.ref)
    await owner.call("sync")
    assert owner.is_running()
    await owner.stop()


async def test_cancel_after_the_owner_is_gone(rt: Runtime) -> None:
    log = Log()
    owner = await GenServer.start(Echo())
    task: Task[str] = await owner.call(start_task(forever, log, link=True))
    await owner.stop()  # "normal": the task lives on
    assert task.ref.is_running()
    assert await task.cancel() is None
    assert log.entries == ["start t", "cancelled t", "finally t"]


async def test_a_task_that_died_before_the_link_is_made(rt: Runtime) -> None:
    owner = await GenServer.start(Echo(), trap_exit=True)

    async def start_and_wait(state: Any) -> Any:
        # The task returns at once; its exit may come before the link: Exit arrives anyway.
        task = await Task.start(immediate, "x", link=True)
        return task, state

    task: Task[str] = await owner.call(start_and_wait)
    assert await task.result() == "x"
    await owner.stop()


async def test_link_needs_a_process(rt: Runtime) -> None:
    with pytest.raises(
        NotInProcessError, match=r"^Task\.start\(link=True\) can only be used inside a process"
    ):
        await Task.start(immediate, "x", link=True)


# ---------------------------------------------------------------- under a supervisor


async def test_a_temporary_task_is_never_restarted(rt: Runtime, autojump_clock: object) -> None:
    log = Log()
    sup = await Supervisor.start(
        [Task.child_spec(counted, log, "raise"), Task.child_spec(forever, log)]
    )
    assert [child.id for child in Supervisor.get_children(sup)] == ["counted", "forever"]
    assert isinstance(await wait_exit(child_ref(sup, "counted")), Boom)
    with pytest.raises(ChildNotFoundError):
        Supervisor.get_child(sup, "counted")
    assert log.runs == 1
    await Supervisor.stop(sup)


@pytest.mark.parametrize(
    ("restart", "outcome", "restarted"),
    [
        ("permanent", "return", True),
        ("permanent", "raise", True),
        ("transient", "raise", True),
        ("transient", "return", False),
        ("temporary", "raise", False),
        ("temporary", "return", False),
    ],
)
async def test_restart_types(
    rt: Runtime, autojump_clock: object, restart: Any, outcome: str, restarted: bool
) -> None:
    log = Log()
    sup = await Supervisor.start([Task.child_spec(counted, log, outcome, restart=restart)])
    first = child_ref(sup, "counted")
    if restarted:
        second = await wait_for_restart(sup, "counted", first)
        assert Supervisor.get_child(sup, "counted").restart_count == 1
        assert second is not first
        assert log.entries == ["run 1", "run 2"]
    else:
        await wait_exit(first)
        assert Supervisor.count_children(sup) == 0
        assert log.entries == ["run 1"]
    await Supervisor.stop(sup)


async def test_a_transient_task_is_retried_until_it_succeeds(
    rt: Runtime, autojump_clock: object
) -> None:
    seen = events(rt)
    runs: list[TaskRef] = []
    succeeded = trio.Event()

    async def flaky() -> str:
        runs.append(GenServer.self())
        await trio.sleep(1)
        if len(runs) < 3:
            raise Boom(len(runs))
        succeeded.set()
        return "ok"

    sup = await Supervisor.start([Task.child_spec(flaky, restart="transient")])
    await succeeded.wait()
    assert await wait_exit(runs[-1]) == "normal"
    assert Supervisor.count_children(sup) == 0
    assert len(runs) == 3
    assert [event.attempt for event in seen if type(event) is Restarted] == [1, 2]
    assert trio.current_time() == 3.0
    await Supervisor.stop(sup)


def test_restart_intensity_applies() -> None:
    log = Log()

    async def main() -> None:
        async with open_runtime():
            await Supervisor.start(
                [Task.child_spec(counted, log, "return", restart="permanent")],
                max_restarts=2,
                max_seconds=10.0,
            )
            await trio.sleep_forever()

    with pytest.raises(MaxRestartsExceededError) as caught:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert caught.value.max_restarts == 2
    assert log.runs == 3


async def test_the_supervisor_stopping_cancels_its_tasks(rt: Runtime) -> None:
    log = Log()
    sup = await Supervisor.start(
        [
            Task.child_spec(forever, log, "a", id="a"),
            Task.child_spec(forever, log, "b", id="b", shutdown="brutal_kill"),
        ]
    )
    refs = [child_ref(sup, "a"), child_ref(sup, "b")]
    await log.wait_for("start b")
    await Supervisor.stop(sup)
    assert log.entries == [
        "start a",
        "start b",
        "cancelled b",
        "finally b",
        "cancelled a",
        "finally a",
    ]
    assert [ref.exit_reason for ref in refs] == ["shutdown", "killed"]


async def test_terminate_child_cancels_the_task(rt: Runtime) -> None:
    log = Log()
    sup = await Supervisor.start([Task.child_spec(forever, log, id="job", name="job")])
    await log.wait_for("start t")
    assert Registry.lookup("job") is Supervisor.get_child(sup, "job").ref
    await Supervisor.terminate_child(sup, "job")
    assert log.entries == ["start t", "cancelled t", "finally t"]
    assert not Registry.is_registered("job")
    await Supervisor.stop(sup)


async def test_a_name_moves_with_restarts(rt: Runtime, autojump_clock: object) -> None:
    log = Log()
    sup = await Supervisor.start(
        [Task.child_spec(counted, log, "raise", restart="permanent", name="job")]
    )
    first = Registry.lookup("job")
    second = await wait_for_restart(sup, "counted", first)
    assert Registry.lookup("job") is second
    await Supervisor.stop(sup)


async def test_a_template_for_simple_one_for_one(rt: Runtime, autojump_clock: object) -> None:
    async def add(a: int, b: int) -> int:
        await trio.sleep(1)
        return a + b

    seen = events(rt)
    # (The template's arguments are completed by start_child: mypy cannot check them.)
    template = Task.child_spec(add, 1)  # type: ignore[arg-type]
    sup = await Supervisor.start(strategy="simple_one_for_one", child_template=template)
    ref = await Supervisor.start_child(sup, 2)
    assert ref is not None
    assert await wait_exit(ref) == "normal"
    assert Supervisor.count_children(sup) == 0
    assert Started(ref) in seen
    await Supervisor.stop(sup)


async def test_a_significant_task_shuts_its_supervisor_down(
    rt: Runtime, autojump_clock: object
) -> None:
    log = Log()
    sup = await Supervisor.start(
        [
            Task.child_spec(forever, log),
            Task.child_spec(double, 1, restart="transient", significant=True),
        ],
        auto_shutdown="any_significant",
    )
    assert await wait_exit(sup) == "shutdown"
    assert trio.current_time() == 1.0
    assert log.entries == ["start t", "cancelled t", "finally t"]


async def test_a_sync_function_fails_the_start(rt: Runtime) -> None:
    def sync() -> int:
        return 1

    with pytest.raises(TypeError, match=r"^expected fn to be an async function, got "):
        await Supervisor.start([Task.child_spec(sync)])  # type: ignore[arg-type]


# ---------------------------------------------------------------- task supervisors


async def test_a_task_under_a_task_supervisor(rt: Runtime, autojump_clock: object) -> None:
    sup = await TaskSupervisor.start(name="jobs")
    task = await Task.start(double, 4, supervisor=sup)
    assert TaskSupervisor.children(sup) == [task.ref]
    assert DynamicSupervisor.which_children(sup)[0].restart == "temporary"
    assert await task.result() == 8
    assert TaskSupervisor.children("jobs") == []
    by_name = await Task.start(fail, Boom(), supervisor="jobs")
    with pytest.raises(Boom):
        await by_name.result()
    assert TaskSupervisor.children(sup) == []  # temporary: a failed task is not restarted
    await TaskSupervisor.stop(sup)


async def test_stopping_a_task_supervisor_cancels_its_tasks(rt: Runtime) -> None:
    log = Log()
    sup = await TaskSupervisor.start()
    task = await Task.start(forever, log, "a", supervisor=sup)
    ref = await TaskSupervisor.start_child(sup, forever, log, "b")
    await log.wait_for("start b")
    await TaskSupervisor.stop(sup)
    assert sorted(log.entries) == sorted(
        ["start a", "start b", "cancelled a", "finally a", "cancelled b", "finally b"]
    )
    assert ref.exit_reason == "shutdown"
    with pytest.raises(ServerNotRunningError) as caught:
        await task.result()
    assert caught.value.reason == "shutdown"


async def test_start_child_fire_and_forget(rt: Runtime, autojump_clock: object) -> None:
    log = Log()
    sup = await TaskSupervisor.start()
    ref = await TaskSupervisor.start_child(sup, counted, log, "return")
    assert_type(ref, TaskRef)
    assert TaskSupervisor.children(sup) == [ref]
    assert await wait_exit(ref) == "normal"
    assert TaskSupervisor.children(sup) == []
    assert log.entries == ["run 1"]
    await TaskSupervisor.stop(sup)


async def test_start_child_transient_is_retried(rt: Runtime, autojump_clock: object) -> None:
    runs: list[TaskRef] = []
    done = trio.Event()

    async def flaky() -> None:
        runs.append(GenServer.self())
        await trio.sleep(1)
        if len(runs) < 2:
            raise Boom()
        done.set()

    sup = await TaskSupervisor.start()
    first = await TaskSupervisor.start_child(sup, flaky, restart="transient", name="flaky")
    await done.wait()
    assert runs[0] is first
    assert [info.restart_count for info in DynamicSupervisor.which_children(sup)] == [1]
    assert Registry.lookup("flaky") is runs[1]
    assert await wait_exit(runs[1]) == "normal"
    assert TaskSupervisor.children(sup) == []
    await TaskSupervisor.stop(sup)


async def test_terminate_child_cancels_a_task(rt: Runtime) -> None:
    log = Log()
    sup = await TaskSupervisor.start()
    ref = await TaskSupervisor.start_child(sup, forever, log)
    await log.wait_for("start t")
    await TaskSupervisor.terminate_child(sup, ref)
    assert log.entries == ["start t", "cancelled t", "finally t"]
    assert TaskSupervisor.children(sup) == []
    with pytest.raises(ChildNotFoundError):
        await TaskSupervisor.terminate_child(sup, ref)
    await TaskSupervisor.stop(sup)


async def test_max_children(rt: Runtime) -> None:
    log = Log()
    sup = await TaskSupervisor.start(max_children=1)
    await TaskSupervisor.start_child(sup, forever, log, "a")
    with pytest.raises(MaxChildrenError):
        await TaskSupervisor.start_child(sup, forever, log, "b")
    with pytest.raises(MaxChildrenError):
        await Task.start(forever, log, "c", supervisor=sup)
    await log.wait_for("start a")
    await trio.testing.wait_all_tasks_blocked()
    assert log.entries == ["start a"]  # the refused functions never ran
    await TaskSupervisor.stop(sup)


async def test_a_task_supervisor_in_a_tree(rt: Runtime, autojump_clock: object) -> None:
    app = await Supervisor.start([TaskSupervisor.child_spec(name="jobs")])
    assert [child.id for child in Supervisor.get_children(app)] == ["jobs"]
    assert TaskSupervisor.child_spec().id == "TaskSupervisor"
    task = await Task.start(double, 1, supervisor="jobs")
    assert await task.result() == 2
    await Supervisor.stop(app)


async def test_a_linked_task_under_a_task_supervisor(rt: Runtime, autojump_clock: object) -> None:
    sup = await TaskSupervisor.start()
    owner = await GenServer.start(Echo())

    async def start_linked(state: Any) -> Any:
        return await Task.start(fail, Boom(), supervisor=sup, link=True), state

    task: Task[int] = await owner.call(start_linked)
    assert linked(owner, task.ref)
    assert isinstance(await wait_exit(owner), LinkedExitError)
    await TaskSupervisor.stop(sup)


def test_a_task_supervisor_gives_up() -> None:
    async def main() -> None:
        async with open_runtime():
            sup = await TaskSupervisor.start(max_restarts=1, max_seconds=10.0)
            await TaskSupervisor.start_child(sup, fail, Boom(), restart="permanent")
            await trio.sleep_forever()

    with pytest.raises(MaxRestartsExceededError) as caught:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert caught.value.max_restarts == 1
    assert isinstance(caught.value.__cause__, Boom)


async def test_task_supervisor_bad_arguments(rt: Runtime) -> None:
    sup = await TaskSupervisor.start()
    plain = await Supervisor.start()

    def sync() -> int:
        return 1

    with pytest.raises(TypeError, match=r"^expected fn to be an async function, got "):
        await TaskSupervisor.start_child(sup, sync)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected fn to be an async function, got "):
        await Task.start(sync, supervisor=sup)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected fn to be an async function, got 1$"):
        await TaskSupervisor.start_child(sup, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected sup to be a DynamicSupervisor"):
        await Task.start(immediate, "x", supervisor=plain)
    with pytest.raises(InvalidChildSpecError):
        await TaskSupervisor.start_child(sup, immediate, "x", restart="sometimes")  # type: ignore[arg-type]
    with pytest.raises(InvalidChildSpecError):
        await TaskSupervisor.start(max_children=-1)
    assert TaskSupervisor.children(sup) == []
    await TaskSupervisor.stop(sup)
    await Supervisor.stop(plain)
    with pytest.raises(ServerNotRunningError):
        await Task.start(immediate, "x", supervisor=sup)
    with pytest.raises(ServerNotRunningError):
        await Task.start(immediate, "x", supervisor="nobody")
    await TaskSupervisor.stop("nobody")  # idempotent


# ---------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3)])
def test_a_fatal_error_in_a_task_ends_the_runtime(error: BaseException) -> None:
    log = Log()

    async def interrupted() -> None:
        await trio.sleep(1)
        raise error

    async def main() -> None:
        async with open_runtime():
            await Task.start(forever, log, "a")
            await Supervisor.start(
                [Task.child_spec(forever, log, "b"), Task.child_spec(interrupted)]
            )
            await trio.sleep_forever()

    with pytest.raises(type(error)):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert log.entries == [
        "start a",
        "start b",
        "cancelled b",
        "finally b",
        "cancelled a",
        "finally a",
    ]


# ---------------------------------------------------------------- bad arguments


async def test_bad_arguments(rt: Runtime) -> None:
    with pytest.raises(TypeError, match=r"^expected fn to be an async function, got 42$"):
        await Task.start(42)  # type: ignore[arg-type]

    with pytest.raises(
        TypeError,
        match=r"^expected fn to be an async function, got the coroutine <coroutine object "
        r"double at 0x\w+>: pass the function and its arguments, Task\.start\(fn, \*args\), "
        r"not fn\(\*args\)$",
    ):
        await Task.start(double(1))  # type: ignore[arg-type]

    def sync(x: int) -> int:
        return x

    with pytest.raises(
        TypeError,
        match=r"^expected fn to be an async function, got <function .*sync.*>, which returned 1; "
        r"a sync function would block every process",
    ):
        await Task.start(sync, 1)  # type: ignore[arg-type]

    async def agen() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match=r"^expected fn to be an async function, got async gen"):
        await Task.start(agen)  # type: ignore[arg-type]

    with pytest.raises(TypeError, match=r"double\(\) missing 1 required positional argument"):
        await Task.start(double)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected link to be a bool, got 1$"):
        await Task.start(immediate, "x", link=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^expected name to be a non-empty str, got ''$"):
        await Task.start(immediate, "x", name="")
    with pytest.raises(
        TypeError,
        match=r"^expected supervisor to be a task supervisor \(its SupervisorRef or name\) or "
        r"None, got 42$",
    ):
        await Task.start(immediate, "x", supervisor=42)  # type: ignore[arg-type]
    task = await Task.start(immediate, "x")
    with pytest.raises(ValueError, match=r"^expected timeout to be a number of seconds > 0"):
        await task.result(timeout=0)
    with pytest.raises(TypeError, match=r"^noex_trio\.Task has no public constructor; use Task"):
        Task(task.ref, None, None)  # type: ignore[arg-type]
    await trio.testing.wait_all_tasks_blocked()
    assert user_count(rt) == 0


def user_count(rt: Runtime) -> int:
    return len([ref for ref in rt.processes() if ref is not rt.event_bus])


def test_child_spec_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"^expected fn to be an async function, got 'f'$"):
        Task.child_spec("f")  # type: ignore[arg-type]
    with pytest.raises(
        InvalidChildSpecError,
        match=r"^expected restart to be 'permanent', 'transient' or 'temporary', got 'always'$",
    ):
        Task.child_spec(immediate, "x", restart="always")  # type: ignore[arg-type]
    with pytest.raises(InvalidChildSpecError, match=r"^expected shutdown to be "):
        Task.child_spec(immediate, "x", shutdown=-1)
    with pytest.raises(ValueError, match=r"^expected name to be a non-empty str, got ''$"):
        Task.child_spec(immediate, "x", name="")


def test_child_spec_ids() -> None:
    assert Task.child_spec(immediate, "x").id == "immediate"
    assert Task.child_spec(functools.partial(immediate, "x")).id == "immediate"
    assert Task.child_spec(immediate, "x", id="mine").id == "mine"
    spec = Task.child_spec(immediate, "x")
    assert (spec.restart, spec.shutdown, spec.significant) == ("temporary", 5.0, False)


async def test_outside_a_runtime() -> None:
    called: list[int] = []

    async def f() -> None:
        called.append(1)

    with pytest.raises(NoRuntimeError):
        await Task.start(f)
    assert called == []


# ---------------------------------------------------------------- checkpoints, leaks


async def test_every_operation_is_a_checkpoint(rt: Runtime) -> None:
    with trio.testing.assert_checkpoints():
        task = await Task.start(immediate, "x")
    with trio.testing.assert_checkpoints():
        await task.result()
    with trio.testing.assert_checkpoints():
        await task.result()  # already finished
    with trio.testing.assert_checkpoints():
        await task.cancel()  # already finished
    with trio.testing.assert_checkpoints():
        failed = await Task.start(fail, Boom(), 0)
    with trio.testing.assert_checkpoints(), pytest.raises(Boom):
        await failed.result()


async def test_no_cyclic_garbage(rt: Runtime, autojump_clock: object) -> None:
    async def value() -> None:
        task = await Task.start(double, 1)
        await task.result()

    async def error() -> None:
        task = await Task.start(fail, Boom())
        with pytest.raises(Boom):
            await task.result()
        # The error's traceback holds this frame, and the task the error: as for any stored
        # exception raised again, the caller's frame must not keep the task.
        del task

    for operation in (value, error):
        await assert_no_cyclic_garbage(operation)


async def test_no_cyclic_garbage_when_cancelled(rt: Runtime, autojump_clock: object) -> None:
    async def cancelled() -> None:
        log = Log()
        task = await Task.start(forever, log)
        await log.wait_for("start t")
        await task.cancel()

    await assert_no_cyclic_garbage(cancelled)


# ---------------------------------------------------------------- typing


async def test_types_are_inferred(rt: Runtime, autojump_clock: object) -> None:
    task = await Task.start(double, 2)
    assert_type(task, Task[int])
    assert_type(await task.result(), int)
    assert_type(await task.cancel(), int | None)
    assert_type(task.ref, GenServerRef[Never, Never, Never])
    nothing = await Task.start(immediate, "x")
    assert_type(nothing, Task[str])
    await nothing.result()


async def _bad_calls_mypy_rejects() -> None:  # (never run: mypy checks the ignores are needed)
    await Task.start(double, "two")  # type: ignore[arg-type]
    await Task.start(double, 1, 2)  # type: ignore[arg-type]
    await Task.start(double)  # type: ignore[arg-type]
    await Task.start(print)  # type: ignore[arg-type]
    Task.child_spec(double, "two")  # type: ignore[arg-type]
    Task.child_spec(double)  # type: ignore[arg-type]
