"""`examples/otp_features.py` runs and prints what the GenServer guide shows."""

from __future__ import annotations

import re

import pytest
import trio.testing

from examples import otp_features


async def test_otp_features_example(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = await otp_features.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [
        "tea costs 3, answered after 2 s",
        "cart after 20 s: ['tea']",
        "cart ended after 52 s: ('shutdown', 'idle')",
        "metrics disabled: None",
    ]
    assert lines[4:6] == ["killed: killed", "stopped: ('shutdown', 'maintenance')"]
    assert re.fullmatch(r"<GenServerRef vault:ann#\d+> belongs to ann", lines[6])
    assert lines[7:] == ["rotate failed: the key server is down"]
    assert re.fullmatch(r"vault:ann#\d+ crashed \(supervisor: none\)", reports[0])
    assert reports[1:] == [
        "  last message: call 'rotate'",
        "  state: {'owner': 'ann', 'token': '<redacted>'}",
    ]
