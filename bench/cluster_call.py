"""``python -m bench.cluster_call``: a call to another OS process through NATS, beside the same
request/reply done with nats-py on asyncio.

One run, on a fresh loopback ``nats-server`` started for it, measures:

1. **remote GenServer.call**: this process's node (``open_runtime(cluster=...)``) calls the
   GenServer registered as ``echo`` on node ``b``, a child process
   (``GenServer.call(RemoteName("echo", "b"), i)``);
2. **nats-py** request/reply on asyncio, the baseline every row is compared with: a requester
   process sends ``await nc.request(subject, payload)`` to a responder process whose
   subscription callback does ``await msg.respond(msg.data)`` (`bench._nats_py`);
3. **node.request**: the bare cluster request under 1, ``node.request("b", "echo", i)`` to the
   child's ``node.serve("echo", ...)`` handler;
4. **local GenServer.call** in this process's runtime: no NATS, no other process.

Each is measured sequentially (one caller; µs per call, 1 caller's calls/s being its inverse)
and with 50 concurrent callers (calls/s). Rounds are interleaved (the sides' order rotates
every round) and every ratio compares a noex_trio figure with the nats-py figure of the same
round: *speed* is noex_trio's speed as a fraction of nats-py's (1.0 = as fast).

Options: ``--quick`` (smaller workloads, 3 rounds), ``--rounds N``, ``--json PATH`` (default
``bench/results/cluster_call.json``). Also part of ``python -m bench`` (``--only
cluster_call``).
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Final

import trio

from noex_trio import GenServer, RemoteName, cluster, open_runtime
from noex_trio.nats.testing import open_nats_server

from . import _cluster_node
from ._harness import Row, Settings, format_table, machine, timed, write_json
from .scenarios_gen_server import Echo

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS: Final = Path(__file__).parent / "results" / "cluster_call.json"

#: Concurrent callers of the throughput figures.
CALLERS: Final = 50
#: The nats-py pair's subject.
SUBJECT: Final = "bench.echo"
#: Seconds a child process has to start and say ``ready``, or to exit once told to.
CHILD_LIMIT: Final = 30.0

#: A side of the bench: seconds for `n` calls from `callers` concurrent callers.
Side = Callable[[int, int], Awaitable[float]]


# --- child processes --------------------------------------------------------------------------


class Child:
    """A child process (``python -m MODULE ...``) driven through lines on its stdin/stdout."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self._buffer = b""

    async def read_line(self) -> str:
        stdout = self.process.stdout
        assert stdout is not None
        while b"\n" not in self._buffer:
            chunk = await stdout.receive_some(4096)
            if not chunk:
                raise RuntimeError(f"{self.process.args!r} exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    async def send_line(self, line: str) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        await stdin.send_all(line.encode() + b"\n")


@asynccontextmanager
async def open_child(module: str, *args: str) -> AsyncIterator[Child]:
    """Start ``python -m module args...`` in the repository's root; wait until it prints
    ``ready``. Leaving closes its stdin (its signal to end) and waits for it to exit."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        child = Child(process)
        with trio.fail_after(CHILD_LIMIT):
            line = await child.read_line()
        if line != "ready":
            raise RuntimeError(f"{module} said {line!r} instead of 'ready'")
        yield child
    finally:
        with trio.CancelScope(shield=True):
            assert process.stdin is not None
            await process.stdin.aclose()
            with trio.move_on_after(CHILD_LIMIT):
                await process.wait()
            if process.returncode is None:
                process.kill()
            await process.wait()


# --- the sides --------------------------------------------------------------------------------


async def callers_of(call: Callable[[int], Awaitable[object]], n: int, callers: int) -> float:
    """Seconds for `n` calls of `call` from `callers` concurrent tasks (each awaits its reply
    before its next call)."""

    async def caller(count: int) -> None:
        for i in range(count):
            await call(i)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(callers):
                nursery.start_soon(caller, n // callers)

    return await timed(run)


async def nats_py_side(requester: Child, n: int, callers: int) -> float:
    """Seconds the nats-py requester process took for `n` requests from `callers` tasks."""
    await requester.send_line(f"{n} {callers}")
    return float(await requester.read_line())


# --- the scenario -----------------------------------------------------------------------------

LABELS: Final = {
    "remote": "remote GenServer.call",
    "request": "node.request",
    "local": "local GenServer.call",
}
NOTES: Final = {
    "remote": "GenServer.call(RemoteName('echo', 'b'), i): GenServer 'echo' of node b, "
    "a child process",
    "request": "node.request('b', 'echo', i): node.serve handler of node b, a child process",
    "local": "GenServer.call(ref, i) in this process's runtime (no NATS)",
}


def make_rows() -> dict[str, tuple[Row, Row]]:
    """Per side, its sequential row and its concurrent row."""
    rows: dict[str, tuple[Row, Row]] = {}
    for side, label in LABELS.items():
        sequential = Row(
            "cluster_call",
            f"{label}, sequential",
            "us/call",
            baseline="request/reply, requester and responder in 2 processes, sequential",
            versus="nats-py",
            note=NOTES[side],
        )
        concurrent = Row(
            "cluster_call",
            f"{label}, {CALLERS} concurrent callers",
            "calls/s",
            baseline=f"the same, {CALLERS} concurrent asyncio tasks",
            versus="nats-py",
            kind="rate",
        )
        rows[side] = (sequential, concurrent)
    return rows


async def wait_member(node: cluster.Node, name: str) -> None:
    """Wait until `node` sees node `name` up."""
    async with node.watch() as events:
        with trio.fail_after(CHILD_LIMIT):
            while name not in {member.name for member in node.members()}:
                await events.receive()


#: A noex_trio side: one call, its reply.
Call = Callable[[int], Awaitable[object]]


@asynccontextmanager
async def open_calls(url: str) -> AsyncIterator[dict[str, Call]]:
    """The noex_trio sides, by key of `LABELS`: this process's node ``a`` (and its runtime),
    and node ``b`` in a child process. Each side is checked to echo before it is measured."""
    async with (
        open_child("bench._cluster_node", url, "b"),
        open_runtime(cluster=_cluster_node.config(url, "a")) as rt,
    ):
        node = rt.node
        assert node is not None
        await wait_member(node, "b")
        ref = await GenServer.start(Echo)
        echo_on_b = RemoteName("echo", "b")

        async def remote(i: int) -> object:
            return await GenServer.call(echo_on_b, i)

        async def local(i: int) -> object:
            return await GenServer.call(ref, i)

        calls: dict[str, Call] = {
            "remote": remote,
            "request": partial(node.request, "b", "echo"),
            "local": local,
        }
        for call in calls.values():
            reply = await call(7)
            assert reply == 7, f"expected 7 back, got {reply!r}"
        yield calls


async def measure(
    settings: Settings, calls: dict[str, Call], nats_py: Side
) -> dict[str, tuple[Row, Row]]:
    """`settings.rounds` rounds of every side (the sides' order rotating every round), after
    a warm-up; each row pairs a noex_trio side's figure with nats-py's of the same round."""
    sequential_n = settings.n(1_000, 200)
    concurrent_n = settings.n(3_000, 500)
    sides: dict[str, Side] = {key: partial(callers_of, call) for key, call in calls.items()}
    sides["nats-py"] = nats_py
    for side in sides.values():  # warm-up
        await side(CALLERS, CALLERS)
    rows = {key: row for key, row in make_rows().items() if key in calls}
    order = list(sides)
    for round_index in range(settings.rounds):
        shift = round_index % len(order)
        per_call: dict[str, float] = {}
        rate: dict[str, float] = {}
        for key in order[shift:] + order[:shift]:
            per_call[key] = await sides[key](sequential_n, 1) / sequential_n * 1e6
            rate[key] = concurrent_n / await sides[key](concurrent_n, CALLERS)
        for key, (sequential, concurrent) in rows.items():
            sequential.add(per_call[key], per_call["nats-py"])
            concurrent.add(rate[key], rate["nats-py"])
    return rows


async def cluster_call(settings: Settings) -> list[Row]:
    """The scenario: a fresh nats-server, the nats-py pair, the nodes; interleaved rounds."""
    async with (
        open_nats_server() as server,
        open_child("bench._nats_py", "respond", server.url, SUBJECT),
        open_child("bench._nats_py", "request", server.url, SUBJECT) as requester,
        open_calls(server.url) as calls,
    ):
        rows = await measure(settings, calls, partial(nats_py_side, requester))
    return [row for pair in rows.values() for row in pair]


SCENARIOS = {"cluster_call": cluster_call}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster_call", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small workloads, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, metavar="N")
    parser.add_argument("--json", type=Path, default=RESULTS, metavar="PATH")
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 5)
    if rounds < 1:
        parser.error("--rounds must be >= 1")
    settings = Settings(rounds=rounds, quick=args.quick)
    logging.basicConfig(level=logging.CRITICAL)
    info = machine()
    print(
        f"noex_trio cluster call bench - CPython {info['python']}, trio {info['trio']}, "
        f"{info['cpus']} CPUs; {rounds} rounds" + (" (quick)" if args.quick else ""),
        flush=True,
    )
    started = time.perf_counter()
    rows = trio.run(cluster_call, settings)
    seconds = time.perf_counter() - started
    print()
    print(format_table(rows))
    print("\nratio: noex_trio's speed as a fraction of nats-py's, per round (1.0 = as fast)")
    print(f"\ntotal {seconds:.0f} s; results written to {args.json}")
    write_json(args.json, rows, settings, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
