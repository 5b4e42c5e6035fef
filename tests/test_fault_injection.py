"""Issue 11's fault-injection campaign: random supervision trees, one fault per example.

The generator, the injection sites, the kinds of fault and the invariants are described in
`tests/fault_campaign.py`, which runs the examples in a fresh interpreter (a broken runtime can
hang or spin ``trio.run``, and Ctrl-C must not reach pytest). Each test below runs one kind of
fault over a fixed range of seeds and fails on the first example that breaks an invariant,
naming its seed and site; reproduce it with::

    PYTHONPATH=. python -m tests.fault_campaign <kind> <seed> 1

Environment:

- ``NOEX_CAMPAIGN_ALL=1``: do not stop at the first failing example (report them all).
- ``NOEX_CAMPAIGN_SEEDS=N``: examples per kind in the normal run (default 100). The ``slow``
  variant (``make test`` runs it too) runs 150 more per kind.
- ``NOEX_CAMPAIGN_HANG_SECONDS``: wall-clock seconds before an example counts as hung (10;
  generous, so that a loaded CI machine never reports a slow example as a hang).

The normal campaign takes about 10 s (an example takes about 10 ms); a failing kind costs at
most one hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.fault_campaign import KINDS
from tests.soundness_support import ROOT

SEEDS = int(os.environ.get("NOEX_CAMPAIGN_SEEDS", "100"))
SLOW_SEEDS = 150
STOP_AT_FIRST = os.environ.get("NOEX_CAMPAIGN_ALL", "") != "1"


def run_campaign(kind: str, seeds: range) -> tuple[int, list[dict[str, Any]]]:
    """Run the examples of `kind` for `seeds`; return (examples run, failing reports)."""
    failures: list[dict[str, Any]] = []
    ran = 0
    seed = seeds.start
    while seed < seeds.stop:
        done = subprocess.run(
            [sys.executable, "-m", "tests.fault_campaign", kind, str(seed), str(seeds.stop - seed)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        if not reports:
            pytest.fail(
                f"campaign {kind} from seed {seed} reported nothing:\n{done.stderr[-3000:]}"
            )
        for report in reports:
            ran += 1
            if report["raised"] == "HANG" or report["violations"]:
                failures.append(report)
                if STOP_AT_FIRST:
                    return ran, failures
        seed = reports[-1]["seed"] + 1  # after a hang, the interpreter was ended: go on
    return ran, failures


def summary(failures: list[dict[str, Any]]) -> str:
    """One line per failing example: seed, site, what trio.run did, the broken invariants."""
    lines = []
    for r in failures:
        broken = "; ".join(r.get("violations", []))
        lines.append(f"  seed {r['seed']} at {r['site']}: raised {r['raised']}; {broken}")
    return "\n".join(lines)


def check(kind: str, seeds: range) -> None:
    ran, failures = run_campaign(kind, seeds)
    assert failures == [], (
        f"{len(failures)} failing example(s); reproduce one with "
        f"PYTHONPATH=. python -m tests.fault_campaign {kind} <seed> 1\n" + summary(failures)
    )
    assert ran == len(seeds)


@pytest.mark.parametrize("kind", KINDS)
def test_fault_injection_campaign(kind: str) -> None:
    check(kind, range(SEEDS))


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_fault_injection_campaign_long(kind: str) -> None:
    check(kind, range(10_000, 10_000 + SLOW_SEEDS))
