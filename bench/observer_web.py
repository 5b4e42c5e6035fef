"""``python -m bench.observer_web``: what the web observer costs a runtime of 10 000 processes.

Not part of ``python -m bench`` (it drives a browser). In one runtime holding `--processes`
idle GenServers under a DynamicSupervisor, it measures:

- the snapshot: ``rt.snapshot()``, ``.to_dict()``, and its JSON encoding (the ``/events`` tick
  payload), median of several;
- a ``/metrics`` scrape as a client sees it;
- the call round trip of one more GenServer (as ``bench``'s ``call`` scenario) in four
  phases, in an A-B-C-B-A order so that drift shows: no endpoint; the endpoint open with no
  client; the endpoint with one headless Chromium watching the dashboard (``/usr/bin/chromium``);
  and back;
- the runtime's own CPU use while idle for a few seconds, in the same phases (the observer's
  background cost: lifecycle handlers, one snapshot + encoding per tick while a page watches).

    python -m bench.observer_web [--processes N] [--calls N] [--rounds N] [--idle SECONDS]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable

import trio

import noex_trio.observer
from noex_trio import DynamicSupervisor, GenServer, GenServerRef, open_runtime

from ._harness import machine

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Idle(GenServer[None, None, None, None]):
    def init(self) -> None:
        return None


class Echo(GenServer[int, int, int, int]):
    def init(self) -> int:
        return 0

    def handle_call(self, msg: int, state: int) -> tuple[int, int]:
        return msg, state


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms (min {min(values) * 1000:.1f})"


async def round_trip(ref: GenServerRef[int, int, int], calls: int) -> float:
    """Microseconds per call, over `calls` calls."""
    gc.collect()
    start = time.perf_counter()
    call = ref.call
    for i in range(calls):
        await call(i)
    return (time.perf_counter() - start) / calls * 1e6


async def idle_cpu(seconds: float) -> float:
    """The process's CPU use (% of one core) while the Trio thread sleeps for `seconds`
    (the browser is another process: not counted)."""
    start_cpu, start = time.process_time(), time.perf_counter()
    await trio.sleep(seconds)
    return (time.process_time() - start_cpu) / (time.perf_counter() - start) * 100


def watch(url: str, stop: threading.Event, ready: Callable[[], object]) -> None:
    """A headless Chromium on the dashboard until `stop` is set."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.wait_for_selector("#tree tbody tr[data-label]", timeout=60_000)
        trio.from_thread.run_sync(ready)
        stop.wait()
        browser.close()


async def measure(processes: int, calls: int, rounds: int, idle: float) -> None:
    info = machine()
    print(f"observer_web: CPython {info['python']}, {info['cpus']} CPUs, {info['platform']}")
    async with open_runtime(name="bench") as rt:
        sup = await DynamicSupervisor.start()
        for _ in range(processes):
            await DynamicSupervisor.start_child(sup, Idle.child_spec())
        echo = await GenServer.start(Echo)
        print(f"{rt.statistics().processes} processes")

        build, to_dict, encode, size = [], [], [], 0
        for _ in range(rounds):
            gc.collect()
            t0 = time.perf_counter()
            snapshot = rt.snapshot()
            t1 = time.perf_counter()
            data = snapshot.to_dict()
            t2 = time.perf_counter()
            text = json.dumps(data, separators=(",", ":"))
            t3 = time.perf_counter()
            build.append(t1 - t0)
            to_dict.append(t2 - t1)
            encode.append(t3 - t2)
            size = len(text)
        print(f"snapshot: rt.snapshot() {median_ms(build)}, .to_dict() {median_ms(to_dict)}, "
              f"JSON {median_ms(encode)}, {size / 1e6:.2f} MB")  # fmt: skip

        results: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}

        async def phase(name: str) -> None:
            for _ in range(rounds):
                results.setdefault(name, []).append(await round_trip(echo, calls))
            cpu.setdefault(name, []).append(await idle_cpu(idle))

        await phase("no endpoint")
        async with noex_trio.observer.open_web_endpoint(rt) as endpoint:
            await phase("endpoint, no client")

            def scrape() -> tuple[float, int]:
                start = time.perf_counter()
                with urllib.request.urlopen(endpoint.url + "metrics", timeout=60) as response:
                    body = response.read()
                return time.perf_counter() - start, len(body)

            scrapes = [await trio.to_thread.run_sync(scrape) for _ in range(rounds)]
            print(f"/metrics scrape: {median_ms([s for s, _ in scrapes])}, "
                  f"{scrapes[0][1] / 1e6:.2f} MB")  # fmt: skip
            stop = threading.Event()
            watching = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    lambda: trio.to_thread.run_sync(watch, endpoint.url, stop, watching.set)
                )
                await watching.wait()
                await phase("endpoint + browser")
                stop.set()
            await phase("endpoint, no client")
            stats = endpoint.statistics()
            print(f"ticks sent: {stats.ticks}, last tick snapshot {stats.snapshot_seconds}")
        await phase("no endpoint")
        base = statistics.median(results["no endpoint"])
        print(
            f"call round trip ({calls} calls x {rounds} rounds per phase; idle CPU over {idle} s):"
        )
        for name, values in results.items():
            mid = statistics.median(values)
            print(
                f"  {name:<22} {mid:6.2f} us/call (min {min(values):.2f})  x{mid / base:.3f}"
                f"   idle CPU {', '.join(f'{c:.1f}%' for c in cpu[name])}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observer_web")
    parser.add_argument("--processes", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args(argv)
    trio.run(measure, args.processes, args.calls, args.rounds, args.idle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
