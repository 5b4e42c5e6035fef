"""The observer is opt-in: importing the library imports none of it, nor its extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import noex_trio.observer

ROOT = Path(__file__).resolve().parent.parent


def imported_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has imported after running `statement`."""
    code = f"import sys\n{statement}\nprint([m for m in {modules!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return eval(result.stdout)  # type: ignore[no-any-return]


EXTRAS = ("hypercorn", "rich", "opentelemetry", "httpx", "playwright")


@pytest.mark.parametrize("statement", ["import noex_trio", "import noex_trio.testing"])
def test_the_library_imports_no_observer(statement: str) -> None:
    assert imported_after(statement, ("noex_trio.observer", *EXTRAS)) == []


def test_the_observer_imports_its_extras_only_when_used() -> None:
    assert imported_after("import noex_trio.observer", ("hypercorn", "opentelemetry")) == []


def test_the_observers_public_names() -> None:
    names = noex_trio.observer.__all__
    assert names == sorted(names)
    for name in names:
        obj = getattr(noex_trio.observer, name)
        assert obj.__module__ == "noex_trio.observer", name
