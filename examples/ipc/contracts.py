"""Documenting a service contract: the messages are types, the docstring says the rest."""

from __future__ import annotations

import logging

import attrs
import trio
import trio.testing

from noex_trio import EventBus, EventBusRef, GenServer, GenServerRef, open_runtime


# --8<-- [start:contract]
@attrs.frozen
class User:
    id: str
    email: str


# Call messages
@attrs.frozen
class GetUser:
    id: str


@attrs.frozen
class ListUsers:
    pass


# Cast messages
@attrs.frozen
class CreateUser:
    id: str
    email: str


@attrs.frozen
class DeleteUser:
    id: str


# Events
@attrs.frozen
class UserCreated:
    user: User


@attrs.frozen
class UserDeleted:
    id: str


UserCall = GetUser | ListUsers
UserCast = CreateUser | DeleteUser
UserReply = User | None | list[User]


class UserService(GenServer[dict[str, User], UserCall, UserCast, UserReply]):
    """Manages user accounts.

    Start: ``GenServer.start(UserService, bus)``: events go to `bus`.

    Calls (use the client functions `get_user` and `list_users`):
        - ``GetUser(id)`` -> ``User | None``
        - ``ListUsers()`` -> ``list[User]``, oldest first

    Casts:
        - ``CreateUser(id, email)``: adds or replaces the user
        - ``DeleteUser(id)``: removes the user if present

    Events published:
        - ``"user.created"``: `UserCreated`
        - ``"user.deleted"``: `UserDeleted` (only if the user existed)

    Crashes on: nothing it expects; a bug crashes it and its supervisor restarts it empty.
    """

    def init(self, bus: EventBusRef) -> dict[str, User]:
        self.bus = bus
        return {}

    def handle_call(
        self, msg: UserCall, state: dict[str, User]
    ) -> tuple[UserReply, dict[str, User]]:
        match msg:
            case GetUser(id):
                return state.get(id), state
            case ListUsers():
                return list(state.values()), state

    def handle_cast(self, msg: UserCast, state: dict[str, User]) -> dict[str, User]:
        match msg:
            case CreateUser(id, email):
                user = User(id, email)
                EventBus.publish(self.bus, "user.created", UserCreated(user))
                return {**state, id: user}
            case DeleteUser(id) if id in state:
                EventBus.publish(self.bus, "user.deleted", UserDeleted(id))
                return {key: user for key, user in state.items() if key != id}
        return state


UserServiceRef = GenServerRef[UserCall, UserCast, UserReply]


# Client API: typed wrappers, so callers never see the union of replies.
async def get_user(service: UserServiceRef, user_id: str) -> User | None:
    reply = await service.call(GetUser(user_id))
    assert not isinstance(reply, list)
    return reply


async def list_users(service: UserServiceRef) -> list[User]:
    reply = await service.call(ListUsers())
    assert isinstance(reply, list)
    return reply


# --8<-- [end:contract]


@attrs.frozen
class ContractsResult:
    users: list[User]
    found: User | None
    gone: User | None
    events: list[tuple[str, UserCreated | UserDeleted]]


async def main() -> ContractsResult:
    events: list[tuple[str, UserCreated | UserDeleted]] = []
    async with open_runtime() as rt:
        await EventBus.subscribe(
            rt.event_bus, "user.*", lambda event, topic: events.append((topic, event))
        )
        service = await GenServer.start(UserService, rt.event_bus)
        service.cast(CreateUser("u1", "ada@example.com"))
        service.cast(CreateUser("u2", "grace@example.com"))
        service.cast(DeleteUser("u2"))
        service.cast(DeleteUser("u3"))  # not there: no event
        users = await list_users(service)
        found = await get_user(service, "u1")
        gone = await get_user(service, "u2")
        await trio.testing.wait_all_tasks_blocked()  # let the events arrive (for this demo)

    result = ContractsResult(users, found, gone, events)
    print(result)
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
