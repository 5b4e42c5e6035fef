"""``python -m noex_trio.cluster run``: N nodes of an application on one machine."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from noex_trio.cluster import _run
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT

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
