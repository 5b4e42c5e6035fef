"""An application for ``python -m noex_trio.cluster run`` in the tests.

``main(config, mode, *extra)``: joins with ``open_runtime(cluster=config)``, starts an ``echo``
and then, by `mode`:
- ``calls``: waits for every node of ``NOEX_NODES``, calls each one's echo, prints what it got,
  and exits 0;
- ``crash-once DIR``: exits 1 the first time (a marker file in DIR), 0 the next;
- ``crash``: always exits 1;
- ``forever``: joins a second echo to the process group ``"apps"``, prints ``up`` and runs
  until stopped (Ctrl-C: the runtime stops in order and the
  echo's ``terminate`` prints ``terminated``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import trio

from noex_trio import GenServer, Groups, RemoteName, ServerNotRunningError, open_runtime
from noex_trio.cluster import ClusterConfig


class Echo(GenServer[str, Any, Any, Any]):
    def init(self, node: str, calls: list[str], heard: trio.Event, expected: int) -> str:
        self.calls, self.heard, self.expected = calls, heard, expected
        return node

    def handle_call(self, msg: Any, node: str) -> tuple[Any, str]:
        self.calls.append(msg)
        if len(self.calls) >= self.expected:
            self.heard.set()
        return f"{msg} from {node}", node

    def terminate(self, reason: object, node: str) -> None:
        say(f"{node} terminated ({reason})")


def say(line: str) -> None:
    """Print `line` in one write: every node shares the command's stdout, and with
    ``PYTHONUNBUFFERED`` set, ``print`` writes the text and its newline apart, so two nodes'
    lines could interleave ("node-1 upnode-2 up")."""
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


async def main(config: ClusterConfig, mode: str, *extra: str) -> None:
    names = os.environ["NOEX_NODES"].split(",")
    async with open_runtime(cluster=config) as rt:
        assert rt.node is not None
        calls: list[str] = []
        heard = trio.Event()
        await GenServer.start(Echo, config.name, calls, heard, len(names), name="echo")
        if mode == "calls":  # call every node; leave once every node has called this one
            for name in names:
                while True:
                    try:
                        reply = await GenServer.call(RemoteName("echo", name), f"hi {config.name}")
                    except ServerNotRunningError:  # (not up, or its echo not started yet)
                        await trio.sleep(0.05)
                        continue
                    say(reply)
                    break
            await heard.wait()
            return
        if mode in ("crash", "crash-once"):
            marker = Path(extra[0]) / config.name if extra else None
            if mode == "crash" or (marker is not None and not marker.exists()):
                if marker is not None:
                    marker.touch()
                sys.exit(1)
            return
        Groups.join("apps", await GenServer.start(Echo, config.name, [], trio.Event(), 1))
        say(f"{config.name} up")
        await trio.sleep_forever()
