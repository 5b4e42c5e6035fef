"""``make soak``: the chaos scenario of ``tests/chaos.py`` on the real clock, for a while.

    python -m tests.soak --duration 60 --seed 1

Runs rounds of ``--round`` seconds (each a fresh runtime and tree, seeds ``seed``,
``seed + 1``, …) until ``--duration`` seconds have passed, so that the end-of-run checks
(every process terminated once, no task left, nothing leaked) run many times too. Prints the
figures (faults injected, calls made, invariant checks, violations) and exits with status 1 if
any invariant was violated.
"""

from __future__ import annotations

import argparse
import sys
import time

import trio

from .chaos import ChaosConfig, ChaosReport, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds in all (60)")
    parser.add_argument("--round", type=float, default=10.0, help="seconds per round (10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first round (1)")
    parser.add_argument("--clients", type=int, default=16, help="client tasks (16)")
    parser.add_argument(
        "--fault-interval", type=float, default=0.002, help="mean seconds between faults (0.002)"
    )
    parser.add_argument(
        "--op-interval",
        type=float,
        default=0.001,
        help="mean seconds between two ops of a client (0.001)",
    )
    args = parser.parse_args(argv)
    if not args.duration > 0 or not args.round > 0:
        parser.error("--duration and --round must be > 0")

    total = ChaosReport()
    started = time.monotonic()
    seed = args.seed
    while (left := args.duration - (time.monotonic() - started)) > 0:
        config = ChaosConfig(
            seed=seed,
            duration=min(args.round, left),
            clients=args.clients,
            op_interval=args.op_interval,
            fault_interval=args.fault_interval,
        )
        report = trio.run(run_chaos, config)
        print(
            f"round {seed}: {sum(report.faults.values())} faults, "
            f"{report.calls} calls, {report.checks} checks, "
            f"{len(report.violations)} violations",
            flush=True,
        )
        total.add(report)
        seed += 1
    print(f"\nsoak: {time.monotonic() - started:.1f} s on the real clock")
    print(total.summary())
    return 1 if total.violations else 0


if __name__ == "__main__":
    sys.exit(main())
