"""The web dashboard in a real browser: headless Chromium (Debian's ``chromium`` package),
driven by Playwright, against a live runtime served by `open_web_endpoint`.

The page loads, its tree shows the runtime's processes, and a crash injected in the runtime
(`noex_trio.testing.crash`) appears on the page without a reload. With ``NOEX_SCREENSHOTS=1``
the test also writes the dashboard's screenshot shown by the guide
(``docs/images/observer-web.png``).

Playwright's sync API runs in a worker thread (`trio.to_thread.run_sync`); the browser script
reaches back into the runtime with `trio.from_thread`. Real time (real I/O), every wait
bounded; no download: Playwright drives ``/usr/bin/chromium`` (``NOEX_CHROMIUM`` to change).
Without it the tests skip with what to install, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from noex_trio import DynamicSupervisor, GenServer, GenServerRef, Runtime, Supervisor
from noex_trio.observer import AlertRules, open_web_endpoint
from noex_trio.testing import crash, wait_for_restart

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "images" / "observer-web.png"
CHROMIUM = os.environ.get("NOEX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Milliseconds any one browser wait may take (they take tens of milliseconds).
WAIT_MS = 8000


@pytest.fixture(autouse=True)
def chromium() -> str:
    """The browser's path; a clear skip (a failure in CI) when it is not installed."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = (
        f"the browser tests need Chromium at {CHROMIUM}: install Debian's package "
        "(`apt-get install chromium`, which `make test` does when run as root), or set "
        "NOEX_CHROMIUM to a Chromium binary"
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class Worker(GenServer[int, str, int, int]):
    def init(self) -> int:
        return 0

    def handle_call(self, msg: str, state: int) -> tuple[int, int]:
        return state + 1, state + 1

    def handle_cast(self, msg: int, state: int) -> int:
        return state + msg


class Stuck(GenServer[trio.Event, str, str, str]):
    """Every handler waits until the event it was started with is set (at the test's end):
    its calls are long, its casts pile up in its mailbox."""

    def init(self, release: trio.Event) -> trio.Event:
        return release

    async def handle_call(self, msg: str, state: trio.Event) -> tuple[str, trio.Event]:
        await state.wait()
        return "done", state

    async def handle_cast(self, msg: str, state: trio.Event) -> trio.Event:
        await state.wait()
        return state


class Billing(GenServer[None, None, str, None]):
    """A cast makes it call ``reports`` (and wait as long as that takes)."""

    def init(self) -> None:
        return None

    async def handle_cast(self, msg: str, state: None) -> None:
        await GenServer.call("reports", msg, timeout=math.inf)


def browse(url: str, script: Callable[[Any], None]) -> list[str]:
    """Open `url` in headless Chromium, run `script(page)`; the page's errors (none, if well)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 600})
            page.set_default_timeout(WAIT_MS)
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.on(
                "console",
                lambda message: (
                    errors.append(f"console: {message.text}") if message.type == "error" else None
                ),
            )
            page.goto(url)
            script(page)
        finally:
            browser.close()
    return errors


def row_labels(page: Any) -> list[str]:
    labels: list[str] = page.eval_on_selector_all(
        "#tree tbody tr[data-label]", "rows => rows.map(row => row.dataset.label)"
    )
    return labels


async def test_the_dashboard_shows_the_tree_and_a_crash_without_reload(rt: Runtime) -> None:
    release = trio.Event()
    app = await Supervisor.start(
        children=[
            Worker.child_spec(id="cache", name="cache"),
            Worker.child_spec(id="pricing"),
            Stuck.child_spec(release, id="mailer", name="mailer"),
            Stuck.child_spec(release, id="reports", name="reports"),
            Billing.child_spec(id="billing", name="billing"),
            DynamicSupervisor.child_spec(id="sessions", name="sessions"),
        ],
        name="app",
    )
    for _ in range(3):
        ref = await DynamicSupervisor.start_child("sessions", Worker.child_spec())
        for _ in range(3):
            await ref.call("hit")
    for i in range(40):
        GenServer.cast("mailer", f"mail {i}")
    GenServer.cast("billing", "monthly report")
    victim = Supervisor.get_child(app, "pricing").ref
    assert isinstance(victim, GenServerRef)
    labels = sorted(ref.statistics().label for ref in rt.processes())
    restarted: list[GenServerRef[str, int, int]] = []

    async def new_ref() -> None:
        restarted.append(await wait_for_restart(app, "pricing", victim))

    def script(page: Any) -> None:
        page.wait_for_selector(f'#tree tr[data-id="{victim.id}"]')
        assert page.text_content("#connection") == "live"
        assert sorted(row_labels(page)) == labels
        page.evaluate("window.notReloaded = true")
        trio.from_thread.run_sync(crash, victim, ValueError("pricing table corrupt"))
        item = page.wait_for_selector(f'#timeline li[data-type="crashed"][data-id="{victim.id}"]')
        assert "ValueError('pricing table corrupt')" in item.text_content()
        trio.from_thread.run(new_ref)
        new = restarted[0]
        page.wait_for_selector(f'#timeline li[data-type="restarted"][data-id="{new.id}"]')
        # (A snapshot taken while the supervisor restarts may show the new process before its
        # restart count: wait for the page to show it, as a user would.)
        page.wait_for_function(
            'id => document.querySelector(`#tree tr[data-id="${id}"] td.restarts`)'
            "?.textContent === '1'",
            arg=new.id,
        )
        page.wait_for_function("() => document.querySelector('#stat-crashes')?.textContent === '1'")
        # The call billing makes to reports never ends: a waiting call, then a long-call alert.
        page.wait_for_selector("#waits li:not(.empty)")
        alert = page.wait_for_selector('#alerts li[data-kind="long_call"]')
        assert "reports#" in alert.text_content()
        assert page.evaluate("window.notReloaded") is True
        if os.environ.get("NOEX_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

    async with open_web_endpoint(
        rt, interval=0.25, alert_rules=AlertRules(long_call=0.5)
    ) as endpoint:
        with trio.fail_after(20):
            errors = await trio.to_thread.run_sync(browse, endpoint.url, script)
    release.set()
    assert errors == []
