"""Checks that a guide shows only tested code: its python blocks are regions of example files
(`docs/_include.py` keeps them in step), and every region of an example is shown."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load_include() -> ModuleType:
    """``docs/_include.py`` (not a package module: loaded from its path)."""
    spec = importlib.util.spec_from_file_location("docs_include", ROOT / "docs" / "_include.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_guide_up_to_date(guide: str) -> None:
    """Every include of ``docs/guides/<guide>.md`` holds its region's current code."""
    text = (ROOT / "docs" / "guides" / f"{guide}.md").read_text("utf-8")
    new, problems = load_include().process(text, write=False)
    assert problems == []
    assert new == text


def assert_every_region_included(guide: str, example: str) -> None:
    """The guide includes every region of ``examples/<example>.py``, and no other."""
    text = (ROOT / "docs" / "guides" / f"{guide}.md").read_text("utf-8")
    source = (ROOT / "examples" / f"{example}.py").read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    pattern = rf"<!-- include: examples/{re.escape(example)}\.py:([\w-]+) -->"
    assert regions == set(re.findall(pattern, text))
