"""The types check what they promise: mypy runs on the cases in ``tests/typing_cases/``.

Each case file holds code mypy must accept (``assert_type`` pins the types) and lines it must
reject. A rejected line ends with ``# type: ignore[code, ...]`` — so the project's own mypy run
(strict, hence ``warn_unused_ignores``) fails as soon as the error goes away — and the comment
above it, ``# E: ...``, is part of the message mypy must give there. Here mypy runs once on
copies of the cases without the ignores, with the project's settings, and every rejected line
is checked for its error codes and message; every other line must be clean.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import NamedTuple

import mypy.api
import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "typing_cases"

_IGNORE = re.compile(r"\s*# type: ignore\[(?P<codes>[\w, -]+)\]$", re.MULTILINE)
_EXPECT = re.compile(r"^\s*# E: (?P<message>.+)$")
_ERROR = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<message>.*)  \[(?P<code>[\w-]+)\]$"
)


class Rejected(NamedTuple):
    """A line mypy must reject: where, with which error codes, and a part of the message."""

    file: str
    line: int
    codes: frozenset[str]
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def _rejected(path: Path) -> list[Rejected]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines, start=1):
        ignore = _IGNORE.search(line)
        if ignore is None:
            continue
        expect = _EXPECT.match(lines[number - 2])
        assert expect is not None, f"{path.name}:{number}: no '# E: ...' line above the ignore"
        codes = frozenset(code.strip() for code in ignore["codes"].split(","))
        found.append(Rejected(path.name, number, codes, expect["message"]))
    return found


FILES = sorted(CASES.glob("case_*.py"))
REJECTED = [case for path in FILES for case in _rejected(path)]

#: (file name, line) -> [(code, message), ...] as mypy reported them.
Report = dict[tuple[str, int], list[tuple[str, str]]]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """Run mypy once on all cases, the ignores taken out, with the project's strictness."""
    tmp = tmp_path_factory.mktemp("typing")
    cases = tmp / "cases"
    cases.mkdir()
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        (cases / path.name).write_text(_IGNORE.sub("", text), encoding="utf-8")
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mypy"]
    config = tmp / "mypy.ini"
    config.write_text(
        "[mypy]\n"
        f"python_version = {settings['python_version']}\n"
        f"strict = {settings['strict']}\n"
        f"warn_unreachable = {settings['warn_unreachable']}\n"
        # This checkout's noex_trio, before any installed copy.
        f"mypy_path = {ROOT}\n",
        encoding="utf-8",
    )
    stdout, stderr, status = mypy.api.run(
        [
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp / "cache"),
            "--no-pretty",
            "--no-error-summary",
            "--hide-error-context",
            *(str(cases / path.name) for path in FILES),
        ]
    )
    assert status in (0, 1), stderr  # 2: mypy itself failed
    found: Report = {}
    for line in stdout.splitlines():
        error = _ERROR.match(line)
        if error is not None:
            key = (Path(error["file"]).name, int(error["line"]))
            found.setdefault(key, []).append((error["code"], error["message"]))
    return found


def test_there_are_cases() -> None:
    assert {path.name for path in FILES} >= {
        "case_start.py",
        "case_ignore.py",
        "case_self.py",
        "case_supervisor.py",
        "case_messages.py",
    }
    assert len(REJECTED) >= 20


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_accepted(report: Report, path: Path) -> None:
    expected = {(case.file, case.line) for case in REJECTED}
    unexpected = {
        key: errors for key, errors in report.items() if key[0] == path.name and key not in expected
    }
    assert unexpected == {}


@pytest.mark.parametrize("case", REJECTED, ids=str)
def test_rejected(report: Report, case: Rejected) -> None:
    errors = report.get((case.file, case.line), [])
    codes = frozenset(code for code, _ in errors)
    assert (codes, any(case.message in message for _, message in errors)) == (
        case.codes,
        True,
    ), errors
