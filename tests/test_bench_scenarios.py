"""The rows ``python -m bench`` gained for issue 17 (call against the careful ``send_nowait``
ping-pong, calls to an async handler, spawn+stop against a task with a channel, restart in
careful round trips) and the ``--no-inline`` flag, run with tiny workloads so that they cannot
rot. No figure is asserted (timings are the bench's business, not the tests'): only that each
row measured its noex side and its baselines, in the same rounds, and says what it compares."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio

import bench._harness
from bench import __main__ as bench_main
from bench._harness import Row, Settings, interleaved
from bench.scenarios_gen_server import (
    AWAIT_BASELINE,
    NOWAIT_BASELINE,
    call_round_trip,
    spawn_stop,
)
from bench.scenarios_supervisor import restart_latency
from noex_trio import _actor


class Tiny(Settings):
    """A tenth of the ``--quick`` sizes, one round (two for call, which doubles its rounds)."""

    def n(self, full: int, quick: int) -> int:
        return max(1, quick // 10)


TINY = Tiny(rounds=1, quick=True)


@pytest.fixture(autouse=True)
def no_collection_before_each_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench collects garbage before each figure (steadier figures); in a test session's
    heap each collection takes tens of milliseconds, most of a tiny run: skip them here."""
    monkeypatch.setattr(bench._harness, "gc", SimpleNamespace(collect=lambda: 0))


def run_scenario(scenario: Any) -> list[Row]:
    rows: list[Row] = trio.run(scenario, TINY)
    for row in rows:
        assert row.noex
        assert all(figure > 0 for figure in row.noex + row.bare)
        assert len(row.bare) == len(row.noex)
        assert row.ratio is not None
        assert row.ratio > 0
    return rows


def test_calls_are_measured_beside_both_ping_pongs() -> None:
    rows = run_scenario(call_round_trip)
    cases = [
        *(f"{how}, sync handler" for how in ("sequential", "10 concurrent callers")),
        "100 concurrent callers, sync handler",
        *(f"{how}, async handler" for how in ("sequential", "10 concurrent callers")),
    ]
    assert [row.what for row in rows] == [
        f"{case}, vs {versus} ping-pong"
        for case in cases
        for versus in ("send_nowait", "await-send")
    ]
    careful, plain = rows[::2], rows[1::2]
    assert {row.baseline for row in careful} == {NOWAIT_BASELINE}
    assert {row.baseline for row in plain} == {AWAIT_BASELINE}
    assert "send_nowait on both sides" in NOWAIT_BASELINE
    assert "await send" in AWAIT_BASELINE
    for nowait_row, await_row in zip(careful, plain, strict=True):
        # one noex measurement per round, beside both baselines
        assert nowait_row.noex == await_row.noex
        assert len(nowait_row.noex) == 2
    targets = {row.what: str(row.target) for row in rows if row.target}
    assert targets == {
        "sequential, sync handler, vs send_nowait ping-pong": "ratio >= 2",
        "sequential, sync handler, vs await-send ping-pong": "ratio >= 1.2",
        "10 concurrent callers, sync handler, vs await-send ping-pong": "ratio >= 1.2",
        "100 concurrent callers, sync handler, vs await-send ping-pong": "ratio >= 1.2",
    }


def test_spawn_stop_is_measured_beside_a_task_with_a_channel_and_a_trivial_task() -> None:
    channel, trivial = run_scenario(spawn_stop)
    assert channel.what == "GenServer.start + stop, sequential, vs a task with a channel"
    assert "task_status.started(send)" in channel.baseline
    assert "close the send side" in channel.baseline
    assert str(channel.target) == "ratio >= 0.8"
    assert trivial.what == "GenServer.start + stop, sequential, vs a trivial task"
    assert str(trivial.target) == "ratio >= 0.3"
    assert channel.noex == trivial.noex


def test_restart_latency_is_counted_in_careful_round_trips() -> None:
    (row,) = run_scenario(restart_latency)
    assert row.what == "crash -> restarted child replies, in send_nowait round trips"
    assert "send_nowait on both sides" in row.baseline
    assert row.kind == "cost"
    assert str(row.target) == "ratio <= 5"


def test_interleaved_rounds_alternate_the_order_and_keep_the_sides_order() -> None:
    order: list[str] = []

    def side(name: str) -> Any:
        async def measure() -> str:
            order.append(name)
            await trio.lowlevel.checkpoint()
            return name.upper()

        return measure

    async def main() -> list[tuple[str, ...]]:
        return [await interleaved(r, side("n"), side("a"), side("b")) for r in range(2)]

    assert trio.run(main) == [("N", "A", "B")] * 2
    assert order == ["n", "a", "b", "b", "a", "n"]


# --- --no-inline -----------------------------------------------------------------------------


def probe_main(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str
) -> tuple[list[object], dict[str, Any]]:
    """Run ``python -m bench`` in this interpreter with one scenario, ``probe``, that records
    the switch as the scenario sees it; return what it saw and the JSON settings."""
    seen: list[object] = []

    async def probe(settings: Settings) -> list[Row]:
        seen.append(getattr(_actor, "INLINE_CALLS", None))
        row = Row("probe", "switch", "us")
        row.add(1.0, 1.0)
        await trio.lowlevel.checkpoint()
        return [row]

    monkeypatch.setattr(bench_main, "load_scenarios", lambda: {"probe": probe})
    results = tmp_path / "probe.json"
    argv = ["--quick", "--rounds", "1", "--only", "probe", "--json", str(results), *args]
    assert bench_main.main(argv) == 0
    return seen, json.loads(results.read_text())["settings"]


def test_no_inline_turns_the_inline_path_off_for_the_run_and_records_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen, settings = probe_main(monkeypatch, tmp_path, "--no-inline")
    assert seen == [False]
    assert settings == {"rounds": 1, "quick": True, "inline_calls": False}
    assert "; inline calls OFF (--no-inline)" in capsys.readouterr().out.splitlines()[0]
    assert _actor.INLINE_CALLS is True  # restored once the run is over


def test_without_the_flag_the_run_records_the_inline_path_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen, settings = probe_main(monkeypatch, tmp_path)
    assert seen == [True]
    assert settings["inline_calls"] is True
    assert "; inline calls on" in capsys.readouterr().out.splitlines()[0]


def test_no_inline_is_refused_by_a_noex_trio_without_the_switch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delattr(_actor, "INLINE_CALLS")
    with pytest.raises(SystemExit) as exit_info:
        probe_main(monkeypatch, tmp_path, "--no-inline")
    assert exit_info.value.code == 2
    assert "this noex_trio has no inline call path" in capsys.readouterr().err
    seen, settings = probe_main(monkeypatch, tmp_path)
    assert seen == [None]
    assert settings["inline_calls"] is None
    assert "; no inline call path" in capsys.readouterr().out.splitlines()[0]
