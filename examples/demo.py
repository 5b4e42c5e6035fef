"""The IPC guide's architecture as a running system, under load, with faults injected.

    python -m examples.demo [--duration 20] [--rate 25] [--crash-rate 0.5]
                            [--slow-rate 0.1] [--seed N] [--log FILE]
    python -m examples.demo --cluster ...   (several OS processes: examples/demo_cluster.py)

A supervision tree runs a user service, an order service and an inventory service (under its
own supervisor), plus email and analytics subscribers on the runtime's EventBus. An API gateway
(one task per request, like an HTTP handler) aggregates a user lookup and a stock check in a
nursery, then places the order through a circuit breaker. A load generator sends orders for
`--duration` seconds while a chaos monkey, at random moments, makes a service crash
(`--crash-rate`, per second) or stall past its callers' timeouts (`--slow-rate`, per second).
Supervisors restart what crashes; circuit breakers keep callers from queuing behind a stall.

The library's terminal dashboard (`noex_trio.observer.terminal_dashboard`, refreshed in place on
a terminal; a line every few seconds otherwise, and the dashboard once at the end) shows the
process tree with mailboxes, message rates, restarts and alerts, the recent crashes and
restarts, and under it the demo's throughput, errors and circuit breakers. At the end the
demo reconciles: every order is confirmed, rejected or failed with a named error, the counts
add up, the stock adds up, and every event published was seen. It exits with status 1 if
anything does not.

Crash reports (logger ``noex_trio``) go to ``--log FILE``; without it they are not shown, since
they would tear the live view, and the summary says so.

Service state that must survive a crash (stock, reservations, orders) lives in `Store`, which
stands in for a database; a restarted process starts empty, as OTP processes do.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import logging
import math
import random
import sys
from typing import Literal, TextIO

import attrs
import trio
from rich.console import Console

from noex_trio import (
    CallTimeoutError,
    CircuitBreaker,
    CircuitOpenError,
    EventBus,
    EventBusRef,
    GenServer,
    MaxRestartsExceededError,
    NoexError,
    NotRegisteredError,
    Registry,
    ServerNotRunningError,
    Supervisor,
    SupervisorRef,
    open_runtime,
)
from noex_trio.observer import AlertRules, terminal_dashboard

SKUS = {"apple": 4000, "pear": 4000, "plum": 4000, "fig": 40, "kiwi": 4000}
USERS = frozenset(f"u{n}" for n in range(1, 21))  # u21 and u22 are unknown: rejected
CALL_TIMEOUT = 1.0  # service-to-service calls
GATEWAY_TIMEOUT = 2.0  # gateway -> order service
MAX_SECONDS = 10.0  # the window of each supervisor's restart intensity


# --------------------------------------------------------------------------- options


@attrs.frozen(kw_only=True)
class Options:
    duration: float = 20.0
    rate: float = 25.0
    crash_rate: float = 0.5
    slow_rate: float = 0.1
    slow_delay: float = 1.2
    max_restarts: int = 200
    seed: int | None = None
    log: str | None = None
    refresh: float = 0.5


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (20)")
    parser.add_argument("--rate", type=float, default=25.0, help="orders per second (25)")
    parser.add_argument(
        "--crash-rate", type=float, default=0.5, help="injected crashes per second (0.5)"
    )
    parser.add_argument(
        "--slow-rate", type=float, default=0.1, help="injected stalls per second (0.1)"
    )
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=200,
        help=f"restarts each supervisor tolerates in {MAX_SECONDS:g} s (200)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--log", default=None, help="write crash reports to this file (default: not shown)"
    )
    args = parser.parse_args(argv)
    for name in ("duration", "rate"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name} must be > 0")
    if args.max_restarts < 0:
        parser.error("--max-restarts must be >= 0")
    for name in ("crash_rate", "slow_rate"):
        if not 0 <= getattr(args, name) < math.inf:
            parser.error(f"--{name.replace('_', '-')} must be >= 0")
    return Options(
        duration=args.duration,
        rate=args.rate,
        crash_rate=args.crash_rate,
        slow_rate=args.slow_rate,
        max_restarts=args.max_restarts,
        seed=args.seed,
        log=args.log,
    )


# --------------------------------------------------------------------------- shared state


class InjectedCrash(RuntimeError):
    """The chaos monkey made a handler fail (the process crashes, as on any bug)."""


@attrs.define
class Chaos:
    """The faults that struck so far, by kind and service."""

    crashes: collections.Counter[str] = attrs.Factory(collections.Counter)
    stalls: collections.Counter[str] = attrs.Factory(collections.Counter)


@attrs.frozen
class Fault:
    """Cast by the chaos monkey: the service crashes, or stalls for `delay` seconds.

    A fault queued behind another one that crashed the process is lost with its mailbox, like
    any message; only the faults that strike are counted.
    """

    kind: Literal["crash", "stall"]
    chaos: Chaos
    delay: float = 0.0

    async def strike(self, service: str) -> None:
        if self.kind == "crash":
            self.chaos.crashes[service] += 1
            raise InjectedCrash(f"{service}: injected crash")  # the process crashes
        self.chaos.stalls[service] += 1
        await trio.sleep(self.delay)  # the calls queued behind this one wait, and time out


TARGETS = ("user-service", "order-service", "inventory-service")


async def chaos_monkey(options: Options, rng: random.Random, chaos: Chaos, until: float) -> None:
    """Cast a `Fault` to a random service, at random times, until `until`."""
    rate = options.crash_rate + options.slow_rate
    if rate == 0:
        return
    while True:
        await trio.sleep(rng.expovariate(rate))
        if trio.current_time() >= until:
            return
        target = rng.choice(TARGETS)
        crash = rng.random() * rate < options.crash_rate
        fault = Fault("crash", chaos) if crash else Fault("stall", chaos, options.slow_delay)
        with contextlib.suppress(NoexError):  # restarting right now: no fault this time
            GenServer.cast(target, fault)


@attrs.frozen
class Order:
    id: int
    user_id: str
    sku: str
    qty: int


@attrs.define
class Store:
    """Stands in for a database: it outlives the processes that use it."""

    initial: dict[str, int] = attrs.Factory(lambda: dict(SKUS))
    stock: dict[str, int] = attrs.Factory(lambda: dict(SKUS))
    reservations: dict[int, tuple[str, int]] = attrs.Factory(dict)
    orders: dict[int, Order] = attrs.Factory(dict)


@attrs.define
class Metrics:
    published: collections.Counter[str] = attrs.Factory(collections.Counter)

    def publish(self, bus: EventBusRef, topic: str, data: object) -> None:
        EventBus.publish(bus, topic, data)
        self.published[topic] += 1


# --------------------------------------------------------------------------- services


@attrs.frozen
class GetUser:
    user_id: str


@attrs.frozen
class Ping:
    pass


class UserService(GenServer[frozenset[str], GetUser | Ping, Fault, bool]):
    """Calls: ``GetUser(id)`` -> whether the user exists; ``Ping()`` -> True. Casts: `Fault`."""

    def init(self, users: frozenset[str]) -> frozenset[str]:
        return users

    async def handle_cast(self, msg: Fault, state: frozenset[str]) -> frozenset[str]:
        await msg.strike("user-service")
        return state

    async def handle_call(
        self, msg: GetUser | Ping, state: frozenset[str]
    ) -> tuple[bool, frozenset[str]]:
        if isinstance(msg, Ping):
            return True, state
        return msg.user_id in state, state


@attrs.frozen
class CheckStock:
    sku: str


@attrs.frozen
class Reserve:
    order_id: int
    sku: str
    qty: int


@attrs.frozen
class Release:
    order_id: int


InventoryCall = CheckStock | Reserve | Ping


class InventoryService(GenServer[None, InventoryCall, Release | Fault, int | bool]):
    """Calls: ``CheckStock(sku)`` -> units; ``Reserve(...)`` -> reserved?; ``Ping()``.

    Casts: ``Release(order_id)`` gives a reservation back; `Fault`.
    """

    def init(self, store: Store) -> None:
        self.store = store

    async def handle_call(self, msg: InventoryCall, state: None) -> tuple[int | bool, None]:
        if isinstance(msg, Ping):
            return True, state
        stock = self.store.stock
        if isinstance(msg, CheckStock):
            return stock[msg.sku], state
        if stock[msg.sku] < msg.qty:
            return False, state
        stock[msg.sku] -= msg.qty
        self.store.reservations[msg.order_id] = (msg.sku, msg.qty)
        return True, state

    async def handle_cast(self, msg: Release | Fault, state: None) -> None:
        if isinstance(msg, Fault):
            await msg.strike("inventory-service")
        else:
            release(self.store, msg.order_id)


def release(store: Store, order_id: int) -> bool:
    reservation = store.reservations.pop(order_id, None)
    if reservation is None:
        return False
    sku, qty = reservation
    store.stock[sku] += qty
    return True


@attrs.frozen
class Confirmed:
    order: Order


@attrs.frozen
class Rejected:
    reason: str


@attrs.frozen
class Failed:
    kind: str
    detail: str


OrderReply = Confirmed | Rejected | Failed | bool


class OrderService(GenServer[None, Order | Ping, Fault, OrderReply]):
    """Calls: an `Order` -> `Confirmed`, `Rejected` or `Failed`; ``Ping()`` -> True.

    Reserves the stock with the inventory service, records the order, publishes
    ``order.confirmed``. A failed reservation is released (best effort) and answered `Failed`.
    Casts: `Fault`.
    """

    def init(self, store: Store, bus: EventBusRef, metrics: Metrics) -> None:
        self.store, self.bus, self.metrics = store, bus, metrics

    async def handle_cast(self, msg: Fault, state: None) -> None:
        await msg.strike("order-service")

    async def handle_call(self, msg: Order | Ping, state: None) -> tuple[OrderReply, None]:
        if isinstance(msg, Ping):
            return True, state
        try:
            inventory = Registry.lookup("inventory-service", InventoryService)
            reserved = await inventory.call(Reserve(msg.id, msg.sku, msg.qty), timeout=CALL_TIMEOUT)
        except Exception as error:  # turned into a reply: the caller learns what happened
            # Queued behind the Reserve, so it undoes it if it happened after all. If the
            # inventory is down, the reconciliation at the end finds the reservation.
            with contextlib.suppress(NoexError):
                GenServer.cast("inventory-service", Release(msg.id))
            return Failed(kind_of(error), str(error)), state
        if not reserved:
            return Rejected(f"{msg.sku} is out of stock"), state
        self.store.orders[msg.id] = msg
        self.metrics.publish(self.bus, "order.confirmed", msg)
        return Confirmed(msg), state


def first_error(group: BaseExceptionGroup[Exception]) -> Exception:
    """The first leaf of a (possibly nested) exception group."""
    error = group.exceptions[0]
    return first_error(error) if isinstance(error, BaseExceptionGroup) else error


def kind_of(error: BaseException) -> str:
    """A short, stable name for a failure, for the live view and the summary."""
    match error:
        case CallTimeoutError():
            return "timeout"
        case CircuitOpenError():
            return "circuit open"
        case NotRegisteredError():
            return "restarting"
        case ServerNotRunningError():
            return "service down"
        case InjectedCrash():
            return "crash"
        case _:
            return f"unexpected {type(error).__name__}"


# --------------------------------------------------------------------------- subscribers

FLUSH = "order.flush"  # published once at the end, to know the subscribers caught up


class Email(GenServer[int, Literal["sent"], Order, int]):
    """Sends a confirmation for every ``order.confirmed``; counts them."""

    async def init(self, bus: EventBusRef) -> int:
        me = GenServer.self()

        def forward(order: object, topic: str) -> None:
            if topic == "order.confirmed" and isinstance(order, Order):
                me.cast(order)

        await EventBus.subscribe(bus, "order.*", forward)
        return 0

    def handle_cast(self, msg: Order, state: int) -> int:
        return state + 1  # ... send the mail ...

    def handle_call(self, msg: Literal["sent"], state: int) -> tuple[int, int]:
        return state, state


class Analytics(GenServer[collections.Counter[str], Literal["seen"], str, dict[str, int]]):
    """Counts every event on the bus by topic."""

    async def init(self, bus: EventBusRef) -> collections.Counter[str]:
        me = GenServer.self()

        def track(data: object, topic: str) -> None:
            if topic != FLUSH:
                me.cast(topic)

        await EventBus.subscribe(bus, "*", track)
        return collections.Counter()

    def handle_cast(self, msg: str, state: collections.Counter[str]) -> collections.Counter[str]:
        state[msg] += 1
        return state

    def handle_call(
        self, msg: Literal["seen"], state: collections.Counter[str]
    ) -> tuple[dict[str, int], collections.Counter[str]]:
        return dict(state), state


# --------------------------------------------------------------------------- gateway


@attrs.frozen
class Outcome:
    status: Literal["confirmed", "rejected", "failed"]
    kind: str  # the rejection reason or failure kind; "" when confirmed


@attrs.define
class Ledger:
    """What the callers saw: one outcome per order, and when orders completed."""

    outcomes: dict[int, Outcome] = attrs.Factory(dict)
    attempted: int = 0
    duplicates: int = 0
    done_at: collections.deque[float] = attrs.Factory(collections.deque)

    def record(self, order_id: int, outcome: Outcome) -> None:
        if order_id in self.outcomes:
            self.duplicates += 1
        self.outcomes[order_id] = outcome
        self.done_at.append(trio.current_time())

    def count(self, status: str) -> collections.Counter[str]:
        return collections.Counter(o.kind for o in self.outcomes.values() if o.status == status)


async def ask_user(user_id: str) -> bool:
    users = Registry.lookup("user-service", UserService)
    return await users.call(GetUser(user_id), timeout=CALL_TIMEOUT)


async def ask_stock(sku: str) -> int:
    inventory = Registry.lookup("inventory-service", InventoryService)
    return int(await inventory.call(CheckStock(sku), timeout=CALL_TIMEOUT))


async def place(order: Order) -> OrderReply:
    orders = Registry.lookup("order-service", OrderService)
    return await orders.call(order, timeout=GATEWAY_TIMEOUT)


class ApiGateway:
    """The edge: each request runs in its caller's task, like an HTTP handler."""

    def __init__(self, bus: EventBusRef, metrics: Metrics, ledger: Ledger) -> None:
        self.bus, self.metrics, self.ledger = bus, metrics, ledger
        # One breaker per backend: while a service is stalled or restarting, requests fail
        # fast instead of piling up in its mailbox behind the stalled one.
        self.breakers = {
            name: CircuitBreaker(
                name,
                failure_threshold=3,
                reset_timeout=1.0,
                failure_types=(CallTimeoutError, ServerNotRunningError, NotRegisteredError),
            )
            for name in ("user-service", "inventory-service", "order-service")
        }

    async def place_order(self, order: Order) -> Outcome:
        self.ledger.attempted += 1
        outcome: Outcome
        try:
            outcome = await self._place(order)
        except* Exception as group:
            outcome = Outcome("failed", kind_of(first_error(group)))
        if outcome.status != "confirmed":
            topic = f"order.{outcome.status}"
            self.metrics.publish(self.bus, topic, (order, outcome.kind))
        self.ledger.record(order.id, outcome)
        return outcome

    async def _place(self, order: Order) -> Outcome:
        known = False
        stock = 0

        async def get_user() -> None:
            nonlocal known
            known = await self.breakers["user-service"].call(ask_user, order.user_id)

        async def check_stock() -> None:
            nonlocal stock
            stock = await self.breakers["inventory-service"].call(ask_stock, order.sku)

        async with trio.open_nursery() as nursery:  # aggregation; the first failure wins
            nursery.start_soon(get_user)
            nursery.start_soon(check_stock)
        if not known:
            return Outcome("rejected", "unknown user")
        if stock < order.qty:
            return Outcome("rejected", "out of stock")
        reply = await self.breakers["order-service"].call(place, order)
        match reply:
            case Confirmed():
                return Outcome("confirmed", "")
            case Rejected():
                return Outcome("rejected", "out of stock")
            case Failed(kind=kind):
                return Outcome("failed", kind)
        return Outcome("failed", f"unexpected reply {reply!r}")


# --------------------------------------------------------------------------- the tree


async def start_tree(
    store: Store, bus: EventBusRef, metrics: Metrics, max_restarts: int
) -> SupervisorRef:
    # A storm of injected crashes is the point of the demo: tolerate many restarts (the
    # default, 3 in 5 s, is right for real services, where a crash is rare).
    inventory = Supervisor.child_spec(
        [InventoryService.child_spec(store, id="inventory-service", name="inventory-service")],
        id="inventory",
        name="inventory",
        max_restarts=max_restarts,
        max_seconds=MAX_SECONDS,
    )
    services = Supervisor.child_spec(
        [
            UserService.child_spec(USERS, id="user-service", name="user-service"),
            OrderService.child_spec(store, bus, metrics, id="order-service", name="order-service"),
            inventory,
        ],
        id="services",
        name="services",
        max_restarts=max_restarts,
        max_seconds=MAX_SECONDS,
    )
    subscribers = Supervisor.child_spec(
        [
            Email.child_spec(bus, id="email", name="email"),
            Analytics.child_spec(bus, id="analytics", name="analytics"),
        ],
        id="subscribers",
        name="subscribers",
    )
    return await Supervisor.start(
        [subscribers, services], name="app", max_restarts=max_restarts, max_seconds=MAX_SECONDS
    )


# --------------------------------------------------------------------------- live view

#: When the dashboard raises an alert: the demo's services answer within 1 s, and a stall
#: (1.2 s) queues 20 to 30 orders behind it.
RULES = AlertRules(mailbox_length=20, mailbox_samples=3, restarts=5, long_call=1.0)


def restart_counts(sup: SupervisorRef) -> dict[str, int]:
    counts: dict[str, int] = {}
    try:
        children = Supervisor.get_children(sup)
    except NoexError:
        return counts
    for child in children:
        counts[child.id] = child.restart_count
        if isinstance(child.ref, SupervisorRef):
            counts.update(restart_counts(child.ref))
    return counts


def frame(gateway: ApiGateway, options: Options, elapsed: float) -> list[str]:
    """The demo's own figures, shown under the library's tree."""
    ledger = gateway.ledger
    while ledger.done_at and ledger.done_at[0] < trio.current_time() - 1.0:
        ledger.done_at.popleft()
    confirmed = sum(ledger.count("confirmed").values())
    rejected, failed = ledger.count("rejected"), ledger.count("failed")
    in_flight = ledger.attempted - len(ledger.outcomes)
    errors = ", ".join(f"{kind} {n}" for kind, n in sorted(failed.items())) or "none"
    breakers = "   ".join(
        f"{name} {b.state} ({b.statistics().opened_count}x)" for name, b in gateway.breakers.items()
    )
    return [
        f"noex_trio demo  {elapsed:5.1f} / {options.duration:g} s   seed {options.seed}   "
        f"crash-rate {options.crash_rate:g}   slow-rate {options.slow_rate:g}",
        f"orders     attempted {ledger.attempted}   confirmed {confirmed}   "
        f"rejected {sum(rejected.values())}   failed {sum(failed.values())}   "
        f"in flight {in_flight}",
        f"throughput {len(ledger.done_at)} orders/s",
        f"errors     {errors}",
        f"breakers   {breakers}",
    ]


async def log_lines(gateway: ApiGateway, options: Options, out: TextIO, started: float) -> None:
    """Not a terminal (a log, a pipe): a plain line every 5 s, the dashboard once at the end."""
    while True:
        elapsed = trio.current_time() - started
        lines = frame(gateway, options, min(elapsed, options.duration))
        out.write(" | ".join(line for line in lines[-4:]) + "\n")
        await trio.sleep(5.0)


# --------------------------------------------------------------------------- the run


@attrs.frozen
class DemoSummary:
    options: Options
    attempted: int
    confirmed: int
    rejected: dict[str, int]
    failed: dict[str, int]
    completed_after_timeout: int
    orphaned_reservations: int
    published: dict[str, int]
    seen: dict[str, int]
    emails: int
    stock_initial: int
    stock_left: int
    stock_ordered: int
    restarts: dict[str, int]
    crashes_injected: int
    stalls_injected: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


async def drain(name: str) -> None:
    """Wait until `name` has handled everything queued before (a `Ping` answers last)."""
    while True:
        try:
            await GenServer.call(name, Ping(), timeout=30.0)
            return
        except NoexError:  # restarting: try the new process
            await trio.sleep(0.05)


async def run(
    options: Options,
    out: TextIO,
    store: Store,
    chaos: Chaos,
    metrics: Metrics,
    ledger: Ledger,
    rng: random.Random,
) -> tuple[dict[str, int], int, dict[str, int]]:
    """Run the system under load; return (events seen, emails sent, restarts)."""
    async with open_runtime(name="demo") as rt:
        bus = rt.event_bus
        app = await start_tree(store, bus, metrics, options.max_restarts)
        gateway = ApiGateway(bus, metrics, ledger)
        started = trio.current_time()

        def figures() -> str:
            elapsed = min(trio.current_time() - started, options.duration)
            return "\n".join(frame(gateway, options, elapsed))

        # On a terminal the library's dashboard redraws in place; elsewhere rich draws only
        # the last frame, at the end, and `log_lines` writes a line now and then.
        console = Console(file=out, width=None if out.isatty() else 100)
        async with (
            terminal_dashboard(
                rt, refresh=options.refresh, console=console, rules=RULES, extra=figures
            ) as dashboard,
            trio.open_nursery() as view,
        ):
            if not out.isatty():
                view.start_soon(log_lines, gateway, options, out, started)
            monkey_rng = random.Random(rng.random())
            view.start_soon(chaos_monkey, options, monkey_rng, chaos, started + options.duration)
            async with trio.open_nursery() as load:
                order_id = 0
                while trio.current_time() - started < options.duration:
                    order_id += 1
                    order = Order(
                        order_id,
                        f"u{rng.randint(1, 22)}",
                        rng.choice(list(SKUS)),
                        rng.randint(1, 3),
                    )
                    load.start_soon(gateway.place_order, order)
                    await trio.sleep(rng.expovariate(options.rate))
            # Every request has its answer, the faults have stopped; let queued work finish.
            for name in ("order-service", "inventory-service", "user-service"):
                await drain(name)
            await EventBus.publish_sync(bus, FLUSH, None)  # subscribers have every event
            seen = await Registry.lookup("analytics", Analytics).call("seen")
            emails = await Registry.lookup("email", Email).call("sent")
            restarts = restart_counts(app)
            await dashboard.update()  # the last frame: everything settled
            view.cancel_scope.cancel()
    return seen, emails, restarts


def reconcile(
    options: Options,
    store: Store,
    chaos: Chaos,
    metrics: Metrics,
    ledger: Ledger,
    seen: dict[str, int],
    emails: int,
    restarts: dict[str, int],
) -> DemoSummary:
    """Check that nothing was lost; every broken invariant becomes a problem."""
    problems: list[str] = []
    confirmed = sum(ledger.count("confirmed").values())
    rejected, failed = dict(ledger.count("rejected")), dict(ledger.count("failed"))
    answered = confirmed + sum(rejected.values()) + sum(failed.values())
    if answered != ledger.attempted or len(ledger.outcomes) != ledger.attempted:
        problems.append(f"{ledger.attempted} orders attempted but {answered} answered")
    if ledger.duplicates:
        problems.append(f"{ledger.duplicates} orders answered twice")
    unexpected = [kind for kind in failed if kind.startswith("unexpected")]
    if unexpected:
        problems.append(f"failures without a clear cause: {unexpected}")

    # The store against what the callers saw.
    for order_id, outcome in ledger.outcomes.items():
        if outcome.status == "confirmed" and order_id not in store.orders:
            problems.append(f"order {order_id} was confirmed but is not in the store")
    late = [oid for oid in store.orders if ledger.outcomes.get(oid, CONFIRMED) != CONFIRMED]
    # The caller gave up (timeout) and the order service finished the order anyway.
    problems.extend(
        f"order {oid} is in the store but its caller saw {ledger.outcomes[oid]}"
        for oid in late
        if ledger.outcomes[oid].kind != "timeout"
    )
    unknown = [oid for oid in store.orders if oid not in ledger.outcomes]
    if unknown:
        problems.append(f"orders in the store nobody placed: {unknown[:5]}")

    # Reservations whose order was never recorded (the release was lost with a crashed
    # inventory's mailbox) are given back, as a real system's reconciliation job would.
    orphans = [oid for oid in store.reservations if oid not in store.orders]
    for order_id in orphans:
        release(store, order_id)
    ordered = sum(order.qty for order in store.orders.values())
    initial, left = sum(store.initial.values()), sum(store.stock.values())
    if initial != left + ordered:
        problems.append(f"stock does not add up: {initial} != {left} left + {ordered} ordered")

    published = dict(metrics.published)
    if published != seen:
        problems.append(f"events published {published} but analytics saw {seen}")
    if emails != len(store.orders):
        problems.append(f"{emails} confirmation emails for {len(store.orders)} orders")

    return DemoSummary(
        options=options,
        attempted=ledger.attempted,
        confirmed=confirmed,
        rejected=rejected,
        failed=failed,
        completed_after_timeout=len(late),
        orphaned_reservations=len(orphans),
        published=published,
        seen=seen,
        emails=emails,
        stock_initial=initial,
        stock_left=left,
        stock_ordered=ordered,
        restarts=restarts,
        crashes_injected=sum(chaos.crashes.values()),
        stalls_injected=sum(chaos.stalls.values()),
        problems=problems,
    )


CONFIRMED = Outcome("confirmed", "")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "none"


def report(summary: DemoSummary) -> list[str]:
    s = summary
    return [
        "",
        f"Summary ({s.options.duration:g} s at {s.options.rate:g} orders/s, seed {s.options.seed})",
        f"  orders attempted   {s.attempted:>6}",
        f"    confirmed        {s.confirmed:>6}",
        f"    rejected         {sum(s.rejected.values()):>6}   ({_counts(s.rejected)})",
        f"    failed           {sum(s.failed.values()):>6}   ({_counts(s.failed)})",
        f"  completed after the caller timed out: {s.completed_after_timeout} "
        "(in the store; the caller was told 'timeout')",
        f"  orphaned stock reservations released: {s.orphaned_reservations}",
        f"  events published {sum(s.published.values())}, seen by analytics "
        f"{sum(s.seen.values())}   ({_counts(s.published)})",
        f"  confirmation emails {s.emails} for {s.confirmed + s.completed_after_timeout} "
        "orders in the store",
        f"  stock: {s.stock_initial} at start = {s.stock_left} left + {s.stock_ordered} ordered",
        f"  faults injected: {s.crashes_injected} crashes, {s.stalls_injected} stalls",
        f"  restarts: {_counts({k: v for k, v in s.restarts.items() if v})}",
        f"  crash reports: in {s.options.log}"
        if s.options.log
        else "  crash reports: not shown (they would tear the live view); --log FILE keeps them",
        "",
        "nothing lost: every order confirmed, rejected or failed with a named error; "
        "the counts add up"
        if s.ok
        else "PROBLEMS:\n" + "\n".join(f"  - {problem}" for problem in s.problems),
    ]


async def main(argv: list[str] | None = None, out: TextIO | None = None) -> DemoSummary:
    """Run the demo with command-line `argv`; write the live view and summary to `out`."""
    options = parse_args(sys.argv[1:] if argv is None else argv)
    if options.seed is None:
        options = attrs.evolve(options, seed=random.randrange(10_000))
    out = sys.stdout if out is None else out
    rng = random.Random(options.seed)
    store, metrics, ledger = Store(), Metrics(), Ledger()
    chaos = Chaos()
    try:
        seen, emails, restarts = await run(options, out, store, chaos, metrics, ledger, rng)
    except MaxRestartsExceededError as error:
        summary = reconcile(options, store, chaos, metrics, ledger, {}, 0, {})
        summary = attrs.evolve(summary, problems=[f"the supervision tree gave up: {error}"])
    else:
        summary = reconcile(options, store, chaos, metrics, ledger, seen, emails, restarts)
    out.write("\n".join(report(summary)) + "\n")
    return summary


def _log_to(path: str | None) -> None:
    """Crash reports go to `path` (or nowhere): on the terminal they would tear the view."""
    logger = logging.getLogger("noex_trio")
    logger.propagate = False
    handler: logging.Handler = logging.NullHandler() if path is None else logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)


if __name__ == "__main__":
    if "--cluster" in sys.argv[1:]:  # over several OS processes, a node killed under load
        from examples import demo_cluster

        sys.exit(demo_cluster.cli(sys.argv[1:]))
    _log_to(parse_args(sys.argv[1:]).log)
    sys.exit(0 if trio.run(main).ok else 1)
