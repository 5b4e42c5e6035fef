"""The live, top-like terminal dashboard (rich), in-process or attached over HTTP.

``async with terminal_dashboard(rt):`` runs a Trio task that takes a snapshot every `refresh`
seconds, turns it into a `Sample` (rates, alerts) and redraws a `rich.live.Live` display: a
headline with the runtime's figures, the tree (`render_tree`), the alerts, and the recent
crashes and restarts. The same dashboard follows another program through its web endpoint
(``terminal_dashboard("http://127.0.0.1:8080")``, or ``python -m noex_trio.observer top
URL``): it follows ``GET /events`` (lifecycle events, and snapshots) and falls back on ``GET
/snapshot.json``.

Nothing here starts a thread of rich's own (``auto_refresh=False``: the Trio task redraws), so
the dashboard runs on `autojump_clock` in tests like any other task. On a console that is not
a terminal (a pipe, a log file) rich draws nothing while it runs and the last frame once at
the end.
"""

from __future__ import annotations

import abc
import collections
import contextlib
import inspect
import math
import threading
import urllib.error
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias, final

import trio

from .. import _checks as checks
from .._context import current_runtime
from .._handles import NoPublicConstructor
from .._results import Crashed, LifecycleEvent, Restarted
from .._runtime import Runtime
from .._safe_format import safe_repr
from . import _client
from ._alerts import AlertRules
from ._events import event_to_dict
from ._samples import Sample, Sampler
from ._tree import headline, render_tree, require_rich

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

#: What a dashboard watches: a runtime of this program, the URL of another program's web
#: endpoint, or a function returning a snapshot dict (sync or async).
Source: TypeAlias = (
    Runtime | str | Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]] | None
)
#: Recent crashes and restarts kept for the display.
RECENT: Final = 8
#: Seconds before following a lost event stream again.
RECONNECT: Final = 1.0
#: The lifecycle events the dashboard lists (a ``terminated`` follows every crash anyway).
SHOWN: Final = frozenset({"crashed", "restarted"})


class _Unavailable(Exception):
    """The source could not give a snapshot this time (the endpoint is down...)."""


@final
class Dashboard(metaclass=NoPublicConstructor):
    """A live view of a runtime in the terminal; made by `terminal_dashboard`.

    Attributes:
        refresh: seconds between frames.
        frames: frames drawn so far.
        sample: the last sample taken (None until the first snapshot arrived).
        error: why the last snapshot could not be taken, or None.
        events: the recent crashes and restarts, oldest first, as the event dicts of the web
            endpoint (``{"type", "id", "label", "reason", "time"}``).
    """

    _noex_made_by = "use noex_trio.observer.terminal_dashboard()"

    def __init__(
        self,
        source: _Feed,
        *,
        refresh: float,
        console: Console,
        rules: AlertRules | None,
        extra: Callable[[], RenderableType] | None,
        screen: bool,
        max_children: int | None,
    ) -> None:
        from rich.live import Live

        self.refresh = refresh
        self.frames = 0
        self.sample: Sample | None = None
        self.error: str | None = None
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT)
        self._source = source
        self._sampler = Sampler(rules)
        self._extra = extra
        self._max_children = max_children
        self._drawn = trio.Event()
        self._live: Live = Live(
            console=console, auto_refresh=False, screen=screen, vertical_overflow="crop"
        )

    def __repr__(self) -> str:
        return f"<noex_trio.observer.Dashboard of {self._source.description} frames={self.frames}>"

    async def update(self) -> None:
        """Take a snapshot now and redraw (the dashboard also does it every `refresh` s).

        A snapshot that cannot be taken (the endpoint is down) or is not a snapshot dict is
        shown as `error`, over the last good frame.

        Raises:
            Exception: anything else a source function raised. (Raised in the dashboard's own
                task, it ends the dashboard: the ``async with`` raises it, in an exception
                group.)
        """
        try:
            snapshot = await self._source.snapshot()
            self.sample = self._sampler.add(snapshot)
        except (_Unavailable, TypeError, ValueError) as error:
            # The endpoint is down or sent something else: say so, keep the last frame.
            self.error = str(error)
        else:
            self.error = None
        self._live.update(self.render(), refresh=True)
        self.frames += 1
        self._drawn.set()
        self._drawn = trio.Event()

    async def next_frame(self) -> None:
        """Wait until the next frame is drawn."""
        await self._drawn.wait()

    def render(self) -> RenderableType:
        """The current frame: headline, tree, alerts, recent crashes and restarts, extra."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        parts: list[RenderableType] = []
        title = Text("noex_trio observer", style="bold reverse")
        title.append(f"  {self._source.description}", style="reverse")
        parts.append(title)
        if self.sample is not None:
            parts.append(Text(headline(self.sample), style="bold"))
        if self.error is not None:
            parts.append(Text(f"no snapshot: {self.error}", style="bold red"))
        if self.sample is not None:
            parts.append(render_tree(self.sample, max_children=self._max_children))
        if self.events:
            parts.append(Text("Recent crashes and restarts", style="bold"))
            table = Table.grid(padding=(0, 2))
            for event in self.events:
                style = "red" if event["type"] == "crashed" else "yellow"
                if self.sample is None:
                    when = f"at {event['time']:.1f} s"
                else:  # (an event may be newer than the snapshot drawn)
                    when = f"{max(self.sample.time - event['time'], 0.0):.1f} s ago"
                table.add_row(
                    when,
                    Text(event["type"], style=style),
                    event["label"],
                    event["reason"] or "",
                )
            parts.append(table)
        if self._extra is not None:
            parts.append(self._extra())
        return Group(*parts)

    async def _run(self) -> None:
        while True:
            await trio.sleep(self.refresh)
            await self.update()

    def _record(self, event: dict[str, Any]) -> None:
        """Keep a crash or a restart; an event from afar is made safe to draw first."""
        if event.get("type") not in SHOWN or not isinstance(event.get("label"), str):
            return
        reason = event.get("reason")
        if reason is not None and not isinstance(reason, str):
            event["reason"] = safe_repr(reason)
        else:
            event["reason"] = reason
        time = event.get("time")
        if isinstance(time, bool) or not isinstance(time, int | float) or not math.isfinite(time):
            event["time"] = self.sample.time if self.sample is not None else 0.0
        self.events.append(event)


def terminal_dashboard(
    source: Source = None,
    *,
    refresh: float = 1.0,
    console: Console | None = None,
    rules: AlertRules | None = None,
    extra: Callable[[], RenderableType] | None = None,
    screen: bool = False,
    max_children: int | None = 20,
) -> contextlib.AbstractAsyncContextManager[Dashboard]:
    """Show a live, top-like view of a runtime in the terminal while a block runs.

    ::

        async with open_runtime() as rt, terminal_dashboard(rt):
            ...  # the dashboard redraws every second

    The first frame is drawn when the block starts; then a task of the dashboard redraws every
    `refresh` seconds. When the block ends the display stops and the last frame stays on the
    screen (``await dashboard.update()`` first to end on a fresh one). An exception of the
    block goes through as it is.

    Args:
        source: the runtime to watch (default: the current one), the URL of another
            program's web endpoint (``"http://127.0.0.1:8080"``), or a function returning a
            snapshot dict (sync or async; e.g. one read from a file).
        refresh: seconds between frames.
        console: the rich console to draw on (default: rich's, on stdout).
        rules: when to raise alerts (default `AlertRules()`).
        extra: called at every frame; what it returns (a rich renderable or a str) is drawn
            under the tree: figures of your application. (If it raises, the dashboard ends,
            as with an error of the source.)
        screen: use the terminal's alternate screen, as ``top`` does.
        max_children: children of a supervisor shown; one line sums up the others (a child an
            alert is about is shown anyway). None: all (a big tree takes rich a while to draw,
            about a millisecond a line, and the program waits meanwhile).

    Raises:
        TypeError, ValueError: bad arguments (raised here; nothing is drawn).
        ImportError: rich is not installed.
        NoRuntimeError: no `source` and no current runtime.
    """
    feed = _feed(source)
    refresh = checks.seconds(refresh, "refresh", inf=False)
    if extra is not None:
        checks.callable_(extra, "extra")
    screen = checks.boolean(screen, "screen")
    if max_children is not None:
        max_children = checks.count(max_children, "max_children", minimum=1)
    require_rich()
    from rich.console import Console

    if console is not None:
        checks.instance(console, "console", Console, expected="a rich.console.Console")
    if rules is not None:
        checks.instance(rules, "rules", AlertRules)
    dashboard = Dashboard._create(
        feed,
        refresh=refresh,
        console=console or _default_console(),
        rules=rules,
        extra=extra,
        screen=screen,
        max_children=max_children,
    )
    return _Running(dashboard, feed)


class _Running:
    """The ``async with`` of `terminal_dashboard`.

    The dashboard's task lives in a nursery entered by hand (as the runtime does): the block's
    own exception never passes through the nursery, so it comes out as raised, not wrapped in
    an exception group.
    """

    def __init__(self, dashboard: Dashboard, feed: _Feed) -> None:
        self.dashboard = dashboard
        self.feed = feed
        self.stack = contextlib.ExitStack()

    async def __aenter__(self) -> Dashboard:
        self.nursery_cm = trio.open_nursery()
        self.nursery = nursery = await self.nursery_cm.__aenter__()
        try:
            self.stack.enter_context(self.feed.events(nursery, self.dashboard._record))
            self.dashboard._live.start()
            self.stack.callback(self.dashboard._live.stop)
            await self.dashboard.update()
        except BaseException as error:
            await self.__aexit__(type(error), error, error.__traceback__)
            raise
        nursery.start_soon(self.dashboard._run)
        return self.dashboard

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            self.nursery.cancel_scope.cancel()
            await self.nursery_cm.__aexit__(None, None, None)
        finally:
            self.stack.close()  # the last frame is drawn; the event feeds stop


def _default_console() -> Console:
    from rich import get_console

    return get_console()


# --------------------------------------------------------------------------- sources


class _Feed(abc.ABC):
    """Where a dashboard gets its snapshots and lifecycle events."""

    description = ""

    @abc.abstractmethod
    async def snapshot(self) -> Mapping[str, Any]:
        """The next snapshot dict; `_Unavailable` when there is none this time."""
        ...

    @contextlib.contextmanager
    def events(self, nursery: trio.Nursery, record: Callable[[dict[str, Any]], None]) -> Any:
        """While in the block, hand each lifecycle event (a dict) to `record` (default: none)."""
        yield


class _RuntimeFeed(_Feed):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.description = f"runtime {runtime.name!r}, in this process"

    async def snapshot(self) -> Mapping[str, Any]:
        await trio.lowlevel.checkpoint()
        return self.runtime.snapshot().to_dict()

    @contextlib.contextmanager
    def events(self, nursery: trio.Nursery, record: Callable[[dict[str, Any]], None]) -> Any:
        def on_event(event: LifecycleEvent) -> None:
            if isinstance(event, Crashed | Restarted):  # (the others are not shown)
                record(event_to_dict(event))

        unsubscribe = self.runtime.on_lifecycle_event(on_event)
        try:
            yield
        finally:
            unsubscribe()


class _FunctionFeed(_Feed):
    def __init__(
        self, function: Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
    ) -> None:
        self.function = function
        name = getattr(function, "__qualname__", None)
        shown = f"{name}()" if isinstance(name, str) else safe_repr(function, limit=60)
        self.description = f"snapshots from {shown}"

    async def snapshot(self) -> Mapping[str, Any]:
        result = self.function()
        if inspect.isawaitable(result):
            return await result
        await trio.lowlevel.checkpoint()
        return result


class _EndpointFeed(_Feed):
    """Another program's web endpoint.

    Its ``/events`` stream sends the lifecycle events, and a snapshot every interval (``tick``
    frames) while anyone listens: the dashboard draws those, and GETs ``/snapshot.json`` only
    when no tick came since the last frame (before the first one, or from an endpoint without
    a stream). The program at the other end thus builds one snapshot per interval for all
    its watchers, not one more for this one.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = url
        self._tick: Mapping[str, Any] | None = None  # the latest tick's snapshot, not yet drawn

    async def snapshot(self) -> Mapping[str, Any]:
        tick, self._tick = self._tick, None
        if tick is not None:
            await trio.lowlevel.checkpoint()
            return tick
        url = f"{self.url}/snapshot.json"
        try:
            return await trio.to_thread.run_sync(_client.fetch_json, url, abandon_on_cancel=True)
        except _client.FETCH_ERRORS as error:
            raise _Unavailable(f"GET {url}: {safe_repr(error)}") from error

    @contextlib.contextmanager
    def events(self, nursery: trio.Nursery, record: Callable[[dict[str, Any]], None]) -> Any:
        stop = threading.Event()
        nursery.start_soon(self._follow, record, stop)
        try:
            yield
        finally:
            stop.set()

    async def _follow(
        self, record: Callable[[dict[str, Any]], None], stop: threading.Event
    ) -> None:
        """Follow ``/events``, reconnecting after a lost stream; give up on an HTTP error."""
        token = trio.lowlevel.current_trio_token()

        def on_frame(name: str, data: dict[str, Any]) -> None:
            snapshot = data.get("snapshot")
            if name == "tick" and isinstance(snapshot, dict):
                self._tick = snapshot
            else:
                record(data)  # (keeps crashes and restarts; ignores the rest)

        def deliver(name: str, data: dict[str, Any]) -> None:  # (in the reading thread)
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(on_frame, name, data)

        while True:
            try:
                again = await trio.to_thread.run_sync(
                    _client.follow_events,
                    f"{self.url}/events",
                    deliver,
                    stop,
                    abandon_on_cancel=True,
                )
            except urllib.error.HTTPError:
                return  # no event stream here (404...): the snapshots still come
            except _client.FETCH_ERRORS:
                again = True  # lost: try again
            if not again:
                return
            await trio.sleep(RECONNECT)


def _feed(source: Source) -> _Feed:
    if source is None:
        return _RuntimeFeed(current_runtime())
    if isinstance(source, Runtime):
        return _RuntimeFeed(source)
    if isinstance(source, str):
        return _EndpointFeed(_client.endpoint(source))
    if callable(source):
        return _FunctionFeed(source)
    raise checks.type_error(
        "source", "a Runtime, the URL of a web endpoint or a function returning a snapshot", source
    )
