"""The demo's order system over several OS processes, with a node killed under load.

    python -m examples.demo --cluster [--duration 20] [--rate 25] [--nodes 3]
                                      [--kill-at 8] [--seed N] [--log FILE]

This process is node ``gateway``: it starts a ``nats-server`` and ``--nodes`` worker node
processes (``w-1`` ...; ``python -m noex_trio.cluster node examples.demo_cluster:worker``).
Its supervisor (``app``) runs the ``db`` locally and the user, inventory and order services
as remote children (``RemoteChild``), spread over the workers round robin. The API gateway
(one task per request, as in the plain demo) calls the services' local stand-ins, through a
circuit breaker per service. A load generator places orders at ``--rate`` for ``--duration``
seconds; at ``--kill-at`` seconds the demo SIGKILLs the worker running the order service. The
gateway detects the node's death (0.8 s), the supervisor restarts the children that ran there
on the surviving workers, and the orders flow again. The tree is printed before the kill and
after the failover, and a line per second shows throughput and errors.

What survives a node's death lives in the ``db`` process on the gateway (it stands in for a
database, as `Store` does in the plain demo): stock, reservations, recorded orders. The
services on the workers are stateless: the inventory reserves stock in the db, the order
service reserves it through the inventory (by its name on the gateway, wherever it runs) and
then records the order in the db.

What the demo promises, and checks at the end (exit status 1 if anything does not add up):

- every order placed got exactly one outcome: confirmed, rejected (unknown user, out of
  stock) or failed with a named error (``noconnection`` when the order service's node died
  under the call, ``restarting``/``service down`` while it was restarted, ``circuit open``,
  ``timeout``);
- the db holds exactly the confirmed orders, none recorded twice;
- the stock adds up, item by item: initial = left in the db + reserved by recorded orders,
  and no reservation is left without a recorded order.

An order whose outcome the gateway does not know (the order service's node died after the db
recorded it, before the reply came back; or the call timed out) is *settled* with the db:
whenever the order step fails, the gateway asks the db (``Settle``), which is the single
authority. If the db recorded the order, it counts as confirmed (the summary shows how many
were settled so); if not, the db marks it abandoned, gives its reservation back, and refuses a
late ``Reserve`` or ``Record`` for it (still on its way from a surviving node), so the order is
failed for good. No reconciliation job is needed afterwards: the counts must match exactly.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio

from examples import demo
from examples.demo import (
    CALL_TIMEOUT,
    GATEWAY_TIMEOUT,
    SKUS,
    USERS,
    CheckStock,
    Confirmed,
    Failed,
    GetUser,
    Ledger,
    Order,
    OrderReply,
    Outcome,
    Ping,
    Rejected,
    Reserve,
    Store,
)
from noex_trio import (
    CallTimeoutError,
    ChildSpec,
    CircuitBreaker,
    GenServer,
    MaxRestartsExceededError,
    NoexError,
    NotRegisteredError,
    Placement,
    Registry,
    RemoteChild,
    RemoteName,
    ServerNotRunningError,
    Supervisor,
    SupervisorRef,
    open_runtime,
)
from noex_trio.cluster import ClusterConfig, Codec, NoConnectionError
from noex_trio.nats.testing import open_nats_server

GATEWAY = "gateway"
CLUSTER = "demo"
DB = RemoteName("db", GATEWAY)  # from the workers: the db, on the gateway
INVENTORY = RemoteName("inventory-service", GATEWAY)  # the inventory's stand-in there
SERVICES = ("user-service", "inventory-service", "order-service")
STOP_GRACE = 5.0  # seconds a worker has to stop after SIGINT, then it is killed
JOIN_TIMEOUT = 30.0  # seconds the workers have to start and join
ROOT = str(Path(__file__).resolve().parent.parent)  # on the workers' path: `examples` imports


# --------------------------------------------------------------------------- options


@attrs.frozen(kw_only=True)
class Options:
    duration: float = 20.0
    rate: float = 25.0
    nodes: int = 3
    kill_at: float = 8.0
    seed: int | None = None
    log: str | None = None


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo --cluster", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cluster", action="store_true", help="(this mode)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (20)")
    parser.add_argument("--rate", type=float, default=25.0, help="orders per second (25)")
    parser.add_argument("--nodes", type=int, default=3, help="worker node processes (3)")
    parser.add_argument(
        "--kill-at",
        type=float,
        default=8.0,
        help="seconds into the load when the order service's node is killed (8)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--log", default=None, help="write crash reports to this file (default: not shown)"
    )
    args = parser.parse_args(argv)
    for name in ("duration", "rate"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name} must be > 0")
    if args.nodes < 2:
        parser.error("--nodes must be at least 2 (one dies, another takes over)")
    if not args.kill_at >= 0:
        parser.error("--kill-at must be >= 0")
    return Options(
        duration=args.duration,
        rate=args.rate,
        nodes=args.nodes,
        kill_at=args.kill_at,
        seed=args.seed,
        log=args.log,
    )


# --------------------------------------------------------------------------- the db


@attrs.frozen
class Record:
    order: Order


@attrs.frozen
class Settle:
    """The gateway gave up on an order: True if the db recorded it, else it is abandoned."""

    order_id: int


@attrs.define
class Db:
    """What the db process holds; it outlives the processes on the workers."""

    store: Store = attrs.Factory(Store)
    abandoned: set[int] = attrs.Factory(set)
    recorded_twice: int = 0
    settled_confirmed: int = 0


DbCall = CheckStock | Reserve | Record | Settle | Ping


class DbServer(GenServer[None, DbCall, None, int | bool]):
    """The database, on the gateway: each call is one transaction (a process handles one
    message at a time)."""

    def init(self, db: Db) -> None:
        self.db = db

    def handle_call(self, msg: DbCall, state: None) -> tuple[int | bool, None]:
        db, store = self.db, self.db.store
        match msg:
            case CheckStock(sku):
                return store.stock[sku], state
            case Reserve(order_id, sku, qty):
                if order_id in db.abandoned or store.stock[sku] < qty:
                    return False, state
                store.stock[sku] -= qty
                store.reservations[order_id] = (sku, qty)
                return True, state
            case Record(order):
                if order.id in store.orders:
                    db.recorded_twice += 1
                    return True, state
                if order.id in db.abandoned or order.id not in store.reservations:
                    return False, state  # the gateway gave up on it: it is not recorded
                store.orders[order.id] = order
                return True, state
            case Settle(order_id):
                if order_id in store.orders:
                    db.settled_confirmed += 1
                    return True, state
                db.abandoned.add(order_id)
                demo.release(store, order_id)
                return False, state
        return True, state  # Ping


# --------------------------------------------------------------------------- the workers


class InventoryService(GenServer[None, CheckStock | Reserve | Ping, None, int | bool]):
    """Stateless: stock and reservations are in the db."""

    def init(self) -> None:
        return None

    async def handle_call(
        self, msg: CheckStock | Reserve | Ping, state: None
    ) -> tuple[int | bool, None]:
        if isinstance(msg, Ping):
            return True, state
        return await GenServer.call(DB, msg, timeout=CALL_TIMEOUT), state


class OrderService(GenServer[None, Order | Ping, None, OrderReply]):
    """Reserves the stock through the inventory, wherever it runs, then records the order in
    the db. Answers `Confirmed`, `Rejected` or `Failed` (the gateway settles those)."""

    def init(self) -> None:
        return None

    async def handle_call(self, msg: Order | Ping, state: None) -> tuple[OrderReply, None]:
        if isinstance(msg, Ping):
            return True, state
        try:
            reserved = await GenServer.call(
                INVENTORY, Reserve(msg.id, msg.sku, msg.qty), timeout=CALL_TIMEOUT
            )
            if not reserved:
                return Rejected(f"{msg.sku} is out of stock"), state
            recorded = await GenServer.call(DB, Record(msg), timeout=CALL_TIMEOUT)
        except Exception as error:  # the caller learns what happened, and settles
            return Failed(kind_of(error), str(error)), state
        if not recorded:
            return Failed("abandoned", "the gateway gave up on this order"), state
        return Confirmed(msg), state


MESSAGES = (Order, GetUser, Ping, CheckStock, Reserve, Record, Confirmed, Rejected, Failed)
BEHAVIOURS = {"users": demo.UserService, "inventory": InventoryService, "orders": OrderService}


def make_codec() -> Codec:
    """The default (safe) codec, with the demo's messages: the same on every node."""
    codec = Codec()
    for cls in MESSAGES:
        codec.register(cls)
    return codec


async def worker(config: ClusterConfig, log: str = "") -> None:
    """A worker node process: offers the services; started by the gateway with
    ``python -m noex_trio.cluster node examples.demo_cluster:worker [LOG]``."""
    demo._log_to(log or None)
    config = attrs.evolve(config, codec=make_codec(), behaviours=BEHAVIOURS)
    async with open_runtime(name=config.name, cluster=config):
        await trio.sleep_forever()  # until SIGINT (then the runtime stops in order)


class Workers:
    """The worker node processes: started, killed, stopped."""

    def __init__(self, options: Options, url: str, out: TextIO) -> None:
        self.names = [f"w-{i}" for i in range(1, options.nodes + 1)]
        self.processes: dict[str, trio.Process] = {}
        self.url, self.log, self.out = url, options.log, out

    async def start(self) -> None:
        path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
        for name in self.names:
            command = [
                sys.executable,
                *("-m", "noex_trio.cluster", "node", "examples.demo_cluster:worker"),
                self.log or "",
                *("--name", name, "--cluster", CLUSTER, "--servers", self.url),
            ]
            # Its own process group: a Ctrl-C in the terminal reaches the gateway only.
            self.processes[name] = await trio.lowlevel.open_process(
                command, env={**os.environ, "PYTHONPATH": path}, process_group=0
            )

    def kill(self, name: str) -> int:
        process = self.processes[name]
        process.kill()  # SIGKILL: the node says nothing, the others detect it
        return process.pid

    async def stop(self) -> dict[str, int | None]:
        """SIGINT to each (its runtime stops in order), SIGKILL after `STOP_GRACE`."""
        for process in self.processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
        with trio.move_on_after(STOP_GRACE):
            for process in self.processes.values():
                await process.wait()
        for process in self.processes.values():
            if process.returncode is None:
                process.kill()
                await process.wait()
        return {name: p.returncode for name, p in self.processes.items()}


# --------------------------------------------------------------------------- the gateway


def kind_of(error: BaseException) -> str:
    """As the plain demo's, and ``noconnection`` when a node died under the call."""
    if isinstance(error, NoConnectionError) or (
        isinstance(error, ServerNotRunningError)
        and isinstance(error.reason, str)
        and error.reason == "noconnection"
    ):
        return "noconnection"
    return demo.kind_of(error)


class ClusterGateway:
    """The edge, as the plain demo's `ApiGateway`; the services are the local stand-ins of
    remote children (calls go through to the node they run on)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.breakers = {
            name: CircuitBreaker(
                name,
                failure_threshold=3,
                reset_timeout=1.0,
                failure_types=(CallTimeoutError, ServerNotRunningError, NotRegisteredError),
            )
            for name in SERVICES
        }

    async def place_order(self, order: Order) -> None:
        self.ledger.attempted += 1
        outcome: Outcome
        try:
            outcome = await self._place(order)
        except* Exception as group:
            outcome = Outcome("failed", kind_of(demo.first_error(group)))
        self.ledger.record(order.id, outcome)

    async def _place(self, order: Order) -> Outcome:
        known, stock = False, 0

        async def get_user() -> None:
            nonlocal known
            known = await self.breakers["user-service"].call(
                _call, "user-service", GetUser(order.user_id), CALL_TIMEOUT
            )

        async def check_stock() -> None:
            nonlocal stock
            stock = await self.breakers["inventory-service"].call(
                _call, "inventory-service", CheckStock(order.sku), CALL_TIMEOUT
            )

        async with trio.open_nursery() as nursery:  # aggregation; the first failure wins
            nursery.start_soon(get_user)
            nursery.start_soon(check_stock)
        if not known:
            return Outcome("rejected", "unknown user")
        if stock < order.qty:
            return Outcome("rejected", "out of stock")
        try:
            reply = await self.breakers["order-service"].call(
                _call, "order-service", order, GATEWAY_TIMEOUT
            )
        except Exception as error:
            reply = Failed(kind_of(error), str(error))
        match reply:
            case Confirmed():
                return Outcome("confirmed", "")
            case Rejected():
                return Outcome("rejected", "out of stock")
            case Failed(kind=kind):
                # The outcome is unknown here (the order may be recorded): the db decides.
                recorded = await GenServer.call("db", Settle(order.id), timeout=CALL_TIMEOUT)
                return Outcome("confirmed", "") if recorded else Outcome("failed", kind)
        return Outcome("failed", f"unexpected reply {reply!r}")


async def _call(name: str, msg: Any, seconds: float) -> Any:
    return await GenServer.call(name, msg, timeout=seconds)


def named(spec: ChildSpec[Any], name: str) -> ChildSpec[Any]:
    """`spec`, its process (the stand-in) registered under `name` on this node."""
    start = spec.start

    async def start_named() -> Any:
        ref = await start()
        Registry.register(name, ref)  # (unregistered when it exits)
        return ref

    return attrs.evolve(spec, start=start_named)


async def start_tree(db: Db, workers: list[str]) -> SupervisorRef:
    placement = Placement(workers, "round_robin")  # one placement: the services spread out

    def remote(behaviour: str, *args: Any, id: str) -> ChildSpec[Any]:
        return named(RemoteChild.child_spec(behaviour, *args, id=id, placement=placement), id)

    children = [
        DbServer.child_spec(db, id="db", name="db"),
        remote("users", USERS, id="user-service"),
        remote("inventory", id="inventory-service"),
        remote("orders", id="order-service"),
    ]
    return await Supervisor.start(children, name="app", max_restarts=20, max_seconds=10.0)


@attrs.frozen
class Placed:
    id: str
    node: str
    restarts: int


async def where(app: SupervisorRef) -> list[Placed]:
    """Each child of the tree, the node it runs on and its restart count."""
    placed = []
    for child in Supervisor.get_children(app):
        node = GATEWAY
        if child.id != "db" and child.ref is not None:
            try:
                _, node = await RemoteChild.which(child.ref)
            except NoexError:
                node = "(restarting)"
        placed.append(Placed(child.id, node, child.restart_count))
    return placed


def tree_lines(title: str, placed: list[Placed]) -> list[str]:
    lines = [title, "  app  (supervisor on gateway, one_for_one)"]
    for i, child in enumerate(placed):
        branch = "└─" if i == len(placed) - 1 else "├─"
        lines.append(f"  {branch} {child.id:<18} on {child.node:<8}  restarts {child.restarts}")
    return lines


# --------------------------------------------------------------------------- the run


@attrs.define
class Failover:
    killed: str = ""
    pid: int = 0
    services: list[str] = attrs.Factory(list)  # what ran on the killed node
    killed_at: float = 0.0  # seconds into the load
    moved: dict[str, tuple[str, float]] = attrs.Factory(dict)  # service -> (node, seconds)
    done: trio.Event = attrs.Factory(trio.Event)  # every service of the killed node moved


async def wait_members(rt: Any, names: list[str], workers: Workers) -> None:
    """Wait until every worker is up and takes process messages."""
    with trio.fail_after(JOIN_TIMEOUT):
        while not set(names) <= {member.name for member in rt.node.members()}:
            for name, process in workers.processes.items():
                if process.returncode is not None:
                    raise RuntimeError(f"worker {name} exited ({process.returncode}) at start")
            await trio.sleep(0.05)
        # A node is a member a moment before its runtime reads process messages (a start_on
        # then meets "no responders"): wait until a call there finds no such process.
        for name in names:
            while True:
                try:
                    await GenServer.call(RemoteName("no-such-process", name), Ping())
                except ServerNotRunningError as error:
                    if error.reason == "noproc":
                        break
                await trio.sleep(0.05)


async def ping_all() -> None:
    """Wait until every service answers (through its stand-in: wherever it runs now)."""
    for name in SERVICES:
        while True:
            try:
                await GenServer.call(name, Ping(), timeout=CALL_TIMEOUT)
                break
            except NoexError:  # restarting, or its node just died
                await trio.sleep(0.05)


def second_line(
    second: int, now: collections.Counter[str], before: collections.Counter[str]
) -> str:
    delta = now - before
    errors = {k[len("failed:") :]: n for k, n in delta.items() if k.startswith("failed:")}
    failed = sum(errors.values())
    text = (
        f"  {second:3d} s  {delta['placed']:3d} placed  {delta['confirmed']:3d} confirmed  "
        f"{delta['rejected']:3d} rejected  {failed:3d} failed"
    )
    return text + (f"  ({demo._counts(errors)})" if errors else "")


def tally(ledger: Ledger) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter(placed=ledger.attempted)
    for outcome in ledger.outcomes.values():
        key = f"failed:{outcome.kind}" if outcome.status == "failed" else outcome.status
        counts[key] += 1
    return counts


async def run(
    options: Options, out: TextIO, db: Db, ledger: Ledger, failover: Failover
) -> dict[str, int | None]:
    """Start the nodes, run the load with the kill, stop everything; the workers' exit codes."""

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    rng = random.Random(options.seed)
    async with open_nats_server() as server:
        say(f"nats-server on {server.url}")
        workers = Workers(options, server.url, out)
        try:
            await workers.start()
            for name, process in workers.processes.items():
                say(f"node {name} started (pid {process.pid})")
            config = ClusterConfig(
                name=GATEWAY, servers=server.url, cluster=CLUSTER, codec=make_codec()
            )
            async with open_runtime(name=GATEWAY, cluster=config) as rt:
                await wait_members(rt, workers.names, workers)
                say(f"nodes up: {GATEWAY} (this process), {', '.join(workers.names)}")
                app = await start_tree(db, workers.names)
                say("")
                for line in tree_lines("the tree before the kill:", await where(app)):
                    say(line)
                say("")
                await load(options, rng, app, workers, ClusterGateway(ledger), failover, say)
                await ping_all()  # the healed tree answers
                say("")
                for line in tree_lines("the tree at the end:", await where(app)):
                    say(line)
        finally:
            with trio.CancelScope(shield=True):
                codes = await workers.stop()
    return codes


async def load(
    options: Options,
    rng: random.Random,
    app: SupervisorRef,
    workers: Workers,
    gateway: ClusterGateway,
    failover: Failover,
    say: Any,
) -> None:
    started = trio.current_time()

    async def ticker() -> None:
        before: collections.Counter[str] = collections.Counter()
        second = 0
        while True:
            second += 1
            await trio.sleep_until(started + second)
            now = tally(gateway.ledger)
            say(second_line(second, now, before))
            before = now

    async def kill() -> None:
        await trio.sleep_until(started + options.kill_at)
        placed = {p.id: p for p in await where(app)}
        victim = placed["order-service"].node
        failover.killed, failover.pid = victim, workers.kill(victim)
        failover.killed_at = trio.current_time() - started
        failover.services = [p.id for p in placed.values() if p.node == victim]
        say(
            f"  {failover.killed_at:5.1f} s  KILL -9 node {victim} (pid {failover.pid}), "
            f"running {', '.join(failover.services)}"
        )
        old = {p.id: p.restarts for p in placed.values()}
        while len(failover.moved) < len(failover.services):
            await trio.sleep(0.02)
            for p in await where(app):
                if (
                    p.id in failover.services
                    and p.id not in failover.moved
                    and p.restarts > old[p.id]
                    and p.node not in ("(restarting)", victim)
                ):
                    after = trio.current_time() - started - failover.killed_at
                    failover.moved[p.id] = (p.node, after)
                    say(
                        f"  {trio.current_time() - started:5.1f} s  {p.id} restarted on "
                        f"{p.node} (restart {p.restarts}), {after:.2f} s after the kill"
                    )
        say("")
        for line in tree_lines("the tree after the failover:", await where(app)):
            say(line)
        say("")
        failover.done.set()

    async with trio.open_nursery() as view:
        view.start_soon(ticker)
        if options.kill_at < options.duration:
            view.start_soon(kill)
        async with trio.open_nursery() as requests:
            order_id = 0
            while trio.current_time() - started < options.duration:
                order_id += 1
                order = Order(
                    order_id, f"u{rng.randint(1, 22)}", rng.choice(list(SKUS)), rng.randint(1, 3)
                )
                requests.start_soon(gateway.place_order, order)
                await trio.sleep(rng.expovariate(options.rate))
        # every request has its outcome; the failover has finished, or waits for the kill
        if options.kill_at < options.duration:
            with trio.fail_after(JOIN_TIMEOUT):
                await failover.done.wait()
        view.cancel_scope.cancel()
    elapsed = trio.current_time() - started
    now = tally(gateway.ledger)
    say(f"  load over after {elapsed:.1f} s: {now['placed']} orders placed")


# --------------------------------------------------------------------------- reconciliation


@attrs.frozen
class ClusterSummary:
    options: Options
    attempted: int
    confirmed: int
    settled_confirmed: int
    rejected: dict[str, int]
    failed: dict[str, int]
    abandoned: int
    recorded: int
    recorded_twice: int
    stock_initial: int
    stock_left: int
    stock_ordered: int
    failover: Failover
    exits: dict[str, int | None]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def reconcile(
    options: Options, db: Db, ledger: Ledger, failover: Failover, exits: dict[str, int | None]
) -> ClusterSummary:
    """Check the promises of the module docstring; every broken one becomes a problem."""
    problems: list[str] = []
    store = db.store
    confirmed_ids = {oid for oid, o in ledger.outcomes.items() if o.status == "confirmed"}
    rejected, failed = dict(ledger.count("rejected")), dict(ledger.count("failed"))
    answered = len(confirmed_ids) + sum(rejected.values()) + sum(failed.values())
    if answered != ledger.attempted or len(ledger.outcomes) != ledger.attempted:
        problems.append(f"{ledger.attempted} orders placed but {answered} have an outcome")
    if ledger.duplicates:
        problems.append(f"{ledger.duplicates} orders got two outcomes")
    unexpected = [kind for kind in failed if kind.startswith("unexpected")]
    if unexpected:
        problems.append(f"failures without a clear cause: {unexpected}")

    recorded = set(store.orders)
    if recorded != confirmed_ids:
        missing, extra = sorted(confirmed_ids - recorded), sorted(recorded - confirmed_ids)
        problems.append(
            f"the db does not hold exactly the confirmed orders: confirmed but not recorded "
            f"{missing[:5]}, recorded but not confirmed {extra[:5]}"
        )
    if db.recorded_twice:
        problems.append(f"{db.recorded_twice} orders recorded twice")
    orphans = sorted(set(store.reservations) - recorded)
    if orphans:
        problems.append(f"reservations without a recorded order: {orphans[:5]}")
    for sku, initial in store.initial.items():
        ordered = sum(o.qty for o in store.orders.values() if o.sku == sku)
        if initial != store.stock[sku] + ordered:
            problems.append(
                f"stock of {sku} does not add up: {initial} != {store.stock[sku]} left + "
                f"{ordered} ordered"
            )
    if options.kill_at < options.duration:
        if not failover.killed:
            problems.append("no node was killed")
        elif set(failover.moved) != set(failover.services):
            problems.append(f"not restarted after the kill: {failover.services}")
    return ClusterSummary(
        options=options,
        attempted=ledger.attempted,
        confirmed=len(confirmed_ids),
        settled_confirmed=db.settled_confirmed,
        rejected=rejected,
        failed=failed,
        abandoned=len(db.abandoned),
        recorded=len(recorded),
        recorded_twice=db.recorded_twice,
        stock_initial=sum(store.initial.values()),
        stock_left=sum(store.stock.values()),
        stock_ordered=sum(o.qty for o in store.orders.values()),
        failover=failover,
        exits=exits,
        problems=problems,
    )


def _exit(code: int | None) -> str:
    if code is None:
        return "?"
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"


def report(summary: ClusterSummary) -> list[str]:
    s, f = summary, summary.failover
    if f.killed:
        moved = ", ".join(
            f"{sid} to {node} in {after:.2f} s" for sid, (node, after) in f.moved.items()
        )
        failover = f"node {f.killed} killed at {f.killed_at:.1f} s; moved: {moved or 'nothing'}"
    else:
        failover = "no node killed (--kill-at is past --duration)"
    return [
        "",
        f"Summary ({s.options.duration:g} s at {s.options.rate:g} orders/s, "
        f"{s.options.nodes} worker nodes, seed {s.options.seed})",
        f"  orders placed      {s.attempted:>6}",
        f"    confirmed        {s.confirmed:>6}   ({s.settled_confirmed} of them settled with "
        "the db after the gateway saw an error)",
        f"    rejected         {sum(s.rejected.values()):>6}   ({demo._counts(s.rejected)})",
        f"    failed           {sum(s.failed.values()):>6}   ({demo._counts(s.failed)})",
        f"  db: {s.recorded} orders recorded for {s.confirmed} confirmed, "
        f"{s.recorded_twice} recorded twice; {s.abandoned} settled as abandoned "
        "(reservation given back)",
        f"  stock: {s.stock_initial} at start = {s.stock_left} left + {s.stock_ordered} ordered",
        f"  failover: {failover}",
        "  nodes stopped: " + ", ".join(f"{n} ({_exit(c)})" for n, c in s.exits.items()),
        f"  crash reports: in {s.options.log}"
        if s.options.log
        else "  crash reports: not shown (--log FILE keeps them)",
        "",
        "nothing lost: every order has one outcome, the db holds exactly the confirmed "
        "orders, the stock adds up"
        if s.ok
        else "PROBLEMS:\n" + "\n".join(f"  - {problem}" for problem in s.problems),
    ]


async def main(argv: Sequence[str], out: TextIO | None = None) -> ClusterSummary:
    options = parse_args(argv)
    if options.seed is None:
        options = attrs.evolve(options, seed=random.randrange(10_000))
    out = sys.stdout if out is None else out
    out.write(
        f"noex_trio cluster demo: node {GATEWAY} + {options.nodes} worker nodes, "
        f"{options.duration:g} s at {options.rate:g} orders/s, kill at {options.kill_at:g} s, "
        f"seed {options.seed}\n"
    )
    db, ledger, failover = Db(), Ledger(), Failover()
    try:
        exits = await run(options, out, db, ledger, failover)
    except MaxRestartsExceededError as error:
        summary = reconcile(options, db, ledger, failover, {})
        summary = attrs.evolve(summary, problems=[f"the supervision tree gave up: {error}"])
    else:
        summary = reconcile(options, db, ledger, failover, exits)
    out.write("\n".join(report(summary)) + "\n")
    return summary


def cli(argv: Sequence[str]) -> int:
    """``python -m examples.demo --cluster ...``: the exit status."""
    demo._log_to(parse_args(argv).log)
    return 0 if trio.run(main, argv).ok else 1


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
