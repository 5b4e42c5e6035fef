"""Rounds, statistics, ratios, the table and the JSON file of ``python -m bench``.

Every scenario measures a noex_trio figure and its bare-Trio baseline in the same process, in
interleaved rounds (noex, bare, bare, noex, ...) so that drift of a noisy machine hits both
sides alike. A row keeps every round's figure; the table shows the median with min and max,
and the ratio is the median of the per-round ratios (each round's pair was measured back to
back, so its ratio is less noisy than a ratio of medians).

Two kinds of ratio:

- ``"speed"``: both figures are costs per operation (lower is better); the ratio is
  ``bare / noex``, i.e. noex's speed as a fraction of bare Trio's (1.0 = as fast, > 1 faster).
- ``"rate"``: both figures are rates (higher is better); the ratio is ``noex / bare``.
- ``"cost"``: the ratio is ``noex / bare`` (how many baselines the noex figure costs; lower is
  better). Used for memory and for restart latency expressed in bare round trips.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import trio

RatioKind = Literal["speed", "rate", "cost"]
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """What the command line asked for."""

    rounds: int
    quick: bool
    #: ``noex_trio._actor.INLINE_CALLS`` for the run (``--no-inline`` makes it False); None
    #: when this noex_trio has no inline call path.
    inline_calls: bool | None = None

    def n(self, full: int, quick: int) -> int:
        """A workload size: `full` normally, `quick` with ``--quick``."""
        return quick if self.quick else full


@dataclass(frozen=True)
class Target:
    """A performance target: ``ratio >= value`` or ``ratio <= value``; with `absolute`, the
    comparison is on the noex figure's median instead of the ratio."""

    op: Literal[">=", "<="]
    value: float
    absolute: bool = False

    def holds(self, figure: float) -> bool:
        return figure >= self.value if self.op == ">=" else figure <= self.value

    def __str__(self) -> str:
        return f"{'value' if self.absolute else 'ratio'} {self.op} {self.value:g}"


@dataclass
class Row:
    """One line of the table: a noex figure, its baseline, their ratio, maybe a target.

    `versus` names what the baseline is measured with (bare Trio for most rows; nats-py for
    the cluster call bench's)."""

    scenario: str
    what: str
    unit: str
    noex: list[float] = field(default_factory=list)
    baseline: str = ""
    bare: list[float] = field(default_factory=list)
    kind: RatioKind = "speed"
    target: Target | None = None
    note: str = ""
    ratios: list[float] = field(default_factory=list)
    versus: str = "bare Trio"

    def add(self, noex: float, bare: float | None = None) -> None:
        """Record one round (a pair measured back to back)."""
        self.noex.append(noex)
        if bare is not None:
            self.bare.append(bare)
            if noex > 0 and bare > 0:
                self.ratios.append(bare / noex if self.kind == "speed" else noex / bare)

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def ok(self) -> bool | None:
        if self.target is None:
            return None
        if self.target.absolute:
            return self.target.holds(statistics.median(self.noex)) if self.noex else None
        ratio = self.ratio
        return None if ratio is None else self.target.holds(ratio)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "what": self.what,
            "unit": self.unit,
            "noex": _summary(self.noex),
            "baseline": self.baseline or None,
            "versus": self.versus,
            "bare": _summary(self.bare) if self.bare else None,
            "ratio_kind": self.kind,
            "ratio": self.ratio,
            "ratios": self.ratios,
            "target": str(self.target) if self.target else None,
            "target_met": self.ok,
            "note": self.note or None,
        }


def _summary(values: Sequence[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "rounds": list(values),
    }


# --- timing ---------------------------------------------------------------------------------


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    """Seconds `fn()` takes on the real clock, after a full garbage collection."""
    gc.collect()
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def paired(
    round_index: int,
    noex: Callable[[], Awaitable[T]],
    bare: Callable[[], Awaitable[T]],
) -> tuple[T, T]:
    """Run one round of both sides, alternating which goes first; return (noex, bare)."""
    if round_index % 2:
        b = await bare()
        n = await noex()
    else:
        n = await noex()
        b = await bare()
    return n, b


async def interleaved(round_index: int, *sides: Callable[[], Awaitable[T]]) -> tuple[T, ...]:
    """Run one round of several sides (the noex side first in `sides`, then its baselines),
    forwards on even rounds and backwards on odd ones; return the figures in `sides`' order.

    With two sides this is `paired`; with a noex side and two baselines, each baseline is
    measured next to the noex side in every other round."""
    order = range(len(sides)) if round_index % 2 == 0 else reversed(range(len(sides)))
    figures: dict[int, T] = {}
    for i in order:
        figures[i] = await sides[i]()
    return tuple(figures[i] for i in range(len(sides)))


# --- output -----------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100_000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{_fmt(statistics.median(values))} ({_fmt(min(values))}-{_fmt(max(values))})"


def format_table(rows: Sequence[Row]) -> str:
    """The table printed by ``python -m bench``: medians with (min-max) of the rounds."""
    versus = {row.versus for row in rows}
    against = versus.pop() if len(versus) == 1 else "baseline"
    header = ["scenario", "unit", "noex_trio med (min-max)", f"{against} med (min-max)", "ratio"]
    header += ["target", "ok"]
    lines: list[list[str]] = []
    for row in rows:
        ratio = row.ratio
        ratio_text = "-" if ratio is None else f"{ratio:.2f}"
        if ratio is not None:
            ratio_text += " x bare" if row.kind == "cost" else " speed"
            if row.versus != against:
                ratio_text += f" vs {row.versus}"
        ok = row.ok
        lines.append(
            [
                f"{row.scenario}: {row.what}",
                row.unit,
                _cell(row.noex),
                _cell(row.bare),
                ratio_text,
                str(row.target) if row.target else "",
                "" if ok is None else ("PASS" if ok else "MISS"),
            ]
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = [
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out = [line.rstrip() for line in out]
    baselines = [
        f"  {row.scenario}: {row.what} -> "
        + (row.baseline if against == row.versus else f"{row.versus}: {row.baseline}")
        for row in rows
        if row.baseline
    ]
    notes = [f"  {row.scenario}: {row.what} -> {row.note}" for row in rows if row.note]
    if baselines:
        heading = f"{against}, same run" if against != "baseline" else "same run"
        out += ["", f"baselines ({heading}):", *baselines]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "trio": trio.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "executable": sys.executable,
    }


def write_json(path: Path, rows: Sequence[Row], settings: Settings, seconds: float) -> None:
    """Write the run's rows, settings and machine description to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "settings": {
            "rounds": settings.rounds,
            "quick": settings.quick,
            "inline_calls": settings.inline_calls,
        },
        "duration_s": round(seconds, 1),
        "rows": [row.to_json() for row in rows],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
