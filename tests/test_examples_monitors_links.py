"""`examples/monitors_links.py` runs and does what its docstring and the guide say."""

from __future__ import annotations

import re

import pytest
import trio.testing

from examples import monitors_links


async def test_monitors_links_example(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = await monitors_links.main()
    assert lines[:5] == [
        "done job-1",
        "a crashed: cannot do 'bad'",
        """Exit from a: ValueError("cannot do 'bad'")""",  # trapped: the manager survived
        "Exit from b: 'normal'",  # a trapping process hears of normal exits too
        "Down from b: 'normal'",  # the monitor fires after the link (made later)
    ]
    assert re.fullmatch(
        r"c exited: linked process Manager#\d+ exited with RuntimeError\('manager gave up'\)",
        lines[5],
    )
    assert len(lines) == 6
    assert capsys.readouterr().out.splitlines() == lines
    assert trio.current_time() == 0  # nothing in it waits on time
