"""The observer's web endpoint (`noex_trio.observer.open_web_endpoint`), over real HTTP.

A live runtime, a real hypercorn server on a loopback port, and httpx as the client: the
routes, the live stream (Server-Sent Events), the Host check, the supervised child. Real
time (it is real I/O); every wait is bounded.
"""

from __future__ import annotations

import logging
import math
import socket
import sys
from typing import Any

import httpx
import pytest
import trio

from noex_trio import GenServer, Restarted, Runtime, Supervisor
from noex_trio.observer import (
    AlertRules,
    WebEndpoint,
    open_web_endpoint,
    web_child_spec,
    web_endpoint,
)
from noex_trio.observer._asgi import ObserverApp
from noex_trio.observer._feed import QUEUE, Feed
from noex_trio.observer._metrics import MessageTally
from noex_trio.testing import EventRecorder, crash
from tests.observer_support import EventStream, Frame, labels, open_events

#: Seconds any one wait of these tests may take (they take milliseconds).
LIMIT = 10.0


class Worker(GenServer[int, str, int, int]):
    def init(self) -> int:
        return 0

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state, state


async def workers(*ids: str) -> Any:
    return await Supervisor.start(children=[Worker.child_spec(id=i) for i in ids])


def contract_node_keys() -> set[str]:
    return {
        "id", "label", "kind", "behaviour", "status", "mailbox", "messages", "started_at",
        "uptime", "restarts", "serving", "serving_since", "tasks", "names", "supervisor",
        "children",
    }  # fmt: skip


async def test_the_page_and_its_files(rt: Runtime) -> None:
    async with open_web_endpoint(rt) as endpoint, httpx.AsyncClient() as client:
        assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/"
        assert repr(endpoint) == f"<WebEndpoint {endpoint.url}>"
        page = await client.get(endpoint.url)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert '<script src="dashboard.js" defer></script>' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        script = await client.get(endpoint.url + "dashboard.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert 'new EventSource("events")' in script.text
        style = await client.get(endpoint.url + "dashboard.css")
        assert style.headers["content-type"] == "text/css; charset=utf-8"


async def test_the_snapshot_route_serves_the_contracts_json(rt: Runtime) -> None:
    sup = await workers("a", "b")
    async with open_web_endpoint(rt) as endpoint, httpx.AsyncClient() as client:
        response = await client.get(endpoint.url + "snapshot.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert set(data) == {"runtime", "tree", "waits", "cycles"}
    assert data["runtime"]["name"] == "test"
    (supervisor,) = [node for node in data["tree"] if node["kind"] == "supervisor"]
    assert set(supervisor) == contract_node_keys()
    assert supervisor["id"] == sup.id
    assert [child["behaviour"] for child in supervisor["children"]] == ["Worker", "Worker"]


async def test_metrics_route(rt: Runtime) -> None:
    await workers("a")
    async with open_web_endpoint(rt) as endpoint, httpx.AsyncClient() as client:
        response = await client.get(endpoint.url + "metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = response.text.splitlines()
    assert "# TYPE noex_processes gauge" in lines
    assert f"noex_processes {rt.statistics().processes}" in lines
    assert "# TYPE noex_messages_total counter" in lines
    assert any(line.startswith('noex_process_mailbox_length{process="Worker#') for line in lines)
    assert any(line.startswith("noex_snapshot_seconds ") for line in lines)


async def test_runtime_wide_metrics_only(rt: Runtime) -> None:
    await workers("a")
    async with (
        open_web_endpoint(rt, per_process_metrics=False) as endpoint,
        httpx.AsyncClient() as client,
    ):
        text = (await client.get(endpoint.url + "metrics")).text
    assert "noex_processes " in text
    assert "noex_process_" not in text


async def test_other_paths_and_methods(rt: Runtime) -> None:
    async with open_web_endpoint(rt) as endpoint, httpx.AsyncClient() as client:
        missing = await client.get(endpoint.url + "nothing-here")
        assert (missing.status_code, missing.text) == (404, "not found\n")
        post = await client.post(endpoint.url + "snapshot.json")
        assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
        head = await client.head(endpoint.url + "metrics")
        assert head.status_code == 200
        assert head.content == b""
        head = await client.head(endpoint.url + "events")
        assert (head.status_code, head.content) == (200, b"")


async def test_requests_for_another_host_are_refused(rt: Runtime) -> None:
    # DNS rebinding: a page from evil.example resolves its name to 127.0.0.1 and reads the
    # endpoint; the Host header still says evil.example.
    async with open_web_endpoint(rt) as endpoint, httpx.AsyncClient() as client:
        port = endpoint.port
        for host in [f"evil.example:{port}", "127.0.0.1:1", f"127.0.0.1.evil.example:{port}"]:
            response = await client.get(endpoint.url, headers={"host": host})
            assert response.status_code == 403, host
        for host in [f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"]:
            response = await client.get(endpoint.url, headers={"host": host})
            assert response.status_code == 200, host


async def test_a_localhost_endpoint(rt: Runtime) -> None:
    async with open_web_endpoint(rt, host="localhost") as endpoint, httpx.AsyncClient() as client:
        assert endpoint.host == "localhost"
        response = await client.get(f"http://localhost:{endpoint.port}/snapshot.json")
        assert response.status_code == 200


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
async def test_an_ipv6_loopback_endpoint(rt: Runtime) -> None:
    try:
        manager = open_web_endpoint(rt, host="::1")
        endpoint = await manager.__aenter__()
    except OSError as exc:  # pragma: no cover - IPv6 compiled in but not configured
        pytest.skip(f"no IPv6 loopback: {exc}")
    try:
        assert endpoint.url == f"http://[::1]:{endpoint.port}/"
        async with httpx.AsyncClient() as client:
            assert (await client.get(endpoint.url)).status_code == 200
    finally:
        await manager.__aexit__(None, None, None)


# --------------------------------------------------------------------------- the live stream


async def lifecycle_until(stream: EventStream, kind: str) -> list[Frame]:
    """Lifecycle frames up to and including the first of type `kind`."""
    seen = []
    while True:
        frame = await stream.next_of("lifecycle")
        seen.append(frame)
        if frame.data["type"] == kind:
            return seen


async def test_the_stream_says_hello_then_ticks(rt: Runtime) -> None:
    sup = await workers("a")
    rules = AlertRules(long_call=2.5)
    async with open_web_endpoint(rt, interval=0.05, alert_rules=rules) as endpoint:
        with trio.fail_after(LIMIT):
            async with open_events(endpoint.url) as stream:
                content_type = stream.headers["content-type"]
                assert content_type == "text/event-stream; charset=utf-8"
                assert await stream.next() == Frame(
                    "hello", {"runtime": "test", "interval": 0.05, "rules": rules.to_dict()}, None
                )
                tick = await stream.next_of("tick")
                assert set(tick.data) == {"snapshot", "alerts"}
                assert tick.data["alerts"] == []
                worker = Supervisor.get_child(sup, "a").ref
                assert worker is not None
                assert worker._label in labels(tick.data["snapshot"]["tree"])
                assert endpoint.statistics().clients == 1
                await stream.next_of("tick")  # (and they go on)
        stats = endpoint.statistics()
        assert stats.ticks >= 2
        assert stats.snapshot_seconds is not None


async def test_a_crash_is_streamed_at_once(rt: Runtime) -> None:
    sup = await workers("a", "b")
    victim = Supervisor.get_child(sup, "b").ref
    assert victim is not None
    # An interval that never comes during the test: the events do not wait for a tick.
    async with open_web_endpoint(rt, interval=3600) as endpoint:
        with trio.fail_after(LIMIT):
            async with open_events(endpoint.url) as stream:
                await stream.next_of("tick")
                crash(victim, ValueError("boom"))
                seen = await lifecycle_until(stream, "restarted")
    by_type = {frame.data["type"]: frame.data for frame in seen}
    assert set(by_type) == {"crashed", "terminated", "started", "restarted"}
    crashed = by_type["crashed"]
    assert crashed == {
        "type": "crashed",
        "id": victim.id,
        "label": victim._label,
        "reason": "ValueError('boom')",
        "time": crashed["time"],
    }
    assert isinstance(crashed["time"], float)
    assert by_type["terminated"]["reason"] == "ValueError('boom')"
    new = Supervisor.get_child(sup, "b").ref
    assert new is not None
    assert by_type["restarted"] == {
        "type": "restarted",
        "id": new.id,
        "label": new._label,
        "reason": None,
        "time": by_type["restarted"]["time"],
    }
    assert by_type["started"]["id"] == new.id
    seqs = [frame.id for frame in seen]
    assert None not in seqs
    assert seqs == sorted(seqs)  # type: ignore[type-var]


async def test_a_new_client_gets_the_recent_crashes_and_restarts(rt: Runtime) -> None:
    sup = await workers("a")
    async with open_web_endpoint(rt, interval=3600) as endpoint:
        with trio.fail_after(LIMIT):
            with EventRecorder(rt) as events:
                for count in (1, 2):
                    crash(Supervisor.get_child(sup, "a").ref)  # type: ignore[arg-type]
                    await events.wait_for(Restarted, count)
            async with open_events(endpoint.url) as stream:
                backlog = [await stream.next_of("lifecycle") for _ in range(4)]
            assert [frame.data["type"] for frame in backlog] == [
                "crashed",
                "restarted",
                "crashed",
                "restarted",
            ]
            # An EventSource reconnecting after the first crash: only what came after it.
            last = {"last-event-id": str(backlog[0].id)}
            async with open_events(endpoint.url, **last) as stream:
                replay = [await stream.next_of("lifecycle") for _ in range(3)]
            assert replay == backlog[1:]
            # A header that is not a number is ignored: everything.
            async with open_events(endpoint.url, **{"last-event-id": "x"}) as stream:
                assert await stream.next_of("lifecycle") == backlog[0]


async def test_closing_the_endpoint_ends_the_streams(rt: Runtime) -> None:
    with trio.fail_after(LIMIT):
        async with httpx.AsyncClient() as client:
            manager = open_web_endpoint(rt)
            endpoint = await manager.__aenter__()
            async with open_events(endpoint.url) as stream:
                await stream.next_of("tick")
                await manager.__aexit__(None, None, None)
                assert all(frame.event == "tick" for frame in await stream.rest())
            with pytest.raises(httpx.ConnectError):
                await client.get(endpoint.url)


# --------------------------------------------------------------------------- options


async def test_a_taken_port(rt: Runtime) -> None:
    async with open_web_endpoint(rt) as endpoint:
        with pytest.raises(OSError, match=r"[Aa]ddress already in use"):
            async with open_web_endpoint(rt, port=endpoint.port):
                pass  # pragma: no cover


async def test_the_current_runtime_by_default(rt: Runtime) -> None:
    async with open_web_endpoint() as endpoint, httpx.AsyncClient() as client:
        data = (await client.get(endpoint.url + "snapshot.json")).json()
    assert data["runtime"]["name"] == rt.name


async def test_an_error_in_the_block_comes_out_as_it_is(rt: Runtime) -> None:
    with pytest.raises(KeyError, match="mine"):
        async with open_web_endpoint(rt):
            raise KeyError("mine")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"runtime": "rt"}, TypeError, r"^expected runtime to be a Runtime or None, got 'rt'$"),
        ({"host": ""}, ValueError, r"^expected host to be a non-empty str, got ''$"),
        ({"port": -1}, ValueError, r"^expected port to be an int >= 0, got -1$"),
        ({"port": 65536}, ValueError, r"^expected port to be an int from 0 to 65535, got 65536$"),
        ({"port": 80.0}, TypeError, r"^expected port to be an int >= 0, got 80.0$"),
        (
            {"interval": 0},
            ValueError,
            r"^expected interval to be a finite number of seconds > 0, got 0$",
        ),
        ({"interval": math.inf}, ValueError, r"^expected interval to be a finite number"),
        (
            {"alert_rules": {}},
            TypeError,
            r"^expected alert_rules to be an AlertRules or None, got \{\}$",
        ),
        (
            {"per_process_metrics": 1},
            TypeError,
            r"^expected per_process_metrics to be a bool, got 1$",
        ),
    ],
)
async def test_bad_options(
    rt: Runtime, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        async with open_web_endpoint(**options):
            pass  # pragma: no cover
    if "runtime" not in options:
        with pytest.raises(error, match=message):
            web_child_spec(**options)


async def test_without_hypercorn(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hypercorn.trio", None)
    with pytest.raises(ImportError, match=r"pip install 'noex-trio\[observer\]'$"):
        async with open_web_endpoint(rt):
            pass  # pragma: no cover


# --------------------------------------------------------------------------- supervised


async def test_a_supervised_endpoint(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="noex_trio.observer")
    sup = await Supervisor.start(children=[web_child_spec(name="observer-web")])
    endpoint = await web_endpoint("observer-web")
    assert isinstance(endpoint, WebEndpoint)
    assert f"observer web endpoint at {endpoint.url}" in caplog.messages
    async with httpx.AsyncClient() as client:
        data = (await client.get(endpoint.url + "snapshot.json")).json()
    (node,) = [n for n in data["tree"] if n["kind"] == "supervisor"]
    assert [child["id"] for child in node["children"]] == [
        Supervisor.get_child(sup, "observer-web").ref.id  # type: ignore[union-attr]
    ]
    await Supervisor.stop(sup)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(endpoint.url)


# --------------------------------------------------------------------------- the app alone


def make_app(rt: Runtime) -> ObserverApp:
    def snapshot() -> dict[str, Any]:
        return rt.snapshot().to_dict()

    feed = Feed(rt, interval=1.0, rules=AlertRules(), snapshot=snapshot)
    return ObserverApp(feed, MessageTally(rt), None, snapshot=snapshot, per_process_metrics=True)


async def drive(app: ObserverApp, scope: dict[str, Any], *incoming: dict[str, Any]) -> list[Any]:
    """Run the ASGI app on `scope`; what it sent."""
    inbox = list(incoming)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop(0)
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with trio.fail_after(LIMIT):
        await app(scope, receive, send)
    return sent


def http(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": headers}


async def test_the_app_answers_the_lifespan_protocol(rt: Runtime) -> None:
    app = make_app(rt)
    sent = await drive(
        app, {"type": "lifespan"}, {"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}
    )
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    app.tally.close()
    app.feed.close()


async def test_the_app_takes_no_websocket(rt: Runtime) -> None:
    app = make_app(rt)
    assert await drive(app, {"type": "websocket", "path": "/events", "headers": []}) == []
    app.tally.close()
    app.feed.close()


async def test_the_app_checks_hosts_only_on_loopback(rt: Runtime) -> None:
    app = make_app(rt)
    sent = await drive(app, http("/nothing", [(b"host", b"example.org")]))
    assert sent[0]["status"] == 404  # any Host: the endpoint listens on another address
    app.allow_loopback(8321)
    sent = await drive(app, http("/nothing", []))
    assert sent[0]["status"] == 403  # no Host header at all
    sent = await drive(app, http("/nothing", [(b"host", b"localhost:8321")]))
    assert sent[0]["status"] == 404
    app.tally.close()
    app.feed.close()


async def test_a_closed_feed_streams_nothing(rt: Runtime) -> None:
    app = make_app(rt)
    app.feed.close()
    sent = await drive(app, http("/events", []))
    assert [message.get("body") for message in sent] == [None, b""]
    app.tally.close()


async def test_a_client_stream_ends_when_it_disconnects(rt: Runtime) -> None:
    app = make_app(rt)
    sent = await drive(
        app, http("/events", []), {"type": "http.request"}, {"type": "http.disconnect"}
    )
    assert sent[1]["body"] == app.feed.hello()
    assert sent[-1] == {"type": "http.response.body", "body": b""}
    assert app.feed.statistics().clients == 0
    app.tally.close()
    app.feed.close()


async def test_a_slow_client_loses_the_oldest_events(rt: Runtime) -> None:
    def snapshot() -> dict[str, Any]:
        raise AssertionError  # pragma: no cover

    feed = Feed(rt, interval=1.0, rules=AlertRules(), snapshot=snapshot)
    client = feed.connect()
    for i in range(QUEUE + 3):
        client.push_event(f"{i}\n".encode())
    chunk = await client.next()
    assert chunk is not None
    assert chunk.startswith(b'event: dropped\ndata: {"count":3}\n\n3\n4\n')
    assert chunk.endswith(f"{QUEUE + 2}\n".encode())
    for _ in range(5):
        client.push_event(b"x")
    feed.disconnect(client)
    feed.disconnect(client)  # (idempotent)
    assert feed.statistics().dropped == 0  # nothing was lost before the queue was read
    client = feed.connect()
    for _ in range(QUEUE + 1):
        client.push_event(b"x")
    feed.disconnect(client)
    assert feed.statistics().dropped == 1
    feed.close()
    feed.close()


async def test_a_failing_snapshot_is_logged_and_tried_again(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def snapshot() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("broken snapshot")
        return rt.snapshot().to_dict()

    feed = Feed(rt, interval=0.01, rules=AlertRules(), snapshot=snapshot)
    client = feed.connect()
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed.run)
            chunk = await client.next()
            feed.close()
    assert chunk is not None
    assert chunk.startswith(b"event: tick\n")
    assert calls == 2
    (record,) = [r for r in caplog.records if r.name == "noex_trio.observer"]
    assert record.getMessage() == "observer: building the dashboard's snapshot failed"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "broken snapshot"
