"""The cluster call bench (``python -m bench.cluster_call``) runs, in its quickest mode, so that
it cannot rot. No figure is asserted (timings are the bench's business, not the tests'): only
that every side ran against a real nats-server and child processes, and reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench._harness import Row, format_table
from bench.cluster_call import CALLERS, LABELS

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_bench_measures_every_side_beside_nats_py(tmp_path: Path) -> None:
    results = tmp_path / "cluster_call.json"
    done = run("bench.cluster_call", "--quick", "--rounds", "1", "--json", str(results))
    assert done.returncode == 0, done.stderr
    rows = json.loads(results.read_text())["rows"]
    assert [row["what"] for row in rows] == [
        f"{label}, {how}"
        for label in LABELS.values()
        for how in ("sequential", f"{CALLERS} concurrent callers")
    ]
    for row in rows:
        assert row["versus"] == "nats-py"
        assert row["noex"]["median"] > 0
        assert row["bare"]["median"] > 0
        assert row["ratio"] > 0
    assert "nats-py med (min-max)" in done.stdout
    assert "node.request, sequential" in done.stdout


def test_python_m_bench_includes_it() -> None:
    done = run("bench", "--list")
    assert done.returncode == 0, done.stderr
    assert "cluster_call" in done.stdout.split()


def test_a_table_with_two_kinds_of_baseline_names_each() -> None:
    bare = Row("call", "sequential", "us/call", baseline="two memory channels")
    bare.add(10.0, 12.0)
    remote = Row(
        "cluster_call", "sequential", "us/call", baseline="request/reply", versus="nats-py"
    )
    remote.add(400.0, 300.0)
    table = format_table([bare, remote])
    assert "baseline med (min-max)" in table
    assert "0.75 speed vs nats-py" in table
    assert "1.20 speed vs bare Trio" in table
    assert "cluster_call: sequential -> nats-py: request/reply" in table
    alone = format_table([remote])
    assert "nats-py med (min-max)" in alone
    assert "baselines (nats-py, same run):" in alone
    assert "vs nats-py" not in alone


def test_the_detection_bench_runs() -> None:
    """``python -m bench.cluster_detection`` (kill -9 of a node, a monitor's Down): one kill."""
    done = run("bench.cluster_detection", "--kills", "1")
    assert done.returncode == 0, done.stderr
    assert "NodeDown: min" in done.stdout
    assert "Down in a monitoring process: min" in done.stdout


def test_the_failover_bench_runs() -> None:
    """``python -m bench.cluster_failover`` (kill -9 of a supervised child's node): one kill."""
    done = run("bench.cluster_failover", "--kills", "1")
    assert done.returncode == 0, done.stderr
    assert "restarted child answering on another node, over 1 kills" in done.stdout


def test_the_cores_bench_runs() -> None:
    """``python -m bench.cluster_cores`` (1 node against 2 nodes): one short round."""
    done = run("bench.cluster_cores", "--rounds", "1", "--seconds", "0.3")
    assert done.returncode == 0, done.stderr
    assert "aggregate throughput (CPU-bound local calls): 1 node" in done.stdout


def test_the_names_bench_runs() -> None:
    """``python -m bench.cluster_names`` (global-name registrations): a few names."""
    done = run("bench.cluster_names", "--names", "20")
    assert done.returncode == 0, done.stderr
    assert "global names (20): register" in done.stdout
