"""``python -m noex_trio.cluster run``: N nodes of an application on one machine, one per core.

A Trio runtime uses one core. To use them all, run the application as N OS processes, each a
node of one cluster: this command starts them (and, unless ``--servers`` names one, a
``nats-server`` for them on a free loopback port), restarts a node that crashes, and stops
them all in order on Ctrl-C or SIGTERM.

The application is an async function ``main(config)`` (``module:function``), called in each
node process with a `ClusterConfig` whose name is ``<name>-<i>``; it opens its runtime with
``open_runtime(cluster=config)``. Extra arguments after it are passed on as str. A node
process gets ``NOEX_NODE`` (its name), ``NOEX_NODES`` (all names, comma-separated) and
``NOEX_NATS`` (the server URL) in its environment.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any, Final

import trio

from ..nats.testing import open_nats_server
from ._config import ClusterConfig

#: Seconds a node process has to stop after SIGINT before it is killed.
STOP_GRACE: Final = 10.0
#: Restarts of one node within `RESTART_WINDOW` seconds before the command gives up.
MAX_RESTARTS: Final = 5
RESTART_WINDOW: Final = 30.0


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m noex_trio.cluster",
        description="Run N nodes of an application, one OS process each (one per core).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the nodes and keep them running")
    run.add_argument("app", help="module:function, an async function taking a ClusterConfig")
    run.add_argument("args", nargs="*", help="passed to the function after the config")
    run.add_argument("--nodes", type=int, default=os.cpu_count() or 1, help="default: the cores")
    run.add_argument("--name", default="node", help="node names are NAME-1 ... NAME-N")
    run.add_argument("--cluster", default="default", help="the cluster's name")
    run.add_argument("--servers", help="NATS URL(s), comma-separated (default: start one)")
    run.add_argument(
        "--no-restart", dest="restart", action="store_false", help="do not restart crashed nodes"
    )
    worker = commands.add_parser("node", help=argparse.SUPPRESS)  # (one node process)
    worker.add_argument("app")
    worker.add_argument("args", nargs="*")
    worker.add_argument("--name", required=True)
    worker.add_argument("--cluster", required=True)
    worker.add_argument("--servers", required=True)
    options = parser.parse_args(argv)
    if options.command == "run" and options.nodes < 1:
        parser.error("--nodes must be at least 1")
    return options


def load(app: str) -> Callable[..., Awaitable[object]]:
    """The function ``module:function`` names."""
    module_name, _, function = app.partition(":")
    if not module_name or not function:
        raise SystemExit(f"expected the application as module:function, got {app!r}")
    target: Any = importlib.import_module(module_name)
    for part in function.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise SystemExit(f"{app} is not callable")
    return target  # type: ignore[no-any-return]


async def run_node(options: argparse.Namespace) -> None:
    """In a node process: call the application with this node's configuration."""
    config = ClusterConfig(
        name=options.name, servers=options.servers.split(","), cluster=options.cluster
    )
    await load(options.app)(config, *options.args)


class _Nodes:
    """The node processes, started, restarted and stopped by `run_all`."""

    def __init__(self, options: argparse.Namespace, servers: str) -> None:
        self.options = options
        self.servers = servers
        self.names = [f"{options.name}-{i}" for i in range(1, options.nodes + 1)]
        self.processes: dict[str, trio.Process] = {}
        self.stopping = False

    def command(self, name: str) -> list[str]:
        options = self.options
        return [
            sys.executable,
            "-m",
            "noex_trio.cluster",
            "node",
            options.app,
            *options.args,
            "--name",
            name,
            "--cluster",
            options.cluster,
            "--servers",
            self.servers,
        ]

    async def keep(self, name: str) -> None:
        """Run node `name`; restart it when it crashes (not once it exits 0)."""
        env = {
            **os.environ,
            "NOEX_NODE": name,
            "NOEX_NODES": ",".join(self.names),
            "NOEX_NATS": self.servers,
        }
        restarts: list[float] = []
        while True:
            # Its own process group: a Ctrl-C in the terminal reaches this command only, which
            # passes one SIGINT on (a second one would hurry the node's shutdown).
            process = await trio.lowlevel.open_process(self.command(name), env=env, process_group=0)
            self.processes[name] = process
            print(f"noex: node {name} started (pid {process.pid})", flush=True)
            code = await process.wait()  # (cancelled: `run_all` stops every node)
            if self.stopping or code == 0:
                print(f"noex: node {name} exited ({code})", flush=True)
                return
            now = trio.current_time()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
            if not self.options.restart or len(restarts) > MAX_RESTARTS:
                print(f"noex: node {name} exited ({code}); not restarted", flush=True)
                return
            print(f"noex: node {name} exited ({code}); restarting", flush=True)

    async def stop(self) -> None:
        """SIGINT to every node (each runtime shuts down in order), then SIGKILL the ones
        still running after `STOP_GRACE` seconds."""
        self.stopping = True
        for process in self.processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
        with trio.move_on_after(STOP_GRACE):
            for process in self.processes.values():
                await process.wait()
        for process in self.processes.values():
            if process.returncode is None:
                process.kill()
                await process.wait()


async def run_all(options: argparse.Namespace, stop: trio.Event | None = None) -> int:
    """Run the nodes until they all exit; SIGINT/SIGTERM (or `stop`, set) stops them."""
    async with AsyncExitStack() as stack:
        servers = options.servers
        if servers is None:
            server = await stack.enter_async_context(open_nats_server(jetstream=True))
            servers = server.url
            print(f"noex: nats-server on {servers}", flush=True)
        nodes = _Nodes(options, servers)
        stop = trio.Event() if stop is None else stop
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:

                async def on_signal() -> None:
                    async for signum in signals:  # pragma: no branch - the first one stops
                        name = signal.Signals(signum).name
                        print(f"noex: {name}: stopping the nodes", flush=True)
                        stop.set()
                        return

                async def stop_when_asked() -> None:
                    await stop.wait()
                    await nodes.stop()

                nursery.start_soon(on_signal)
                nursery.start_soon(stop_when_asked)
                try:
                    async with trio.open_nursery() as keepers:
                        for name in nodes.names:
                            keepers.start_soon(nodes.keep, name)
                finally:  # (cancelled from outside: the nodes must not outlive the command)
                    with trio.CancelScope(shield=True):
                        await nodes.stop()
                nursery.cancel_scope.cancel()  # every node exited (by itself, or stopped)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.command == "node":
        with contextlib.suppress(KeyboardInterrupt):  # (Ctrl-C: the runtime stopped in order)
            trio.run(run_node, options)
        return 0
    return trio.run(run_all, options)
