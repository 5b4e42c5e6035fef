"""The inline call path is invisible: random programs run alike with it on and off.

Issue 17's inline path runs a sync ``handle_call`` in the caller's task when the process is
idle, and hands everything else to the process's own task. This file runs the same program
twice, each in its own ``trio.run`` on a `MockClock`, with ``noex_trio._actor.INLINE_CALLS``
True and then False, and compares everything a user can observe (`tests/inline_programs.py`
says what and how). First a Hypothesis machine over random programs, then a handful of explicit
programs, one per handover case, so a failure there reads as a sentence.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from .inline_programs import Program, first_difference, programs, run_program, show


def assert_equivalent(program: Program) -> dict[str, list[tuple[int, object]]]:
    inline = run_program(program, inline=True)
    queued = run_program(program, inline=False)
    difference = first_difference(inline, queued)
    assert difference is None, f"{difference}\n--- inline:\n{show(inline)}\n--- queued:\n{show(queued)}"
    return inline


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(program=programs())
def test_random_programs_run_alike_inline_and_queued(program: Program) -> None:
    assert_equivalent(program)
