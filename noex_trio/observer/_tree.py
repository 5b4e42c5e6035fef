"""The tree view of a snapshot: supervisors -> children, one line per process.

Two renderings of the same rows: `format_tree` (plain text, for logs, tests and a thread dump)
and `render_tree` (a rich renderable, for the terminal dashboard). Both take the snapshot dict
(``rt.snapshot().to_dict()``, or ``GET /snapshot.json`` of another program) or a `Sample`,
which adds message rates and the alerts that need history.

Each line shows a process's status, mailbox, messages per second, messages handled by kind,
the restarts of its child slot and notes: a supervisor's strategy and restart intensity, the
call a process is serving and for how long, whom it waits on, a wait-for cycle. A process
an alert is about is flagged with ``!``; the waits, the cycles and the alerts are listed under
the tree.

Plain text needs nothing; `render_tree` imports rich when called (the ``observer`` extra), so
``import noex_trio.observer`` never does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .. import _checks as checks
from ._parse import NodeView
from ._samples import Sample, Sampler, cycle_text, label_of

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

HEADERS = ("PROCESS", "BEHAVIOUR", "STATUS", "MAILBOX", "MSG/S", "CALLS", "CASTS", "INFOS")
RESTARTS = "RESTARTS"
STATUS_STYLES = {"running": "green", "starting": "yellow", "stopping": "yellow", "dead": "red"}


def require_rich() -> None:
    """Import rich, or say how to get it."""
    try:
        import rich  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "the terminal view needs rich: pip install 'noex-trio[observer]'"
        ) from error


def as_sample(snapshot: object) -> Sample:
    """A `Sample` as given, or a snapshot dict as a first sample (no rates, no history)."""
    if isinstance(snapshot, Sample):
        return snapshot
    return Sampler().add(snapshot)  # type: ignore[arg-type]  # (parse checks it)


@attrs.frozen
class Row:
    """One line of the tree."""

    prefix: str  # the tree drawing before the label: "│  ├─ "
    below: str  # the tree drawing under the label, down to its children: "│  │  "
    node: NodeView
    flagged: bool  # an alert is about this process
    rate: float | None
    notes: tuple[str, ...]

    @property
    def intensity(self) -> str:
        """A supervisor's strategy and restarts in its window: ``one_for_one 1/3 in 5 s``."""
        sup = self.node.supervisor
        if sup is None:
            return ""
        return (
            f"{sup.strategy} {sup.restarts_in_window}/{sup.max_restarts} in {sup.max_seconds:g} s"
        )

    @property
    def mailbox(self) -> str:
        node = self.node
        if node.mailbox_capacity == math.inf:
            return str(node.mailbox_length)
        return f"{node.mailbox_length}/{node.mailbox_capacity:g}"

    @property
    def rate_text(self) -> str:
        return "-" if self.rate is None else f"{self.rate:.1f}"

    def cells(self) -> tuple[str, ...]:
        node = self.node
        return (
            self.prefix + node.label,
            node.behaviour,
            node.status,
            self.mailbox,
            self.rate_text,
            str(node.calls),
            str(node.casts),
            str(node.infos),
            str(node.restarts),
        )


@attrs.frozen
class More:
    """The line that stands for the children of a supervisor not shown (`max_children`)."""

    prefix: str
    hidden: tuple[NodeView, ...]
    rate: float | None  # messages per second of those with a rate; None if none has one

    def cells(self) -> tuple[str, ...]:
        hidden = self.hidden
        running = sum(node.status == "running" for node in hidden)
        return (
            f"{self.prefix}... {len(hidden)} more",
            "",
            f"{running} running",
            str(sum(node.mailbox_length for node in hidden)),
            "-" if self.rate is None else f"{self.rate:.1f}",
            str(sum(node.calls for node in hidden)),
            str(sum(node.casts for node in hidden)),
            str(sum(node.infos for node in hidden)),
            str(sum(node.restarts for node in hidden)),
        )


def rows(sample: Sample, max_children: int | None = None) -> list[Row | More]:
    """The lines of the tree, depth first; beyond `max_children` children of a supervisor, one
    `More` line stands for the rest (but a child an alert is about, or one above it, shows)."""
    view = sample._view
    labels = {node.id: node.label for node in view.nodes()}
    in_cycle = {pid for cycle in view.cycles for pid in cycle}
    flagged = {alert.id for alert in sample.alerts} | in_cycle
    waits = {wait.caller: wait for wait in view.waits}
    wanted: set[int] = set()  # flagged processes and their supervisors: always shown

    def mark(node: NodeView) -> bool:
        found = node.id in flagged
        for child in node.children:
            found = mark(child) or found
        if found:
            wanted.add(node.id)
        return found

    for root in view.tree:
        mark(root)

    def notes(node: NodeView) -> Iterator[str]:
        if node.serving is not None:
            since = (
                "" if node.serving_since is None else f" for {view.time - node.serving_since:.1f} s"
            )
            yield f"serving {node.serving}{since}"
        wait = waits.get(node.id)
        if wait is not None:
            yield f"waits on {label_of(labels, wait.target)} for {wait.waited:.1f} s"
        if node.id in in_cycle:
            yield "in a wait-for cycle"
        if node.tasks and node.kind != "task":  # (a task process runs its function: 1)
            yield f"{node.tasks} task{'s' if node.tasks != 1 else ''}"
        stem = node.label.rpartition("#")[0]
        others = [name for name in node.names if name != stem]
        if others:
            yield f"names {', '.join(others)}"

    lines: list[Row | More] = []

    def walk(node: NodeView, prefix: str, connector: str) -> None:
        below = prefix + {"": "", "├─ ": "│  ", "└─ ": "   "}[connector]
        lines.append(
            Row(
                prefix + connector,
                below + ("│  " if node.children else "   "),
                node,
                node.id in flagged,
                sample.rates.get(node.id),
                tuple(notes(node)),
            )
        )
        shown, hidden = list(node.children), []
        if max_children is not None and len(shown) > max_children:
            shown = [
                child
                for index, child in enumerate(node.children)
                if index < max_children or child.id in wanted
            ]
            kept = {child.id for child in shown}
            hidden = [child for child in node.children if child.id not in kept]
        for index, child in enumerate(shown):
            last = index == len(shown) - 1 and not hidden
            walk(child, below, "└─ " if last else "├─ ")
        if hidden:
            rates = [sample.rates[child.id] for child in hidden if child.id in sample.rates]
            lines.append(More(below + "└─ ", tuple(hidden), sum(rates) if rates else None))

    for root in view.tree:
        walk(root, "", "")
    return lines


def headline(sample: Sample) -> str:
    """``app, up 12.5 s: 9 processes, 1 crash, ...``: the runtime's figures in one line.

    The runtime's age is the uptime of its oldest process (its default EventBus starts with
    it): the snapshot's own time is Trio's clock, whose origin means nothing to a reader.
    """
    view = sample._view
    up = max((node.uptime for node in view.tree), default=None)
    text = (
        f"{view.name if up is None else f'{view.name}, up {up:.1f} s'}: "
        f"{_n(view.processes, 'process', 'processes')}, "
        f"{_n(view.crashes, 'crash', 'crashes')}, {_n(view.restarts, 'restart')}, "
        f"{_n(view.dead_letters, 'dead letter')}"
    )
    rate = sample.message_rate
    return text if rate is None else f"{text}, {rate:.1f} msg/s"


def _note(row: Row | More) -> str:
    if isinstance(row, More):
        return ""
    return "; ".join(filter(None, [row.intensity, *row.notes]))


def _max_children(value: object) -> int | None:
    return None if value is None else checks.count(value, "max_children", minimum=1)


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def footer_lines(sample: Sample) -> Iterator[tuple[str, str]]:
    """The sections under the tree: (section, line) for the waits, cycles and alerts."""
    view = sample._view
    labels = {node.id: node.label for node in view.nodes()}
    for wait in view.waits:
        caller, target = label_of(labels, wait.caller), label_of(labels, wait.target)
        yield "waits", f"{caller} -> {target} for {wait.waited:.1f} s: {wait.message}"
    for cycle in view.cycles:
        yield "cycles", cycle_text(cycle, labels)
    for alert in sample.alerts:
        # (a deadlock's message names its processes; the others are about one process)
        about = "" if alert.kind == "deadlock" else f"{alert.label}: "
        yield "alerts", f"! {about}{alert.message}"


def format_tree(snapshot: Mapping[str, Any] | Sample, *, max_children: int | None = None) -> str:
    """The tree of a snapshot as plain text, one line per process, for logs and tests.

    Args:
        snapshot: a snapshot dict (``rt.snapshot().to_dict()``, or the JSON of
            ``GET /snapshot.json``), or a `Sample` from a `Sampler` (adds message rates and
            the alerts that need history).
        max_children: show at most this many children of a supervisor, and one line with the
            sums of the others (a child an alert is about is shown anyway); None: all.

    Returns:
        A headline with the runtime's figures, a table of the tree, then the waits, the
        wait-for cycles and the alerts, if any. No trailing newline.

    Raises:
        TypeError, ValueError: `snapshot` is not a snapshot dict.
    """
    sample = as_sample(snapshot)
    lines = rows(sample, _max_children(max_children))
    table: list[tuple[str, ...]] = [(*HEADERS, RESTARTS, "")]
    table += [(*row.cells(), _note(row)) for row in lines]
    flags = [" "] + ["!" if isinstance(row, Row) and row.flagged else " " for row in lines]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(HEADERS) + 1)]
    out = [headline(sample)]
    for flag, cells in zip(flags, table, strict=True):
        left = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1]), cells[2].ljust(widths[2])]
        right = [cell.rjust(width) for cell, width in zip(cells[3:-1], widths[3:], strict=True)]
        out.append(f"{flag} {'  '.join([*left, *right, cells[-1]])}".rstrip())
    section = None
    for name, line in footer_lines(sample):
        if name != section:
            out.append(f"{name}:")
            section = name
        out.append(f"  {line}")
    return "\n".join(out)


def render_tree(
    snapshot: Mapping[str, Any] | Sample, *, max_children: int | None = None
) -> RenderableType:
    """The tree of a snapshot as a rich renderable: a table, then waits, cycles and alerts.

    Print it (``rich.print(render_tree(rt.snapshot().to_dict()))``) or put it in a layout of
    your own; the terminal dashboard draws it every second. It fits the width it is given:
    below 120 columns the behaviour and the messages by kind give way to the messages handled
    ("Msgs"), with shorter headings. Needs rich (the ``observer`` extra).

    Args:
        snapshot, max_children: as for `format_tree`. (A big tree takes rich a while: about
            a millisecond a line. The dashboard shows 20 children of a supervisor.)

    Raises:
        TypeError, ValueError: `snapshot` is not a snapshot dict.
        ImportError: rich is not installed.
    """
    sample = as_sample(snapshot)
    limit = _max_children(max_children)
    require_rich()
    return _TreeView(sample, limit)


#: From this console width on, the rich table shows the behaviour and the messages by kind.
WIDE = 120


@attrs.frozen
class _TreeView:
    """Renders a sample's tree for the width rich gives it (see `render_tree`)."""

    sample: Sample
    max_children: int | None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        wide = options.max_width >= WIDE
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
        table.add_column("", width=1, no_wrap=True)
        table.add_column("Process", no_wrap=True, overflow="ellipsis", ratio=1)
        if wide:
            table.add_column("Behaviour", no_wrap=True, overflow="ellipsis", style="dim")
        table.add_column("Status", no_wrap=True)
        numbers = ("Mailbox", "Msg/s", "Calls", "Casts", "Infos", "Restarts")
        for header in numbers if wide else ("Mbox", "Msg/s", "Msgs", "Rst"):
            table.add_column(header, justify="right", no_wrap=True)
        for row in rows(self.sample, self.max_children):
            if isinstance(row, More):
                cells = row.cells()
                counts = cells[5:8] if wide else (str(sum(map(int, cells[5:8]))),)
                behaviour = [""] if wide else []
                table.add_row(
                    "",
                    Text(cells[0], style="dim"),
                    *behaviour,
                    cells[2],
                    *cells[3:5],
                    *counts,
                    cells[8],
                    style="dim",
                )
                continue
            node = row.node
            label = Text(row.prefix, style="dim")
            label.append(node.label, style="bold" if node.kind == "supervisor" else "")
            if row.intensity:
                label.append(f"  {row.intensity}", style="dim")
            for note in row.notes:
                label.append(f"\n{row.below}", style="dim")
                label.append(note, style="red" if row.flagged else "cyan")
            counts = (
                (str(node.calls), str(node.casts), str(node.infos))
                if wide
                else (str(node.handled),)
            )
            table.add_row(
                Text("!", style="bold red") if row.flagged else "",
                label,
                *([node.behaviour] if wide else []),
                Text(node.status, style=STATUS_STYLES.get(node.status, "")),
                Text(row.mailbox, style="yellow" if node.mailbox_length else ""),
                row.rate_text,
                *counts,
                Text(str(node.restarts), style="yellow" if node.restarts else ""),
            )
        yield table
        section = None
        styles = {"waits": "yellow", "cycles": "bold red", "alerts": "bold red"}
        for name, line in footer_lines(self.sample):
            if name != section:
                yield Text(name.title(), style="bold")
                section = name
            yield Text(f"  {line}", style=styles[name])
