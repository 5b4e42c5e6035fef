"""noex's own benchmark shapes (``python -m bench --only noex``) run in their quickest form, so
that they cannot rot, and the opt-in million-process bench stays out of the default run. No
figure is asserted (timings are the bench's business, not the tests'): only that every shape
measured both sides and reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.__main__ import load_scenarios, opt_in_scenarios, selected
from bench.scenarios_memory import _run_many
from bench.scenarios_noex import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent

SHAPES = [
    "noex:genserver_start_stop",
    "noex:cast",
    "noex:call",
    "noex:supervisor",
    "noex:registry",
    "noex:event_bus",
]


def test_every_noex_shape_measures_both_sides(tmp_path: Path) -> None:
    results = tmp_path / "shapes.json"
    args = ["--quick", "--rounds", "1", "--only", "noex", "--json", str(results)]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(results.read_text())["rows"]
    assert [(row["scenario"], row["what"]) for row in rows] == [
        ("noex:genserver_start_stop", "1,000 x start + stop, sequential"),
        ("noex:cast", "10,000 casts + 1 call"),
        ("noex:call", "5,000 calls, sequential"),
        *(
            ("noex:supervisor", f"{what} with {n} children")
            for n in (10, 50, 100)
            for what in ("start", "stop")
        ),
        ("noex:registry", "1,000 x register"),
        ("noex:registry", "1,000 x lookup"),
        ("noex:event_bus", "1,000 publishes to 10 subscribers, until delivered"),
    ]
    for row in rows:
        assert row["ratio_kind"] == "rate"
        assert row["noex"]["median"] > 0
        assert row["bare"]["median"] > 0
        assert row["ratio"] > 0
        assert row["note"].startswith("noex (TypeScript on Node 20, another run and machine): ")
    assert "noex:call: 5,000 calls, sequential" in done.stdout


def test_the_shapes_are_named_and_selectable_one_by_one() -> None:
    scenarios = load_scenarios()
    assert list(SCENARIOS) == SHAPES
    assert all(name in scenarios for name in SHAPES)
    assert selected(["noex"], scenarios) == SHAPES
    assert selected(["noex:call", "call", "noex:call"], scenarios) == ["noex:call", "call"]


def test_the_million_is_opt_in() -> None:
    scenarios = load_scenarios()
    assert opt_in_scenarios() == {"1m"}
    default = selected(None, scenarios)
    assert "1m" not in default
    assert "100k" in default
    assert all(name in default for name in SHAPES)
    assert selected(["1m"], scenarios) == ["1m"]
    listing = subprocess.run(
        [sys.executable, "-m", "bench", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "1m  (opt-in)" in listing.stdout.splitlines()


def test_the_million_worker_runs_both_sides_small() -> None:
    """``python -m bench._many dynamic|bare N``, what ``--only 1m`` runs with N = 1 000 000."""
    for kind in ("dynamic", "bare"):
        result = _run_many(kind, 200)
        assert set(result) == {"start_s", "memory_bytes", "stop_s"}
        assert result["start_s"] > 0
        assert result["stop_s"] > 0
