"""``examples/observer_web.py`` runs and prints what the web observer guide shows; the guide
shows only that tested code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from examples import observer_web

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guides" / "observer-web.md"


def _include() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_include", ROOT / "docs" / "_include.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_dashboard() -> None:
    lines = await observer_web.dashboard()
    assert re.fullmatch(r"dashboard at http://127\.0\.0\.1:\d+/", lines[0])
    assert lines[1:4] == [
        "inventory#3: worker, 0 children",
        "payments#4: worker, 0 children",
        "carts#5: supervisor, 3 children",
    ]
    assert lines[4:] == ["noex_processes 8"]


async def test_supervised() -> None:
    assert await observer_web.supervised() == [
        "children: ['shop', 'observer-web']",
        "listening: True",
    ]


async def test_alert_rules() -> None:
    assert await observer_web.alert_rules() == [
        "mailbox_length = 1000",
        "mailbox_samples = 10",
        "restarts = 5",
        "restart_window = 30.0",
        "long_call = 0.5",
    ]


async def test_opentelemetry() -> None:
    assert await observer_web.opentelemetry() == ["noex.processes = 8"]


def test_the_guide_shows_only_tested_code() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    new, problems = _include().process(text, write=False)
    assert problems == []
    assert new == text
    source = (ROOT / "examples" / "observer_web.py").read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    assert regions == set(re.findall(r"<!-- include: examples/observer_web\.py:([\w-]+) -->", text))
