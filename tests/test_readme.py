"""The README's example is `examples/quickstart.py`, and it does what the README says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio.testing

from examples import quickstart

ROOT = Path(__file__).resolve().parent.parent


def test_readme_example_is_the_quickstart_file() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert blocks, "README has no python example"
    source = (ROOT / "examples" / "quickstart.py").read_text()
    assert blocks[0] in source
    assert len(blocks[0].splitlines()) <= 20


async def test_quickstart_counts_crashes_and_recovers(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await quickstart.main() == 0  # a fresh state after the restart
    assert capsys.readouterr().out.splitlines() == ["count: 5"]
