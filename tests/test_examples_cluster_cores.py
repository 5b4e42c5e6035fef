"""``examples/cluster_cores.py`` under ``python -m noex_trio.cluster run --nodes 2``; the guide
shows that code."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.cluster_support import LIMIT
from tests.docs_support import assert_every_region_included

ROOT = Path(__file__).resolve().parent.parent


def test_two_nodes_share_the_keys() -> None:
    command = [
        sys.executable,
        "-m",
        "noex_trio.cluster",
        "run",
        "--nodes",
        "2",
        "examples.cluster_cores:main",
    ]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            if re.match(r"node-\d: ", line):
                lines.append(line.strip())
            if len(lines) == 6:
                break
        process.send_signal(signal.SIGTERM)
        process.stdout.read()
        assert process.wait(timeout=LIMIT * 2) == 0
    for line in lines:
        assert re.fullmatch(r"node-[12]: (apples|pears|plums) -> node-[12] \([12]\)", line)
    for key in ("apples", "pears", "plums"):  # one owner per key, counting both nodes' calls
        counts = sorted(line[-2] for line in lines if f" {key} " in line)
        owners = {line.split(" -> ")[1].split()[0] for line in lines if f" {key} " in line}
        assert counts == ["1", "2"]
        assert len(owners) == 1


def test_guide_includes_every_region() -> None:
    assert_every_region_included("cluster", "cluster_cores")
