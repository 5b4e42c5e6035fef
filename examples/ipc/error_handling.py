"""Error handling: timeouts, stopped services, application errors, missing services."""

from __future__ import annotations

import logging
from typing import Literal

import attrs
import trio

from examples.ipc.direct import GetUser, User, UserService
from noex_trio import (
    CallTimeoutError,
    GenServer,
    GenServerRef,
    Registry,
    ServerNotRunningError,
    open_runtime,
)

Request = Literal["ping", "slow", "bad"]


class Flaky(GenServer[None, Request, None, str]):
    def init(self) -> None:
        return None

    async def handle_call(self, msg: Request, state: None) -> tuple[str, None]:
        if msg == "slow":
            await trio.sleep(60)  # stuck on something
        if msg == "bad":
            raise ValueError("bad request")  # crashes the server; the caller gets this error
        return "pong", state


# --8<-- [start:call_failures]
async def ask(service: GenServerRef[Request, None, str], msg: Request) -> str:
    try:
        return await GenServer.call(service, msg, timeout=3.0)
    except CallTimeoutError:
        return "timed out"  # slow or stuck (the request may still be handled later)
    except ServerNotRunningError:
        return "not available"  # stopped, crashed, or never started
    except Exception as error:  # what handle_call raised: the server crashed on it
        return f"failed: {error!r}"


# --8<-- [end:call_failures]


# --8<-- [start:missing_service]
async def fetch_user_from_db(user_id: str) -> User:
    await trio.sleep(0.05)  # stands in for a database round trip
    return User(user_id, "from the database")


async def get_user_with_fallback(user_id: str) -> User | None:
    user_service = Registry.whereis("user-service", UserService)
    if user_service is not None:
        return await GenServer.call(user_service, GetUser(user_id))
    return await fetch_user_from_db(user_id)  # fallback: go to the source


# --8<-- [end:missing_service]


@attrs.frozen
class ErrorHandlingResult:
    answers: list[tuple[Request, str, float]]  # (request, outcome, virtual seconds it took)
    with_service: User | None
    without_service: User | None


async def main() -> ErrorHandlingResult:
    answers: list[tuple[Request, str, float]] = []
    async with open_runtime():
        fast = await GenServer.start(Flaky)
        slow = await GenServer.start(Flaky)
        plan: list[tuple[GenServerRef[Request, None, str], Request]] = [
            (fast, "ping"),  # pong
            (slow, "slow"),  # timed out after 3 s
            (fast, "bad"),  # the ValueError, and `fast` crashes
            (fast, "ping"),  # not available: `fast` is gone
        ]
        for service, msg in plan:
            started = trio.current_time()
            outcome = await ask(service, msg)
            answers.append((msg, outcome, trio.current_time() - started))

        users = await GenServer.start(UserService, User("7", "Grace"), name="user-service")
        with_service = await get_user_with_fallback("7")
        await users.stop()
        without_service = await get_user_with_fallback("7")

    result = ErrorHandlingResult(answers, with_service, without_service)
    for msg, outcome, took in answers:
        print(f"{msg!r:>7} -> {outcome} ({took:.2f} s)")
    print(f"with the service: {with_service}; without: {without_service}")
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
