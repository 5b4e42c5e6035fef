"""GenServers for the distribution tests, used in-process and in node processes
(``tests.cluster_runtime_peer``)."""

from __future__ import annotations

from typing import Any

import trio

from noex_trio import AlreadyRegisteredError, GenServer, GlobalRegistry, MonitorRef, NoReply, Stop


class Unrebuildable(Exception):
    """Not registered with any codec: arrives on another node as a RemoteError."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a} and {b}")


class Echo(GenServer[int, Any, Any, Any]):
    """Answers calls; counts casts; forwards messages where told."""

    def init(self, start: int = 0) -> int:
        return start

    async def handle_call(self, msg: Any, state: int) -> Any:
        match msg:
            case ("echo", value):
                return value, state
            case "self":
                return GenServer.self(), state
            case "count":
                return state, state
            case ("crash", text):
                raise ValueError(text)
            case "unrebuildable":
                raise Unrebuildable(1, 2)
            case ("sleep", seconds):
                await trio.sleep(seconds)
                return "slept", state
            case ("call", target, inner):
                return await GenServer.call(target, inner), state
            case ("stop", reason):
                return Stop(reason, state, reply="stopping")
            case "never":
                return NoReply(state)
            case ("register", name):  # globally, for this process
                try:
                    await GlobalRegistry.register(name)
                except AlreadyRegisteredError:
                    return "taken", state
                return "ok", state
        raise AssertionError(f"unexpected call {msg!r}")

    def handle_cast(self, msg: Any, state: int) -> int:
        match msg:
            case ("add", number):
                return int(state + number)
            case ("tell", target, inner):
                GenServer.cast(target, inner)
                return state
            case ("crash", text):
                raise ValueError(text)
        raise AssertionError(f"unexpected cast {msg!r}")


class Watcher(GenServer[list[Any], Any, Any, Any]):
    """Monitors and links on request; keeps what reaches ``handle_info``."""

    def init(self, seen: list[Any], arrived: list[trio.Event]) -> list[Any]:
        self.arrived = arrived
        return seen

    async def handle_call(self, msg: Any, state: list[Any]) -> Any:
        match msg:
            case ("monitor", target):
                return GenServer.monitor(target), state
            case ("demonitor", mref):
                assert isinstance(mref, MonitorRef)
                GenServer.demonitor(mref)
                return None, state
            case ("link", target):
                GenServer.link(target)
                return None, state
            case ("unlink", target):
                GenServer.unlink(target)
                return None, state
            case ("exit", target, reason):
                GenServer.exit(target, reason)
                return None, state
            case ("run", fn):
                return await fn(), state
        raise AssertionError(f"unexpected call {msg!r}")

    def handle_cast(self, msg: Any, state: list[Any]) -> list[Any]:
        return self.handle_info(msg, state)

    def handle_info(self, msg: Any, state: list[Any]) -> list[Any]:
        state.append(msg)
        for event in self.arrived:
            event.set()
        self.arrived.clear()
        return state


class FailingInit(GenServer[None, Any, Any, Any]):
    """Its ``init`` raises: a start of it fails with InitializationError."""

    def init(self, text: str) -> None:
        raise ValueError(text)


#: What the test nodes offer to others (``ClusterConfig.behaviours``).
BEHAVIOURS: dict[str, object] = {"echo": Echo, "failing": FailingInit, "watcher": Watcher}
