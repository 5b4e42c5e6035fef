"""Named communication: register, look up, `whereis`, typed lookups, automatic cleanup."""

from __future__ import annotations

import logging
from typing import Literal

import attrs
import trio

from examples.ipc.direct import GetUser, User, UserService
from noex_trio import GenServer, Registry, open_runtime
from noex_trio.testing import crash, wait_exit

CacheCall = tuple[Literal["get"], str] | tuple[Literal["put"], str, list[str]]


class Cache(GenServer[dict[str, list[str]], CacheCall, None, list[str] | None]):
    def init(self) -> dict[str, list[str]]:
        return {}

    def handle_call(
        self, msg: CacheCall, state: dict[str, list[str]]
    ) -> tuple[list[str] | None, dict[str, list[str]]]:
        match msg:
            case ("get", key):
                return state.get(key), state
            case ("put", key, value):
                return value, {**state, key: value}


@attrs.frozen
class RegistryResult:
    names_after_start: list[str]
    alice: User | None
    cached: list[str] | None
    no_such_service: bool
    registered_before_stop: bool
    registered_after_stop: bool
    registered_after_crash: bool


async def main() -> RegistryResult:
    async with open_runtime():
        # --8<-- [start:register]
        # Start, then register under a well-known name...
        user_service = await GenServer.start(UserService, User("123", "Alice"))
        Registry.register("user-service", user_service)

        # ...or register atomically while starting (a taken name fails before `init` runs).
        cache_service = await GenServer.start(Cache, name="cache-service")
        # --8<-- [end:register]
        names_after_start = Registry.names()
        await cache_service.call(("put", "users", ["123"]))

        # --8<-- [start:lookup]
        # Look a service up by name (NotRegisteredError if nobody has it)...
        users = Registry.lookup("user-service")
        alice = await GenServer.call(users, GetUser("123"))

        # ...or, where it may be absent, use whereis: None instead of an error.
        cache = Registry.whereis("cache-service")
        cached = None
        if cache is not None:
            cached = await GenServer.call(cache, ("get", "users"))
        # --8<-- [end:lookup]
        no_such_service = Registry.whereis("no-such-service") is None

        # --8<-- [start:typed]
        # Give the behaviour class and the ref comes back typed:
        # GenServerRef[GetUser, User, User | None], checked at run time too (TypeError if the
        # process runs something else).
        typed_users = Registry.lookup("user-service", UserService)
        user = await typed_users.call(GetUser("123"))  # mypy knows: User | None
        # --8<-- [end:typed]
        assert user == alice

        # --8<-- [start:cleanup]
        ref = await GenServer.start(Cache)
        Registry.register("my-service", ref)
        registered_before_stop = Registry.is_registered("my-service")  # True

        await GenServer.stop(ref)
        registered_after_stop = Registry.is_registered("my-service")  # False: removed on exit
        # --8<-- [end:cleanup]

        # A crash cleans up too, before anyone hears of the exit.
        crash(cache_service)
        await wait_exit(cache_service)
        registered_after_crash = Registry.is_registered("cache-service")

    result = RegistryResult(
        names_after_start=names_after_start,
        alice=alice,
        cached=cached,
        no_such_service=no_such_service,
        registered_before_stop=registered_before_stop,
        registered_after_stop=registered_after_stop,
        registered_after_crash=registered_after_crash,
    )
    print(result)
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
