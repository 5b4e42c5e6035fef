"""Keep the code in the guides identical to the tested example files.

A guide includes a region of an example file like this::

    <!-- include: examples/ipc/direct.py:call -->
    ```python
    ...the region, verbatim (dedented)...
    ```

and the example marks the region with ``# --8<-- [start:call]`` / ``# --8<-- [end:call]``
comments (other markers inside a region are left out). Every ``python`` code block of a guide
must be such an include, so no untested code reaches the docs.

    python docs/_include.py docs/guides/*.md          # check (exit 1 on drift)
    python docs/_include.py --write docs/guides/*.md  # rewrite the blocks from the examples

``tests/test_docs_snippets.py`` runs the check.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_INCLUDE = re.compile(r"^<!-- include: (?P<path>[^:\s]+):(?P<region>[\w-]+) -->$")
_FENCE_OPEN = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*# --8<-- \[(?P<kind>start|end):(?P<name>[\w-]+)\]\s*$")


class IncludeError(Exception):
    """A guide refers to a file or region that does not exist."""


def region(path: str, name: str, root: Path = ROOT) -> str:
    """The text of region `name` of the file `path` (relative to `root`), dedented."""
    file = root / path
    if not file.is_file():
        raise IncludeError(f"{path}: no such file")
    lines: list[str] | None = None
    for line in file.read_text(encoding="utf-8").splitlines():
        marker = _MARKER.match(line)
        if marker is None:
            if lines is not None:
                lines.append(line)
            continue
        if marker["name"] != name:
            continue  # markers of other regions are not part of the text
        if marker["kind"] == "start":
            if lines is not None:
                raise IncludeError(f"{path}: region {name!r} starts twice")
            lines = []
        else:
            if lines is None:
                raise IncludeError(f"{path}: region {name!r} ends before it starts")
            return textwrap.dedent("\n".join(lines)).strip("\n")
    raise IncludeError(f"{path}: no complete region {name!r}")


def process(text: str, *, write: bool, root: Path = ROOT) -> tuple[str, list[str]]:
    """Check (or rewrite) the includes of a guide; return the new text and the problems."""
    lines = text.splitlines()
    out: list[str] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        include = _INCLUDE.match(line)
        fence = _FENCE_OPEN.match(line)
        if include is None and fence is None:
            out.append(line)
            i += 1
            continue
        if include is not None:
            out.append(line)
            i += 1
            fence = _FENCE_OPEN.match(lines[i]) if i < len(lines) else None
            if fence is None or fence["lang"] != "python":
                problems.append(f"line {i}: an include must be followed by a ```python block")
                continue
        assert fence is not None
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            problems.append(f"line {i + 1}: code block never closed")
            out.extend(lines[i:])
            break
        body = "\n".join(lines[i + 1 : end])
        if include is None:
            if fence["lang"] == "python":
                problems.append(f"line {i + 1}: python block without an include (untested code)")
            out.extend(lines[i : end + 1])
        else:
            try:
                wanted = region(include["path"], include["region"], root)
            except IncludeError as error:
                problems.append(f"line {i}: {error}")
                wanted = body
            if body != wanted and not write:
                problems.append(
                    f"line {i + 1}: block differs from {include['path']}:{include['region']}"
                )
            out.append(lines[i])
            out.extend((wanted if write else body).splitlines())
            out.append(lines[end])
        i = end + 1
    return "\n".join(out) + "\n", problems


def main(argv: list[str]) -> int:
    write = "--write" in argv
    paths = [arg for arg in argv if arg != "--write"]
    status = 0
    for name in paths:
        path = Path(name)
        new, problems = process(path.read_text(encoding="utf-8"), write=write)
        for problem in problems:
            print(f"{name}: {problem}", file=sys.stderr)
            status = 1
        if write:
            path.write_text(new, encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
