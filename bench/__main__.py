"""``python -m bench``: run the benchmark scenarios, print the table, write the JSON file.

Options:
    --quick         smaller workloads and 3 rounds (for development; figures are noisier)
    --only NAME     run only this scenario (repeatable); names: see ``--list``. ``--only noex``
                    runs every ``noex:*`` scenario (noex's own benchmark shapes)
    --rounds N      rounds per scenario (default 5, or 3 with --quick)
    --json PATH     where to write the results (default bench/results/latest.json)
    --list          list the scenario names and exit
    --no-inline     run with the inline call path off (``noex_trio._actor.INLINE_CALLS =
                    False``, set before any scenario starts a process), to compare before and
                    after on one machine; the table header and the JSON settings record it

Each scenario group runs in its own ``trio.run`` on the real clock. Opt-in scenarios (``1m``:
a million processes, minutes and GiBs) run only when named with ``--only``. See
docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from noex_trio import _actor

from ._harness import Row, Settings, format_table, machine, write_json

Scenario = Callable[[Settings], Awaitable[list[Row]]]

#: Scenario modules, in the order their scenarios run.
MODULES = (
    "scenarios_gen_server",
    "scenarios_supervisor",
    "scenarios_services",
    "scenarios_event_bus",
    "scenarios_noex",
    "scenarios_memory",
    "cluster_call",
)


def load_scenarios() -> dict[str, Scenario]:
    """Every scenario by name; a module that cannot be imported is reported and skipped."""
    scenarios: dict[str, Scenario] = {}
    for module_name in MODULES:
        module = _load(module_name)
        if module is not None:
            scenarios.update(module.SCENARIOS)
    return scenarios


def opt_in_scenarios() -> frozenset[str]:
    """The scenarios that run only when named with ``--only`` (a module's ``OPT_IN``)."""
    names: set[str] = set()
    for module_name in MODULES:
        module = _load(module_name)
        names |= getattr(module, "OPT_IN", frozenset())
    return frozenset(names)


def _load(module_name: str) -> Any:
    try:
        return importlib.import_module(f"{__package__}.{module_name}")
    except ImportError as exc:
        print(f"skipping {module_name}: {exc}", file=sys.stderr)
        return None


#: ``--only GROUP`` selects every scenario named ``GROUP:...``.
GROUPS = ("noex",)


def selected(only: list[str] | None, scenarios: dict[str, Scenario]) -> list[str]:
    """The scenarios to run, in order: those named (a group stands for its members), else every
    scenario that is not opt-in."""
    if not only:
        opt_in = opt_in_scenarios()
        return [name for name in scenarios if name not in opt_in]
    names: list[str] = []
    for name in only:
        members = [s for s in scenarios if s.startswith(f"{name}:")] if name in GROUPS else [name]
        names += [member for member in members if member not in names]
    return names


DEFAULT_JSON = Path(__file__).parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    scenarios = load_scenarios()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small workloads, 3 rounds")
    parser.add_argument("--only", action="append", metavar="NAME", choices=[*scenarios, *GROUPS])
    parser.add_argument("--rounds", type=int, default=None, metavar="N")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH")
    parser.add_argument("--list", action="store_true", help="list scenario names and exit")
    parser.add_argument(
        "--no-inline",
        action="store_true",
        help="turn the inline call path off (noex_trio._actor.INLINE_CALLS = False)",
    )
    args = parser.parse_args(argv)
    if args.list:
        opt_in = opt_in_scenarios()
        print("\n".join(f"{n}  (opt-in)" if n in opt_in else n for n in scenarios))
        return 0
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 5)
    if rounds < 1:
        parser.error("--rounds must be >= 1")
    inline_calls: bool | None = getattr(_actor, "INLINE_CALLS", None)
    if not args.no_inline:
        _run(args.only, args.json, scenarios, Settings(rounds, args.quick, inline_calls))
        return 0
    if inline_calls is None:
        parser.error("--no-inline: this noex_trio has no inline call path (_actor.INLINE_CALLS)")
    # Read when a process's loop starts: set before any scenario starts one; restored after,
    # as main() may be called again in the same interpreter.
    _actor.INLINE_CALLS = False
    try:
        _run(args.only, args.json, scenarios, Settings(rounds, args.quick, inline_calls=False))
    finally:
        _actor.INLINE_CALLS = inline_calls
    return 0


def _inline_text(inline_calls: bool | None) -> str:
    if inline_calls is None:
        return "no inline call path"
    return "inline calls " + ("on" if inline_calls else "OFF (--no-inline)")


def _run(
    only: list[str] | None, json_path: Path, scenarios: dict[str, Scenario], settings: Settings
) -> None:
    logging.basicConfig(level=logging.CRITICAL)  # crashes provoked on purpose are not news
    info = machine()
    print(
        f"noex_trio benchmarks - CPython {info['python']}, trio {info['trio']}, "
        f"{info['cpus']} CPUs, {info['platform']}; {settings.rounds} rounds"
        + (" (quick)" if settings.quick else "")
        + f"; {_inline_text(settings.inline_calls)}",
        flush=True,
    )
    started = time.perf_counter()
    rows: list[Row] = []
    for name in selected(only, scenarios):
        t0 = time.perf_counter()
        print(f"  running {name} ...", end="", flush=True)
        scenario_rows = trio.run(scenarios[name], settings)
        rows += scenario_rows
        print(f" {time.perf_counter() - t0:.1f} s", flush=True)
    seconds = time.perf_counter() - started
    print()
    print(format_table(rows))
    print(f"\ntotal {seconds:.0f} s; results written to {json_path}")
    write_json(json_path, rows, settings, seconds)
    misses = [row for row in rows if row.ok is False]
    if misses:
        print(
            f"{len(misses)} target(s) missed: "
            + ", ".join(f"{r.scenario}: {r.what}" for r in misses)
        )


if __name__ == "__main__":
    sys.exit(main())
