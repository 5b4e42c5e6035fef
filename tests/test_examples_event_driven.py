"""`examples/event_driven.py` runs and does what the EventBus guide says it does."""

from __future__ import annotations

from typing import Any

import pytest

from examples import event_driven


async def test_event_driven_example(
    autojump_clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    report = await event_driven.main()
    assert report.emails == [
        "to alice@example.com: welcome!",
        "to user 1: order 1 confirmed",
    ]
    assert report.tracked == ["user.created", "order.placed", "order.shipped", "app.stopping"]
    assert "email to alice@example.com: welcome!" in capsys.readouterr().out
