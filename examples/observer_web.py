"""The observer's web endpoint: a dashboard, JSON, a live feed and metrics of a running runtime.

A small shop — a supervisor with an inventory, a payments service that crashes on a bad card,
and a dynamic supervisor of carts — served by `noex_trio.observer.open_web_endpoint`.

Each function returns the lines it would print; ``tests/test_examples_observer_web.py`` runs
them and ``docs/guides/observer-web.md`` walks through them. Run it by hand to look at the
dashboard (it crashes the payments service now and then)::

    python -m examples.observer_web          # then open http://127.0.0.1:8321/
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from typing import Any

import trio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import noex_trio.observer
from noex_trio import DynamicSupervisor, GenServer, Supervisor, SupervisorRef, open_runtime


class Inventory(GenServer[dict[str, int], str, str, int]):
    def init(self) -> dict[str, int]:
        return {"apple": 12, "pear": 3}

    def handle_call(self, msg: str, state: dict[str, int]) -> tuple[int, dict[str, int]]:
        return state.get(msg, 0), state


class Payments(GenServer[int, str, str, str]):
    def init(self) -> int:
        return 0

    def handle_call(self, msg: str, state: int) -> tuple[str, int]:
        if msg == "declined":
            raise ValueError("card declined")  # let it crash: its supervisor restarts it
        return "paid", state + 1


class Cart(GenServer[list[str], str, str, list[str]]):
    def init(self) -> list[str]:
        return []

    def handle_cast(self, msg: str, state: list[str]) -> list[str]:
        return [*state, msg]


async def start_shop() -> SupervisorRef:
    shop = await Supervisor.start(
        children=[
            Inventory.child_spec(id="inventory", name="inventory"),
            Payments.child_spec(id="payments", name="payments"),
            DynamicSupervisor.child_spec(id="carts", name="carts"),
        ],
        name="shop",
    )
    for _ in range(3):
        await DynamicSupervisor.start_child("carts", Cart.child_spec())
    return shop


async def get(url: str) -> str:
    """GET `url` with the standard library (any HTTP client does), off the Trio thread."""

    def fetch() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    return await trio.to_thread.run_sync(fetch)


async def dashboard() -> list[str]:
    lines: list[str] = []
    async with open_runtime(name="shop") as rt:
        await start_shop()
        # --8<-- [start:open]
        async with noex_trio.observer.open_web_endpoint(rt, port=0) as endpoint:
            lines.append(f"dashboard at {endpoint.url}")
            # ... the program goes on; the endpoint serves until the block ends
            # --8<-- [end:open]
            # --8<-- [start:snapshot]
            snapshot = json.loads(await get(endpoint.url + "snapshot.json"))
            (shop,) = [node for node in snapshot["tree"] if node["names"] == ["shop"]]
            lines += [
                f"{child['label']}: {child['kind']}, {len(child['children'])} children"
                for child in shop["children"]
            ]
            # --8<-- [end:snapshot]
            # --8<-- [start:metrics]
            metrics = await get(endpoint.url + "metrics")
            lines += [line for line in metrics.splitlines() if line.startswith("noex_processes")]
            # --8<-- [end:metrics]
    return lines


async def supervised() -> list[str]:
    lines: list[str] = []
    async with open_runtime(name="shop"):
        # --8<-- [start:child]
        app = await Supervisor.start(
            children=[
                Supervisor.child_spec(children=[Inventory.child_spec()], id="shop"),
                noex_trio.observer.web_child_spec(port=0, name="observer-web"),
            ]
        )
        endpoint = await noex_trio.observer.web_endpoint("observer-web")
        # --8<-- [end:child]
        lines.append(f"children: {[child.id for child in Supervisor.get_children(app)]}")
        lines.append(f"listening: {endpoint.url.startswith('http://127.0.0.1:')}")
    return lines


async def alert_rules() -> list[str]:
    async with open_runtime(name="shop") as rt:
        # --8<-- [start:rules]
        rules = noex_trio.observer.AlertRules(
            mailbox_length=1000,  # a mailbox this long ...
            mailbox_samples=10,  # ... that grew at each of 10 samples in a row
            restarts=5,  # 5 restarts by one supervisor ...
            restart_window=30.0,  # ... within 30 s
            long_call=0.5,  # a call served or waited on for 0.5 s
        )
        async with noex_trio.observer.open_web_endpoint(rt, alert_rules=rules, interval=0.5):
            ...
        # --8<-- [end:rules]
    return [f"{key} = {value}" for key, value in rules.to_dict().items()]


async def opentelemetry() -> list[str]:
    lines: list[str] = []
    async with open_runtime(name="shop") as rt:
        await start_shop()
        # --8<-- [start:otel]
        reader = InMemoryMetricReader()  # in production: a PeriodicExportingMetricReader
        provider = MeterProvider(metric_readers=[reader])
        async with noex_trio.observer.open_otel_metrics(rt, meter_provider=provider):
            data = reader.get_metrics_data()
        # --8<-- [end:otel]
        provider.shutdown()
    assert data is not None
    for metric in data.resource_metrics[0].scope_metrics[0].metrics:
        if metric.name == "noex.processes":
            point: Any = metric.data.data_points[0]
            lines.append(f"{metric.name} = {point.value}")
    return lines


async def main(port: int = 8321) -> None:
    """Serve the shop's dashboard until Ctrl-C, with a crash now and then."""
    async with open_runtime(name="shop") as rt:
        await start_shop()
        async with noex_trio.observer.open_web_endpoint(rt, port=port) as endpoint:
            print(f"dashboard at {endpoint.url} (Ctrl-C to stop)")
            while True:
                await trio.sleep(5)
                with contextlib.suppress(ValueError):  # (it crashes: the point)
                    await GenServer.call("payments", "declined")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main)
