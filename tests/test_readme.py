"""The README's example is `examples/quickstart.py`, and it does what the README says."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import trio.testing

from examples import demo, quickstart

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_example_is_the_quickstart_file() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    assert blocks, "README has no python example"
    source = (ROOT / "examples" / "quickstart.py").read_text()
    assert blocks[0] in source
    assert len(blocks[0].splitlines()) <= 20


async def test_quickstart_counts_crashes_and_recovers(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await quickstart.main() == 0  # a fresh state after the restart
    assert capsys.readouterr().out.splitlines() == ["count: 5"]


def test_running_the_quickstart_shows_the_crash_report() -> None:
    # What the README promises for `python -m examples.quickstart`: two lines on stdout, the
    # crash report on stderr (the script configures logging; the library does not).
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "examples.quickstart"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == ["count: 5", "after the restart: 0"]
    assert re.match(
        r"ERROR:noex_trio:counter#\d+ crashed \(supervisor: Supervisor#\d+\)\n"
        r"  last message: cast 'oops'\n  state: 5\nTraceback",
        done.stderr,
    )
    assert done.stderr.rstrip().endswith(
        "TypeError: unsupported operand type(s) for +: 'int' and 'str'"
    )
    assert "python -m examples.quickstart" in README


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ([], "  crash reports: not shown (they would tear the live view); --log FILE keeps them"),
        (["--log", "crashes.log"], "  crash reports: in crashes.log"),
    ],
)
async def test_the_demo_says_where_crash_reports_went(
    autojump_clock: trio.testing.MockClock, args: list[str], line: str
) -> None:
    out = io.StringIO()
    argv = ["--duration", "1", "--seed", "1", "--crash-rate", "0", "--slow-rate", "0", *args]
    await demo.main(argv, out)
    assert line in out.getvalue().splitlines()
    assert "--log FILE" in README
