"""OTP's GenServer features (docs/guides/gen-server.md, "More from OTP").

``Continue`` and ``handle_continue``, idle timeouts, ``Ignore``, exit reasons of any value,
``GenServer.exit``, and crash reports with ``format_status`` and labels.

Run it with ``python -m examples.otp_features`` (about 35 s: it waits on real timers).
"""

from __future__ import annotations

import logging

import trio

from noex_trio import (
    Continue,
    GenServer,
    IdleTimeout,
    Ignore,
    NoReply,
    Reply,
    Stop,
    open_runtime,
)

Prices = dict[str, int]


def say(line: str) -> None:
    print(line)


# --8<-- [start:continue]
class Catalog(GenServer[Prices, str, None, int | None]):
    """Loads its prices after ``start`` returned, and before it serves anything."""

    def init(self, source: Prices) -> Continue[Prices]:
        return Continue({}, source)  # start returns now; handle_continue runs next

    async def handle_continue(self, source: Prices, prices: Prices) -> Prices:
        await trio.sleep(2)  # a slow load: callers wait in the mailbox meanwhile
        return dict(source)

    def handle_call(self, item: str, prices: Prices) -> tuple[int | None, Prices]:
        return prices.get(item), prices


# --8<-- [end:continue]


# --8<-- [start:idle]
class Cart(GenServer[list[str], str, str, list[str]]):
    """A shopping cart that ends itself after 30 s without a message."""

    IDLE = 30.0

    def init(self, user: str) -> Continue[list[str]]:
        return Continue([], "arm")  # (init cannot ask for an idle timeout; a continuation can)

    def handle_continue(self, arg: str, items: list[str]) -> NoReply[list[str]]:
        return NoReply(items, idle_timeout=self.IDLE)

    def handle_call(self, msg: str, items: list[str]) -> Reply[list[str], list[str]]:
        return Reply(items, items, idle_timeout=self.IDLE)  # "items": each message re-arms it

    def handle_cast(self, item: str, items: list[str]) -> NoReply[list[str]]:
        return NoReply([*items, item], idle_timeout=self.IDLE)

    def handle_info(self, msg: object, items: list[str]) -> Stop[list[str]] | list[str]:
        if isinstance(msg, IdleTimeout):
            return Stop(("shutdown", "idle"), items)  # a clean exit: nobody restarts it
        return items


# --8<-- [end:idle]


# --8<-- [start:ignore]
class Metrics(GenServer[None, str, None, None]):
    """Starts only when metrics are enabled: otherwise ``start`` returns None."""

    def init(self, enabled: bool) -> Ignore | None:
        return None if enabled else Ignore()


# --8<-- [end:ignore]


# --8<-- [start:vault]
class Vault(GenServer[dict[str, str], str, None, str]):
    """Holds a secret; crash reports show the owner's label and never the token."""

    def init(self, owner: str, token: str) -> dict[str, str]:
        GenServer.set_label(f"vault:{owner}")  # logs and reprs say vault:ann#7
        return {"owner": owner, "token": token}

    def format_status(self, state: dict[str, str]) -> dict[str, str]:
        return {**state, "token": "<redacted>"}  # what crash reports show of the state

    def handle_call(self, msg: str, state: dict[str, str]) -> tuple[str, dict[str, str]]:
        if msg == "rotate":
            raise RuntimeError("the key server is down")  # let it crash
        return state["owner"], state


# --8<-- [end:vault]


async def main() -> list[str]:
    """Run the examples; returns the crash report lines (for the test)."""
    reports: list[str] = []
    handler = _Collect(reports)
    logging.getLogger("noex_trio").addHandler(handler)
    try:
        async with open_runtime():
            # --8<-- [start:continue-use]
            catalog = await GenServer.start(Catalog, {"tea": 3, "cake": 5})
            start = trio.current_time()
            price = await catalog.call("tea")  # waits for the load to finish
            say(f"tea costs {price}, answered after {trio.current_time() - start:.0f} s")
            # --8<-- [end:continue-use]
            await catalog.stop()

            # --8<-- [start:idle-use]
            cart = await GenServer.start(Cart, "ann")
            cart.cast("tea")
            await trio.sleep(20)
            say(f"cart after 20 s: {await cart.call('items')}")  # re-arms the timeout
            reason = await GenServer.wait_exit(cart)
            say(f"cart ended after {trio.current_time() - start:.0f} s: {reason}")
            # --8<-- [end:idle-use]

            # --8<-- [start:ignore-use]
            say(f"metrics disabled: {await GenServer.start(Metrics, False)}")
            # --8<-- [end:ignore-use]

            # --8<-- [start:exit-use]
            worker = await GenServer.start(Catalog, {}, trap_exit=True)
            GenServer.exit(worker, "kill")  # cannot be trapped: no terminate
            say(f"killed: {await GenServer.wait_exit(worker)}")
            other = await GenServer.start(Catalog, {})
            GenServer.exit(other, "normal")  # ignored by a process that does not trap exits
            GenServer.exit(other, ("shutdown", "maintenance"))  # a clean exit, any detail
            say(f"stopped: {await GenServer.wait_exit(other)}")
            # --8<-- [end:exit-use]

            # --8<-- [start:vault-use]
            vault = await GenServer.start(Vault, "ann", "s3cr3t")
            say(f"{vault!r} belongs to {await vault.call('owner')}")
            try:
                await vault.call("rotate")
            except RuntimeError as error:
                say(f"rotate failed: {error}")
            # --8<-- [end:vault-use]
    finally:
        logging.getLogger("noex_trio").removeHandler(handler)
    return reports


class _Collect(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.extend(record.getMessage().splitlines())


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO)
    for line in trio.run(main):
        print(line)
