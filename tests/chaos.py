"""The chaos scenario shared by ``tests/test_chaos.py`` (virtual time) and ``tests/soak.py``
(real clock).

A supervision tree takes a steady stream of calls, casts and publishes from client tasks while
a fault injector crashes processes (in handlers, in ``init`` during restarts, in
``terminate``), stops them, kills them, crashes whole subtrees and cancels callers mid-call.
A checker verifies the invariants throughout; more are verified once the load stops (the tree
has healed) and once the runtime has closed (nothing left, nothing leaked).

The tree::

    root (one_for_one, never gives up)
    ├── sub_a  one_for_one        a0 a1* a2       (* = registered name)
    ├── sub_b  one_for_all        b0* b1 b2
    ├── sub_c  rest_for_one       c0 c1* c2
    └── dyn    simple_one_for_one transient children added and removed by the clients

Subtrees give up after 5 restarts in 1 s; the root restarts them.

Every violation is recorded as a line of text in `ChaosReport.violations` (the run goes on),
so that a soak run can report all of them; the test asserts the list is empty.
"""

from __future__ import annotations

import collections
import gc
import logging
import math
import random
import re
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Final

import attrs
import trio
import trio.lowlevel
import trio.testing

from noex_trio import (
    CallTimeoutError,
    ChildNotFoundError,
    ChildSpec,
    Crashed,
    EventBus,
    EventBusRef,
    GenServer,
    GenServerRef,
    InitializationError,
    LifecycleEvent,
    ProcessRef,
    Registry,
    Restarted,
    ServerNotRunningError,
    Started,
    Stop,
    Supervisor,
    SupervisorRef,
    Terminated,
    current_runtime,
    open_runtime,
)
from noex_trio._child_spec import Shutdown
from noex_trio.testing import crash, kill
from tests.supervisor_helpers import child_ref

Ref = GenServerRef[Any, Any, Any]

#: What a malformed ``handle_call`` result crashes with (and the caller gets).
MALFORMED: Final = re.compile(
    r"^ChaosWorker\.handle_call must return \(reply, state\), Reply, NoReply or Stop, "
    r"got 'not a tuple'$"
)


class ChaosFault(Exception):
    """The error every injected crash raises."""


@attrs.define
class ChaosConfig:
    """How long and how hard to shake the tree. Durations are seconds of the run's clock."""

    seed: int
    duration: float = 10.0
    clients: int = 4
    #: Mean gap between two operations of one client.
    op_interval: float = 0.01
    #: Mean gap between two injected faults.
    fault_interval: float = 0.02
    #: How often the checker runs while the load is on.
    check_interval: float = 0.05
    call_timeout: float = 0.25


@attrs.define
class ChaosReport:
    """The figures of one run (or the sum of several: see `add`)."""

    runs: int = 0
    faults: collections.Counter[str] = attrs.Factory(collections.Counter)
    operations: collections.Counter[str] = attrs.Factory(collections.Counter)
    outcomes: collections.Counter[str] = attrs.Factory(collections.Counter)
    checks: int = 0
    processes: int = 0
    restarts: int = 0
    crash_reports: int = 0
    violations: list[str] = attrs.Factory(list)

    @property
    def calls(self) -> int:
        return sum(n for op, n in self.operations.items() if op.startswith("call"))

    def add(self, other: ChaosReport) -> None:
        self.runs += other.runs
        self.faults.update(other.faults)
        self.operations.update(other.operations)
        self.outcomes.update(other.outcomes)
        self.checks += other.checks
        self.processes += other.processes
        self.restarts += other.restarts
        self.crash_reports += other.crash_reports
        self.violations += other.violations

    def summary(self) -> str:
        lines = [
            f"runs: {self.runs}",
            f"faults injected: {sum(self.faults.values())} ({_counts(self.faults)})",
            f"operations: {sum(self.operations.values())} ({_counts(self.operations)})",
            f"calls made: {self.calls}",
            f"outcomes: {_counts(self.outcomes)}",
            f"processes started: {self.processes}, restarts: {self.restarts}, "
            f"crash reports logged: {self.crash_reports}",
            f"invariant checks: {self.checks}",
            f"violations: {len(self.violations)}",
        ]
        lines += [f"  - {violation}" for violation in self.violations[:20]]
        return "\n".join(lines)


def _counts(counter: collections.Counter[str]) -> str:
    return ", ".join(f"{key}={n}" for key, n in sorted(counter.items()))


# ---------------------------------------------------------------- the workers


class Ledger:
    """What happened, as the behaviours, the lifecycle events and the clients saw it.

    Holds process ids and weak references only, so that the leak check at the end sees what
    the library keeps alive, not what the ledger does.
    """

    def __init__(self, report: ChaosReport) -> None:
        self.report = report
        # lifecycle events, by process id
        self.started: dict[int, weakref.ref[ProcessRef]] = {}
        self.terminated: dict[int, str] = {}  # id -> "killed" | "crash" | "clean"
        self.died_at: dict[int, float] = {}
        self.crashed: set[int] = set()
        self.restarted: collections.Counter[tuple[int, str]] = collections.Counter()
        # child starts, by (supervisor id, child key)
        self.attempts: collections.Counter[tuple[int, str]] = collections.Counter()
        self.successes: collections.Counter[tuple[int, str]] = collections.Counter()
        self.child_of: dict[int, tuple[int, str]] = {}
        # workers
        self.workers: set[int] = set()
        self.terminate_calls: collections.Counter[int] = collections.Counter()
        self.behaviours: list[weakref.ref[ChaosWorker]] = []
        self.subscribed: set[int] = set()  # workers with a live bus subscription
        self.received: dict[int, int] = {}  # worker id -> last publish sequence number seen
        # fault switches
        self.fail_init: dict[str, int] = {}
        self.raise_in_terminate: set[int] = set()
        self.publish_seq = 0
        self.bus_id = -1

    def violation(self, text: str) -> None:
        self.report.violations.append(text)

    def check(self, ok: bool, text: str) -> None:
        self.report.checks += 1
        if not ok:
            self.violation(text)

    def on_event(self, event: LifecycleEvent) -> None:
        pid = event.ref.id
        if isinstance(event, Started):
            self.check(pid not in self.started, f"two Started events for #{pid}")
            self.started[pid] = weakref.ref(event.ref)
            self.report.processes += 1
        elif isinstance(event, Crashed):
            self.check(pid in self.started, f"Crashed for #{pid}, never started")
            self.check(pid not in self.terminated, f"Crashed for #{pid} after Terminated")
            self.crashed.add(pid)
        elif isinstance(event, Terminated):
            if pid == self.bus_id:
                return
            self.check(pid in self.started, f"Terminated for #{pid}, never started")
            self.check(pid not in self.terminated, f"two Terminated events for #{pid}")
            reason = event.reason
            is_exc = isinstance(reason, BaseException)
            self.check(
                is_exc == (pid in self.crashed),
                f"#{pid}: Crashed sent {pid in self.crashed}, but exit reason {reason!r}",
            )
            self.terminated[pid] = (
                "crash" if is_exc else "killed" if reason == "killed" else "clean"
            )
            self.died_at[pid] = trio.current_time()
            self.subscribed.discard(pid)  # its subscriptions went with its names
            self.received.pop(pid, None)
            self.raise_in_terminate.discard(pid)
        else:
            assert isinstance(event, Restarted)
            self.check(pid in self.started, f"Restarted for #{pid}, never started")
            key = self.child_of.get(pid)
            self.check(key is not None, f"Restarted for #{pid}, not a child start")
            if key is not None:
                self.restarted[key] += 1
            self.report.restarts += 1

    def child_start(self, key: str, start: Callable[[], Any]) -> Callable[[], Any]:
        """Wrap a child's start function to count the attempts and successes of `key`."""

        async def counted() -> ProcessRef:
            sup = GenServer.self()  # a child's start runs inside its supervisor's process
            where = (sup.id, key)
            self.attempts[where] += 1
            ref: ProcessRef = await start()
            self.successes[where] += 1
            self.child_of[ref.id] = where
            return ref

        return counted


class ChaosWorker(GenServer[int, Any, Any, Any]):
    """A counter that subscribes to ``chaos.*`` and can be told to misbehave.

    Calls: ``"incr"``, ``"get"``, ``("sleep", seconds)``, ``"raise"`` (crash),
    ``"malformed"`` (returns a non-tuple: a crash too), ``"stop"``.
    Casts: an int to add, ``"raise"``.
    """

    def __init__(self) -> None:
        self.pid = -1

    async def init(self, key: str, ledger: Ledger, bus: EventBusRef) -> int:
        self.ledger = ledger
        if ledger.fail_init.get(key, 0) > 0:
            ledger.fail_init[key] -= 1
            ledger.report.faults["init_crash"] += 1
            raise ChaosFault(f"init of {key}")
        me = GenServer.self()
        self.pid = me.id
        ledger.behaviours.append(weakref.ref(self))
        await EventBus.subscribe(bus, "chaos.*", self.on_event)
        # (no checkpoint from here to the end of init: this process will run)
        ledger.subscribed.add(me.id)
        ledger.workers.add(me.id)
        return 0

    def on_event(self, data: int, topic: str) -> None:
        last = self.ledger.received.get(self.pid, -1)
        self.ledger.check(
            data > last, f"#{self.pid} got publish {data} after {last} (out of order)"
        )
        self.ledger.received[self.pid] = data

    async def handle_call(self, msg: Any, state: int) -> Any:
        if msg == "incr":
            return state + 1, state + 1
        if msg == "get":
            return state, state
        if msg == "raise":
            raise ChaosFault("handle_call")
        if msg == "malformed":
            return "not a tuple"
        if msg == "stop":
            return Stop("normal", state, reply="bye")
        assert msg[0] == "sleep"
        await trio.sleep(msg[1])
        return state, state

    def handle_cast(self, msg: Any, state: int) -> int:
        if msg == "raise":
            raise ChaosFault("handle_cast")
        return state + int(msg)

    async def terminate(self, reason: Any, state: int) -> None:
        self.ledger.terminate_calls[self.pid] += 1
        await trio.lowlevel.checkpoint()
        if self.pid in self.ledger.raise_in_terminate:
            raise ChaosFault("terminate")


# ---------------------------------------------------------------- the tree

STATIC: Final = {
    "sub_a": ("one_for_one", ["a0", "a1", "a2"]),
    "sub_b": ("one_for_all", ["b0", "b1", "b2"]),
    "sub_c": ("rest_for_one", ["c0", "c1", "c2"]),
}
NAMED: Final = ("a1", "b0", "c1")


def worker_spec(ledger: Ledger, bus: EventBusRef, key: str, rng: random.Random) -> ChildSpec:
    name = key if key in NAMED else None
    shutdown: Shutdown = "brutal_kill" if rng.random() < 1 / 3 else 1.0

    async def start() -> Ref:
        return await GenServer.start(ChaosWorker, key, ledger, bus, name=name)

    return ChildSpec(key, ledger.child_start(key, start), shutdown=shutdown)


def tree_specs(ledger: Ledger, bus: EventBusRef, rng: random.Random) -> list[ChildSpec]:
    specs: list[ChildSpec] = [
        Supervisor.child_spec(
            [worker_spec(ledger, bus, key, rng) for key in keys],
            id=sub,
            strategy=strategy,  # type: ignore[arg-type]
            max_restarts=5,
            max_seconds=1.0,
        )
        for sub, (strategy, keys) in STATIC.items()
    ]

    async def start_dynamic(key: str) -> Ref:
        async def start() -> Ref:
            return await GenServer.start(ChaosWorker, key, ledger, bus)

        return await ledger.child_start(key, start)()  # type: ignore[no-any-return]

    template = ChildSpec("dynamic", start_dynamic, restart="transient", shutdown=1.0)
    specs.append(
        Supervisor.child_spec(
            id="dyn",
            strategy="simple_one_for_one",
            child_template=template,
            max_restarts=5,
            max_seconds=1.0,
        )
    )
    for spec in specs:
        spec_start = spec.start
        specs[specs.index(spec)] = attrs.evolve(spec, start=ledger.child_start(spec.id, spec_start))
    return specs


def walk(sup: SupervisorRef) -> Iterator[tuple[SupervisorRef, str, ProcessRef, int]]:
    """(supervisor, child id, child ref, restart count) for every child of the tree."""
    try:
        children = Supervisor.get_children(sup)
    except ServerNotRunningError:
        return
    for info in children:
        if info.ref is None:  # not running (no child of the chaos tree returns Ignore)
            continue
        yield sup, info.id, info.ref, info.restart_count
        if isinstance(info.ref, SupervisorRef):
            yield from walk(info.ref)


# ---------------------------------------------------------------- the run


class _LogCounter(logging.Handler):
    """Counts the records of the ``noex_trio`` logger and keeps none (no exception kept alive)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)  # the crash report is built as it would be
        self.count += 1


class Chaos:
    """One run of the scenario inside a runtime."""

    def __init__(self, config: ChaosConfig, report: ChaosReport) -> None:
        self.config = config
        self.report = report
        self.ledger = Ledger(report)
        self.rng = random.Random(config.seed)
        self.root: SupervisorRef | None = None
        self.bus: EventBusRef | None = None
        self.load_on = True
        self.dynamic_keys = 0

    # -- helpers --

    def children(self) -> list[tuple[SupervisorRef, str, ProcessRef, int]]:
        assert self.root is not None
        return list(walk(self.root))

    def pick_worker(self, rng: random.Random) -> Ref | str | None:
        if rng.random() < 0.2:
            return rng.choice([*NAMED, "nobody"])  # by name (maybe unknown)
        workers = [ref for _, _, ref, _ in self.children() if isinstance(ref, GenServerRef)]
        return rng.choice(workers) if workers else None

    def pick_supervisor(self, rng: random.Random) -> tuple[SupervisorRef, str] | None:
        subs = [
            (sup, cid) for sup, cid, ref, _ in self.children() if isinstance(ref, SupervisorRef)
        ]
        return rng.choice(subs) if subs else None

    def outcome(self, what: str, error: BaseException | None, allowed: tuple[type, ...]) -> None:
        if error is None:
            self.report.outcomes["ok"] += 1
        elif isinstance(error, allowed):
            self.report.outcomes[type(error).__name__] += 1
        else:
            self.ledger.violation(f"{what} raised an undocumented {error!r}")

    async def guarded_call(
        self,
        rng: random.Random,
        target: Ref | str,
        msg: Any,
        timeout: float,  # noqa: ASYNC109 - the timeout given to GenServer.call
        what: str,
    ) -> Any:
        """Call and classify the outcome; a call that outlives its timeout is a violation."""
        self.report.operations[what] += 1
        result: Any = None
        error: BaseException | None = None
        grace = timeout + 1.0
        sent_at = trio.current_time()
        with trio.move_on_after(grace) as hang:
            try:
                result = await GenServer.call(target, msg, timeout=timeout)
            except (CallTimeoutError, ServerNotRunningError, ChaosFault, TypeError) as exc:
                error = exc
            except Exception as exc:  # anything else is undocumented
                error = exc
        if hang.cancelled_caught:
            self.ledger.violation(f"{what} to {target!r} hung past its {timeout} s timeout")
            return None
        if isinstance(error, CallTimeoutError) and isinstance(target, GenServerRef):
            # a process that exits answers its callers then and there: a timeout means it
            # was alive (and busy) until the deadline
            died_at = self.ledger.died_at.get(target.id, math.inf)
            self.ledger.check(
                died_at >= sent_at + timeout,
                f"{what} to {target!r} timed out, but the process exited before the deadline",
            )
        if isinstance(error, TypeError) and not MALFORMED.match(str(error)):
            self.ledger.violation(f"{what} raised {error!r}")
        self.outcome(what, error, (CallTimeoutError, ServerNotRunningError, ChaosFault, TypeError))
        del error
        return result

    # -- clients --

    async def client(self, index: int) -> None:
        rng = random.Random(self.config.seed * 1000 + index)
        last: dict[int, int] = {}  # this client's last reply from each process
        timeout = self.config.call_timeout
        while self.load_on:
            await trio.sleep(rng.expovariate(1 / self.config.op_interval))
            roll = rng.random()
            if roll < 0.06:
                await self.dynamic_op(rng)
                continue
            if roll < 0.16:
                self.publish(rng)
                continue
            if roll < 0.19:
                await self.publish_sync()
                continue
            target = self.pick_worker(rng)
            if target is None:
                continue
            if roll < 0.35:
                self.cast(target, rng.randint(1, 5))
            elif roll < 0.40:
                # a caller cancelled while its call is queued or being handled
                self.report.operations["call_cancelled"] += 1
                with trio.move_on_after(rng.uniform(0, 0.05)):
                    await self.guarded_call(rng, target, ("sleep", 0.02), timeout, "call_sleep")
            elif roll < 0.44:
                # a handler slower than the call's timeout
                await self.guarded_call(rng, target, ("sleep", timeout * 2), timeout, "call_slow")
            else:
                reply = await self.guarded_call(rng, target, "incr", timeout, "call_incr")
                if isinstance(target, GenServerRef) and reply is not None:
                    before = last.get(target.id, 0)
                    self.ledger.check(
                        reply > before,
                        f"{target!r} replied {reply} to incr after {before} (state went back)",
                    )
                    last[target.id] = reply

    def cast(self, target: Ref | str, msg: Any) -> None:
        self.report.operations["cast"] += 1
        try:
            GenServer.cast(target, msg)
        except Exception as exc:
            self.outcome("cast", exc, (ServerNotRunningError,))
        else:
            self.outcome("cast", None, ())

    def publish(self, rng: random.Random) -> None:
        assert self.bus is not None
        self.report.operations["publish"] += 1
        self.ledger.publish_seq += 1
        EventBus.publish(self.bus, f"chaos.{rng.choice('xyz')}", self.ledger.publish_seq)

    async def publish_sync(self) -> None:
        assert self.bus is not None
        self.report.operations["publish_sync"] += 1
        self.ledger.publish_seq += 1
        with trio.move_on_after(5.0) as hang:
            await EventBus.publish_sync(self.bus, "chaos.sync", self.ledger.publish_seq)
        self.ledger.check(not hang.cancelled_caught, "publish_sync hung")

    async def dynamic_op(self, rng: random.Random) -> None:
        assert self.root is not None
        try:
            dyn = child_ref(self.root, "dyn")
            assert isinstance(dyn, SupervisorRef)
            ids = [info.id for info in Supervisor.get_children(dyn)]
        except ServerNotRunningError as exc:  # the root restarting dyn, or the dyn itself
            self.outcome("supervisor_query", exc, (ServerNotRunningError,))
            return
        error: BaseException | None = None
        try:
            if len(ids) < 6 and rng.random() < 0.6:
                self.report.operations["start_child"] += 1
                self.dynamic_keys += 1
                await Supervisor.start_child(dyn, f"d{self.dynamic_keys}")
            elif ids:
                self.report.operations["terminate_child"] += 1
                await Supervisor.terminate_child(dyn, rng.choice(ids))
        except Exception as exc:
            error = exc
        # the child may be gone already (crashed, temporary), or fail its init on purpose
        self.outcome(
            "dynamic", error, (ServerNotRunningError, ChildNotFoundError, InitializationError)
        )

    # -- faults --

    async def injector(self, nursery: trio.Nursery) -> None:
        rng = random.Random(self.config.seed * 7919)
        while self.load_on:
            await trio.sleep(rng.expovariate(1 / self.config.fault_interval))
            self.inject(rng, nursery)

    def inject(self, rng: random.Random, nursery: trio.Nursery) -> None:
        faults = self.report.faults
        kind = rng.choices(
            [
                "handler_crash",
                "malformed_result",
                "cast_crash",
                "init_crash_on_restart",
                "terminate_crash",
                "stop",
                "brutal_kill",
                "kill_with_error",
                "subtree_crash",
                "subtree_kill",
                "restart_child",
            ],
            weights=[14, 6, 10, 8, 8, 10, 8, 6, 3, 2, 5],
        )[0]
        if kind in ("subtree_crash", "subtree_kill", "restart_child"):
            picked = self.pick_supervisor(rng)
            if picked is None:
                return
            parent, child_id = picked
            sup = child_ref(parent, child_id)
            if kind == "subtree_crash":
                crash(sup, ChaosFault(f"subtree {child_id}"))
            elif kind == "subtree_kill":
                kill(sup)
            else:
                keys = [cid for _, cid, _, _ in walk(sup)] if isinstance(sup, SupervisorRef) else []
                if not keys:
                    return
                nursery.start_soon(self.restart_child, sup, rng.choice(keys))
            faults[kind] += 1
            return
        target = self.pick_worker(rng)
        if not isinstance(target, GenServerRef) or not target.is_running():
            return
        faults[kind] += 1
        if kind == "handler_crash":
            nursery.start_soon(self.guarded_call, rng, target, "raise", 1.0, "call_crash")
        elif kind == "malformed_result":
            nursery.start_soon(self.guarded_call, rng, target, "malformed", 1.0, "call_malformed")
        elif kind == "cast_crash":
            self.cast(target, "raise")
        elif kind == "init_crash_on_restart":
            key = self.ledger.child_of.get(target.id, (0, ""))[1]
            self.ledger.fail_init[key] = rng.randint(1, 3)
            crash(target, ChaosFault("before a failing restart"))
        elif kind == "terminate_crash":
            self.ledger.raise_in_terminate.add(target.id)
            crash(target, ChaosFault("before a failing terminate"))
        elif kind == "stop":
            nursery.start_soon(self.stop, target, rng.choice(["normal", "shutdown"]))
        elif kind == "brutal_kill":
            kill(target)
        else:
            kill(target, ChaosFault("killed with an error"))

    async def stop(self, target: Ref, reason: str) -> None:
        self.report.operations["stop"] += 1
        await GenServer.stop(target, "normal" if reason == "normal" else "shutdown")

    async def restart_child(self, sup: ProcessRef, child_id: str) -> None:
        self.report.operations["restart_child"] += 1
        try:
            assert isinstance(sup, SupervisorRef)
            await Supervisor.restart_child(sup, child_id)
        except Exception as exc:
            self.outcome(
                "restart_child",
                exc,
                (ServerNotRunningError, ChildNotFoundError, InitializationError),
            )
        else:
            self.outcome("restart_child", None, ())

    # -- invariants --

    async def checker(self) -> None:
        while self.load_on:
            await trio.sleep(self.config.check_interval)
            await self.check_now()

    async def check_now(self) -> None:
        """Invariants that hold at every moment."""
        ledger = self.ledger
        rt = current_runtime()
        assert self.bus is not None
        count = await EventBus.subscription_count(self.bus)
        # (nothing below awaits: the checks see one consistent moment)
        live_workers = set(ledger.subscribed)
        ledger.check(
            count == len(live_workers),
            f"{count} bus subscriptions, but {len(live_workers)} live workers",
        )
        for name in rt.registry.names():
            ref = rt.registry.whereis(name)
            ledger.check(
                ref is not None and ref.exit_reason is None,
                f"name {name!r} points to {ref!r}, which has exited",
            )
        live = set(rt.processes())
        seen: set[ProcessRef] = set()
        for sup, child_id, ref, restart_count in self.children():
            ledger.check(ref not in seen, f"{ref!r} is the child of two supervisors")
            seen.add(ref)
            where = ledger.child_of.get(ref.id)
            if where is None or where[0] != sup.id:
                ledger.violation(f"{child_id} of {sup!r}: {ref!r} was not started by it")
                continue
            if Supervisor_strategy(sup) != "simple_one_for_one":
                ledger.check(where[1] == child_id, f"{child_id} of {sup!r} runs {where}")
            attempts = ledger.attempts[where]
            successes = ledger.successes[where]
            if sup.is_running():
                # a restart shows the exited ref until the new one is up; never an unknown one
                ledger.check(
                    ref in live or ref.exit_reason is not None,
                    f"{child_id} of {sup!r}: {ref!r} neither alive nor exited",
                )
                ledger.check(
                    ledger.restarted[where] == successes - 1,
                    (
                        f"{child_id} of {sup!r}: {ledger.restarted[where]} Restarted "
                        f"events for {successes} successful starts"
                    ),
                )
                if Supervisor_strategy(sup) in ("one_for_one", "simple_one_for_one"):
                    ledger.check(
                        restart_count == attempts - 1,
                        (
                            f"{child_id} of {sup!r}: restart_count {restart_count} after "
                            f"{attempts} start attempts"
                        ),
                    )
                else:
                    # one_for_all / rest_for_one count the crashed child's restart before
                    # stopping its siblings, so one attempt may still be on its way; siblings
                    # restarted with it do not count
                    ledger.check(
                        restart_count <= attempts,
                        (
                            f"{child_id} of {sup!r}: restart_count {restart_count} after "
                            f"only {attempts} start attempts"
                        ),
                    )

    async def check_healed(self) -> None:
        """Once the load and the faults stopped and the restarts are done: the tree is whole."""
        assert self.root is not None
        self.ledger.check(self.root.is_running(), "the root supervisor is not running")
        subs = {cid: ref for _, cid, ref, _ in walk(self.root) if cid in (*STATIC, "dyn")}
        self.ledger.check(
            sorted(subs) == sorted([*STATIC, "dyn"]), f"subtrees after the storm: {sorted(subs)}"
        )
        for sub, (_, keys) in STATIC.items():
            ref = subs.get(sub)
            if not isinstance(ref, SupervisorRef):
                continue
            children = Supervisor.get_children(ref)
            self.ledger.check(
                [info.id for info in children] == keys or len(children) < len(keys),
                f"{sub} children out of order: {[info.id for info in children]}",
            )
            for info in children:
                self.ledger.check(
                    info.ref is not None and info.ref.is_running(),
                    f"{sub}/{info.id} did not come back",
                )
        for name in NAMED:
            ref = Registry.whereis(name)
            self.ledger.check(
                ref is None or ref.is_running(), f"name {name!r} held by a dead process"
            )
        await self.check_now()

    def check_closed(self) -> None:
        """After the runtime closed: every process ended once, terminate ran once if not
        killed (at most once if killed: a kill may cut it short), nothing is left alive."""
        ledger = self.ledger
        for pid in ledger.started:
            ledger.check(pid in ledger.terminated, f"#{pid} started but never terminated")
        for pid in ledger.workers:
            expected = (0, 1) if ledger.terminated.get(pid) == "killed" else (1,)
            ledger.check(
                ledger.terminate_calls[pid] in expected,
                (
                    f"worker #{pid} ran terminate {ledger.terminate_calls[pid]} times "
                    f"(exit: {ledger.terminated.get(pid)})"
                ),
            )
        ledger.check(not ledger.subscribed, f"subscriptions left: {ledger.subscribed}")

    def check_collected(self) -> None:
        """Nothing the run started is kept alive by the library."""
        for _ in range(3):
            gc.collect()
        alive = [ref() for ref in self.ledger.started.values() if ref() is not None]
        behaviours = [b() for b in self.ledger.behaviours if b() is not None]
        self.ledger.check(not alive, f"processes leaked: {alive[:5]!r}")
        self.ledger.check(not behaviours, f"behaviours leaked: {behaviours[:5]!r}")

    # -- the whole run --

    async def run(self) -> None:
        config = self.config
        ledger = self.ledger
        logger = logging.getLogger("noex_trio")
        counter = _LogCounter()
        propagate = logger.propagate
        logger.addHandler(counter)
        logger.propagate = False  # crash reports are counted, not printed nor kept
        tasks_before = _all_tasks()
        try:
            async with open_runtime(name=f"chaos-{config.seed}") as rt:
                self.bus = rt.event_bus
                ledger.bus_id = rt.event_bus.id
                rt.on_lifecycle_event(ledger.on_event)
                self.root = await Supervisor.start(
                    tree_specs(ledger, rt.event_bus, self.rng),
                    max_restarts=1_000_000,
                    max_seconds=1.0,
                )
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self.checker)
                    nursery.start_soon(self.injector, nursery)
                    for index in range(config.clients):
                        nursery.start_soon(self.client, index)
                    await trio.sleep(config.duration)
                    self.load_on = False
                ledger.fail_init.clear()
                await _settle()
                await self.check_healed()
                root = self.root
                self.root = None
                self.bus = None
                del root
            self.check_closed()
            leftover = _all_tasks() - tasks_before
            ledger.check(not leftover, f"tasks left after the runtime closed: {leftover}")
            ledger.check(
                rt.statistics().processes == 0 and rt.registry.names() == [],
                "processes or names left after the runtime closed",
            )
            del rt
        finally:
            logger.removeHandler(counter)
            logger.propagate = propagate
        self.report.crash_reports += counter.count
        self.check_collected()
        self.report.runs += 1


def Supervisor_strategy(sup: SupervisorRef) -> str:
    """The strategy of a supervisor."""
    return sup.statistics().strategy


def _all_tasks() -> set[trio.lowlevel.Task]:
    """Every task of the run, found by walking the task tree from the root task."""
    tasks: set[trio.lowlevel.Task] = set()
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        if task is None:
            continue
        tasks.add(task)
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return tasks


async def _settle() -> None:
    """Let every pending restart and exit finish (virtual or real clock)."""
    for _ in range(3):
        await trio.testing.wait_all_tasks_blocked()


async def run_chaos(config: ChaosConfig) -> ChaosReport:
    """Run the scenario once (inside ``trio.run``); return its figures."""
    report = ChaosReport()
    await Chaos(config, report).run()
    return report


__all__ = ["ChaosConfig", "ChaosReport", "run_chaos"]
