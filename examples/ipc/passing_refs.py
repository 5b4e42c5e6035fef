"""Passing references: at start, in a message, or held by the behaviour object."""

from __future__ import annotations

import logging

import attrs
import trio

from examples.ipc.direct import GetUser, User, UserService
from noex_trio import GenServer, GenServerRef, open_runtime

# --8<-- [start:types]
UserServiceRef = GenServerRef[GetUser, User, User | None]


@attrs.frozen
class PlaceOrder:
    user_id: str
    item: str


@attrs.frozen
class Order:
    id: int
    user: User
    item: str


@attrs.frozen
class Rejected:
    reason: str


async def place_order(
    user_service: UserServiceRef, orders: dict[int, Order], msg: PlaceOrder
) -> Order | Rejected:
    user = await user_service.call(GetUser(msg.user_id))
    if user is None:
        return Rejected(f"unknown user {msg.user_id!r}")
    order = Order(id=len(orders) + 1, user=user, item=msg.item)
    orders[order.id] = order
    return order


# --8<-- [end:types]


# --8<-- [start:init_args]
@attrs.define
class OrderState:
    user_service: UserServiceRef | None
    orders: dict[int, Order] = attrs.Factory(dict)


@attrs.frozen
class SetUserService:
    ref: UserServiceRef


class OrderService(GenServer[OrderState, PlaceOrder, SetUserService, Order | Rejected]):
    def init(self, user_service: UserServiceRef | None = None) -> OrderState:
        return OrderState(user_service)  # option 1: the ref arrives as an init argument

    async def handle_call(
        self, msg: PlaceOrder, state: OrderState
    ) -> tuple[Order | Rejected, OrderState]:
        if state.user_service is None:
            return Rejected("no user service yet"), state
        return await place_order(state.user_service, state.orders, msg), state

    def handle_cast(self, msg: SetUserService, state: OrderState) -> OrderState:
        state.user_service = msg.ref  # option 2: the ref arrives in a message
        return state


# --8<-- [end:init_args]


# --8<-- [start:factory]
class OrderServiceWithDeps(GenServer[dict[int, Order], PlaceOrder, None, Order | Rejected]):
    """Option 3: the dependencies are given to the behaviour object, the state stays data."""

    def __init__(self, *, user_service: UserServiceRef) -> None:
        self.user_service = user_service

    def init(self) -> dict[int, Order]:
        return {}

    async def handle_call(
        self, msg: PlaceOrder, state: dict[int, Order]
    ) -> tuple[Order | Rejected, dict[int, Order]]:
        return await place_order(self.user_service, state, msg), state


# --8<-- [end:factory]


@attrs.frozen
class PassingRefsResult:
    via_init: Order | Rejected
    before_set: Rejected | Order
    via_cast: Order | Rejected
    via_factory: Order | Rejected
    unknown_user: Order | Rejected


async def main() -> PassingRefsResult:
    async with open_runtime():
        user_service = await GenServer.start(UserService, User("u1", "Alice"))

        # --8<-- [start:start_with_refs]
        # Option 1: pass the ref as an init argument.
        orders_1 = await GenServer.start(OrderService, user_service)

        # Option 2: start without it, send it in a message later.
        orders_2 = await GenServer.start(OrderService)
        before_set = await orders_2.call(PlaceOrder("u1", "book"))  # Rejected: no user service
        GenServer.cast(orders_2, SetUserService(user_service))

        # Option 3: build the behaviour object with its dependencies (an instance is used as is).
        orders_3 = await GenServer.start(OrderServiceWithDeps(user_service=user_service))
        # --8<-- [end:start_with_refs]

        result = PassingRefsResult(
            via_init=await orders_1.call(PlaceOrder("u1", "book")),
            before_set=before_set,
            via_cast=await orders_2.call(PlaceOrder("u1", "pen")),
            via_factory=await orders_3.call(PlaceOrder("u1", "lamp")),
            unknown_user=await orders_3.call(PlaceOrder("u2", "lamp")),
        )
    print(result)
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
