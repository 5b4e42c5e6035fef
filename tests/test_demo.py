"""The demo (``make demo``) runs in virtual time here: short, seeded, with faults injected."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from examples import demo, demo_cluster

ROOT = Path(__file__).resolve().parent.parent


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def check_accounting(summary: demo.DemoSummary) -> None:
    assert summary.problems == []
    assert summary.ok
    assert summary.attempted > 0
    assert summary.attempted == (
        summary.confirmed + sum(summary.rejected.values()) + sum(summary.failed.values())
    )
    assert summary.published == summary.seen
    assert sum(summary.published.values()) == summary.attempted + summary.completed_after_timeout
    assert summary.emails == summary.confirmed + summary.completed_after_timeout
    assert summary.stock_initial == summary.stock_left + summary.stock_ordered
    assert not any(kind.startswith("unexpected") for kind in summary.failed)


async def test_demo_under_faults(autojump_clock: trio.testing.MockClock) -> None:
    out = io.StringIO()
    args = ["--duration", "10", "--seed", "1", "--crash-rate", "2", "--slow-rate", "0.5"]
    summary = await demo.main(args, out)
    check_accounting(summary)
    assert summary.crashes_injected > 0
    assert summary.stalls_injected > 0
    assert sum(summary.restarts.values()) > 0
    assert summary.failed  # stalls make callers time out, breakers refuse calls
    text = out.getvalue()
    assert "\x1b[" not in text  # not a terminal: plain lines
    assert "orders     attempted" in text
    # The library's dashboard, once, at the end: the tree with its restarts and alerts.
    assert text.count("noex_trio observer  runtime 'demo', in this process") == 1
    assert "Recent crashes and restarts" in text
    assert text.rstrip().endswith("the counts add up")


async def test_demo_without_faults(autojump_clock: trio.testing.MockClock) -> None:
    args = ["--duration", "4", "--seed", "2", "--crash-rate", "0", "--slow-rate", "0"]
    summary = await demo.main(args, io.StringIO())
    check_accounting(summary)
    assert summary.failed == {}
    assert sum(summary.restarts.values()) == 0
    assert (summary.crashes_injected, summary.stalls_injected) == (0, 0)


async def test_live_view_on_a_terminal(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # (rich redraws nothing on a "dumb" one)
    out = FakeTerminal()
    summary = await demo.main(["--duration", "2", "--seed", "3"], out)
    check_accounting(summary)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # (colours, cursor moves)
    frames = plain.split("noex_trio observer")
    assert len(frames) - 1 >= 5  # two a second, redrawn in place
    last = frames[-1]
    for label in (
        "app#",
        "├─ subscribers#",
        "│  ├─ email#",
        "└─ services#",
        "└─ inventory-service#",
    ):
        assert label in last
    assert "orders     attempted" in last


async def test_a_supervision_tree_that_gives_up_is_reported(
    autojump_clock: trio.testing.MockClock,
) -> None:
    args = ["--duration", "5", "--seed", "4", "--crash-rate", "20", "--max-restarts", "3"]
    summary = await demo.main(args, io.StringIO())
    assert not summary.ok
    assert len(summary.problems) == 1
    assert summary.problems[0] == (
        "the supervision tree gave up: app#2 gave up: more than 3 restarts in 10.0 s"
    )


async def test_random_seed_by_default(autojump_clock: trio.testing.MockClock) -> None:
    summary = await demo.main(["--duration", "1", "--crash-rate", "0", "--slow-rate", "0"])
    assert summary.options.seed is not None
    check_accounting(summary)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "0"], "--duration must be > 0"),
        (["--rate", "-1"], "--rate must be > 0"),
        (["--crash-rate", "-0.1"], "--crash-rate must be >= 0"),
        (["--slow-rate", "inf"], "--slow-rate must be >= 0"),
        (["--max-restarts", "-1"], "--max-restarts must be >= 0"),
    ],
)
def test_bad_options(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        demo.parse_args(args)
    assert message in capsys.readouterr().err


def test_cluster_mode_survives_a_killed_node() -> None:
    """``python -m examples.demo --cluster``: real worker processes and a real nats-server;
    the order service's node is SIGKILLed under load and the books still balance."""
    command = [sys.executable, "-m", "examples.demo", "--cluster", "--duration", "4"]
    command += ["--kill-at", "1.5", "--nodes", "3", "--seed", "5"]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    killed = re.search(r"KILL -9 node (w-\d) \(pid \d+\), running (.*order-service.*)", out)
    assert killed is not None, out
    victim = killed.group(1)
    moved = re.search(r"order-service restarted on (w-\d) \(restart 1\)", out)
    assert moved is not None, out
    assert moved.group(1) != victim
    before, after = out.split("the tree before the kill:")[1], out.split("the tree at the end:")[1]
    assert re.search(rf"order-service +on {victim} +restarts 0", before)
    assert re.search(rf"order-service +on {moved.group(1)} +restarts 1", after)
    assert f"{victim} (killed by SIGKILL)" in out
    assert re.search(r"  [ \d]{3} s +\d+ placed +\d+ confirmed", out)  # a line a second
    assert out.rstrip().endswith("the db holds exactly the confirmed orders, the stock adds up")


def test_cluster_mode_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        demo_cluster.parse_args(["--cluster", "--nodes", "1"])
    assert "--nodes must be at least 2" in capsys.readouterr().err
