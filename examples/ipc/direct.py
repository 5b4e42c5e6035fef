"""Direct communication: `call` when you need an answer, `cast` to fire and forget."""

from __future__ import annotations

import logging
from typing import Literal

import attrs
import trio

from noex_trio import GenServer, open_runtime


# --8<-- [start:services]
@attrs.frozen
class User:
    id: str
    name: str


@attrs.frozen
class GetUser:
    id: str


Users = dict[str, User]


class UserService(GenServer[Users, GetUser, User, User | None]):
    """Calls: `GetUser` -> `User | None`. Casts: a `User` to store."""

    def init(self, *users: User) -> Users:
        return {user.id: user for user in users}

    def handle_call(self, msg: GetUser, state: Users) -> tuple[User | None, Users]:
        return state.get(msg.id), state  # (reply, new state)

    def handle_cast(self, msg: User, state: Users) -> Users:
        return {**state, msg.id: msg}  # the new state


@attrs.frozen
class Log:
    level: Literal["debug", "info", "warning", "error"]
    message: str


class Logger(GenServer[list[Log], Literal["lines"], Log, list[Log]]):
    """Calls: ``"lines"`` -> every `Log` so far. Casts: a `Log` to keep."""

    def init(self) -> list[Log]:
        return []

    def handle_call(self, msg: Literal["lines"], state: list[Log]) -> tuple[list[Log], list[Log]]:
        return list(state), state

    def handle_cast(self, msg: Log, state: list[Log]) -> list[Log]:
        return [*state, msg]


# --8<-- [end:services]


@attrs.frozen
class DirectResult:
    user: User | None
    missing: User | None
    log: list[Log]


async def main() -> DirectResult:
    async with open_runtime():
        user_service = await GenServer.start(UserService, User("123", "Alice"))
        logger = await GenServer.start(Logger)
        user_id = "123"

        # --8<-- [start:call]
        # Waits for the reply (at most 5 s by default); typed: `user` is a `User | None`.
        user = await GenServer.call(user_service, GetUser(id=user_id))
        # --8<-- [end:call]
        missing = await user_service.call(GetUser(id="nobody"))  # the same call, as a method

        # --8<-- [start:cast]
        # Queue the message and return at once: no reply, no confirmation.
        GenServer.cast(logger, Log(level="info", message="User logged in"))
        # --8<-- [end:cast]

        # One mailbox, first in first out: the cast is handled before this call.
        log = await logger.call("lines")
    print(f"user: {user}; missing: {missing}; log: {log}")
    return DirectResult(user=user, missing=missing, log=log)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
