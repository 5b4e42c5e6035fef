"""``python -m noex_trio.cluster run``: N nodes of an application on one machine."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from noex_trio import GenServer, GroupChange, Groups, open_runtime
from noex_trio.cluster import _run
from noex_trio.nats.testing import NatsServer
from tests.cluster_behaviours import Watcher
from tests.cluster_support import LIMIT, config
from tests.test_cluster_remote import next_info

ROOT = Path(__file__).resolve().parent.parent


async def test_nodes_of_one_application_call_each_other(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with trio.fail_after(LIMIT * 2):
        code = await _run.run_all(
            _run.parse(["run", "--nodes", "2", "tests.cluster_app:main", "calls"])
        )
    assert code == 0
    out = capfd.readouterr().out
    assert "noex: nats-server on nats://127.0.0.1:" in out
    for me in ("node-1", "node-2"):
        assert f"noex: node {me} started" in out
        assert f"noex: node {me} exited (0)" in out
        for other in ("node-1", "node-2"):
            assert f"hi {me} from {other}" in out


async def test_a_crashed_node_is_restarted(
    nats_server: NatsServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "--nodes", "1", "--name", "w", "--servers", nats_server.url]
    with trio.fail_after(LIMIT * 2):
        code = await _run.run_all(
            _run.parse([*args, "tests.cluster_app:main", "crash-once", str(tmp_path)])
        )
    assert code == 0
    out = capfd.readouterr().out
    assert "noex: node w-1 exited (1); restarting" in out
    assert "noex: node w-1 exited (0)" in out
    with trio.fail_after(LIMIT * 2):
        await _run.run_all(_run.parse([*args, "--no-restart", "tests.cluster_app:main", "crash"]))
    assert "noex: node w-1 exited (1); not restarted" in capfd.readouterr().out


async def test_a_node_in_this_process(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a node process runs: the application called with its configuration."""
    monkeypatch.setenv("NOEX_NODES", "solo")
    options = _run.parse(
        [
            "node",
            "tests.cluster_app:main",
            "calls",
            "--name",
            "solo",
            "--cluster",
            "c",
            "--servers",
            nats_server.url,
        ]
    )
    with trio.fail_after(LIMIT):
        await _run.run_node(options)


def test_bad_command_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _run.parse(["run", "--nodes", "0", "tests.cluster_app:main"])
    assert "--nodes must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="module:function"):
        _run.load("tests.cluster_app")
    with pytest.raises(SystemExit, match="not callable"):
        _run.load("tests.cluster_app:__doc__")
    with pytest.raises(ModuleNotFoundError):
        _run.load("no_such_module:main")


def test_sigterm_stops_every_node_in_order() -> None:
    """The command in a process of its own: SIGTERM -> each node's runtime stops in order
    (its processes' terminate runs), then the command exits 0."""
    command = [
        sys.executable,
        "-m",
        "noex_trio.cluster",
        "run",
        "--nodes",
        "2",
        "tests.cluster_app:main",
        "forever",
    ]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        up = set()
        for line in process.stdout:
            if line.endswith(" up\n"):
                up.add(line.split()[0])
            if len(up) == 2:
                break
        process.send_signal(signal.SIGTERM)
        rest = process.stdout.read()
        assert process.wait(timeout=LIMIT * 2) == 0
    assert "noex: SIGTERM: stopping the nodes" in rest
    for name in ("node-1", "node-2"):
        assert f"{name} terminated (shutdown)" in rest
        assert f"noex: node {name} exited (0)" in rest


async def test_stopping_the_nodes_in_order(
    nats_server: NatsServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """What Ctrl-C/SIGTERM does (here through `stop`): one SIGINT to each node, whose
    runtime stops in order, then the command returns."""
    url = nats_server.url
    stop = trio.Event()
    seen: list[Any] = []
    arrived: list[trio.Event] = []
    with trio.fail_after(LIMIT * 2):
        async with (
            open_runtime("observer", cluster=config(url, "observer")),
            trio.open_nursery() as nursery,
        ):
            watcher = await GenServer.start(Watcher, seen, arrived)
            await watcher.call(("run", _monitor_apps))
            options = _run.parse(
                ["run", "--nodes", "2", "--servers", url, "tests.cluster_app:main", "forever"]
            )
            nursery.start_soon(_run.run_all, options, stop)
            joined: set[Any] = set()
            read = 0
            while len(joined) < 2:  # every node's echo joined the group "apps": they are up
                change = await next_info(seen, arrived, read + 1)  # (each change, in order)
                read += 1
                assert isinstance(change, GroupChange)
                joined |= set(change.joined)
            stop.set()
    out, err = capfd.readouterr()
    for name in ("node-1", "node-2"):
        assert f"{name} terminated (shutdown)" in out
        assert f"noex: node {name} exited (0)" in out, err


async def _monitor_apps() -> None:
    await trio.lowlevel.checkpoint()
    assert Groups.monitor("apps") == []


def test_the_command_line_entry_point(capfd: pytest.CaptureFixture[str]) -> None:
    """``python -m noex_trio.cluster`` runs `_run.main` (here called directly)."""
    with pytest.raises(SystemExit):
        _run.main(["run", "--nodes", "0", "tests.cluster_app:main"])
    assert "--nodes must be at least 1" in capfd.readouterr().err
    assert _run.main(["run", "--nodes", "1", "tests.cluster_app:main", "calls"]) == 0
    assert "hi node-1 from node-1" in capfd.readouterr().out
