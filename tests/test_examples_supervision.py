"""``examples/supervision_tree.py`` runs and does what its docstring and the guide say; so does
the guide's Shutdown section about a killed supervisor."""

from __future__ import annotations

import trio
import trio.testing

from examples import supervision_tree
from noex_trio import Runtime, Supervisor, SupervisorRef
from noex_trio.testing import kill, wait_exit, wait_for_restart

from .supervisor_helpers import Journal, child_ref, worker


async def test_supervision_tree(autojump_clock: trio.testing.MockClock) -> None:
    lines = await supervision_tree.main()
    assert lines == [
        "app: pipeline (restarts: 0), jobs (restarts: 0)",
        "order book: row 1",
        # rest_for_one: db's crash takes orders down too (in reverse), both start again.
        "db stopped (ConnectionError('database connection lost'))",
        "db crashed: database connection lost",
        "orders stopped ('shutdown')",
        "pipeline: db (restarts: 1), orders (restarts: 0)",
        "order book: row 1",
        # A transient job that finished is removed; ids are never reused.
        "resize done",
        "jobs: child_2 (restarts: 0), child_3 (restarts: 0)",
        # Three restarts in 5 s are tolerated, the fourth crash escalates to app.
        "attempt 1: upload failed",
        "attempt 2: upload failed",
        "attempt 3: upload failed",
        "attempt 4: upload failed",
        "jobs restarted by app: 0 children",
        "app: pipeline (restarts: 0), jobs (restarts: 1)",
        "leaving the runtime",
        "orders stopped ('shutdown')",
        "db stopped ('shutdown')",
        "done",
    ]
    # Crashes are detected and handled at once: no virtual time passed.
    assert trio.current_time() == 0


# --- what the guide's Shutdown section says about a killed supervisor -------------------------


def _child_sup(sup: SupervisorRef, child_id: str) -> SupervisorRef:
    ref = child_ref(sup, child_id)
    assert isinstance(ref, SupervisorRef)
    return ref


async def test_a_supervisor_killed_with_an_exception_stops_its_children_in_order(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    # OTP: a supervisor told to exit with any reason but `kill` runs its terminate, which shuts
    # its children down in reverse start order; then it exits with that reason (a crash here).
    journal = Journal()
    root = await Supervisor.start(
        [
            Supervisor.child_spec(
                [worker(journal, "a"), worker(journal, "b"), worker(journal, "c")], id="sub"
            )
        ]
    )
    sub = _child_sup(root, "sub")
    a = child_ref(sub, "a")
    journal.clear()
    kill(sub, RuntimeError("boom"))
    new_sub = await wait_for_restart(root, "sub", sub)
    assert await wait_exit(a) == "shutdown"
    assert journal.stops() == ["c", "b", "a"]  # in reverse start order, with terminate
    assert journal.reasons() == dict.fromkeys("abc", "shutdown")
    assert journal.starts() == ["a", "b", "c"]  # the parent restarted the subtree: a crash
    assert isinstance(sub.exit_reason, RuntimeError)
    assert str(sub.exit_reason) == "boom"
    assert new_sub.is_running()
    assert trio.current_time() == 0


async def test_a_supervisor_killed_with_killed_kills_its_children(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    # OTP `exit(Sup, kill)` / `brutal_kill`: no terminate for the supervisor nor its children.
    journal = Journal()
    root = await Supervisor.start(
        [Supervisor.child_spec([worker(journal, "a"), worker(journal, "b")], id="sub")]
    )
    sub = _child_sup(root, "sub")
    a, b = (child_ref(sub, tag) for tag in "ab")
    kill(sub)
    await wait_for_restart(root, "sub", sub)
    assert [await wait_exit(a), await wait_exit(b)] == ["killed", "killed"]
    assert journal.stops() == []
    assert sub.exit_reason == "killed"
