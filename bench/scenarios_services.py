"""Registry: register / lookup / unregister, against the same operations on a plain ``dict``
(what a hand-rolled name table costs)."""

from __future__ import annotations

import time
from typing import Any

import trio

from noex_trio import GenServer, Registry, open_runtime

from ._harness import Row, Settings
from .scenarios_gen_server import Echo

# --- Registry ---------------------------------------------------------------------------------


async def registry(settings: Settings) -> list[Row]:
    """Scenario 6: Registry register / lookup / unregister vs a dict."""
    n = settings.n(50_000, 10_000)
    names = [f"name-{i}" for i in range(n)]
    rows = {
        op: Row("registry", op, "us/op", baseline=f"dict {what}")
        for op, what in (
            ("register", "d[name] = ref"),
            ("lookup", "d[name]"),
            ("unregister", "d.pop(name, None)"),
        )
    }
    async with open_runtime():
        ref = await GenServer.start(Echo)

        def noex() -> dict[str, float]:
            out = {}
            t0 = time.perf_counter()
            for name in names:
                Registry.register(name, ref)
            out["register"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for name in names:
                Registry.lookup(name)
            out["lookup"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for name in names:
                Registry.unregister(name)
            out["unregister"] = time.perf_counter() - t0
            return out

        def bare() -> dict[str, float]:
            table: dict[str, Any] = {}
            out = {}
            t0 = time.perf_counter()
            for name in names:
                table[name] = ref
            out["register"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for name in names:
                _ = table[name]
            out["lookup"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for name in names:
                table.pop(name, None)
            out["unregister"] = time.perf_counter() - t0
            return out

        noex()
        bare()
        for r in range(settings.rounds):
            if r % 2:
                b, nx = bare(), noex()
            else:
                nx, b = noex(), bare()
            for op, row in rows.items():
                row.add(nx[op] / n * 1e6, b[op] / n * 1e6)
            await trio.lowlevel.checkpoint()
        await ref.stop()
    return list(rows.values())


SCENARIOS: dict[str, Any] = {"registry": registry}
