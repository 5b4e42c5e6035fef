"""A circuit breaker around calls to a service that goes away and comes back."""

from __future__ import annotations

import logging

import attrs
import trio

from noex_trio import (
    CallTimeoutError,
    CircuitBreaker,
    CircuitBreakerStatistics,
    CircuitOpenError,
    GenServer,
    NotRegisteredError,
    Registry,
    ServerNotRunningError,
    open_runtime,
)


@attrs.frozen
class CheckStock:
    sku: str


class Inventory(GenServer[dict[str, int], CheckStock, None, int]):
    def init(self, stock: dict[str, int]) -> dict[str, int]:
        return stock

    async def handle_call(
        self, msg: CheckStock, state: dict[str, int]
    ) -> tuple[int, dict[str, int]]:
        await trio.sleep(0.1)  # some work
        return state.get(msg.sku, 0), state


# --8<-- [start:breaker]
async def check_stock(sku: str) -> int:
    inventory = Registry.lookup("inventory", Inventory)  # NotRegisteredError while it is down
    return await inventory.call(CheckStock(sku), timeout=1.0)


def inventory_breaker() -> CircuitBreaker:
    return CircuitBreaker(
        "inventory",
        failure_threshold=3,  # open after 3 failures in a row
        reset_timeout=10.0,  # then refuse calls for 10 s before letting one trial through
        # Only these mean "the service is unwell"; any other error passes through uncounted.
        failure_types=(CallTimeoutError, ServerNotRunningError, NotRegisteredError),
    )


async def stock_or_unknown(breaker: CircuitBreaker, sku: str) -> int | None:
    try:
        return await breaker.call(check_stock, sku)
    except CircuitOpenError:
        return None  # fail fast: don't wait on a service that keeps failing


# --8<-- [end:breaker]


@attrs.frozen
class CircuitBreakerResult:
    outcomes: list[str]
    statistics: CircuitBreakerStatistics


async def attempt(breaker: CircuitBreaker, outcomes: list[str]) -> None:
    started, state = trio.current_time(), breaker.state
    try:
        count = await breaker.call(check_stock, "sku-1")
    except CircuitOpenError as error:
        outcome = f"rejected, retry after {error.retry_after:.1f} s"
    except NotRegisteredError:
        outcome = "failed: not registered"
    else:
        outcome = f"stock {count}"
    took = trio.current_time() - started
    outcomes.append(f"t={started:4.1f} {state:9} -> {outcome} ({took:.1f} s)")


async def main() -> CircuitBreakerResult:
    outcomes: list[str] = []
    async with open_runtime():
        start = trio.current_time()
        breaker = inventory_breaker()
        inventory = await GenServer.start(Inventory, {"sku-1": 3}, name="inventory")
        await attempt(breaker, outcomes)  # closed: goes through

        await inventory.stop()  # the service goes down
        for _ in range(5):  # 3 failures open the breaker, then it refuses at once
            await attempt(breaker, outcomes)

        await GenServer.start(Inventory, {"sku-1": 2}, name="inventory")  # it is back
        await trio.sleep_until(start + 12.0)  # past the reset timeout: half-open
        async with trio.open_nursery() as nursery:  # five callers at once: one trial
            for _ in range(5):
                nursery.start_soon(attempt, breaker, outcomes)
        await attempt(breaker, outcomes)  # the trial succeeded: closed again
        fallback = await stock_or_unknown(breaker, "sku-1")
        outcomes.append(f"stock_or_unknown: {fallback}")
        statistics = breaker.statistics()

    for line in outcomes:
        print(line)
    print(statistics)
    return CircuitBreakerResult(outcomes, statistics)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
