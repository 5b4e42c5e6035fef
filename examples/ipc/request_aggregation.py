"""Pattern 3, request aggregation: an API gateway calls three services at once.

Where noex uses ``Promise.all``, Trio uses a nursery: the three calls run concurrently, and if
one fails the nursery cancels the others at once (fail fast) and raises the failure.
"""

from __future__ import annotations

import logging

import attrs
import trio

from noex_trio import (
    CallTimeoutError,
    GenServer,
    NotRegisteredError,
    Registry,
    ServerNotRunningError,
    open_runtime,
)
from noex_trio.testing import wait_exit


@attrs.frozen
class Get:
    user_id: str


class UserService(GenServer[dict[str, str], Get, None, str | None]):
    def init(self) -> dict[str, str]:
        return {"u1": "Ada"}

    async def handle_call(
        self, msg: Get, state: dict[str, str]
    ) -> tuple[str | None, dict[str, str]]:
        await trio.sleep(0.2)
        return state.get(msg.user_id), state


class OrderService(GenServer[None, Get, None, list[str]]):
    def init(self) -> None:
        return None

    async def handle_call(self, msg: Get, state: None) -> tuple[list[str], None]:
        await trio.sleep(0.3)  # the slowest of the three
        return [f"{msg.user_id}-order-1", f"{msg.user_id}-order-2"], state


class NotificationService(GenServer[None, Get, None, int]):
    def init(self) -> None:
        return None

    async def handle_call(self, msg: Get, state: None) -> tuple[int, None]:
        await trio.sleep(0.1)
        if msg.user_id == "u-broken":
            raise RuntimeError("notification store unreachable")  # crashes this service
        return 3, state


# --8<-- [start:gateway]
@attrs.frozen
class Dashboard:
    user: str | None
    orders: list[str]
    unread: int


@attrs.frozen
class Unavailable:
    reason: str


async def fetch_dashboard(user_id: str) -> Dashboard:
    users = Registry.lookup("user-service", UserService)
    orders = Registry.lookup("order-service", OrderService)
    notifications = Registry.lookup("notification-service", NotificationService)
    user: str | None = None
    recent: list[str] = []
    unread = 0

    async def get_user() -> None:
        nonlocal user
        user = await users.call(Get(user_id))

    async def get_orders() -> None:
        nonlocal recent
        recent = await orders.call(Get(user_id))

    async def get_unread() -> None:
        nonlocal unread
        unread = await notifications.call(Get(user_id))

    # All three at once; the first failure cancels the other two and is raised
    # (inside an ExceptionGroup, as always with nurseries).
    async with trio.open_nursery() as nursery:
        nursery.start_soon(get_user)
        nursery.start_soon(get_orders)
        nursery.start_soon(get_unread)
    return Dashboard(user, recent, unread)


class ApiGateway(GenServer[None, Get, None, Dashboard | Unavailable]):
    def init(self) -> None:
        return None

    async def handle_call(self, msg: Get, state: None) -> tuple[Dashboard | Unavailable, None]:
        reply: Dashboard | Unavailable
        try:
            reply = await fetch_dashboard(msg.user_id)
        except* Exception as failures:  # a backend crashed, timed out, is not running, ...
            # Answer with an error value: raising here would crash the gateway itself.
            reply = Unavailable("; ".join(str(error) for error in failures.exceptions))
        return reply, state


# --8<-- [end:gateway]


@attrs.frozen
class AggregationResult:
    dashboard: Dashboard | Unavailable
    took: float
    degraded: Dashboard | Unavailable
    degraded_took: float
    direct_error: type[Exception]


async def main() -> AggregationResult:
    async with open_runtime():
        await GenServer.start(UserService, name="user-service")
        await GenServer.start(OrderService, name="order-service")
        notifications = await GenServer.start(NotificationService, name="notification-service")
        gateway = await GenServer.start(ApiGateway, name="api-gateway")

        started = trio.current_time()
        dashboard = await gateway.call(Get("u1"))
        took = trio.current_time() - started  # the slowest call (0.3 s), not the sum (0.6 s)

        started = trio.current_time()
        degraded = await gateway.call(Get("u-broken"))
        # 0.1 s: the notification service failed first and the other two calls were
        # cancelled; nobody waited for the slow order service.
        degraded_took = trio.current_time() - started
        await wait_exit(notifications)  # it crashed (a supervisor would restart it)

        # Outside a process the ExceptionGroup reaches the caller; `except*` takes it apart.
        direct_error: type[Exception] = Exception
        try:
            await fetch_dashboard("u1")
        except* (NotRegisteredError, ServerNotRunningError, CallTimeoutError) as group:
            direct_error = type(group.exceptions[0])

    result = AggregationResult(dashboard, took, degraded, degraded_took, direct_error)
    print(result)
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
