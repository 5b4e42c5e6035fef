"""Crash reports: who crashed (label, supervisors), the last message, the state (through
``format_status``), as log text and as attributes of the log record; and process labels."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    Continue,
    GenServer,
    NotInProcessError,
    Runtime,
    Stop,
    Supervisor,
)
from noex_trio.testing import crash


class Account(GenServer[dict[str, Any], str, Any, Any]):
    def init(self, secret: str = "hunter2") -> Any:
        return {"user": "ann", "password": secret}

    def handle_call(self, msg: str, state: dict[str, Any]) -> Any:
        if msg == "label":
            GenServer.set_label(f"session:{state['user']}")
            return None, state
        raise ValueError(msg)

    def handle_cast(self, msg: Any, state: dict[str, Any]) -> Any:
        if msg == "stop":
            return Stop(("bad", "state"), state)
        if msg == "continue":
            return Continue(state, "then crash")
        raise KeyError(msg)

    def handle_info(self, msg: Any, state: dict[str, Any]) -> Any:
        raise LookupError(msg)

    def handle_continue(self, arg: Any, state: dict[str, Any]) -> Any:
        raise RuntimeError(arg)


class Redacted(Account):
    def format_status(self, state: dict[str, Any]) -> Any:
        return {**state, "password": "***"}


def reports(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "noex_trio" and r.levelno == logging.ERROR]


@pytest.mark.parametrize(
    ("send", "last"),
    [
        (lambda ref: ref.cast("x"), "cast 'x'"),
        (lambda ref: GenServer.send_after(ref, "late", 0), "cast 'late'"),
        (lambda ref: ref.cast("continue"), "continue 'then crash'"),
        (lambda ref: crash(ref, ValueError("injected")), "testing.crash()"),
    ],
)
async def test_the_report_names_the_last_message(
    rt: Runtime, caplog: pytest.LogCaptureFixture, send: Any, last: str
) -> None:
    ref = await GenServer.start(Account)
    send(ref)
    await GenServer.wait_exit(ref)
    (record,) = reports(caplog)
    assert record.noex_last_message == last  # type: ignore[attr-defined]
    assert f"\n  last message: {last}\n" in record.getMessage()


async def test_the_report_shows_the_state_through_format_status(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    plain = await GenServer.start(Account)
    with pytest.raises(ValueError, match="boom"):
        await plain.call("boom")
    redacted = await GenServer.start(Redacted)
    with pytest.raises(ValueError, match="boom"):
        await redacted.call("boom")
    first, second = reports(caplog)
    assert first.noex_state == "{'user': 'ann', 'password': 'hunter2'}"  # type: ignore[attr-defined]
    assert second.noex_state == "{'user': 'ann', 'password': '***'}"  # type: ignore[attr-defined]
    assert "hunter2" not in second.getMessage()


@pytest.mark.parametrize(
    ("format_status", "shown"),
    [
        (lambda state: 1 / 0, "<format_status raised ZeroDivisionError>"),
        (
            lambda state: trio.lowlevel.checkpoint(),  # noqa: ASYNC105 - never awaited, on purpose
            "<format_status must be a plain def, not async>",
        ),
        (lambda state: "x" * 1000, "'" + "x" * 296 + "..."),
    ],
)
async def test_format_status_that_misbehaves(
    rt: Runtime, caplog: pytest.LogCaptureFixture, format_status: Any, shown: str
) -> None:
    behaviour = Account()
    behaviour.format_status = format_status  # type: ignore[attr-defined]
    ref = await GenServer.start(behaviour)
    ref.cast("x")
    await GenServer.wait_exit(ref)
    (record,) = reports(caplog)
    assert record.noex_state == shown  # type: ignore[attr-defined]


async def test_the_report_names_every_supervisor_above(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    inner = Supervisor.child_spec([Account.child_spec(id="acct")], id="inner", name="inner")
    top = await Supervisor.start([inner], name="app")
    inner_ref = Supervisor.get_child(top, "inner").ref
    assert inner_ref is not None
    account = Supervisor.get_children(inner_ref)[0].ref  # type: ignore[arg-type]
    assert account is not None
    crash(account)
    await GenServer.wait_exit(account)
    record = reports(caplog)[0]
    assert record.noex_supervisors == f"inner#{inner_ref.id} < app#{top.id}"  # type: ignore[attr-defined]
    assert f"(supervisor: inner#{inner_ref.id} < app#{top.id})" in record.getMessage()
    await top.stop()


async def test_an_abnormal_reason_that_is_not_an_exception(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    ref = await GenServer.start(Account)
    ref.cast("stop")
    assert await GenServer.wait_exit(ref) == ("bad", "state")
    (record,) = reports(caplog)
    assert record.getMessage().startswith(
        f"Account#{ref.id} exited with reason ('bad', 'state') (supervisor: none)\n"
    )
    assert record.exc_info is None


async def test_labels(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    ref = await GenServer.start(Account)
    await ref.call("label")
    assert repr(ref) == f"<GenServerRef session:ann#{ref.id}>"
    ref.cast("x")
    await GenServer.wait_exit(ref)
    assert reports(caplog)[0].noex_process == f"session:ann#{ref.id}"  # type: ignore[attr-defined]
    with pytest.raises(NotInProcessError):
        GenServer.set_label("x")


@pytest.mark.parametrize(("bad", "error"), [("", ValueError), (3, TypeError)])
async def test_bad_labels(rt: Runtime, bad: Any, error: type[Exception]) -> None:
    seen: list[BaseException] = []

    class Labeller(Account):
        def handle_call(self, msg: str, state: dict[str, Any]) -> Any:
            try:
                GenServer.set_label(bad)
            except Exception as exc:  # recorded for the test
                seen.append(exc)
            return None, state

    ref = await GenServer.start(Labeller)
    await ref.call("x")
    assert type(seen[0]) is error
    assert str(seen[0]).startswith("expected label to be a non-empty str")
    await ref.stop()


def test_a_keyboard_interrupt_in_format_status_ends_the_runtime() -> None:
    from noex_trio import open_runtime

    class Interrupting(Account):
        def format_status(self, state: dict[str, Any]) -> Any:
            raise KeyboardInterrupt

    async def main() -> None:
        async with open_runtime():
            ref = await GenServer.start(Interrupting)
            ref.cast("x")  # crashes; the crash report calls format_status
            await trio.sleep_forever()

    with pytest.raises(KeyboardInterrupt):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_no_report_is_built_when_nobody_logs_errors(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    shown: list[Any] = []

    class Watched(Account):
        def format_status(self, state: dict[str, Any]) -> Any:
            shown.append(state)
            return state

    caplog.set_level(logging.CRITICAL, logger="noex_trio")
    ref = await GenServer.start(Watched)
    crash(ref)
    await GenServer.wait_exit(ref)
    assert reports(caplog) == []
    assert shown == []  # (format_status is only for the report)
    caplog.set_level(logging.ERROR, logger="noex_trio")
    ref = await GenServer.start(Watched)
    crash(ref)
    await GenServer.wait_exit(ref)
    assert len(reports(caplog)) == 1
    assert len(shown) == 1
