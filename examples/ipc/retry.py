"""Handling timeouts gracefully: a longer timeout where work is slow, retries where it is flaky."""

from __future__ import annotations

import logging
import random
from functools import partial

import attrs
import trio

from noex_trio import (
    CallTimeoutError,
    GenServer,
    NotRegisteredError,
    Registry,
    ServerNotRunningError,
    open_runtime,
    retry,
)


@attrs.frozen
class BuildReport:
    month: str


class Reports(GenServer[None, BuildReport, None, str]):
    def init(self) -> None:
        return None

    async def handle_call(self, msg: BuildReport, state: None) -> tuple[str, None]:
        await trio.sleep(12.0)  # a slow operation
        return f"report for {msg.month}", state


@attrs.frozen
class GetRate:
    currency: str


class Rates(GenServer[dict[str, float], GetRate, None, float]):
    def init(self) -> dict[str, float]:
        return {"EUR": 1.08, "GBP": 1.27}

    def handle_call(self, msg: GetRate, state: dict[str, float]) -> tuple[float, dict[str, float]]:
        if msg.currency not in state:
            raise KeyError(msg.currency)  # a bug in the request: retrying will not help
        return state[msg.currency], state


async def get_rate(currency: str) -> float:
    return await Registry.lookup("rates", Rates).call(GetRate(currency), timeout=1.0)


@attrs.frozen
class RetryResult:
    report: str
    report_took: float
    rate: float
    retries: list[tuple[int, str, float]]  # (attempt, error type, delay slept)
    rate_took: float
    not_retried: str
    not_retried_attempts: int


async def main(seed: int = 2) -> RetryResult:
    retries: list[tuple[int, str, float]] = []
    rng = random.Random(seed)
    async with open_runtime(), trio.open_nursery() as nursery:
        slow_service = await GenServer.start(Reports)
        msg = BuildReport("2026-11")
        started = trio.current_time()
        # --8<-- [start:timeout]
        # Give slow operations a timeout that fits them (the default is 5 s).
        report = await GenServer.call(slow_service, msg, timeout=30.0)
        # --8<-- [end:timeout]
        report_took = trio.current_time() - started

        async def start_rates_later() -> None:  # the rates service needs a moment to come up
            await trio.sleep(0.5)
            await GenServer.start(Rates, name="rates")

        nursery.start_soon(start_rates_later)
        started = trio.current_time()
        # --8<-- [start:retry]
        rate = await retry(
            get_rate,
            "EUR",
            retry_on=(CallTimeoutError, ServerNotRunningError, NotRegisteredError),
            attempts=6,  # tries in all, the first included
            base_delay=0.1,  # then 0.2, 0.4, 0.8, ... (times `factor`)
            max_delay=2.0,  # never wait longer than this between tries
            rng=rng,  # jitter source; leave out to use a shared one
            on_retry=lambda attempt, error, delay: retries.append(
                (attempt, type(error).__name__, delay)
            ),
        )
        # --8<-- [end:retry]
        rate_took = trio.current_time() - started

        # An error outside `retry_on` is raised at once, without a second attempt.
        calls = 0

        async def counted(currency: str) -> float:
            nonlocal calls
            calls += 1
            return await get_rate(currency)

        try:
            await retry(counted, "XYZ", retry_on=CallTimeoutError, rng=rng)
        except KeyError as error:
            not_retried = repr(error)
        # `partial` passes keyword arguments through `retry`:
        await retry(
            partial(GenServer.call, slow_service, msg, timeout=30.0), retry_on=CallTimeoutError
        )

    result = RetryResult(
        report=report,
        report_took=report_took,
        rate=rate,
        retries=retries,
        rate_took=rate_took,
        not_retried=not_retried,
        not_retried_attempts=calls,
    )
    print(result)
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
