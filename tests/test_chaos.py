"""Chaos under load, in virtual time: see ``tests/chaos.py`` for the scenario and invariants.

Each seed shakes the tree for `VIRTUAL_SECONDS` of virtual time; ``make soak`` runs the same
scenario on the real clock for as long as asked.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from .chaos import ChaosConfig, run_chaos

SEEDS = [1, 2, 3, 4]
VIRTUAL_SECONDS = 10.0


@pytest.mark.parametrize("seed", SEEDS)
def test_chaos_under_load(seed: int) -> None:
    # Scheduling order is part of what a seed fixes (trio shuffles runnable tasks).
    trio._core._run._r.seed(seed)
    clock = trio.testing.MockClock(autojump_threshold=0)
    report = trio.run(run_chaos, ChaosConfig(seed=seed, duration=VIRTUAL_SECONDS), clock=clock)
    print(report.summary())
    assert report.violations == []
    assert sum(report.faults.values()) > 100
    assert report.calls > 100
