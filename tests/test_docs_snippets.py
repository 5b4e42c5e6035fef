"""The guides show only tested code: every python block is a region of an example file."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDES = sorted((ROOT / "docs" / "guides").glob("*.md"))


def _load_include() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_include", ROOT / "docs" / "_include.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


include = _load_include()


IPC_GUIDE = ROOT / "docs" / "guides" / "inter-process-communication.md"
REGISTRY_GUIDE = ROOT / "docs" / "guides" / "registry.md"


@pytest.mark.parametrize("guide", [IPC_GUIDE, REGISTRY_GUIDE], ids=lambda guide: guide.name)
def test_guide_shows_only_tested_code(guide: Path) -> None:
    text = guide.read_text(encoding="utf-8")
    new, problems = include.process(text, write=False)
    assert problems == []
    assert new == text


@pytest.mark.parametrize("example", ["registry", "registry_services"])
def test_every_region_of_the_registry_examples_is_in_the_guide(example: str) -> None:
    source = (ROOT / "examples" / f"{example}.py").read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    included = set(
        re.findall(
            rf"<!-- include: examples/{example}\.py:([\w-]+) -->", REGISTRY_GUIDE.read_text("utf-8")
        )
    )
    assert regions == included


@pytest.mark.parametrize("guide", GUIDES, ids=[guide.name for guide in GUIDES])
def test_guide_includes_match_the_examples(guide: Path) -> None:
    # Every guide's includes must match; only the guides above must be all includes.
    _, problems = include.process(guide.read_text(encoding="utf-8"), write=False)
    assert [problem for problem in problems if "untested code" not in problem] == []


def test_every_ipc_example_is_in_the_guide() -> None:
    guide = IPC_GUIDE.read_text("utf-8")
    included = set(re.findall(r"<!-- include: (examples/ipc/\w+\.py):", guide))
    examples = {
        f"examples/ipc/{path.name}"
        for path in (ROOT / "examples" / "ipc").glob("*.py")
        if path.name != "__init__.py"
    }
    assert examples <= included


# --------------------------------------------------------------------------- the checker itself

EXAMPLE = """\
def f() -> int:
    # --8<-- [start:outer]
    x = 1
    # --8<-- [start:inner]
    y = 2
    # --8<-- [end:inner]
    # --8<-- [end:outer]
    return x + y
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "ex.py").write_text(EXAMPLE, encoding="utf-8")
    return tmp_path


def guide_with(body: str, region: str = "outer") -> str:
    return f"# Guide\n\n<!-- include: ex.py:{region} -->\n```python\n{body}```\n\ntext\n"


def test_region_is_dedented_without_other_markers(root: Path) -> None:
    assert include.region("ex.py", "outer", root) == "x = 1\ny = 2"
    assert include.region("ex.py", "inner", root) == "y = 2"


def test_matching_block_passes(root: Path) -> None:
    text = guide_with("x = 1\ny = 2\n")
    assert include.process(text, write=False, root=root) == (text, [])


def test_drift_is_reported_and_write_fixes_it(root: Path) -> None:
    text = guide_with("x = 1\n")
    _, problems = include.process(text, write=False, root=root)
    assert problems == ["line 4: block differs from ex.py:outer"]
    fixed, problems = include.process(text, write=True, root=root)
    assert problems == []
    assert fixed == guide_with("x = 1\ny = 2\n")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (guide_with("", region="nope"), "line 3: ex.py: no complete region 'nope'"),
        ("<!-- include: missing.py:a -->\n```python\n```\n", "line 1: missing.py: no such file"),
        ("```python\nprint(1)\n```\n", "line 1: python block without an include (untested code)"),
        ("<!-- include: ex.py:outer -->\n```text\n```\n", "line 1: an include must be followed"),
        ("<!-- include: ex.py:outer -->\n```python\nx = 1\n", "line 2: code block never closed"),
    ],
)
def test_problems(root: Path, text: str, problem: str) -> None:
    _, problems = include.process(text, write=False, root=root)
    assert len(problems) == 1
    assert problems[0].startswith(problem)


def test_other_blocks_are_left_alone(root: Path) -> None:
    text = "```text\nanything\n```\n\n```console\n$ make demo\n```\n"
    assert include.process(text, write=False, root=root) == (text, [])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("# --8<-- [start:a]\n# --8<-- [start:a]\n", "region 'a' starts twice"),
        ("# --8<-- [end:a]\n", "region 'a' ends before it starts"),
        ("# --8<-- [start:a]\nx = 1\n", "no complete region 'a'"),
    ],
)
def test_bad_markers(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "bad.py").write_text(source, encoding="utf-8")
    with pytest.raises(include.IncludeError, match=rf"^bad\.py: {re.escape(message)}$"):
        include.region("bad.py", "a", tmp_path)


def test_main(tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text("```python\nprint(1)\n```\n", encoding="utf-8")
    assert include.main([str(guide)]) == 1
    assert "untested code" in capsys.readouterr().err
    guide.write_text("no code\n", encoding="utf-8")
    assert include.main(["--write", str(guide)]) == 0
