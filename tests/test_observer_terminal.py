"""The live terminal dashboard: frames drawn on a recording console in virtual time, and
``python -m noex_trio.observer top URL`` against a small HTTP server in a thread."""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio
import trio.testing
from rich.console import Console

from examples import observer_terminal
from noex_trio import GenServer, NoRuntimeError, Runtime, Supervisor, testing
from noex_trio.observer import (
    AlertRules,
    Dashboard,
    _client,
    format_tree,
    open_web_endpoint,
    terminal_dashboard,
)
from noex_trio.observer import __main__ as cli

from .observer_snapshots import demo_like, node, snapshot

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guides" / "observer-terminal.md"
EXAMPLE = ROOT / "examples" / "observer_terminal.py"
SCREENSHOT = ROOT / "docs" / "images" / "observer-terminal.svg"


def _load_include() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_include", ROOT / "docs" / "_include.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


include = _load_include()


def recording(width: int = 100, *, terminal: bool = True, height: int = 60) -> Console:
    """A console that keeps what is drawn (``export_text``), as a terminal or as a pipe."""
    return Console(
        file=io.StringIO(),
        width=width,
        height=height,
        record=True,
        force_terminal=terminal,
        color_system=None,
    )


def growing() -> dict[str, Any]:
    """The demo's tree at the current (virtual) time: 2 messages a second each, the order
    service's mailbox growing by 50 a second."""
    now = trio.current_time()
    return demo_like(now, handled=int(now) * 2, mailbox=int(now) * 50)


def error_of(dashboard: Dashboard) -> str | None:
    """(Read through a call: mypy would keep the value an earlier assert narrowed.)"""
    return dashboard.error


# --------------------------------------------------------------------------- in-process


async def test_the_dashboard_draws_a_frame_every_refresh(
    autojump_clock: trio.testing.MockClock,
) -> None:
    console = recording()
    async with terminal_dashboard(growing, refresh=1.0, console=console) as dashboard:
        assert isinstance(dashboard, Dashboard)
        assert dashboard.frames == 1  # the first frame is drawn on entering
        await trio.sleep(6.5)
        assert dashboard.frames == 7
        assert dashboard.sample is not None
        assert dashboard.sample.time == 6.0
        assert dashboard.error is None
        assert repr(dashboard) == (
            "<noex_trio.observer.Dashboard of snapshots from growing() frames=7>"
        )
    text = console.export_text()
    assert text.count("noex_trio observer  snapshots from growing()") == 8  # + the last one
    assert "app, up 0.0 s: 10 processes, 0 crashes, 0 restarts, 0 dead letters\n" in text
    assert "app, up 6.0 s: 10 processes, 0 crashes, 0 restarts, 0 dead letters, 16.0 msg/s" in text
    last = text[text.rindex("noex_trio observer") :]
    assert "├─ order-service#8" in last
    assert last.rstrip().endswith(
        "Alerts\n  ! order-service#8: mailbox grew at each of the last 6 samples, to 300 messages"
    )


async def test_next_frame_waits_for_the_next_frame(autojump_clock: trio.testing.MockClock) -> None:
    async with terminal_dashboard(growing, refresh=2.5, console=recording()) as dashboard:
        await dashboard.next_frame()
        assert (dashboard.frames, trio.current_time()) == (2, 2.5)
        await dashboard.update()  # a frame now, out of turn
        assert (dashboard.frames, trio.current_time()) == (3, 2.5)
        await dashboard.next_frame()
        assert (dashboard.frames, trio.current_time()) == (4, 5.0)


async def test_an_async_source_and_extra_figures(autojump_clock: trio.testing.MockClock) -> None:
    async def source() -> dict[str, Any]:
        await trio.sleep(0.25)  # fetching takes time
        return growing()

    console = recording()
    rules = AlertRules(mailbox_length=10_000)
    async with terminal_dashboard(
        source, console=console, rules=rules, extra=lambda: "orders: 12 confirmed"
    ) as dashboard:
        await trio.sleep(3)
        assert dashboard.frames == 3
        assert dashboard.sample is not None
        assert dashboard.sample.time == 2.75  # the third fetch: started at 2.5
    last = console.export_text().rpartition("noex_trio observer")[2]
    assert "Alerts" not in last
    assert last.rstrip().endswith(
        "EventBus#1                                                   "
        "running      0     1.6      4     0\norders: 12 confirmed"
    )


async def test_the_dashboard_shows_20_children_of_a_supervisor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def big() -> dict[str, Any]:
        return snapshot(node(2, "pool#2", *[node(pid, f"w#{pid}") for pid in range(3, 53)]))

    for limit, shown in ((20, 20), (None, 50)):
        console = recording(height=100)
        async with terminal_dashboard(big, console=console, max_children=limit):
            pass
        text = console.export_text()
        assert sum(f"─ w#{pid} " in text for pid in range(3, 53)) == shown
        assert ("... 30 more" in text) == (limit == 20)


async def test_a_bad_snapshot_is_shown_and_the_next_good_one_replaces_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    answers = iter([demo_like(0.0), {"tree": []}, demo_like(2.0)])
    console = recording()
    async with terminal_dashboard(lambda: next(answers), console=console) as dashboard:
        await dashboard.next_frame()
        assert dashboard.error == "expected snapshot['runtime'] to be a dict, got nothing"
        assert dashboard.sample is not None
        assert dashboard.sample.time == 0.0  # the last good one is still drawn
        frame = console.export_text(clear=True)
        assert "no snapshot: expected snapshot['runtime'] to be a dict, got nothing" in frame
        assert "app, up 0.0 s" in frame
        await dashboard.next_frame()
        assert error_of(dashboard) is None
        assert dashboard.sample.time == 2.0


async def test_on_a_pipe_only_the_last_frame_is_written(
    autojump_clock: trio.testing.MockClock,
) -> None:
    console = recording(terminal=False)
    async with terminal_dashboard(growing, console=console) as dashboard:
        await trio.sleep(3.5)
        assert dashboard.frames == 4
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" not in text
    assert text.count("noex_trio observer") == 1
    assert "app, up 3.0 s" in text


async def test_an_error_in_the_block_comes_out_as_raised(
    autojump_clock: trio.testing.MockClock,
) -> None:
    console = recording()

    async def crash() -> None:
        async with terminal_dashboard(growing, console=console):
            await trio.sleep(1.5)
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await crash()
    assert console.export_text().count("noex_trio observer") == 3  # 2 frames + the last one


async def test_a_cancelled_block_stops_the_display(autojump_clock: trio.testing.MockClock) -> None:
    console = recording()
    with trio.move_on_after(2.5):
        async with terminal_dashboard(growing, console=console) as dashboard:
            await trio.sleep_forever()
    assert dashboard.frames == 3
    assert console.file.getvalue().endswith("\x1b[?25h")  # type: ignore[attr-defined]


async def test_a_failing_first_snapshot_draws_the_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def source() -> dict[str, Any]:
        raise ValueError("not yet")

    console = recording()
    async with terminal_dashboard(source, console=console) as dashboard:
        assert dashboard.sample is None
        assert dashboard.error == "not yet"
    assert "no snapshot: not yet" in console.export_text()


async def test_a_source_that_fails_otherwise_ends_the_dashboard(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = 0

    def source() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("bug in the source")
        return growing()

    console = recording()

    async def watch() -> None:
        async with terminal_dashboard(source, console=console):
            await trio.sleep(10)

    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match=r"^bug in the source$")):
        await watch()
    assert trio.current_time() == 2.0
    assert console.file.getvalue().endswith("\x1b[?25h")  # type: ignore[attr-defined]


async def test_a_source_that_fails_at_once_raises_from_the_async_with(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def source() -> dict[str, Any]:
        raise RuntimeError("no")

    console = recording()

    async def watch() -> None:
        async with terminal_dashboard(source, console=console):
            raise AssertionError("never entered")

    with pytest.raises(RuntimeError, match=r"^no$"):
        await watch()
    assert console.file.getvalue().endswith("\x1b[?25h")  # type: ignore[attr-defined]


async def test_bad_arguments_draw_nothing() -> None:
    def source() -> dict[str, Any]:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match=r"^expected refresh to be a finite number of seconds > 0"):
        terminal_dashboard(source, refresh=0)
    with pytest.raises(TypeError, match=r"^expected console to be a rich.console.Console, got 1$"):
        terminal_dashboard(source, console=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected rules to be a AlertRules, got 1$"):
        terminal_dashboard(source, rules=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected extra to be callable, got 1$"):
        terminal_dashboard(source, extra=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected screen to be a bool, got 1$"):
        terminal_dashboard(source, screen=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^expected max_children to be an int >= 1, got 0$"):
        terminal_dashboard(source, max_children=0)
    with pytest.raises(TypeError, match=r"^expected source to be a Runtime, the URL of a web"):
        terminal_dashboard(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^expected url to be an http:// or https:// URL"):
        terminal_dashboard("ftp://127.0.0.1/")
    with pytest.raises(ValueError, match=r"^expected url to be a non-empty str, got ''$"):
        terminal_dashboard("")
    with pytest.raises(NoRuntimeError):
        terminal_dashboard()


# --------------------------------------------------------------------------- over HTTP


class Endpoint:
    """A stand-in for the web endpoint: ``/snapshot.json`` and ``/events`` (SSE)."""

    def __init__(self) -> None:
        self.snapshots = 0
        self.snapshot_status = 200
        self.events: list[bytes] = []
        self.event_status = 200
        self.closing = threading.Event()  # the SSE responses end when it is set
        self.connections = 0
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/snapshot.json" and endpoint.snapshot_status != 200:
                    self.send_error(endpoint.snapshot_status)
                elif self.path == "/snapshot.json":
                    endpoint.snapshots += 1
                    n = endpoint.snapshots
                    body = json.dumps(demo_like(float(n), handled=n, mailbox=n)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path == "/events":
                    endpoint.connections += 1
                    self.send_response(endpoint.event_status)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    if endpoint.event_status == 200:
                        for event in endpoint.events:
                            self.wfile.write(event)
                        self.wfile.flush()
                        endpoint.closing.wait(10)
                else:
                    self.send_error(404)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextlib.contextmanager
    def serving(self) -> Iterator[Endpoint]:
        thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.closing.set()
            self.server.shutdown()
            self.server.server_close()
            thread.join()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with Endpoint().serving() as served:
        yield served


def sse(data: str, event: str = "lifecycle") -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


async def test_top_polls_the_snapshot_and_follows_the_events(endpoint: Endpoint) -> None:
    crashed = {"type": "crashed", "id": 8, "label": "order-service#8", "reason": "ValueError('x')"}
    endpoint.events = [
        sse(json.dumps({**crashed, "time": 1.5})),
        sse(json.dumps({"type": "started", "id": 11, "label": "order-service#11", "time": 1.5})),
        sse("not json"),
        sse("[1, 2]", event="figures"),
        b": a comment\n",
        b": a keep-alive\n\n",
        b'data: {"type": "restarted", "id": 11,\ndata: "label": "order-service#11"}\n\n',
    ]
    console = recording()
    with trio.fail_after(20):
        async with terminal_dashboard(endpoint.url, refresh=0.01, console=console) as dashboard:
            while len(dashboard.events) < 2:
                await dashboard.next_frame()
            await dashboard.next_frame()
    assert list(dashboard.events) == [
        {**crashed, "time": 1.5},
        {
            "type": "restarted",
            "id": 11,
            "label": "order-service#11",
            "reason": None,
            "time": dashboard.events[1]["time"],
        },
    ]
    assert dashboard.sample is not None
    assert dashboard.sample.time == endpoint.snapshots
    last = console.export_text().rpartition("noex_trio observer")[2]
    assert last.startswith(f"  {endpoint.url}\napp, up ")
    events = last.partition("Recent crashes and restarts\n")[2].splitlines()
    # (when, relative to the snapshot drawn: the snapshots count seconds, the test does not)
    assert re.fullmatch(r"\d+\.\d s ago  crashed    order-service#8   ValueError\('x'\)", events[0])
    assert re.fullmatch(r"\d+\.\d s ago  restarted  order-service#11 *", events[1])


async def test_snapshots_from_the_stream_are_drawn_without_asking(endpoint: Endpoint) -> None:
    ticked = demo_like(50.0, handled=5)
    ticked["runtime"]["name"] = "ticked"
    endpoint.events = [
        sse('{"runtime": "app", "interval": 1.0}', event="hello"),
        sse(json.dumps({"snapshot": ticked, "alerts": []}), event="tick"),
        sse('{"snapshot": "not a snapshot"}', event="tick"),  # (ignored)
    ]
    seen: list[str] = []
    with trio.fail_after(20):
        async with terminal_dashboard(endpoint.url, refresh=0.01, console=recording()) as dash:
            assert dash.sample is not None
            seen.append(dash.sample.snapshot["runtime"]["name"])
            while "ticked" not in seen:
                await dash.next_frame()
                assert dash.sample is not None
                seen.append(dash.sample.snapshot["runtime"]["name"])
    assert seen[0] == "app"  # GET /snapshot.json: no tick yet
    gets = endpoint.snapshots
    assert len(seen) == gets + 1  # every other frame asked for a snapshot; that one did not


async def test_odd_events_from_afar_are_drawn_safely(endpoint: Endpoint) -> None:
    endpoint.events = [
        sse('{"type": "crashed", "id": 9, "reason": "no label: skipped"}'),
        sse('{"type": "crashed", "id": 9, "label": "x#9", "reason": {"a": 1}, "time": "soon"}'),
        sse('{"type": "restarted", "id": 10, "label": "x#10", "time": NaN}'),
        sse('{"type": "restarted", "id": 11, "label": "x#11", "reason": null, "time": true}'),
    ]
    console = recording()
    with trio.fail_after(20):
        async with terminal_dashboard(endpoint.url, refresh=0.01, console=console) as dash:
            while len(dash.events) < 3:
                await dash.next_frame()
            await dash.next_frame()
    assert [(event["label"], event["reason"]) for event in dash.events] == [
        ("x#9", "{'a': 1}"),
        ("x#10", None),
        ("x#11", None),
    ]
    assert all(isinstance(event["time"], float) for event in dash.events)
    assert "crashed    x#9   {'a': 1}" in console.export_text()


def test_a_dashboard_is_made_by_terminal_dashboard_only() -> None:
    with pytest.raises(TypeError, match=r"^noex_trio.observer.Dashboard has no public constructor"):
        Dashboard()  # type: ignore[call-arg]


async def test_top_for_a_few_frames(endpoint: Endpoint) -> None:
    console = recording()
    with trio.fail_after(20):
        await cli.top(f"{endpoint.url}/snapshot.json", refresh=0.01, frames=3, console=console)
    assert endpoint.snapshots == 3
    # 3 frames, and the last one again when the display stops
    assert console.export_text().count(f"noex_trio observer  {endpoint.url}\n") == 4


async def test_an_endpoint_without_events_still_shows_snapshots(endpoint: Endpoint) -> None:
    endpoint.event_status = 404
    with trio.fail_after(20):
        async with terminal_dashboard(endpoint.url, refresh=0.01, console=recording()) as dash:
            while endpoint.connections == 0:
                await dash.next_frame()
            await dash.next_frame()
    assert dash.error is None
    assert list(dash.events) == []


async def test_an_endpoint_that_stops_its_event_stream(endpoint: Endpoint) -> None:
    endpoint.event_status = 204  # "do not come back"
    with trio.fail_after(20):
        async with terminal_dashboard(endpoint.url, refresh=0.01, console=recording()) as dash:
            while endpoint.connections == 0:
                await dash.next_frame()
            for _ in range(3):
                await dash.next_frame()
    assert endpoint.connections == 1


async def test_an_endpoint_whose_snapshots_fail_still_lists_its_events(
    endpoint: Endpoint,
) -> None:
    endpoint.snapshot_status = 500
    crashed = {"type": "crashed", "id": 8, "label": "w#8", "reason": "ValueError('x')", "time": 1.5}
    endpoint.events = [sse(json.dumps(crashed))]
    console = recording()
    with trio.fail_after(20):
        async with terminal_dashboard(endpoint.url, refresh=0.01, console=console) as dash:
            while not dash.events:
                await dash.next_frame()
            await dash.next_frame()
    assert dash.sample is None
    assert dash.error is not None
    assert (
        dash.error == f"GET {endpoint.url}/snapshot.json: <HTTPError 500: 'Internal Server Error'>"
    )
    last = console.export_text().rpartition("noex_trio observer")[2]
    assert re.search(r"^at 1\.5 s  crashed  w#8  ValueError\('x'\)$", last, re.M)


async def test_a_snapshot_too_large_is_refused(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_client, "MAX_SNAPSHOT", 100)
    with trio.fail_after(20):
        async with terminal_dashboard(endpoint.url, console=recording()) as dashboard:
            pass
    assert dashboard.error == (
        f"GET {endpoint.url}/snapshot.json: ValueError('the snapshot at "
        f"{endpoint.url}/snapshot.json is larger than 100 bytes')"
    )


def test_following_events_stops_at_the_next_line_once_asked(endpoint: Endpoint) -> None:
    endpoint.events = [sse('{"type": "crashed"}')]
    stop = threading.Event()
    stop.set()
    delivered: list[tuple[str, dict[str, Any]]] = []
    assert _client.follow_events(f"{endpoint.url}/events", lambda *e: delivered.append(e), stop)
    assert delivered == []


async def test_an_unreachable_endpoint_is_shown_and_retried() -> None:
    with Endpoint().serving() as gone:
        url = gone.url
    console = recording()
    with trio.fail_after(20):
        async with terminal_dashboard(url, refresh=0.01, console=console) as dashboard:
            await dashboard.next_frame()
    assert dashboard.frames == 2
    assert dashboard.sample is None
    assert dashboard.error is not None
    assert dashboard.error.startswith(f"GET {url}/snapshot.json: URLError(ConnectionRefusedError(")
    assert f"no snapshot: GET {url}/snapshot.json" in console.export_text()


def test_python_m_noex_trio_observer_top(
    endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["top", endpoint.url, "--frames", "2", "--refresh", "0.01"])
    assert status == 0
    out = capsys.readouterr().out
    assert out.count("noex_trio observer") == 1  # not a terminal: the last frame
    assert "app, up 2.0 s: 10 processes" in out


def test_python_m_runs_the_command_line(endpoint: Endpoint) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "noex_trio.observer", "top", endpoint.url, "--frames", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # (this checkout's noex_trio)
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"noex_trio observer  {endpoint.url}\napp, up 1.0 s: ")


def test_top_checks_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in [
        (["top", "ftp://x"], "expected url to be an http:// or https:// URL, got 'ftp://x'"),
        (["top", "http://x", "--frames", "0"], "--frames must be >= 1"),
        (["top", "http://x", "--refresh", "0"], "expected --refresh to be a finite number"),
        (["top", "http://x", "--long-call", "-1"], "expected long_call to be a finite number"),
        ([], "the following arguments are required: COMMAND"),
    ]:
        with pytest.raises(SystemExit) as exit:
            cli.main(argv)
        assert exit.value.code == 2
        assert message in capsys.readouterr().err


def test_top_ends_quietly_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(trio, "run", interrupted)
    assert cli.main(["top", "http://127.0.0.1:1"]) == 130


def test_the_help_lists_the_alert_rules(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["top", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # (however wide the terminal)
    for option in ("--mailbox-length", "--mailbox-samples", "--restart-window", "--long-call"):
        assert option in out
    assert (
        "--restarts RESTARTS restart storm: restarts by one supervisor that make a storm (3)" in out
    )


# --------------------------------------------------------------------------- a live runtime


class Pinger(GenServer[int, str, str, int]):
    """Answers a call ``"ping"``; ``("ask", other, me)`` calls `other`, which calls `me` back
    (while `me` is still serving: a deadlock)."""

    def init(self) -> int:
        return 0

    async def handle_call(self, msg: Any, state: int) -> tuple[int, int]:
        if isinstance(msg, tuple):
            await GenServer.call(msg[1], ("ask", msg[2], msg[1]), timeout=30.0)
        return state, state + 1

    def handle_cast(self, msg: str, state: int) -> int:
        return state + 1


async def test_the_tree_of_a_live_runtime(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    sup = await Supervisor.start(
        [
            Pinger.child_spec(id="a", name="a"),
            Pinger.child_spec(id="b", name="b", mailbox_size=10),
        ],
        name="app",
    )
    await GenServer.call("a", "ping")
    GenServer.cast("b", "hello")
    await trio.sleep(2.0)
    lines = format_tree(rt.snapshot().to_dict()).splitlines()
    assert lines[0] == "test, up 2.0 s: 4 processes, 0 crashes, 0 restarts, 0 dead letters"
    assert lines[2].startswith("  EventBus#1  ")
    assert re.fullmatch(
        r"  app#2 +Supervisor +running +0 +- +0 +0 +0 +0  one_for_one 0/3 in 5 s", lines[3]
    )
    assert re.fullmatch(r"  ├─ a#3 +Pinger +running +0 +- +1 +0 +0 +0", lines[4])
    assert re.fullmatch(r"  └─ b#4 +Pinger +running +0/10 +- +0 +1 +0 +0", lines[5])
    await Supervisor.stop(sup)


async def test_a_deadlock_in_a_live_runtime_is_marked(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    await GenServer.start(Pinger, name="a")
    await GenServer.start(Pinger, name="b")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(GenServer.call, "a", ("ask", "b", "a"), timeout=60))
        await trio.sleep(3.0)  # a calls b, b calls a: both wait
        text = format_tree(rt.snapshot().to_dict())
        nursery.cancel_scope.cancel()
    assert "cycles:\n  a#2 -> b#3 -> a#2" in text
    assert "  ! wait-for cycle: a#2 -> b#3 -> a#2" in text
    assert re.search(r"^! a#2 .*waits on b#3 for 3\.0 s; in a wait-for cycle$", text, re.M)
    await GenServer.stop("a")
    await GenServer.stop("b")


async def test_the_dashboard_of_the_current_runtime_lists_crashes_and_restarts(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    sup = await Supervisor.start([Pinger.child_spec(id="a", name="a")], name="app")
    console = recording()
    async with terminal_dashboard(console=console) as dashboard:  # the current runtime
        old = Supervisor.get_child(sup, "a").ref
        assert old is not None
        testing.crash(old, ValueError("boom"))
        await testing.wait_for_restart(sup, "a", old)
        await dashboard.next_frame()
        assert [(event["type"], event["label"], event["reason"]) for event in dashboard.events] == [
            ("crashed", "a#3", "ValueError('boom')"),
            ("restarted", "a#4", None),
        ]
    last = console.export_text().rpartition("noex_trio observer")[2]
    assert last.startswith(
        "  runtime 'test', in this process\ntest, up 1.0 s: 3 processes, 1 crash, 1 restart"
    )
    assert re.search(r"^1\.0 s ago  crashed    a#3  ValueError\('boom'\)$", last, re.M)
    await Supervisor.stop(sup)


async def test_top_on_the_real_web_endpoint(rt: Runtime) -> None:
    sup = await Supervisor.start([Pinger.child_spec(id="a", name="a")], name="app")
    console = recording()
    with trio.fail_after(30):
        async with (
            open_web_endpoint(rt, interval=0.05) as endpoint,
            terminal_dashboard(endpoint.url, refresh=0.05, console=console) as dashboard,
        ):
            await dashboard.next_frame()
            old = Supervisor.get_child(sup, "a").ref
            assert old is not None
            testing.crash(old, ValueError("boom"))
            while [event["type"] for event in dashboard.events] != ["crashed", "restarted"]:
                await dashboard.next_frame()
            while dashboard.sample is None or dashboard.sample.time < dashboard.events[-1]["time"]:
                await dashboard.next_frame()
            assert endpoint.statistics().ticks > 0  # the snapshots came from the stream
    assert dashboard.error is None
    assert [(event["label"], event["reason"]) for event in dashboard.events] == [
        ("a#3", "ValueError('boom')"),
        ("a#4", None),
    ]
    last = console.export_text().rpartition("noex_trio observer")[2]
    assert re.search(r"^test, up [\d.]+ s: 3 processes, 1 crash, 1 restart", last, re.M)
    assert "└─ a#4" in last
    await Supervisor.stop(sup)


# --------------------------------------------------------------------------- the example


async def test_the_example_prints_the_tree(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = await observer_terminal.print_tree()
    assert capsys.readouterr().out == tree + "\n"
    lines = tree.splitlines()
    assert lines[0].startswith("shop, up 3.0 s: 9 processes, 6 crashes, 6 restarts")
    assert re.fullmatch(r"  │  ├─ consumer#4 +Consumer +running +19 .*", lines[5])
    assert lines[-1] == "  ! ledger#6: serving 'report' for 3.0 s; 1 caller waiting (longest 3.0 s)"
    assert f"```text\n{tree}\n```" in GUIDE.read_text("utf-8")  # the guide shows this output


async def test_the_example_logs_trees_with_rates_and_alerts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    trees = await observer_terminal.log_trees(every=1.0, times=7)
    assert "msg/s" not in trees[0].splitlines()[0]  # a first sample has no rates
    last = trees[-1].splitlines()
    assert last[0].endswith(" msg/s")
    assert last[-2:] == [
        "  ! services#3: 12 restarts in the last 10 s",
        "  ! ledger#6: serving 'report' for 7.0 s; 1 caller waiting (longest 7.0 s)",
    ]
    assert f"```text\n{trees[-1]}\n```" in GUIDE.read_text("utf-8")  # as the guide shows


async def test_the_example_dashboard(autojump_clock: trio.testing.MockClock) -> None:
    console = recording(120)
    # (7.25 s: no process of the shop does anything at that moment, so the last frame is the
    # same at every run)
    dashboard = await observer_terminal.watch(7.25, console)
    assert dashboard.frames == 9  # one on entering, one a second, the fresh last one
    assert dashboard.sample is not None
    kinds = {(alert.kind, alert.label) for alert in dashboard.sample.alerts}
    assert kinds == {
        ("restart_storm", "services#3"),
        ("mailbox_growing", "consumer#4"),
        ("long_call", "ledger#6"),
    }
    assert {event["type"] for event in dashboard.events} == {"crashed", "restarted"}
    last = console.export_text().rpartition("noex_trio observer")[2]
    assert last.rstrip().endswith("the shop has been open for 7 s")


async def test_the_screenshot_of_the_guide(autojump_clock: trio.testing.MockClock) -> None:
    """``NOEX_SCREENSHOTS=1`` writes ``docs/images/observer-terminal.svg`` (the guide's)."""
    dashboard = await observer_terminal.watch(7.25, recording(120))
    shot = Console(file=io.StringIO(), width=120, record=True, force_terminal=True)
    shot.print(dashboard.render())
    svg = shot.export_svg(title="python -m examples.observer_terminal")
    assert svg.startswith("<svg")
    assert "ledger#6" in svg
    if os.environ.get("NOEX_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_text(svg, encoding="utf-8")
    assert SCREENSHOT.is_file()  # committed: the guide shows it


def test_the_guide_shows_only_tested_code() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    new, problems = include.process(text, write=False)
    assert problems == []
    assert new == text
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", EXAMPLE.read_text("utf-8")))
    assert regions == set(
        re.findall(r"<!-- include: examples/observer_terminal\.py:([\w-]+)", text)
    )
